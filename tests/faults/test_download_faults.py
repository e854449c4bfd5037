"""Download failures: restart mid-transfer, disk full, permission denied, corrupt bytes, missing files, a broken
preview, a corrupt queue database. Each shows a clear error and that nothing in the library was lost or half-made."""
from __future__ import annotations

import errno
import json
import sqlite3
from pathlib import Path

from support.downloads import add_lora, download_client, manager_of, wait_bytes, wait_history
from support.fake_civitai import fake_civitai  # noqa: F401  (fixture)
from support.snap import scrub


def _listing_names(body: dict) -> list[str]:
    return [item["file_name"] for item in body["items"]]


async def _get(client, version, did: str, **extra):
    return await client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": did, **extra})


async def test_restart_mid_download_resumes_from_the_part(lib_env, make_client, fake_civitai, monkeypatch):
    version = add_lora(fake_civitai, "Big Model", n_bytes=80_000)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch, chunk_size=512)
    fake_civitai.slow(20_000, path="/api/download/")
    response = await client.post("/api/lm/download-model", json={
        "model_id": version.model_id, "model_version_id": version.id, "download_id": "restart-1"})
    assert response.status == 200
    await wait_bytes(client, "restart-1", minimum=4000)
    await client.close()  # the server stops mid-download

    target = lib_env.loras / "SDXL 1.0" / "style" / version.files[0].name
    part = target.with_name(target.name + ".part")
    kept = part.stat().st_size
    assert kept >= 4000 and not target.exists()
    with sqlite3.connect(lib_env.data_dir / "db" / "downloads.sqlite") as db:
        assert db.execute("SELECT status FROM queue WHERE download_id = 'restart-1'").fetchone() == ("downloading",)

    fake_civitai.slow(None)
    again = await make_client(lib_env)  # a new server on the same data dir
    row = await wait_history(again, "restart-1")
    assert row["status"] == "completed", row
    assert target.read_bytes() == version.files[0].data
    assert not part.exists()
    ranges = [r.headers.get("Range") for r in fake_civitai.requests_to("/api/download/")]
    assert ranges[-1] == f"bytes={kept}-"
    listing = await (await again.get("/api/lm/loras/list")).json()
    assert _listing_names(listing) == [target.stem]


async def test_disk_full_gives_a_clear_error_and_leaves_the_library_unchanged(lib_env, make_client, fake_civitai,
                                                                              monkeypatch, snapshot):
    from lora_manager.py.services.downloads import part_file

    version = add_lora(fake_civitai, "No Room")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)

    def full(handle, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(part_file, "write_chunk", full)
    response = await _get(client, version, "full-1")
    assert response.status == 507
    body = await response.json()
    assert body["success"] is False and body["error"].startswith("Disk full")
    assert scrub(body, lib_env.tmp) == snapshot(name="disk-full")
    folder = lib_env.loras / "SDXL 1.0" / "style"
    assert [p.name for p in folder.iterdir() if not p.name.endswith(".part")] == []
    assert _listing_names(await (await client.get("/api/lm/loras/list")).json()) == []
    row = await wait_history(client, "full-1")
    assert row["status"] == "failed" and row["error"].startswith("Disk full")

    monkeypatch.undo()
    monkeypatch.setenv("LORA_MANAGER_CIVITAI_BASE_URL", fake_civitai.base_url)
    retry = await _get(client, version, "full-2")
    assert retry.status == 200
    assert (folder / version.files[0].name).read_bytes() == version.files[0].data


async def test_metadata_write_failure_puts_the_model_back_to_its_part(lib_env, make_client, fake_civitai,
                                                                      monkeypatch):
    from lora_manager.py.services.downloads import artifacts

    version = add_lora(fake_civitai, "No Sidecar")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    real_write = artifacts.write_sidecar
    monkeypatch.setattr(artifacts, "write_sidecar", full)
    response = await _get(client, version, "meta-1")
    assert response.status == 507
    assert "Disk full" in (await response.json())["error"]
    folder = lib_env.loras / "SDXL 1.0" / "style"
    assert sorted(p.name for p in folder.iterdir()) == [version.files[0].name + ".part"]
    assert _listing_names(await (await client.get("/api/lm/loras/list")).json()) == []

    monkeypatch.setattr(artifacts, "write_sidecar", real_write)
    retry = await _get(client, version, "meta-2")
    assert retry.status == 200
    assert (folder / version.files[0].name).read_bytes() == version.files[0].data


async def test_permission_denied(lib_env, make_client, fake_civitai, monkeypatch):
    from lora_manager.py.services.downloads import part_file

    version = add_lora(fake_civitai, "Locked")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)

    def denied(handle, data):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(part_file, "write_chunk", denied)
    response = await _get(client, version, "perm-1")
    assert response.status == 500
    body = await response.json()
    assert body["success"] is False and body["error"].startswith("Permission denied")
    assert _listing_names(await (await client.get("/api/lm/loras/list")).json()) == []


async def test_corrupt_bytes_are_quarantined_not_listed(lib_env, make_client, fake_civitai, monkeypatch):
    version = add_lora(fake_civitai, "Corrupt")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    fake_civitai.corrupt = True
    response = await _get(client, version, "bad-1")
    assert response.status == 502
    body = await response.json()
    assert "failed verification" in body["error"]
    target = lib_env.loras / "SDXL 1.0" / "style" / version.files[0].name
    assert not target.exists()
    assert list((lib_env.data_dir / "quarantine").iterdir())
    assert _listing_names(await (await client.get("/api/lm/loras/list")).json()) == []


async def test_missing_remote_file_is_404(lib_env, make_client, fake_civitai, monkeypatch):
    version = add_lora(fake_civitai, "Gone")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    fake_civitai.fail_next(1, 404, path="/api/download/")
    response = await _get(client, version, "gone-1")
    assert response.status == 404
    assert (await response.json())["success"] is False
    assert (await wait_history(client, "gone-1"))["status"] == "failed"


async def test_auth_required_download_sends_the_key(lib_env, make_client, fake_civitai, monkeypatch):
    version = add_lora(fake_civitai, "Members Only")
    fake_civitai.require_api_key = "secret-key"
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    denied = await _get(client, version, "key-1")
    assert denied.status == 401
    assert [p for p in lib_env.loras.rglob("*") if p.is_file()] == []  # no file, no .part, no sidecar
    first = fake_civitai.requests_to("/api/download/")[-1]
    assert "Authorization" not in first.headers and "token" not in first.query
    saved = await client.post("/api/lm/settings", json={"civitai_api_key": "secret-key"})
    assert saved.status == 200
    assert json.loads(lib_env.settings_path.read_text())["civitai_api_key"] == "secret-key"
    allowed = await _get(client, version, "key-2")
    assert allowed.status == 200, await allowed.json()
    # The saved key went with the download, and the file landed whole.
    sent = fake_civitai.requests_to("/api/download/")[-1]
    assert sent.headers.get("Authorization") == "Bearer secret-key" or sent.query.get("token") == "secret-key"
    target = Path((await allowed.json())["file_path"])
    assert target.read_bytes() == version.files[0].data


async def test_broken_preview_does_not_fail_the_download(lib_env, make_client, fake_civitai, monkeypatch):
    version = add_lora(fake_civitai, "No Picture")
    version.images[0].data = b"not an image at all"
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    response = await _get(client, version, "pic-1")
    assert response.status == 200
    target = Path((await response.json())["file_path"])
    assert not target.with_name(target.stem + ".webp").exists()
    sidecar = json.loads(target.with_name(target.stem + ".metadata.json").read_text())
    assert sidecar["preview_url"] == ""
    fake_civitai.fail_next(1, 404, path="/media/")
    other = add_lora(fake_civitai, "Preview 404")
    response = await _get(client, other, "pic-2")
    assert response.status == 200


async def test_metadata_server_errors(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    version = add_lora(fake_civitai, "Flaky")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    fake_civitai.malformed_json_next(1, path="/api/v1/model-versions/")
    response = await _get(client, version, "flaky-1")
    assert response.status == 502
    body = await response.json()
    assert body["error"].startswith("Failed to fetch model metadata")
    assert _listing_names(await (await client.get("/api/lm/loras/list")).json()) == []


async def test_corrupt_queue_database_is_set_aside(lib_env, make_client, fake_civitai, monkeypatch):
    db = lib_env.data_dir / "db"
    db.mkdir(parents=True)
    (db / "downloads.sqlite").write_bytes(b"this is not a database" * 100)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    added = await client.get("/api/lm/downloads/queue/add", params={"download_id": "after-heal"})
    assert (await added.json())["item"]["download_id"] == "after-heal"
    assert manager_of(client).store.healed_from is not None
    assert any(p.name.startswith("downloads.sqlite.corrupt-") for p in db.iterdir())


async def test_restart_resumes_rows_the_extension_started_and_keeps_paused_ones_paused(
        lib_env, make_client, fake_civitai, monkeypatch):
    started = add_lora(fake_civitai, "Started By Extension")
    paused = add_lora(fake_civitai, "Paused One", n_bytes=40_000)
    queued = add_lora(fake_civitai, "Only Queued")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch, chunk_size=512)
    for did, version in (("ext-1", started), ("queued-1", queued)):
        await client.get("/api/lm/downloads/queue/add", params={
            "download_id": did, "model_id": str(version.model_id), "model_version_id": str(version.id)})
    await client.get("/api/lm/downloads/queue/status", params={"download_id": "ext-1", "status": "downloading"})
    fake_civitai.slow(20_000, path="/api/download/")
    await client.post("/api/lm/download-model", json={"model_version_id": paused.id, "download_id": "paused-1"})
    await wait_bytes(client, "paused-1", minimum=1000)
    assert (await client.get("/api/lm/pause-download", params={"download_id": "paused-1"})).status == 200
    await client.close()
    with sqlite3.connect(lib_env.data_dir / "db" / "downloads.sqlite") as db:
        db.execute("INSERT INTO queue (download_id, status, added_at, request_json) "
                   "VALUES ('broken-1', 'downloading', 1, '{not json')")

    fake_civitai.slow(None)
    again = await make_client(lib_env)
    assert (await wait_history(again, "ext-1"))["status"] == "completed"
    queue = await (await again.get("/api/lm/downloads/queue")).json()
    statuses = {r["download_id"]: r["status"] for r in queue["queue"]}
    assert statuses == {"queued-1": "queued", "paused-1": "paused", "broken-1": "downloading"}
    body = (await (await again.get("/api/lm/download-progress/paused-1")).json())
    assert body["success"] is True
    resumed = await again.get("/api/lm/resume-download", params={"download_id": "paused-1"})
    assert resumed.status == 200
    assert (await wait_history(again, "paused-1"))["status"] == "completed"
    target = lib_env.loras / "SDXL 1.0" / "style" / paused.files[0].name
    assert target.read_bytes() == paused.files[0].data
