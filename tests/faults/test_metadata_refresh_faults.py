"""Metadata refresh failure paths: full disk, permission denied, corrupt media, malformed answers, bad store."""
from __future__ import annotations

import asyncio
import errno
import os

import pytest

from lora_manager.py.library import atomic
from support.fake_civitai import fake_civitai  # noqa: F401 - fixture
from support.metadata_helpers import civitai_env, http_clock  # noqa: F401 - fixtures
from support.metadata_helpers import add_known_lora, read_sidecar_json
from support.snap import scrub


def failing_fsync(monkeypatch, code: int) -> None:
    """fsync of sidecar temp files fails with ``code`` (what a full disk or a revoked permission does)."""
    real = os.fsync

    def fsync(fd: int) -> None:
        if ".metadata.json." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(code, os.strerror(code))
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)


async def start(make_client, env, http):
    client = await make_client(env)
    client.lm_context.components["metadata"].set_http(http)
    return client


@pytest.mark.parametrize("code, status", [(errno.ENOSPC, 507), (errno.EACCES, 403)])
async def test_sidecar_write_failure_loses_nothing(civitai_env, fake_civitai, make_client, http_clock,  # noqa: F811
                                                   monkeypatch, code, status, snapshot):
    _model, path = add_known_lora(fake_civitai, civitai_env.loras, "full.safetensors", seed=1)
    client = await start(make_client, civitai_env, http_clock[0])
    sidecar = path.with_name("full.metadata.json")
    before = sidecar.read_bytes()
    failing_fsync(monkeypatch, code)
    resp = await client.post("/api/lm/loras/fetch-civitai", json={"file_path": str(path)})
    assert resp.status == status
    assert scrub(await resp.json(), civitai_env.tmp) == snapshot
    assert sidecar.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["full.metadata.json", "full.safetensors"]


async def test_bulk_refresh_disk_full_marks_items_failed(civitai_env, fake_civitai, make_client,  # noqa: F811
                                                         http_clock, monkeypatch):
    paths = [add_known_lora(fake_civitai, civitai_env.loras, f"m{i}.safetensors", seed=10 + i, images=0)[1]
             for i in range(3)]
    client = await start(make_client, civitai_env, http_clock[0])
    before = {p: p.with_name(p.stem + ".metadata.json").read_bytes() for p in paths}
    failing_fsync(monkeypatch, errno.ENOSPC)
    resp = await client.post("/api/lm/loras/fetch-all-civitai")
    job = client.lm_context.jobs.get((await resp.json())["job_id"])
    await asyncio.wait_for(asyncio.shield(job._done.wait()), 10)
    assert job.status == "completed"
    assert job.result["failure_count"] == 3 and job.result["success"] == 0
    assert all(f["error"].startswith("Disk full") for f in job.result["failures"])
    assert all(p.with_name(p.stem + ".metadata.json").read_bytes() == before[p] for p in paths)


async def test_corrupt_preview_is_skipped(civitai_env, fake_civitai, make_client, http_clock):  # noqa: F811
    _model, path = add_known_lora(fake_civitai, civitai_env.loras, "badimg.safetensors", seed=2)
    client = await start(make_client, civitai_env, http_clock[0])
    fake_civitai.answer_next(1, {"not": "an image"}, path="/media/")
    resp = await client.post("/api/lm/loras/fetch-civitai", json={"file_path": str(path)})
    body = await resp.json()
    assert resp.status == 200 and body["found"] is True and body["preview_downloaded"] is False
    assert not path.with_name("badimg.webp").exists()
    assert read_sidecar_json(path)["from_civitai"] is True


async def test_missing_preview_is_skipped(civitai_env, fake_civitai, make_client, http_clock):  # noqa: F811
    _model, path = add_known_lora(fake_civitai, civitai_env.loras, "noimg.safetensors", seed=3)
    client = await start(make_client, civitai_env, http_clock[0])
    fake_civitai.fail_next(1, 404, path="/media/")
    resp = await client.post("/api/lm/loras/fetch-civitai", json={"file_path": str(path)})
    body = await resp.json()
    assert resp.status == 200 and body["preview_downloaded"] is False
    # The preview was asked for (and was gone); the metadata was still saved, and no preview file was made.
    assert fake_civitai.requests_to("/media/")
    sidecar = read_sidecar_json(path)
    assert sidecar["from_civitai"] is True and not sidecar.get("preview_url")
    assert sorted(p.name for p in path.parent.iterdir()) == ["noimg.metadata.json", "noimg.safetensors"]


async def test_malformed_answer_is_502(civitai_env, fake_civitai, make_client, http_clock, snapshot):  # noqa: F811
    _model, path = add_known_lora(fake_civitai, civitai_env.loras, "mal.safetensors", seed=4)
    client = await start(make_client, civitai_env, http_clock[0])
    before = path.with_name("mal.metadata.json").read_bytes()
    fake_civitai.malformed_json_next(1, path="/api/v1/model-versions/by-hash")
    resp = await client.post("/api/lm/loras/fetch-civitai", json={"file_path": str(path)})
    assert resp.status == 502
    body = await resp.json()
    body["error"] = body["error"].split(" (invalid JSON")[0]
    assert body == snapshot
    assert path.with_name("mal.metadata.json").read_bytes() == before


async def test_corrupt_update_store_heals(civitai_env, make_client, http_clock):
    db = civitai_env.data_dir / "db"
    db.mkdir(parents=True, exist_ok=True)
    (db / "updates.sqlite").write_bytes(b"this is not a database" * 100)
    client = await start(make_client, civitai_env, http_clock[0])
    store = client.lm_context.components["metadata"].store
    assert store.healed_from is not None and store.healed_from.exists()
    resp = await client.post("/api/lm/loras/updates/ignore", json={"model_id": 7})
    assert resp.status == 200 and (await resp.json())["ignored"] is True
