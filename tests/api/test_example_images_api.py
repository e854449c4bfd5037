"""Example images through the real app: POST download-example-images, status, cancel, per-model listing, the
previews route, and the after-download hook, with the fake Civitai serving the image bytes."""
from __future__ import annotations

import asyncio
import io
import json

import pytest
from PIL import Image

from support.downloads import add_lora, manager_of, wait_history, wait_until
from support.example_images_kit import (ExampleFrames, add_example_model, run_download, stable_job, start_app,
                                        stored, use_examples)
from support.fake_civitai import fake_civitai  # noqa: F401 - fixture
from support.metadata_helpers import add_known_lora
from support.snap import scrub

NOT_CONFIGURED = "Set example_images_path in settings first"


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (8, 8), color) for color in ((255, 0, 0), (0, 255, 0))]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    return out.getvalue()


def clean(value, env, fake=None):
    return stable_job(scrub(value, env.tmp), fake.base_url if fake is not None else None)


async def test_download_stores_every_image_with_its_bytes(lib_env, fake_civitai, make_client,  # noqa: F811
                                                          monkeypatch, snapshot):
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    full = add_example_model(fake_civitai, lib_env.loras, "full.safetensors", seed=1,
                             kinds=("image", "jpeg", "video", "webm"))
    plain = add_example_model(fake_civitai, lib_env.checkpoints, "ckpt.safetensors", seed=2, kinds=("image",))
    no_images = add_example_model(fake_civitai, lib_env.loras, "none.safetensors", seed=3, kinds=())
    client, _clock = await start_app(make_client, lib_env)
    frames = await ExampleFrames().start(client)

    answer, job = await run_download(client, {"model_types": ["lora", "checkpoints"]})
    assert clean(answer, lib_env) == snapshot(name="start")
    assert job.status == "completed"
    assert clean(job.result, lib_env) == snapshot(name="result")

    files = stored(root, full.sha256)
    assert list(files) == ["image_0.png", "image_1.jpg", "image_2.mp4", "image_3.webm"]
    assert list(files.values()) == [image.media() for image in full.images]
    assert stored(root, plain.sha256) == {"image_0.png": plain.images[0].media()}
    assert not (root / no_images.sha256).exists()
    assert not list(root.rglob(".*.tmp"))

    await wait_until(lambda: frames.frames and frames.last["status"] == "completed")
    assert frames.frames[0]["status"] == "running" and frames.frames[0]["processed"] == 0
    assert clean(frames.last, lib_env) == snapshot(name="final_frame")
    await frames.stop()

    status = await client.get("/api/lm/example-images-status")
    assert status.status == 200
    assert clean(await status.json(), lib_env) == snapshot(name="status")

    listing = await client.get(f"/api/lm/example-images/{full.sha256.upper()}")
    body = await listing.json()
    assert listing.status == 200
    assert clean(body, lib_env) == snapshot(name="files")
    for entry, image in zip(body["files"], full.images):
        served = await client.get(entry["url"])
        assert served.status == 200 and await served.read() == image.media()
        assert served.headers["Cache-Control"] == "public, max-age=86400"
    await client.lm_http.close()


async def test_rerun_downloads_nothing_new(lib_env, fake_civitai, make_client, monkeypatch,  # noqa: F811
                                           snapshot):
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    model = add_example_model(fake_civitai, lib_env.loras, "again.safetensors", seed=4, kinds=("image", "jpeg"))
    client, _clock = await start_app(make_client, lib_env)
    await run_download(client)
    first = {name: (root / model.sha256 / name).stat().st_mtime_ns for name in stored(root, model.sha256)}
    fetched = len(fake_civitai.requests_to("/media/"))
    assert fetched == 2

    _answer, job = await run_download(client, {"model_types": ["lora"], "optimize": True})
    assert len(fake_civitai.requests_to("/media/")) == fetched  # nothing fetched again
    assert {name: (root / model.sha256 / name).stat().st_mtime_ns for name in stored(root, model.sha256)} == first
    assert clean(job.result, lib_env) == snapshot
    await client.lm_http.close()


async def test_existing_file_is_never_overwritten(lib_env, fake_civitai, make_client, monkeypatch):  # noqa: F811
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    model = add_example_model(fake_civitai, lib_env.loras, "keep.safetensors", seed=5, kinds=("image", "image"))
    folder = root / model.sha256
    folder.mkdir(parents=True)
    (folder / "image_1.jpg").write_bytes(b"the user's own file")
    client, _clock = await start_app(make_client, lib_env)
    _answer, job = await run_download(client)
    assert (folder / "image_1.jpg").read_bytes() == b"the user's own file"
    assert stored(root, model.sha256) == {"image_0.png": model.images[0].media(), "image_1.jpg": b"the user's own file"}
    assert job.result["images_present"] == 1 and job.result["images_downloaded"] == 1
    await client.lm_http.close()


async def test_optimize_reencodes_stills_as_webp(lib_env, fake_civitai, make_client, monkeypatch):  # noqa: F811
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    model = add_example_model(fake_civitai, lib_env.loras, "opt.safetensors", seed=6,
                              kinds=("image", "jpeg", "video"))
    gif = fake_civitai.add_image(fake_civitai.versions[model.images[0].version_ids[0]], data=animated_gif(),
                                 name="anim.gif")
    sidecar_path = model.path.with_name("opt.metadata.json")
    sidecar = json.loads(sidecar_path.read_text())
    sidecar["civitai"]["images"].append(fake_civitai.version_image_json(gif))
    sidecar_path.write_text(json.dumps(sidecar))
    client, _clock = await start_app(make_client, lib_env)

    _answer, job = await run_download(client, {"optimize": True})
    assert job.result["optimize"] is True
    files = stored(root, model.sha256)
    assert list(files) == ["image_0.webp", "image_1.webp", "image_2.mp4", "image_3.gif"]
    for name in ("image_0.webp", "image_1.webp"):
        with Image.open(io.BytesIO(files[name])) as image:
            assert image.format == "WEBP"
            assert image.size == (64, 64) if name == "image_0.webp" else (24, 16)
    assert files["image_2.mp4"] == model.images[2].media()
    assert files["image_3.gif"] == gif.media()  # animations are kept as they are
    await client.lm_http.close()


async def test_missing_image_is_reported_and_the_others_land(lib_env, fake_civitai, make_client,  # noqa: F811
                                                             monkeypatch, snapshot):
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    first = add_example_model(fake_civitai, lib_env.loras, "a_first.safetensors", seed=7, kinds=("image",) * 3)
    second = add_example_model(fake_civitai, lib_env.loras, "b_second.safetensors", seed=8, kinds=("image",))
    gone = first.images[1]
    fake_civitai.fail_next(1, 404, path=f"/media/{gone.id}/")
    client, _clock = await start_app(make_client, lib_env)
    frames = await ExampleFrames().start(client)

    _answer, job = await run_download(client)
    assert job.status == "completed"
    assert sorted(stored(root, first.sha256)) == ["image_0.png", "image_2.png"]
    assert list(stored(root, second.sha256)) == ["image_0.png"]
    result = job.result
    assert (result["success"], result["failures"], result["images_failed"]) == (1, 1, 1)
    await wait_until(lambda: frames.frames and frames.last["status"] == "completed")
    failing = [f for f in frames.frames if f["failures"]]
    assert failing and failing[0]["errors"][0]["index"] == 1
    assert clean(frames.last, lib_env, fake_civitai) == snapshot(name="final_frame")
    await frames.stop()

    # The next run fetches only the missing one.
    fetched = len(fake_civitai.requests_to("/media/"))
    _answer, job = await run_download(client)
    assert len(fake_civitai.requests_to("/media/")) == fetched + 1
    assert sorted(stored(root, first.sha256)) == ["image_0.png", "image_1.png", "image_2.png"]
    assert job.result["failures"] == 0
    await client.lm_http.close()


async def test_rate_limit_retry_after_is_honoured(lib_env, fake_civitai, make_client, monkeypatch):  # noqa: F811
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    model = add_example_model(fake_civitai, lib_env.loras, "limited.safetensors", seed=9, kinds=("image", "image"))
    client, clock = await start_app(make_client, lib_env)
    fake_civitai.rate_limit_next(1, retry_after=7, path="/media/")

    _answer, job = await run_download(client)
    assert job.result["images_downloaded"] == 2 and job.result["failures"] == 0
    assert 7.0 in clock.sleeps  # the wait the server asked for, on the manual clock
    assert list(stored(root, model.sha256)) == ["image_0.png", "image_1.png"]
    paths = [r.path for r in fake_civitai.requests_to("/media/")]
    assert len(paths) == 3 and paths[0] == paths[1]  # the limited image was asked for again, once
    await client.lm_http.close()


async def test_cancel_stops_the_job(lib_env, fake_civitai, make_client, monkeypatch, snapshot):  # noqa: F811
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    models = [add_example_model(fake_civitai, lib_env.loras, f"c{i:02d}.safetensors", seed=20 + i, kinds=("image",))
              for i in range(12)]
    client, _clock = await start_app(make_client, lib_env)
    service = client.lm_context.components["example_images"]
    service.frame_interval = 0.0
    frames = await ExampleFrames().start(client)
    fake_civitai.stall(0.05, path="/media/")

    resp = await client.post("/api/lm/download-example-images", json={})
    job = client.lm_context.jobs.get((await resp.json())["job_id"])
    await wait_until(lambda: any(f["processed"] >= 1 for f in frames.frames))
    cancel = await client.post("/api/lm/cancel-example-images")
    assert cancel.status == 200
    assert stable_job(await cancel.json()) == snapshot(name="cancel")
    await asyncio.wait_for(asyncio.shield(job._done.wait()), 10)
    assert job.status == "cancelled"
    await wait_until(lambda: frames.last["status"] == "cancelled")
    final = frames.last
    assert 1 <= final["processed"] < 12
    done = [m for m in models if stored(root, m.sha256)]
    assert all(stored(root, m.sha256) == {"image_0.png": m.images[0].media()} for m in done)  # nothing partial
    assert len(done) <= final["processed"] + 1
    assert not list(root.rglob(".*.tmp"))
    await frames.stop()

    again = await client.post("/api/lm/cancel-example-images")
    assert again.status == 404
    assert await again.json() == snapshot(name="cancel_when_idle")
    status = await (await client.get("/api/lm/example-images-status")).json()
    assert status["is_downloading"] is False and status["status"]["status"] == "cancelled"
    await client.lm_http.close()


async def test_stop_alias_and_job_cancel_route_also_stop(lib_env, fake_civitai, make_client,  # noqa: F811
                                                         monkeypatch):
    use_examples(lib_env, fake_civitai, monkeypatch)
    for i in range(6):
        add_example_model(fake_civitai, lib_env.loras, f"s{i}.safetensors", seed=40 + i, kinds=("image",))
    client, _clock = await start_app(make_client, lib_env)
    fake_civitai.stall(0.05, path="/media/")
    for route in ("/api/lm/stop-example-images", None):
        resp = await client.post("/api/lm/download-example-images", json={})
        job_id = (await resp.json())["job_id"]
        stop = await client.post(route or f"/api/lm/jobs/{job_id}/cancel")
        assert stop.status == 200
        job = client.lm_context.jobs.get(job_id)
        await asyncio.wait_for(asyncio.shield(job._done.wait()), 10)
        assert job.status == "cancelled"
    await client.lm_http.close()


async def test_second_start_while_running_is_409(lib_env, fake_civitai, make_client, monkeypatch,  # noqa: F811
                                                 snapshot):
    use_examples(lib_env, fake_civitai, monkeypatch)
    add_example_model(fake_civitai, lib_env.loras, "busy.safetensors", seed=50, kinds=("image",) * 3)
    client, _clock = await start_app(make_client, lib_env)
    fake_civitai.stall(0.05, path="/media/")
    first = await client.post("/api/lm/download-example-images", json={})
    second = await client.post("/api/lm/download-example-images", json={})
    assert second.status == 409
    assert stable_job(await second.json()) == snapshot
    status = await (await client.get("/api/lm/example-images-status")).json()
    assert status["is_downloading"] is True
    job = client.lm_context.jobs.get((await first.json())["job_id"])
    await asyncio.wait_for(asyncio.shield(job._done.wait()), 10)
    await client.lm_http.close()


async def test_selected_file_paths_only(lib_env, fake_civitai, make_client, monkeypatch, snapshot):  # noqa: F811
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    chosen = add_example_model(fake_civitai, lib_env.loras, "sub/chosen.safetensors", seed=60, kinds=("image",))
    other = add_example_model(fake_civitai, lib_env.loras, "other.safetensors", seed=61, kinds=("image",))
    client, _clock = await start_app(make_client, lib_env)
    answer, job = await run_download(client, {"file_paths": [str(chosen.path), str(chosen.path)]})
    assert clean(answer, lib_env) == snapshot
    assert list(stored(root, chosen.sha256)) == ["image_0.png"]
    assert not stored(root, other.sha256)
    assert job.result["total"] == 1
    await client.lm_http.close()


async def test_models_without_hash_or_images_are_skipped(lib_env, fake_civitai, make_client,  # noqa: F811
                                                         monkeypatch):
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    model = add_example_model(fake_civitai, lib_env.loras, "hashless.safetensors", seed=62, kinds=("image",))
    client, _clock = await start_app(make_client, lib_env)
    service = client.lm_context.components["example_images"]
    targets = service.resolve_targets(["lora"], None)
    targets[0].sha256 = ""
    outcome = await service.download_model(targets[0], optimize=False)
    assert outcome.status == "skipped" and "SHA256" in outcome.message
    model.path.with_name("hashless.metadata.json").unlink()
    outcome = await service.download_model(service.resolve_targets(["lora"], None)[0], optimize=False)
    assert outcome.status == "skipped" and "No example images" in outcome.message
    assert not root.exists()
    await client.lm_http.close()


async def test_metadata_refresh_then_examples(lib_env, fake_civitai, make_client, monkeypatch):  # noqa: F811
    """The sidecar block written by the Civitai refresh is what the download reads."""
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    model, path = add_known_lora(fake_civitai, lib_env.loras, "known.safetensors", seed=70, images=3)
    client, _clock = await start_app(make_client, lib_env)
    client.lm_context.components["metadata"].set_http(client.lm_http)
    refreshed = await client.post("/api/lm/loras/fetch-civitai", json={"file_path": str(path)})
    assert refreshed.status == 200
    sha256 = (await refreshed.json())["model"]["sha256"]
    _answer, job = await run_download(client)
    images = model.versions[0].images
    assert stored(root, sha256) == {f"image_{i}.png": image.media() for i, image in enumerate(images)}
    assert job.result["images_downloaded"] == 3
    await client.lm_http.close()


# -- refusals ----------------------------------------------------------------------------------------
async def test_feature_off_answers_400_everywhere(lib_env, make_client, snapshot):
    client = await make_client(lib_env)
    calls = [
        ("POST", "/api/lm/download-example-images", {}),
        ("GET", "/api/lm/example-images-status", None),
        ("POST", "/api/lm/cancel-example-images", None),
        ("POST", "/api/lm/stop-example-images", None),
        ("GET", "/api/lm/example-images/" + "a" * 64, None),
        ("GET", "/api/lm/example-images/not-a-hash", None),
    ]
    for method, path, body in calls:
        resp = await client.request(method, path, json=body)
        assert resp.status == 400, path
        assert await resp.json() == {"success": False, "error": NOT_CONFIGURED}, path
    resp = await client.post("/api/lm/download-example-images", json={})
    assert await resp.json() == snapshot
    assert not (lib_env.tmp / "examples").exists()


@pytest.mark.parametrize("body, status", [
    ({"model_types": "lora"}, 400),
    ({"model_types": []}, 400),
    ({"model_types": ["lora", "vae"]}, 400),
    ({"model_types": [3]}, 400),
    ({"file_paths": "x.safetensors"}, 400),
    ({"file_paths": [""]}, 400),
    ({"file_paths": ["/etc/passwd"]}, 403),
    ({"file_paths": ["missing.safetensors"]}, 404),
    ({"optimize": "maybe"}, 400),
])
async def test_bad_requests_get_clear_errors(lib_env, fake_civitai, make_client, monkeypatch,  # noqa: F811
                                             body, status, snapshot):
    use_examples(lib_env, fake_civitai, monkeypatch)
    client = await make_client(lib_env)
    resp = await client.post("/api/lm/download-example-images", json=body)
    assert resp.status == status
    answer = await resp.json()
    assert answer["success"] is False
    assert scrub(answer, lib_env.tmp) == snapshot
    bad_json = await client.post("/api/lm/download-example-images", data=b"{", headers={"Content-Type": "application/json"})
    assert bad_json.status == 400


@pytest.mark.parametrize("raw", ["abc", "g" * 64, "a" * 63, "a" * 65, "..%2F..%2Fetc", "a" * 64 + "%2F.."],
                         ids=["short", "not-hex", "63", "65", "dot-dot", "sha-dot-dot"])
async def test_listing_refuses_malformed_hashes(lib_env, fake_civitai, make_client, monkeypatch, raw,  # noqa: F811
                                                snapshot):
    use_examples(lib_env, fake_civitai, monkeypatch)
    client = await make_client(lib_env)
    resp = await client.get(f"/api/lm/example-images/{raw}")
    assert resp.status in (400, 404)
    body = await resp.json()
    assert body["success"] is False
    if resp.status == 400:
        assert body == snapshot


async def test_listing_is_empty_without_files_and_status_is_idle(lib_env, fake_civitai, make_client,  # noqa: F811
                                                                 monkeypatch, snapshot):
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    client = await make_client(lib_env)
    resp = await client.get("/api/lm/example-images/" + "b" * 64)
    assert resp.status == 200
    assert await resp.json() == snapshot(name="empty")
    folder = root / ("c" * 64)
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("not media")
    (folder / ".image_0.png.abc.tmp").write_bytes(b"partial")
    (folder / "custom_1.webp").write_bytes(b"x")
    (folder / "image_10.png").write_bytes(b"xx")
    (folder / "image_2.mp4").write_bytes(b"xxx")
    (folder / "image_3.png").mkdir()
    listed = await (await client.get("/api/lm/example-images/" + "C" * 64)).json()
    assert [f["name"] for f in listed["files"]] == ["image_2.mp4", "image_10.png", "custom_1.webp"]
    status = await client.get("/api/lm/example-images-status")
    assert await status.json() == snapshot(name="idle")


async def test_previews_serve_the_example_root_and_stay_confined(lib_env, fake_civitai, make_client,  # noqa: F811
                                                                  monkeypatch):
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    inside = root / ("d" * 64) / "image_0.png"
    inside.parent.mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(inside)
    sibling = lib_env.tmp / "examples-old" / "image_0.png"  # the root's name as a prefix of a sibling
    sibling.parent.mkdir()
    sibling.write_bytes(inside.read_bytes())
    escape = root / ("e" * 64)
    escape.symlink_to(sibling.parent, target_is_directory=True)
    client = await make_client(lib_env)
    assert (await client.get("/api/lm/previews", params={"path": str(inside)})).status == 200
    for outside in (sibling, escape / "image_0.png", root / ".." / "examples-old" / "image_0.png"):
        resp = await client.get("/api/lm/previews", params={"path": str(outside)})
        assert resp.status == 403, outside
        assert (await resp.json())["success"] is False
    listed = await (await client.get("/api/lm/example-images/" + "e" * 64)).json()
    assert listed["files"] == []  # a folder leading out is not listed
    lib_env.write_settings()  # the feature off again: the example root is no root any more
    client2 = await make_client(lib_env)
    assert (await client2.get("/api/lm/previews", params={"path": str(inside)})).status == 403


# -- after a model download ---------------------------------------------------------------------------
async def test_download_hook_fetches_images_when_enabled(lib_env, fake_civitai, make_client,  # noqa: F811
                                                         monkeypatch):
    root = use_examples(lib_env, fake_civitai, monkeypatch, download_example_images=True)
    model = add_example_model(fake_civitai, lib_env.loras, "hooked.safetensors", seed=80, kinds=("image", "jpeg"))
    client, _clock = await start_app(make_client, lib_env)
    service = client.lm_context.components["example_images"]
    version = fake_civitai.version_json(fake_civitai.versions[model.images[0].version_ids[0]])
    info = {"model_type": "lora", "file_path": str(model.path), "sha256": model.sha256.upper(), "version": version,
            "model": {"name": "Hooked"}}
    await service.on_model_downloaded(info)  # returns at once: the work is a background job
    jobs = client.lm_context.jobs.list_jobs("example_images:auto")
    assert len(jobs) == 1
    await asyncio.wait_for(asyncio.shield(jobs[0]._done.wait()), 10)
    assert jobs[0].status == "completed" and jobs[0].result["status"] == "success"
    assert stored(root, model.sha256) == {"image_0.png": model.images[0].media(), "image_1.jpg": model.images[1].media()}

    # Without images in the version, the sidecar's list is used; with the setting off nothing happens.
    (root / model.sha256 / "image_1.jpg").unlink()
    await service.on_model_downloaded({**info, "version": {}, "sha256": ""})
    await wait_until(lambda: all(j.done for j in client.lm_context.jobs.list_jobs("example_images:auto")))
    assert sorted(stored(root, model.sha256)) == ["image_0.png", "image_1.jpg"]
    await service.on_model_downloaded({"file_path": ""})
    client.lm_context.settings_store.settings.download_example_images = False
    (root / model.sha256 / "image_1.jpg").unlink()
    await service.on_model_downloaded(info)
    assert len(client.lm_context.jobs.list_jobs("example_images:auto")) == 2
    await client.lm_http.close()


async def test_real_download_triggers_example_images(lib_env, fake_civitai, make_client, monkeypatch):  # noqa: F811
    root = use_examples(lib_env, fake_civitai, monkeypatch, download_example_images=True)
    client, _clock = await start_app(make_client, lib_env)
    if not isinstance(getattr(manager_of(client), "after_download", None), list):
        await client.lm_http.close()
        pytest.skip("DownloadManager has no after_download hooks yet")
    version = add_lora(fake_civitai, "Hooked Download")
    resp = await client.post("/api/lm/download-model", json={"model_version_id": version.id, "download_id": "ex-1"})
    assert resp.status == 200
    row = await wait_history(client, "ex-1")
    assert row["status"] == "completed"
    sha256 = version.files[0].sha256
    jobs = client.lm_context.jobs
    await wait_until(lambda: any(job.done for job in jobs.list_jobs("example_images:auto")))
    assert jobs.list_jobs("example_images:auto")[0].status == "completed"
    assert stored(root, sha256) == {"image_0.png": version.images[0].media()}
    await client.lm_http.close()


async def test_two_runs_on_one_model_fetch_each_image_once(lib_env, fake_civitai, make_client,  # noqa: F811
                                                           monkeypatch):
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    model = add_example_model(fake_civitai, lib_env.loras, "twice.safetensors", seed=90, kinds=("image", "jpeg"))
    client, _clock = await start_app(make_client, lib_env)
    service = client.lm_context.components["example_images"]
    target = service.resolve_targets(["lora"], [str(model.path)])[0]
    first, second = await asyncio.gather(service.download_model(target, optimize=False),
                                         service.download_model(target, optimize=False))
    assert sorted([len(first.downloaded), len(second.downloaded)]) == [0, 2]
    assert len(fake_civitai.requests_to("/media/")) == 2
    assert list(stored(root, model.sha256)) == ["image_0.png", "image_1.jpg"]
    assert service._locks == {}  # nothing kept per model once the runs are over
    await client.lm_http.close()
