"""The whole download flow through the real app against the fake Civitai on 127.0.0.1:
route -> DownloadManager -> Downloader -> model file + sidecar + WebP preview + index listing + WebSocket frames."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

from PIL import Image

from support.downloads import add_lora, download_client, manager_of, progress, stable, wait_bytes, \
    wait_history, wait_until
from support.fake_civitai import fake_civitai  # noqa: F401  (fixture)
from support.snap import scrub


async def test_post_download_writes_model_sidecar_preview_and_lists_it(lib_env, make_client, fake_civitai,
                                                                       monkeypatch, snapshot):
    version = add_lora(fake_civitai, "Pixel Style", tags=("style", "pixel art"))
    file = version.files[0]
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    ws = await client.ws_connect("/ws/download-progress?id=ui-1")
    first = await ws.receive_json()
    assert first == {"type": "download_id", "download_id": "ui-1"}

    response = await client.post("/api/lm/download-model", json={"model_version_id": version.id, "download_id": "ui-1"})
    assert response.status == 200
    assert await response.json() == {"success": True, "download_id": "ui-1"}

    row = await wait_history(client, "ui-1")
    assert row["status"] == "completed"
    target = lib_env.loras / "SDXL 1.0" / "style" / file.name
    assert target.read_bytes() == file.data
    assert row["file_path"] == target.as_posix()
    assert not target.with_name(target.name + ".part").exists()

    preview = target.with_name(target.stem + ".webp")
    with Image.open(preview) as image:
        assert image.format == "WEBP"
        assert image.width <= 512
    sidecar = json.loads(target.with_name(target.stem + ".metadata.json").read_text())
    assert sidecar["from_civitai"] is True
    assert sidecar["sha256"] == file.sha256
    assert sidecar["civitai"]["id"] == version.id
    assert sidecar["preview_url"] == preview.as_posix()
    assert scrub(stable(sidecar, fake_civitai.base_url), lib_env.tmp) == snapshot(name="sidecar")

    listing = await (await client.get("/api/lm/loras/list")).json()
    assert [item["file_name"] for item in listing["items"]] == [target.stem]
    assert listing["items"][0]["civitai"]["id"] == version.id
    assert listing["items"][0]["preview_url"]

    frames = []
    while True:
        frame = await ws.receive_json(timeout=5)
        frames.append(frame)
        if frame.get("progress") == 100:
            break
    await ws.close()
    progresses = [f["progress"] for f in frames]
    assert progresses == sorted(progresses)
    assert {0, 1, 3, 100} <= set(progresses)
    assert all(f["download_id"] == "ui-1" for f in frames)
    status, body = await progress(client, "ui-1")
    assert status == 200 and body["progress"] == 100
    assert stable(body) == snapshot(name="progress-done")


async def test_extension_lifecycle(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    """queue/add -> queue/status -> polling before the start -> download-model-get -> queue/complete 404."""
    version = add_lora(fake_civitai, "Ext Model")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    did = "1732212345678123"
    added = await client.get("/api/lm/downloads/queue/add", params={
        "download_id": did, "model_id": str(version.model_id), "model_version_id": str(version.id),
        "model_name": "Ext Model", "version_name": version.name, "thumbnail_url": "https://example.test/t.jpg",
        "source": "civitai"})
    assert added.status == 200
    assert scrub(await added.json(), lib_env.tmp) == snapshot(name="queue-add")

    status = await client.get("/api/lm/downloads/queue/status", params={"download_id": did, "status": "downloading"})
    assert await status.json() == {"success": True}
    code, body = await progress(client, did)
    assert code == 200
    assert body == snapshot(name="progress-before-start")

    queue = await (await client.get("/api/lm/downloads/queue")).json()
    assert scrub(queue, lib_env.tmp) == snapshot(name="queue")

    response = await client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": did,
        "use_default_paths": "true", "source": "civitai"})
    assert response.status == 200
    body = await response.json()
    assert scrub(body, lib_env.tmp) == snapshot(name="download-model-get")
    assert body["file_path"].endswith(version.files[0].name)

    late = await client.get("/api/lm/downloads/queue/complete", params={
        "download_id": did, "status": "completed", "file_path": body["file_path"]})
    assert late.status == 404
    assert await late.json() == {"success": False, "error": "Download not found in queue"}

    history = await (await client.get("/api/lm/downloads/history", params={"limit": "500", "offset": "0"})).json()
    assert scrub(history, lib_env.tmp) == snapshot(name="history")
    assert history["items"][0]["model_version_id"] == version.id
    queue = await (await client.get("/api/lm/downloads/queue")).json()
    assert queue["queue"] == []

    again = await client.get("/api/lm/check-model-exists", params={"modelId": str(version.model_id),
                                                                   "modelVersionId": str(version.id)})
    assert scrub(await again.json(), lib_env.tmp) == snapshot(name="exists-after")


async def test_latest_version_when_no_version_id(lib_env, make_client, fake_civitai, monkeypatch):
    newest = add_lora(fake_civitai, "Two Versions", versions=2)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    response = await client.get("/api/lm/download-model-get", params={
        "model_id": str(newest.model_id), "download_id": "latest-1"})
    body = await response.json()
    assert response.status == 200, body
    assert Path(body["file_path"]).name == newest.files[0].name


async def test_already_exists_fails_fast(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    version = add_lora(fake_civitai, "Twice")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    params = {"model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": "a1"}
    assert (await client.get("/api/lm/download-model-get", params=params)).status == 200
    calls = len(fake_civitai.requests)
    second = await client.get("/api/lm/download-model-get", params={**params, "download_id": "a2"})
    assert second.status == 409
    body = await second.json()
    assert body == snapshot(name="already-exists")
    assert body["error"] == "Model version already exists in lora library"
    assert len(fake_civitai.requests) == calls  # failed before any network work
    row = await wait_history(client, "a2")
    assert row["status"] == "failed" and "already exists" in row["error"]
    post = await client.post("/api/lm/download-model", json={"model_version_id": version.id, "download_id": "a3"})
    assert post.status == 409
    assert (await post.json())["error"] == "Model version already exists in lora library"


async def test_same_name_different_file_is_never_overwritten(lib_env, make_client, fake_civitai, monkeypatch):
    version = add_lora(fake_civitai, "Clash")
    target = lib_env.loras / "SDXL 1.0" / "style" / version.files[0].name
    target.parent.mkdir(parents=True)
    target.write_bytes(b"somebody else's bytes")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    response = await client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": "clash"})
    assert response.status == 409
    body = await response.json()
    assert body["success"] is False and "already exists" in body["error"] and target.name in body["error"]
    assert target.read_bytes() == b"somebody else's bytes"


async def test_without_a_stated_sha256_a_file_at_the_target_is_never_taken_as_done(lib_env, make_client,
                                                                                   fake_civitai, monkeypatch):
    """Civitai sometimes lists a file without hashes: nothing then proves the file at the target is this one."""
    version = add_lora(fake_civitai, "No Hash")
    version.files[0].extra["hashes"] = {}
    target = lib_env.loras / "SDXL 1.0" / "style" / version.files[0].name
    target.parent.mkdir(parents=True)
    target.write_bytes(b"a different model by the same name")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    response = await client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": "nohash"})
    body = await response.json()
    assert response.status == 409, body
    assert body["success"] is False and "different file" in body["error"]
    assert target.read_bytes() == b"a different model by the same name"
    row = await wait_history(client, "nohash")
    assert row["status"] == "failed"
    listing = await (await client.get("/api/lm/loras/list")).json()
    assert all(item["civitai"].get("id") != version.id for item in listing["items"])
    assert not target.with_name(target.stem + ".metadata.json").exists()  # no Civitai metadata given to it


async def test_cancel_answers_409_and_leaves_no_file(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    version = add_lora(fake_civitai, "Slow One", n_bytes=60_000)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    fake_civitai.slow(20_000, path="/api/download/")
    held = asyncio.ensure_future(client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": "c1"}))
    await wait_bytes(client, "c1")
    cancel = await client.get("/api/lm/cancel-download-get", params={"download_id": "c1"})
    assert await cancel.json() == snapshot(name="cancel")
    response = await held
    assert response.status == 409
    assert await response.json() == {"success": False, "error": "Download was cancelled", "download_id": "c1"}
    folder = lib_env.loras / "SDXL 1.0" / "style"
    assert not folder.exists() or list(folder.iterdir()) == []
    row = await wait_history(client, "c1")
    assert row["status"] == "canceled"
    code, body = await progress(client, "c1")
    assert code == 200 and body["status"] == "cancelled" and body["progress"] == 0
    unknown = await client.get("/api/lm/cancel-download-get", params={"download_id": "c1"})
    assert unknown.status == 404
    assert await unknown.json() == {"success": False, "error": "Download task not found"}


async def test_cancel_while_waiting_for_a_slot(lib_env, make_client, fake_civitai, monkeypatch):
    first = add_lora(fake_civitai, "Slot Holder", n_bytes=60_000)
    second = add_lora(fake_civitai, "Slot Waiter")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch, download_concurrency=1)
    fake_civitai.slow(20_000, path="/api/download/")
    holder = asyncio.ensure_future(client.get("/api/lm/download-model-get", params={
        "model_id": str(first.model_id), "model_version_id": str(first.id), "download_id": "w1"}))
    await wait_bytes(client, "w1")
    waiter = asyncio.ensure_future(client.get("/api/lm/download-model-get", params={
        "model_id": str(second.model_id), "model_version_id": str(second.id), "download_id": "w2"}))
    await wait_until(lambda: manager_of(client).is_active("w2"))
    code, body = await progress(client, "w2")
    assert code == 200 and body["status"] == "waiting" and body["progress"] == 0
    queue = await (await client.get("/api/lm/downloads/queue")).json()
    assert {r["download_id"]: r["status"] for r in queue["queue"]} == {"w1": "downloading", "w2": "waiting"}
    await client.get("/api/lm/cancel-download-get", params={"download_id": "w2"})
    assert (await waiter).status == 409
    fake_civitai.slow(None)
    await client.get("/api/lm/cancel-download-get", params={"download_id": "w1"})
    assert (await holder).status == 409


async def test_pause_and_resume(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    version = add_lora(fake_civitai, "Pausable", n_bytes=40_000)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    fake_civitai.slow(40_000, path="/api/download/")
    held = asyncio.ensure_future(client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": "p1"}))
    await wait_bytes(client, "p1")
    paused = await client.get("/api/lm/pause-download", params={"download_id": "p1"})
    assert await paused.json() == snapshot(name="pause")
    again = await client.get("/api/lm/pause-download", params={"download_id": "p1"})
    assert again.status == 400
    assert await again.json() == {"success": False, "error": "Download is already paused"}
    code, body = await progress(client, "p1")
    assert body["status"] == "paused"
    queue = await (await client.get("/api/lm/downloads/queue")).json()
    assert queue["queue"][0]["status"] == "paused"
    assert not held.done()
    fake_civitai.slow(None)
    resumed = await client.get("/api/lm/resume-download", params={"download_id": "p1"})
    assert await resumed.json() == snapshot(name="resume")
    response = await held
    assert response.status == 200
    assert Path((await response.json())["file_path"]).read_bytes() == version.files[0].data
    not_paused = await client.get("/api/lm/resume-download", params={"download_id": "p1"})
    assert not_paused.status == 404


async def test_skip_keeps_the_part_and_a_new_request_resumes(lib_env, make_client, fake_civitai, monkeypatch,
                                                              snapshot):
    version = add_lora(fake_civitai, "Skippy", n_bytes=60_000)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch, chunk_size=512)
    fake_civitai.slow(20_000, path="/api/download/")
    params = {"model_id": str(version.model_id), "model_version_id": str(version.id)}
    held = asyncio.ensure_future(client.get("/api/lm/download-model-get", params={**params, "download_id": "s1"}))
    await wait_bytes(client, "s1", minimum=2000)
    skipped = await client.get("/api/lm/skip-download", params={"download_id": "s1"})
    assert await skipped.json() == snapshot(name="skip")
    response = await held
    assert response.status == 409
    assert (await response.json())["error"] == "Download was cancelled"
    target = lib_env.loras / "SDXL 1.0" / "style" / version.files[0].name
    part = target.with_name(target.name + ".part")
    kept = part.stat().st_size
    assert kept > 0 and not target.exists()
    unknown = await client.get("/api/lm/skip-download", params={"download_id": "s1"})
    assert unknown.status == 200
    assert await unknown.json() == {"success": False, "error": "Download task not found"}

    fake_civitai.slow(None)
    response = await client.get("/api/lm/download-model-get", params={**params, "download_id": "s2"})
    assert response.status == 200
    assert target.read_bytes() == version.files[0].data
    ranges = [r.headers.get("Range") for r in fake_civitai.requests_to("/api/download/")]
    assert ranges[-1] == f"bytes={kept}-"


async def test_non_int_and_missing_ids_are_400(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    cases = {
        "download-no-model": ("/api/lm/download-model-get", {"download_id": "x"}),
        "download-bad-model": ("/api/lm/download-model-get", {"model_id": "abc", "download_id": "x"}),
        "download-bad-version": ("/api/lm/download-model-get", {"model_id": "1", "model_version_id": "1.5"}),
        "download-bad-file-params": ("/api/lm/download-model-get", {"model_id": "1", "file_params": "{nope"}),
        "queue-add-bad-model": ("/api/lm/downloads/queue/add", {"model_id": "x1"}),
        "check-bad": ("/api/lm/check-model-exists", {"modelId": "twelve"}),
        "check-missing": ("/api/lm/check-model-exists", {}),
        "history-delete-bad": ("/api/lm/downloads/history/delete", {"id": "x"}),
        "history-delete-missing": ("/api/lm/downloads/history/delete", {}),
        "pause-missing": ("/api/lm/pause-download", {}),
        "status-bad": ("/api/lm/downloads/queue/status", {"download_id": "q", "status": "flying"}),
        "complete-bad-bytes": ("/api/lm/downloads/queue/complete", {"download_id": "q", "bytes_downloaded": "lots"}),
        "complete-bad-time": ("/api/lm/downloads/queue/complete", {"download_id": "q", "completed_at": "noon"}),
        "versions-status-bad": ("/api/lm/model-versions-status", {"modelId": "-"}),
        "set-status-bad-type": ("/api/lm/set-model-version-download-status",
                                {"modelType": "vae", "modelVersionId": "1", "downloaded": "true"}),
        "set-status-bad-flag": ("/api/lm/set-model-version-download-status",
                                {"modelType": "lora", "modelVersionId": "1", "downloaded": "maybe"}),
        "delete-version-bad": ("/api/lm/delete-model-version", {"modelVersionId": "1e3"}),
        "user-models-missing": ("/api/lm/civitai/user-models", {}),
    }
    answers = {}
    for name, (path, params) in cases.items():
        response = await client.get(path, params=params)
        assert response.status == 400, name
        body = await response.json()
        assert body["success"] is False and body["error"], name
        answers[name] = body
    assert answers == snapshot(name="errors")
    bad_post = await client.post("/api/lm/download-model", json={"download_id": "p"})
    assert bad_post.status == 400
    assert (await client.post("/api/lm/download-model", json={"model_id": "x"})).status == 400


async def test_unknown_ids(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    answers = {}
    for name, path, params in [
        ("progress", "/api/lm/download-progress/never-seen", {}),
        ("pause", "/api/lm/pause-download", {"download_id": "nope"}),
        ("resume", "/api/lm/resume-download", {"download_id": "nope"}),
        ("cancel", "/api/lm/cancel-download-get", {"download_id": "nope"}),
        ("queue-status", "/api/lm/downloads/queue/status", {"download_id": "nope", "status": "downloading"}),
        ("queue-complete", "/api/lm/downloads/queue/complete", {"download_id": "nope"}),
        ("queue-remove", "/api/lm/downloads/queue/remove", {"download_id": "nope"}),
        ("history-delete", "/api/lm/downloads/history/delete", {"id": "99"}),
        ("history-retry", "/api/lm/downloads/history/retry", {"download_id": "nope"}),
    ]:
        response = await client.get(path, params=params)
        assert response.status == 404, name
        answers[name] = await response.json()
    assert answers == snapshot(name="unknown")
    for path in ("/api/lm/downloads/queue/move-to-top", "/api/lm/downloads/queue/move-to-end"):
        response = await client.get(path, params={"download_id": "nope"})
        assert response.status == 200 and await response.json() == {"success": False}


async def test_metadata_failures_are_clear(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    model = fake_civitai.add_model("Wrong Type", type="VAE")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    answers = {}
    for name, params in [
        ("missing-version", {"model_id": "5", "model_version_id": "999999", "download_id": "m1"}),
        ("missing-model", {"model_id": "999999", "download_id": "m2"}),
        ("unsupported-type", {"model_id": str(model.id), "download_id": "m3"}),
    ]:
        response = await client.get("/api/lm/download-model-get", params=params)
        assert 400 <= response.status < 500, name
        answers[name] = await response.json()
    assert answers == snapshot(name="metadata-errors")
    for did in ("m1", "m2", "m3"):
        assert (await wait_history(client, did))["status"] == "failed"


async def test_history_retry_and_retry_all(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    version = add_lora(fake_civitai, "Retry Me")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    for did, status in (("r1", "failed"), ("r2", "canceled"), ("r3", "completed")):
        await client.get("/api/lm/downloads/queue/add", params={
            "download_id": did, "model_id": str(version.model_id), "model_version_id": str(version.id),
            "model_name": "Retry Me", "file_params": json.dumps({"fileId": version.files[0].id})})
        done = await client.get("/api/lm/downloads/queue/complete", params={
            "download_id": did, "status": status, "error": "boom" if status == "failed" else "",
            "bytes_downloaded": "10", "total_bytes": "100", "completed_at": "1700000000.5"})
        assert (await done.json())["success"] is True
    history = await (await client.get("/api/lm/downloads/history")).json()
    ids = {item["download_id"]: item["id"] for item in history["items"]}
    retried = await client.get("/api/lm/downloads/history/retry", params={"id": str(ids["r1"])})
    body = await retried.json()
    assert scrub(stable(body), lib_env.tmp) == snapshot(name="retry")
    assert body["item"]["source"] == "retry" and body["item"]["download_id"] != "r1"
    not_retryable = await client.get("/api/lm/downloads/history/retry", params={"download_id": "r3"})
    assert not_retryable.status == 404
    all_ = await client.get("/api/lm/downloads/history/retry-all")
    assert await all_.json() == {"success": True, "retry_count": 1}
    queue = await (await client.get("/api/lm/downloads/queue")).json()
    assert sorted(r["source"] for r in queue["queue"]) == ["retry", "retry"]
    assert all(json.loads(r["file_params"]) == {"fileId": version.files[0].id} for r in queue["queue"])
    # the retried row downloads with its re-stringified file_params
    row = queue["queue"][0]
    response = await client.get("/api/lm/download-model-get", params={
        "model_id": str(row["model_id"]), "model_version_id": str(row["model_version_id"]),
        "download_id": row["download_id"], "file_params": json.dumps(row["file_params"])})
    assert response.status == 200, await response.json()


async def test_version_memory_survives_a_deleted_file(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    version = add_lora(fake_civitai, "Remember Me")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    response = await client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": "v1"})
    path = Path((await response.json())["file_path"])
    path.unlink()
    scan = await client.get("/api/lm/loras/scan")
    assert scan.status == 200
    check = await client.get("/api/lm/check-model-exists", params={
        "modelId": str(version.model_id), "modelVersionId": str(version.id)})
    assert await check.json() == snapshot(name="after-delete")
    by_model = await client.get("/api/lm/check-model-exists", params={"modelId": str(version.model_id)})
    body = await by_model.json()
    assert body["versions"] == [] and body["downloadedVersionIds"] == [version.id]
    assert body["modelType"] == "lora"


async def test_same_bytes_already_on_disk_count_as_done(lib_env, make_client, fake_civitai, monkeypatch):
    version = add_lora(fake_civitai, "Already Here")
    target = lib_env.loras / "SDXL 1.0" / "style" / version.files[0].name
    target.parent.mkdir(parents=True)
    target.write_bytes(version.files[0].data)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    response = await client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": "same"})
    assert response.status == 200
    assert (await response.json())["file_path"] == target.as_posix()
    assert fake_civitai.requests_to("/api/download/") == []


async def test_two_requests_for_one_id_share_the_download(lib_env, make_client, fake_civitai, monkeypatch):
    version = add_lora(fake_civitai, "Shared", n_bytes=20_000)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    fake_civitai.slow(100_000, path="/api/download/")
    params = {"model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": "dup"}
    first, second = await asyncio.gather(client.get("/api/lm/download-model-get", params=params),
                                         client.get("/api/lm/download-model-get", params=params))
    assert (first.status, second.status) == (200, 200)
    assert await first.json() == await second.json()
    assert len(fake_civitai.requests_to("/api/download/")) == 1


async def test_control_frames_reach_the_socket(lib_env, make_client, fake_civitai, monkeypatch):
    version = add_lora(fake_civitai, "Framed", n_bytes=40_000)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    fake_civitai.slow(40_000, path="/api/download/")
    ws = await client.ws_connect("/ws/download-progress?id=f1")
    held = asyncio.ensure_future(client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": "f1"}))
    await wait_bytes(client, "f1")
    not_paused = await client.get("/api/lm/resume-download", params={"download_id": "f1"})
    assert (not_paused.status, (await not_paused.json())["error"]) == (400, "Download is not paused")
    await client.get("/api/lm/pause-download", params={"download_id": "f1"})
    fake_civitai.slow(None)
    await client.get("/api/lm/resume-download", params={"download_id": "f1"})
    assert (await held).status == 200
    statuses = []
    while 100 not in [f.get("progress") for f in statuses]:
        statuses.append(await ws.receive_json(timeout=5))
    await ws.close()
    names = [f.get("status") for f in statuses]
    assert "waiting" in names and "paused" in names and "downloading" in names
    assert names.index("paused") < names.index("downloading")
