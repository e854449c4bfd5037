"""Example-image failure paths: full disk, permission denied, I/O errors, bad media, bad sidecars, flaky and
dead hosts, folders leading out of the root, a broken event hub, cancels at every stage."""
from __future__ import annotations

import asyncio
import errno
import json
import os

import pytest

from lora_manager.py.library import atomic
from support.downloads import wait_until
from support.example_images_kit import (ExampleFrames, add_example_model, run_download, stable_job, start_app,
                                        stored, use_examples)
from support.fake_civitai import fake_civitai  # noqa: F401 - fixture
from support.snap import scrub


def failing_fsync(monkeypatch, code: int, marker: str = "/examples/") -> None:
    """fsync of temp files under the example root fails with ``code`` (what a full disk or a revoked
    permission does to a write)."""
    real = os.fsync

    def fsync(fd: int) -> None:
        if marker in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(code, os.strerror(code))
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)


def all_files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "Disk full"), (errno.EACCES, "Permission denied")],
                         ids=["disk-full", "permission"])
async def test_refused_write_stops_with_clear_error_and_loses_nothing(lib_env, fake_civitai, make_client,  # noqa: F811
                                                                      monkeypatch, code, words, snapshot):
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    first = add_example_model(fake_civitai, lib_env.loras, "a_first.safetensors", seed=1, kinds=("image", "image"))
    second = add_example_model(fake_civitai, lib_env.loras, "b_second.safetensors", seed=2, kinds=("image",))
    earlier = root / first.sha256 / "image_0.png"  # stored by an earlier run
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(first.images[0].media())
    client, _clock = await start_app(make_client, lib_env)
    frames = await ExampleFrames().start(client)
    failing_fsync(monkeypatch, code)

    _answer, job = await run_download(client)
    assert job.status == "failed"
    assert job.error.startswith(f"Stopped: {words}")
    await wait_until(lambda: frames.frames and frames.last["status"] == "error")
    assert stable_job(scrub(frames.last, lib_env.tmp)) == snapshot(name="final_frame")
    await frames.stop()
    assert all_files(root) == [f"{first.sha256}/image_0.png"]  # no partial file, no temp file
    assert earlier.read_bytes() == first.images[0].media()
    assert not stored(root, second.sha256)
    status = await client.get("/api/lm/example-images-status")
    assert status.status == 200
    body = await status.json()
    assert body["is_downloading"] is False and body["status"]["status"] == "error"
    assert body["status"]["error"].startswith(words)
    assert stable_job(scrub(body, lib_env.tmp)) == snapshot(name="status")
    await client.lm_http.close()


async def test_other_io_error_fails_the_image_only(lib_env, fake_civitai, make_client, monkeypatch):  # noqa: F811
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    model = add_example_model(fake_civitai, lib_env.loras, "eio.safetensors", seed=3, kinds=("image", "image"))
    client, _clock = await start_app(make_client, lib_env)
    real = os.fsync
    calls = {"n": 0}

    def fsync(fd: int) -> None:
        if "/examples/" in os.readlink(f"/proc/self/fd/{fd}"):
            calls["n"] += 1
            if calls["n"] == 1:
                raise OSError(errno.EIO, "Input/output error")
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    _answer, job = await run_download(client)
    assert job.status == "completed"
    assert job.result["images_failed"] == 1 and job.result["images_downloaded"] == 1
    assert job.result["errors"][0]["error"].startswith("I/O error")
    assert list(stored(root, model.sha256)) == ["image_1.png"]
    assert all_files(root) == [f"{model.sha256}/image_1.png"]
    await client.lm_http.close()


async def test_answers_that_are_not_media_are_reported(lib_env, fake_civitai, make_client,  # noqa: F811
                                                       monkeypatch):
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    model = add_example_model(fake_civitai, lib_env.loras, "bad.safetensors", seed=4, kinds=("image", "image"))
    broken = fake_civitai.add_image(fake_civitai.versions[model.images[0].version_ids[0]],
                                    data=b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    sidecar_path = model.path.with_name("bad.metadata.json")
    sidecar = json.loads(sidecar_path.read_text())
    sidecar["civitai"]["images"].append(fake_civitai.version_image_json(broken))
    sidecar_path.write_text(json.dumps(sidecar))
    client, _clock = await start_app(make_client, lib_env)
    fake_civitai.answer_next(1, {"not": "an image"}, path=f"/media/{model.images[0].id}/")

    _answer, job = await run_download(client, {"optimize": True})
    errors = {e["index"]: e["error"] for e in job.result["errors"]}
    assert errors[0] == "Not an image or video (application/json; charset=utf-8)"
    assert errors[2].startswith("Not a usable image: the image could not be decoded")
    assert list(stored(root, model.sha256)) == ["image_1.webp"]
    await client.lm_http.close()


async def test_bad_sidecars_and_image_entries(lib_env, fake_civitai, make_client, monkeypatch):  # noqa: F811
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    entries = add_example_model(fake_civitai, lib_env.loras, "a_entries.safetensors", seed=5, kinds=("image",))
    corrupt = add_example_model(fake_civitai, lib_env.loras, "b_corrupt.safetensors", seed=6, kinds=("image",))
    sidecar_path = entries.path.with_name("a_entries.metadata.json")
    sidecar = json.loads(sidecar_path.read_text())
    good = sidecar["civitai"]["images"][0]
    sidecar["civitai"]["images"] = [{"url": ""}, "not an object", {"url": "ftp://example.test/x.png"}, good]
    sidecar_path.write_text(json.dumps(sidecar))
    client, _clock = await start_app(make_client, lib_env)
    corrupt.path.with_name("b_corrupt.metadata.json").write_text("{ not json")

    _answer, job = await run_download(client)
    assert job.status == "completed"
    result = job.result
    assert (result["failures"], result["skipped"], result["images_failed"]) == (1, 1, 3)
    assert [e["error"] for e in result["errors"]] == [
        "The image has no URL", "The image has no URL", "Not a usable image URL: ftp://example.test/x.png"]
    assert list(stored(root, entries.sha256)) == ["image_3.png"]
    assert not stored(root, corrupt.sha256)
    await client.lm_http.close()


async def test_flaky_host_is_retried_and_a_dead_image_gives_up(lib_env, fake_civitai, make_client,  # noqa: F811
                                                               monkeypatch):
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    model = add_example_model(fake_civitai, lib_env.loras, "flaky.safetensors", seed=7, kinds=("image",) * 3)
    client, clock = await start_app(make_client, lib_env, attempts=3)
    fake_civitai.fail_next(2, 503, path=f"/media/{model.images[0].id}/")  # recovers on the third try
    fake_civitai.fail_next(9, 500, path=f"/media/{model.images[1].id}/")  # never does
    fake_civitai.cut_after(10, path=f"/media/{model.images[2].id}/")  # a body cut short, then whole

    _answer, job = await run_download(client)
    files = stored(root, model.sha256)
    assert files == {"image_0.png": model.images[0].media(), "image_2.png": model.images[2].media()}
    errors = job.result["errors"]
    assert len(errors) == 1 and errors[0]["index"] == 1
    assert errors[0]["error"] == "The remote host failed (HTTP 500); gave up after 3 attempts"
    assert len(clock.sleeps) >= 5  # backoff waited on the manual clock, not for real
    assert all_files(root) == sorted(f"{model.sha256}/{name}" for name in files)
    await client.lm_http.close()


async def test_open_circuit_fails_fast_and_the_job_still_ends(lib_env, fake_civitai, make_client,  # noqa: F811
                                                              monkeypatch):
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    models = [add_example_model(fake_civitai, lib_env.loras, f"m{i}.safetensors", seed=10 + i, kinds=("image",) * 2)
              for i in range(4)]
    client, _clock = await start_app(make_client, lib_env, attempts=2, breaker_threshold=2)
    fake_civitai.fail_next(1000, 502, path="/media/")

    _answer, job = await run_download(client)
    assert job.status == "completed"
    assert job.result["failures"] == 4 and job.result["images_failed"] == 8
    assert any("unavailable" in e["error"] for e in job.result["errors"])
    assert len(fake_civitai.requests_to("/media/")) <= 4  # the breaker stopped the hammering
    assert not any(stored(root, m.sha256) for m in models)
    await client.lm_http.close()


async def test_oversized_media_is_refused(lib_env, fake_civitai, make_client, monkeypatch):  # noqa: F811
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    model = add_example_model(fake_civitai, lib_env.loras, "big.safetensors", seed=20, kinds=("image",))
    client, _clock = await start_app(make_client, lib_env)
    client.lm_context.components["example_images"].max_media_bytes = 16
    _answer, job = await run_download(client)
    assert job.result["errors"][0]["error"] == "The file is larger than 16 bytes"
    assert not stored(root, model.sha256)
    await client.lm_http.close()


async def test_folder_leading_outside_the_root_is_not_written(lib_env, fake_civitai, make_client,  # noqa: F811
                                                              monkeypatch):
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    model = add_example_model(fake_civitai, lib_env.loras, "escape.safetensors", seed=21, kinds=("image",))
    outside = lib_env.tmp / "elsewhere"
    outside.mkdir()
    root.mkdir()
    (root / model.sha256).symlink_to(outside, target_is_directory=True)
    client, _clock = await start_app(make_client, lib_env)
    _answer, job = await run_download(client)
    assert job.result["failures"] == 1
    assert "leads outside example_images_path" in job.result["errors"][0]["error"]
    assert list(outside.iterdir()) == []
    await client.lm_http.close()


async def test_broken_event_hub_does_not_stop_the_downloads(lib_env, fake_civitai, make_client,  # noqa: F811
                                                            monkeypatch):
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    model = add_example_model(fake_civitai, lib_env.loras, "hub.safetensors", seed=22, kinds=("image",))
    client, _clock = await start_app(make_client, lib_env)
    hub = client.lm_context.hub
    real = hub.broadcast

    def broadcast(channel, payload, **kwargs):
        if payload.get("type") == "example_images_progress":
            raise RuntimeError("hub is broken")
        return real(channel, payload, **kwargs)

    monkeypatch.setattr(hub, "broadcast", broadcast)
    _answer, job = await run_download(client)
    assert job.status == "completed"
    assert stored(root, model.sha256) == {"image_0.png": model.images[0].media()}  # the image landed whole
    await client.lm_http.close()


async def test_cancel_before_the_job_starts(lib_env, fake_civitai, make_client, monkeypatch):  # noqa: F811
    use_examples(lib_env, fake_civitai, monkeypatch)
    add_example_model(fake_civitai, lib_env.loras, "queued.safetensors", seed=23, kinds=("image",))
    client, _clock = await start_app(make_client, lib_env)
    jobs = client.lm_context.jobs
    gate = asyncio.Event()
    blockers = [jobs.start(f"block{i}", lambda ctx: gate.wait()) for i in range(2)]  # every slot taken
    frames = await ExampleFrames().start(client)
    resp = await client.post("/api/lm/download-example-images", json={})
    job = jobs.get((await resp.json())["job_id"])
    status = await (await client.get("/api/lm/example-images-status")).json()
    assert status["is_downloading"] is True and status["status"]["status"] == "queued"
    cancel = await client.post("/api/lm/cancel-example-images")
    assert cancel.status == 200
    assert job.status == "cancelled"
    await wait_until(lambda: frames.frames and frames.last["status"] == "cancelled")
    assert not fake_civitai.requests_to("/media/")
    gate.set()
    for blocker in blockers:
        await blocker.wait()
    await frames.stop()
    await client.lm_http.close()


async def test_job_that_ignores_cancel_is_stopped_and_reports_it(lib_env, fake_civitai, make_client,  # noqa: F811
                                                                 monkeypatch):
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    model = add_example_model(fake_civitai, lib_env.loras, "stuck.safetensors", seed=24, kinds=("image",))
    client, _clock = await start_app(make_client, lib_env)
    client.lm_context.jobs._grace = 0.05  # the task is cancelled this soon after a cancel request
    frames = await ExampleFrames().start(client)
    fake_civitai.stall(5, path="/media/")
    resp = await client.post("/api/lm/download-example-images", json={})
    job = client.lm_context.jobs.get((await resp.json())["job_id"])
    await wait_until(lambda: len(fake_civitai.requests_to("/media/")) == 1)
    assert (await client.post("/api/lm/cancel-example-images")).status == 200
    await asyncio.wait_for(asyncio.shield(job._done.wait()), 5)
    assert job.status == "cancelled"
    await wait_until(lambda: frames.last["status"] == "cancelled")
    assert not stored(root, model.sha256) and not list(root.rglob("*.tmp"))
    await frames.stop()
    await client.lm_http.close()


async def test_auto_download_on_full_disk_fails_its_job_only(lib_env, fake_civitai, make_client,  # noqa: F811
                                                             monkeypatch):
    root = use_examples(lib_env, fake_civitai, monkeypatch, download_example_images=True)
    model = add_example_model(fake_civitai, lib_env.loras, "auto.safetensors", seed=25, kinds=("image",))
    client, _clock = await start_app(make_client, lib_env)
    failing_fsync(monkeypatch, errno.ENOSPC)
    service = client.lm_context.components["example_images"]
    await service.on_model_downloaded({"model_type": "lora", "file_path": str(model.path), "sha256": model.sha256})
    job = client.lm_context.jobs.list_jobs("example_images:auto")[0]
    with pytest.raises(RuntimeError, match="Disk full"):
        await asyncio.wait_for(job.wait(), 10)
    assert job.status == "failed" and all_files(root) == []
    await client.lm_http.close()


async def test_settings_cleared_while_queued_stops_the_job(lib_env, fake_civitai, make_client,  # noqa: F811
                                                           monkeypatch):
    use_examples(lib_env, fake_civitai, monkeypatch)
    add_example_model(fake_civitai, lib_env.loras, "cleared.safetensors", seed=26, kinds=("image",))
    client, _clock = await start_app(make_client, lib_env)
    jobs = client.lm_context.jobs
    gate = asyncio.Event()
    blockers = [jobs.start(f"block{i}", lambda ctx: gate.wait()) for i in range(2)]
    resp = await client.post("/api/lm/download-example-images", json={})
    job = jobs.get((await resp.json())["job_id"])
    client.lm_context.settings_store.settings.example_images_path = ""
    gate.set()
    with pytest.raises(RuntimeError, match="Set example_images_path in settings first"):
        await asyncio.wait_for(job.wait(), 10)
    for blocker in blockers:
        await blocker.wait()
    await client.lm_http.close()


async def test_unexpected_error_ends_the_run_with_an_error_frame(lib_env, fake_civitai, make_client,  # noqa: F811
                                                                 monkeypatch):
    use_examples(lib_env, fake_civitai, monkeypatch)
    add_example_model(fake_civitai, lib_env.loras, "bug.safetensors", seed=27, kinds=("image",))
    client, _clock = await start_app(make_client, lib_env)
    service = client.lm_context.components["example_images"]

    async def broken(*args, **kwargs):
        raise TypeError("a bug")

    monkeypatch.setattr(service, "download_model", broken)
    frames = await ExampleFrames().start(client)
    _answer, job = await run_download(client)
    assert job.status == "failed" and job.error == "a bug"
    await wait_until(lambda: frames.frames and frames.last["status"] == "error")
    assert frames.last["error"] == "Unexpected error: TypeError: a bug"
    await frames.stop()
    await client.lm_http.close()
