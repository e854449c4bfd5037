"""Downloads skipped by the settings (previously downloaded versions, excluded base models): the 200 skip answer,
the history row, the progress snapshot, the WebSocket frame, and nothing written or transferred."""
from __future__ import annotations

import asyncio

from support.downloads import add_lora, download_client, progress, stable, wait_history, wait_until
from support.fake_civitai import fake_civitai  # noqa: F401  (fixture)
from support.snap import scrub

DOWNLOADS = "/api/download/"


def _files_under(root) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


async def _remember(client, version) -> None:
    marked = await client.get("/api/lm/set-model-version-download-status", params={
        "modelType": "lora", "modelVersionId": str(version.id), "downloaded": "true",
        "modelId": str(version.model_id)})
    assert (await marked.json())["hasBeenDownloaded"] is True


async def _frames_until(ws, status: str) -> list[dict]:
    frames = []
    while not frames or frames[-1].get("status") != status:
        frames.append(await ws.receive_json(timeout=5))
    return frames


async def test_previously_downloaded_version_is_skipped(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    version = add_lora(fake_civitai, "Seen Before")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch,
                                   skip_previously_downloaded_model_versions=True)
    await _remember(client, version)
    ws = await client.ws_connect("/ws/download-progress?id=seen-1")
    await ws.receive_json()
    response = await client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": "seen-1",
        "use_default_paths": "true"})
    assert response.status == 200
    body = await response.json()
    assert body == snapshot(name="skip-previously-downloaded")
    name = version.files[0].name
    assert body["message"] == (f"Skipped download for '{name}' because version {version.id} was already "
                               "downloaded before")
    frames = await _frames_until(ws, "skipped")
    await ws.close()
    assert frames[-1]["reason"] == "previously_downloaded_version" and frames[-1]["message"] == body["message"]
    assert fake_civitai.requests_to(DOWNLOADS) == []
    assert _files_under(lib_env.loras) == []

    code, snap = await progress(client, "seen-1")
    assert code == 200 and snap["status"] == "skipped"
    assert stable(snap) == snapshot(name="progress-skipped")
    row = await wait_history(client, "seen-1")
    assert scrub(stable(row, fake_civitai.base_url), lib_env.tmp) == snapshot(name="history-skipped")
    queue = await (await client.get("/api/lm/downloads/queue")).json()
    assert queue["queue"] == [] and queue["stats"]["skipped"] == 1


async def test_excluded_base_model_is_skipped(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    version = add_lora(fake_civitai, "Pony Thing", base_model="Pony")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch,
                                   download_skip_base_models=["  pony ", "Flux.1 D"])
    response = await client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": "pony-1"})
    assert response.status == 200
    body = await response.json()
    assert body == snapshot(name="skip-base-model")
    assert body["reason"] == "base_model_excluded" and body["base_model"] == "Pony"
    assert version.files[0].name in body["message"] and "Pony" in body["message"]
    assert (await wait_history(client, "pony-1"))["status"] == "skipped"
    assert fake_civitai.requests_to(DOWNLOADS) == []
    assert _files_under(lib_env.loras) == []


async def test_post_download_records_the_same_skip(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    version = add_lora(fake_civitai, "Posted Skip", base_model="SD 1.5")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch,
                                   download_skip_base_models=["SD 1.5"])
    response = await client.post("/api/lm/download-model", json={"model_version_id": version.id,
                                                                  "download_id": "ui-skip"})
    assert response.status == 200
    assert await response.json() == {"success": True, "download_id": "ui-skip"}
    row = await wait_history(client, "ui-skip")
    assert row["status"] == "skipped" and "SD 1.5" in row["error"]
    code, snap = await progress(client, "ui-skip")
    assert (code, snap["status"]) == (200, "skipped")
    assert "SD 1.5" in snap["message"]
    assert _files_under(lib_env.loras) == []
    history = await (await client.get("/api/lm/downloads/history", params={"status": "skipped"})).json()
    assert [item["download_id"] for item in history["items"]] == ["ui-skip"]


async def test_without_the_settings_the_version_downloads(lib_env, make_client, fake_civitai, monkeypatch):
    version = add_lora(fake_civitai, "Wanted Again", base_model="Pony")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch,
                                   download_skip_base_models=["Illustrious"])
    await _remember(client, version)  # remembered, but the skip setting is off
    response = await client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": "again-1"})
    assert response.status == 200
    body = await response.json()
    assert "skipped" not in body and body["file_path"].endswith(version.files[0].name)


async def test_a_version_in_the_library_still_fails_as_already_existing(lib_env, make_client, fake_civitai,
                                                                         monkeypatch):
    version = add_lora(fake_civitai, "Present")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch,
                                   skip_previously_downloaded_model_versions=True)
    params = {"model_id": str(version.model_id), "model_version_id": str(version.id)}
    first = await client.get("/api/lm/download-model-get", params={**params, "download_id": "p-1"})
    assert first.status == 200
    second = await client.get("/api/lm/download-model-get", params={**params, "download_id": "p-2"})
    assert second.status == 409
    assert (await second.json())["error"] == "Model version already exists in lora library"


async def test_a_skip_while_others_wait_for_slots_takes_no_slot(lib_env, make_client, fake_civitai, monkeypatch):
    """Skipped versions are decided before a transfer slot is taken: a full slot never delays them."""
    busy = add_lora(fake_civitai, "Slot Holder", n_bytes=60_000)
    skipped = add_lora(fake_civitai, "Excluded", base_model="Pony")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch, download_concurrency=1,
                                   download_skip_base_models=["Pony"])
    fake_civitai.hold_after(1000, path=DOWNLOADS)
    holder = asyncio.ensure_future(client.get("/api/lm/download-model-get", params={
        "model_id": str(busy.model_id), "model_version_id": str(busy.id), "download_id": "hold-1"}))
    try:
        response = await client.get("/api/lm/download-model-get", params={
            "model_id": str(skipped.model_id), "model_version_id": str(skipped.id), "download_id": "skip-2"})
        assert response.status == 200 and (await response.json())["skipped"] is True
        assert not holder.done()
    finally:
        fake_civitai.release()
    assert (await holder).status == 200


async def test_a_version_landing_while_a_second_request_waits_for_a_slot(lib_env, make_client, fake_civitai,
                                                                         monkeypatch):
    """The library is checked again once the slot is taken: the second request sees the first one's file."""
    version = add_lora(fake_civitai, "Twice Queued", n_bytes=30_000)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch, download_concurrency=1)
    params = {"model_id": str(version.model_id), "model_version_id": str(version.id)}
    fake_civitai.hold_after(1000, path=DOWNLOADS)
    first = asyncio.ensure_future(client.get("/api/lm/download-model-get", params={**params, "download_id": "q-1"}))
    try:
        await wait_until(lambda: fake_civitai.bytes_sent.get(f"{DOWNLOADS}models/{version.id}", 0) >= 1000)
        # only now the second: fired together, either request could take the one slot first
        second = asyncio.ensure_future(client.get("/api/lm/download-model-get",
                                                  params={**params, "download_id": "q-2"}))

        async def second_waits() -> bool:  # it reaches the server, reads its metadata, then waits for the slot
            code, body = await progress(client, "q-2")
            return code == 200 and body.get("status") == "waiting"

        await wait_until(second_waits)
        assert fake_civitai.bytes_sent.get(f"{DOWNLOADS}models/{version.id}", 0) < 30_000  # the first is still held
    finally:
        fake_civitai.release()
    assert (await first).status == 200
    late = await second
    assert late.status == 409
    assert (await late.json())["error"] == "Model version already exists in lora library"
