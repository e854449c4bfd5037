"""``DownloadManager.after_download``: callbacks run after a download lands (never after a failure or a skip),
and a failing callback is logged without failing the download."""
from __future__ import annotations

import logging

from support.downloads import add_lora, download_client, manager_of, wait_until
from support.fake_civitai import fake_civitai  # noqa: F401  (fixture)


async def test_callbacks_get_the_landed_download_and_their_errors_never_fail_it(lib_env, make_client, fake_civitai,
                                                                                monkeypatch, caplog):
    version = add_lora(fake_civitai, "Hooked")
    excluded = add_lora(fake_civitai, "Not Hooked", base_model="Pony")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch,
                                   download_skip_base_models=["Pony"])
    seen: list[dict] = []

    async def broken(info: dict) -> None:
        raise RuntimeError("example images are unavailable")

    async def record(info: dict) -> None:
        seen.append(info)

    manager_of(client).after_download.extend([broken, record])
    response = await client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": "hook-1"})
    assert response.status == 200
    body = await response.json()
    await wait_until(lambda: seen)
    info = seen[0]
    assert sorted(info) == ["file_path", "model", "model_type", "sha256", "version"]
    assert (info["model_type"], info["file_path"], info["sha256"]) == ("lora", body["file_path"],
                                                                       version.files[0].sha256)
    assert info["version"]["id"] == version.id and info["model"]["name"] == "Hooked"
    assert any("after-download callback failed" in r.getMessage() and r.levelno == logging.ERROR
               for r in caplog.records)

    skipped = await client.get("/api/lm/download-model-get", params={
        "model_id": str(excluded.model_id), "model_version_id": str(excluded.id), "download_id": "hook-2"})
    assert (await skipped.json())["skipped"] is True
    missing = await client.get("/api/lm/download-model-get", params={
        "model_id": "1", "model_version_id": "987654", "download_id": "hook-3"})
    assert missing.status == 404
    await client.close()  # waits for callbacks still running
    assert len(seen) == 1
