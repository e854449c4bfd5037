"""Lifecycle API over a real library: rename, move, delete/undo, exclude, tags, previews, organize, duplicates."""
from __future__ import annotations

import pytest

from support.library import lm_sidecar, write_lora
from support.lifecycle_helpers import assert_index_matches_disk, contents, digests
from support.snap import scrub


@pytest.fixture
async def lc(lib_env, make_client):
    loras = lib_env.loras
    write_lora(loras, "styles/Water Color.safetensors", preview=".preview.png",
               sidecar=lm_sidecar("Water Color", sha256="aa" * 32))
    write_lora(loras, "styles/ink.safetensors", sidecar=lm_sidecar("ink", sha256="bb" * 32), preview=".webp")
    (loras / "styles" / "ink.civitai.info").write_text("{}", encoding="utf-8")
    write_lora(loras, "chars/hero.safetensors", sidecar=lm_sidecar("hero", sha256="cc" * 32))
    (loras / "empty").mkdir()
    client = await make_client(lib_env)
    client.env = lib_env
    return client


async def call(client, path, body=None, method="post"):
    resp = await getattr(client, method)(path, json=body) if method == "post" else await client.get(path, params=body)
    return resp.status, scrub(await resp.json(), client.env.tmp)


def ctx(client):
    return client.lm_context


async def test_rename_moves_every_artifact(lc, snapshot):
    env = lc.env
    before = contents(env.loras)
    status, body = await call(lc, "/api/lm/loras/rename", {"file_path": str(env.loras / "styles/ink.safetensors"),
                                                          "new_file_name": "ink v2"})
    assert status == 200, body
    assert body == snapshot
    assert sorted(p.name for p in (env.loras / "styles").iterdir()) == [
        "Water Color.metadata.json", "Water Color.preview.png", "Water Color.safetensors",
        "ink v2.civitai.info", "ink v2.metadata.json", "ink v2.safetensors", "ink v2.webp"]
    assert len(contents(env.loras)) == len(before)
    assert_index_matches_disk(ctx(lc), "lora", env.loras)
    record = ctx(lc).service("lora").resolve(str(env.loras / "styles/ink v2.safetensors"))
    assert record.sha256 == "bb" * 32 and record.preview_path.endswith("ink v2.webp")


@pytest.mark.parametrize("name,fragment", [
    ("a/b", "not allowed"), ("..", "'.' or '..'"), ("", "Missing required parameter"), ("CON", "reserved"),
    ("bad\"quote", "not allowed"), (".hidden", "start with a dot"), ("trail.", "end with a dot"),
    ("x" * 300, "too long"), ("tab\there", "control characters"),
])
async def test_rename_refuses_invalid_names(lc, name, fragment):
    before = contents(lc.env.loras)
    status, body = await call(lc, "/api/lm/loras/rename", {"file_path": str(lc.env.loras / "chars/hero.safetensors"),
                                                          "new_file_name": name})
    assert status == 400 and body["success"] is False and fragment in body["error"]
    assert contents(lc.env.loras) == before


async def test_rename_refuses_existing_name(lc, snapshot):
    before = contents(lc.env.loras)
    status, body = await call(lc, "/api/lm/loras/rename", {
        "file_path": str(lc.env.loras / "styles/ink.safetensors"), "new_file_name": "Water Color"})
    assert status == 409
    assert body == snapshot
    assert contents(lc.env.loras) == before


async def test_move_model_and_conflict_modes(lc, snapshot):
    env = lc.env
    write_lora(env.loras, "empty/hero.safetensors")  # a same-named model already in the target
    await ctx(lc).service("lora").reindex_paths([str(env.loras / "empty/hero.safetensors")])
    before = contents(env.loras)
    src = str(env.loras / "chars/hero.safetensors")
    status, refused = await call(lc, "/api/lm/loras/move_model", {"file_path": src, "target_path": str(env.loras / "empty")})
    assert status == 409 and refused["success"] is False and "already exists" in refused["error"]
    status, body = await call(lc, "/api/lm/loras/move_model", {"file_path": src, "target_path": str(env.loras / "empty"),
                                                              "on_conflict": "rename"})
    assert status == 200
    assert body == snapshot
    assert (env.loras / "empty/hero_1.safetensors").is_file() and (env.loras / "empty/hero_1.metadata.json").is_file()
    assert (env.loras / "empty/hero.safetensors").is_file()
    assert contents(env.loras) == before
    assert_index_matches_disk(ctx(lc), "lora", env.loras)


async def test_move_same_folder_and_new_folder(lc, snapshot):
    env = lc.env
    src = str(env.loras / "styles/Water Color.safetensors")
    status, same = await call(lc, "/api/lm/loras/move_model", {"file_path": src, "target_path": str(env.loras / "styles")})
    assert status == 200 and same["message"]
    status, body = await call(lc, "/api/lm/loras/move_model", {"file_path": src, "target_path": "new/deeper"})
    assert status == 200
    assert {"same": same, "moved": body} == snapshot
    assert (env.loras / "new/deeper/Water Color.preview.png").is_file()
    assert_index_matches_disk(ctx(lc), "lora", env.loras)


@pytest.mark.parametrize("target", ["../outside", "/etc", "styles/../../escape", ".lm-trash"])
async def test_move_refuses_targets_outside_roots(lc, target):
    before = contents(lc.env.loras)
    status, body = await call(lc, "/api/lm/loras/move_model", {
        "file_path": str(lc.env.loras / "chars/hero.safetensors"), "target_path": target})
    assert status in (400, 403) and body["success"] is False and body["error"]
    assert contents(lc.env.loras) == before


async def test_move_works_through_a_linked_folder_but_never_up_out_of_it(lc, tmp_path):
    """A folder the user linked into a root (another disk) is part of the library; ``..`` through it is not."""
    outside = tmp_path / "other-disk"
    outside.mkdir()
    (lc.env.loras / "link").symlink_to(outside)
    status, body = await call(lc, "/api/lm/loras/move_model", {
        "file_path": str(lc.env.loras / "link/../chars/hero.safetensors"), "target_path": str(lc.env.loras)})
    assert status == 403 and "'..'" in body["error"]
    status, body = await call(lc, "/api/lm/loras/move_model", {
        "file_path": str(lc.env.loras / "chars/hero.safetensors"), "target_path": str(lc.env.loras / "link")})
    assert status == 200, body
    assert sorted(p.name for p in outside.iterdir()) == ["hero.metadata.json", "hero.safetensors"]
    status, body = await call(lc, "/api/lm/loras/save-metadata", {
        "file_path": str(lc.env.loras / "link/hero.safetensors"), "notes": "on the other disk"})
    assert status == 200, body
    assert_index_matches_disk(ctx(lc), "lora", lc.env.loras)


async def test_model_path_outside_roots_is_refused(lc, tmp_path):
    stray = write_lora(tmp_path / "stray", "x.safetensors")
    for path in (str(stray), str(lc.env.loras / "../stray/x.safetensors")):
        status, body = await call(lc, "/api/lm/loras/delete", {"file_path": path})
        assert status == 403 and body["success"] is False
    assert stray.is_file()


async def test_move_models_bulk(lc, snapshot):
    env = lc.env
    status, body = await call(lc, "/api/lm/loras/move_models_bulk", {
        "file_paths": [str(env.loras / "styles/ink.safetensors"), str(env.loras / "chars/hero.safetensors")],
        "target_path": str(env.loras / "empty")})
    assert status == 200 and body["success_count"] == 2
    assert body == snapshot
    assert_index_matches_disk(ctx(lc), "lora", env.loras)


async def test_delete_and_undo_restore_exactly(lc, snapshot):
    env = lc.env
    before = dict(sorted(__import__("support.lifecycle_helpers", fromlist=["digests"]).digests(env.loras).items()))
    status, deleted = await call(lc, "/api/lm/loras/delete", {"file_path": str(env.loras / "styles/ink.safetensors")})
    assert status == 200
    batch = deleted["batch_id"]
    deleted["batch_id"] = "<batch>"
    assert deleted == snapshot(name="deleted")
    assert not (env.loras / "styles/ink.safetensors").exists()
    assert ctx(lc).service("lora").index.get(str(env.loras / "styles/ink.safetensors").replace("\\", "/")) is None
    _, listing = await call(lc, "/api/lm/loras/list", None, method="get")
    assert "ink" not in [i["file_name"] for i in listing["items"]]
    status, restored = await call(lc, "/api/lm/undo-delete", {"batch_id": batch})
    assert status == 200
    restored["batch_id"] = "<batch>"
    assert restored == snapshot(name="restored")
    from support.lifecycle_helpers import digests
    assert dict(sorted(digests(env.loras).items())) == before
    assert not (env.loras / ".lm-trash").exists()
    assert_index_matches_disk(ctx(lc), "lora", env.loras)
    status, again = await call(lc, "/api/lm/undo-delete", {"batch_id": batch})
    assert status == 404 and again["success"] is False


async def test_undo_refused_when_original_place_taken(lc):
    env = lc.env
    _, deleted = await call(lc, "/api/lm/loras/delete", {"file_path": str(env.loras / "chars/hero.safetensors")})
    write_lora(env.loras, "chars/hero.safetensors")
    status, body = await call(lc, "/api/lm/undo-delete", {"batch_id": deleted["batch_id"]})
    assert status == 409 and "already exists" in body["error"]
    trashed = list((env.loras / ".lm-trash" / deleted["batch_id"]).rglob("hero.*"))
    assert len(trashed) == 2  # model and sidecar still safe in the trash


@pytest.mark.parametrize("batch", ["../../etc", "x" * 80, "a/b"])
async def test_undo_rejects_bad_batch_ids(lc, batch):
    before = digests(lc.env.loras)
    status, body = await call(lc, "/api/lm/undo-delete", {"batch_id": batch})
    assert status == 400 and "batch_id" in body["error"]
    assert digests(lc.env.loras) == before  # nothing restored, nothing created


async def test_bulk_delete_one_batch(lc, snapshot):
    env = lc.env
    status, body = await call(lc, "/api/lm/loras/bulk-delete", {"file_paths": [
        str(env.loras / "styles/ink.safetensors"), str(env.loras / "chars/hero.safetensors")]})
    assert status == 200 and body["total_deleted"] == 2
    batch = body.pop("batch_id")
    assert body == snapshot
    status, restored = await call(lc, "/api/lm/undo-delete", {"batch_id": batch})
    assert status == 200 and len(restored["restored_models"]) == 2
    assert_index_matches_disk(ctx(lc), "lora", env.loras)


async def test_exclude_and_unexclude(lc, snapshot):
    env = lc.env
    path = str(env.loras / "chars/hero.safetensors")
    before_files = sorted(p.name for p in (env.loras / "chars").iterdir())
    status, body = await call(lc, "/api/lm/loras/exclude", {"file_path": path})
    assert status == 200
    _, listing = await call(lc, "/api/lm/loras/list", None, method="get")
    assert "hero" not in [i["file_name"] for i in listing["items"]]
    import json
    assert json.loads((env.loras / "chars/hero.metadata.json").read_text())["exclude"] is True
    status, shown = await call(lc, "/api/lm/loras/unexclude", {"file_path": path})
    assert status == 200
    assert {"exclude": body, "unexclude": shown} == snapshot
    _, listing = await call(lc, "/api/lm/loras/list", None, method="get")
    assert "hero" in [i["file_name"] for i in listing["items"]]
    assert sorted(p.name for p in (env.loras / "chars").iterdir()) == before_files


async def test_exclude_by_sha256(lc):
    import json
    env = lc.env
    status, body = await call(lc, "/api/lm/loras/exclude", {"sha256": "CC" * 32})
    assert status == 200 and "hero" in body["message"]
    assert json.loads((env.loras / "chars/hero.metadata.json").read_text())["exclude"] is True
    _, listing = await call(lc, "/api/lm/loras/list", None, method="get")
    assert sorted(i["file_name"] for i in listing["items"]) == ["Water Color", "ink"]
    before = digests(env.loras)
    status, body = await call(lc, "/api/lm/loras/exclude", {"sha256": "ff" * 32})
    assert status == 404
    assert digests(env.loras) == before
    _, again = await call(lc, "/api/lm/loras/list", None, method="get")
    assert again["items"] == listing["items"]


async def test_add_tags_merges_and_marks_user_edit(lc, snapshot):
    import json
    env = lc.env
    status, body = await call(lc, "/api/lm/loras/add-tags", {"file_path": str(env.loras / "chars/hero.safetensors"),
                                                            "tags": ["Style", "portrait", " ", "new"]})
    assert status == 200
    assert body == snapshot
    sidecar = json.loads((env.loras / "chars/hero.metadata.json").read_text())
    assert sidecar["tags"] == ["style", "portrait", "new"] and "tags" in sidecar["user_edited_fields"]
    assert sidecar["an_unknown_field"] == {"kept": True}
    status, bad = await call(lc, "/api/lm/loras/add-tags", {"file_path": str(env.loras / "chars/hero.safetensors")})
    assert status == 400


async def test_quote_in_file_name_keeps_sidecar_valid(lc):
    import json
    env = lc.env
    write_lora(env.loras, "odd/it's \"quoted\".safetensors")
    path = str(env.loras / "odd/it's \"quoted\".safetensors")
    await ctx(lc).service("lora").reindex_paths([path])
    status, body = await call(lc, "/api/lm/loras/add-tags", {"file_path": path, "tags": ["q"]})
    assert status == 200
    data = json.loads((env.loras / "odd/it's \"quoted\".metadata.json").read_text())
    assert data["tags"] == ["q"] and data["file_name"] == "it's \"quoted\""


async def test_replace_preview_upload_converts_to_webp(lc, snapshot, tmp_path):
    import io
    from PIL import Image
    from aiohttp import FormData
    env = lc.env
    buf = io.BytesIO()
    Image.new("RGB", (3000, 1500), (10, 200, 30)).save(buf, "PNG")
    form = FormData()
    form.add_field("preview_file", buf.getvalue(), filename="big.png", content_type="image/png")
    form.add_field("model_path", str(env.loras / "styles/Water Color.safetensors"))
    form.add_field("nsfw_level", "2")
    resp = await lc.post("/api/lm/loras/replace-preview", data=form)
    body = scrub(await resp.json(), env.tmp)
    assert resp.status == 200, body
    assert body == snapshot
    webp = env.loras / "styles/Water Color.webp"
    with Image.open(webp) as image:
        assert image.format == "WEBP" and max(image.size) == 1024
    assert not (env.loras / "styles/Water Color.preview.png").exists()


async def test_replace_preview_video_and_bad_file(lc):
    from aiohttp import FormData
    env = lc.env
    form = FormData()
    form.add_field("preview_file", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, filename="clip.mp4",
                   content_type="video/mp4")
    form.add_field("model_path", str(env.loras / "styles/ink.safetensors"))
    resp = await lc.post("/api/lm/loras/replace-preview", data=form)
    assert resp.status == 200
    assert (env.loras / "styles/ink.mp4").is_file() and not (env.loras / "styles/ink.webp").exists()
    form = FormData()
    form.add_field("preview_file", b"not an image", filename="x.png", content_type="image/png")
    form.add_field("model_path", str(env.loras / "chars/hero.safetensors"))
    resp = await lc.post("/api/lm/loras/replace-preview", data=form)
    body = await resp.json()
    assert resp.status == 400 and "not a readable image" in body["error"]


async def test_replace_preview_from_url(lc, aiohttp_server):
    import io
    from aiohttp import web
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (1, 2, 3)).save(buf, "JPEG")

    async def image(request):
        return web.Response(body=buf.getvalue(), content_type="image/jpeg")

    async def missing(request):
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/img.jpg", image)
    app.router.add_get("/gone.jpg", missing)
    server = await aiohttp_server(app)
    path = str(lc.env.loras / "chars/hero.safetensors")
    # the image server is on this machine: the user allows it as a LAN image host (else the fetch rule refuses)
    status, _ = await call(lc, "/api/lm/settings", {"fetch_allowed_hosts": [f"127.0.0.1:{server.port}"]})
    assert status == 200
    status, body = await call(lc, "/api/lm/loras/replace-preview", {"file_path": path,
                                                                   "url": str(server.make_url("/img.jpg"))})
    assert status == 200 and body["preview_url"].endswith("hero.webp")
    landed = lc.env.loras / "chars/hero.webp"
    with Image.open(landed) as shown:  # the fetched image landed beside the model, as a real picture
        assert shown.format == "WEBP" and shown.size == (40, 40)
    assert ctx(lc).service("lora").resolve(path).preview_path.endswith("hero.webp")
    before = digests(lc.env.loras)
    status, body = await call(lc, "/api/lm/loras/replace-preview", {"file_path": path,
                                                                   "url": str(server.make_url("/gone.jpg"))})
    assert status == 502 and "HTTP 404" in body["error"]
    status, body = await call(lc, "/api/lm/loras/replace-preview", {"file_path": path, "url": "file:///etc/passwd"})
    assert status == 400
    assert digests(lc.env.loras) == before  # the failed fetches kept the preview that was there


async def test_auto_organize_dry_run_then_run(lc, snapshot):
    env = lc.env
    status, body = await call(lc, "/api/lm/loras/auto-organize-progress", None, method="get")
    assert status == 404 and body["error"] == "No auto-organize operation in progress"
    status, preview = await call(lc, "/api/lm/loras/auto-organize", {"dry_run": True})
    assert status == 200
    assert (env.loras / "styles/ink.safetensors").is_file()  # dry run moves nothing
    status, body = await call(lc, "/api/lm/loras/auto-organize", {}, method="get")
    assert status == 200
    status, progress = await call(lc, "/api/lm/loras/auto-organize-progress", None, method="get")
    assert progress["progress"].pop("job_id")
    assert {"preview": preview, "run": body, "progress": progress} == snapshot
    assert (env.loras / "SD 1.5/style/ink.safetensors").is_file()
    assert not (env.loras / "styles").exists() and not (env.loras / "chars").exists()
    assert (env.loras / "empty").is_dir()  # only folders emptied by the run are removed
    assert_index_matches_disk(ctx(lc), "lora", env.loras)


async def test_auto_organize_busy_is_409(lc):
    service = ctx(lc).components["lifecycle"]
    before = digests(lc.env.loras)
    async with service._organize_lock:
        status, body = await call(lc, "/api/lm/loras/auto-organize", {}, method="get")
    assert status == 409 and body["error"] == "Auto-organize is already running. Please wait for it to complete."
    assert digests(lc.env.loras) == before  # the refused run moved nothing


async def test_verify_duplicates_rehashes(lc, snapshot):
    env = lc.env
    a = write_lora(env.loras, "dupes/a.safetensors")
    b = env.loras / "dupes/b.safetensors"
    b.write_bytes(a.read_bytes())
    c = env.loras / "dupes/c.safetensors"
    c.write_bytes(a.read_bytes() + b"\x00")
    service = ctx(lc).service("lora")
    await service.reindex_paths([str(a), str(b), str(c)])
    status, body = await call(lc, "/api/lm/loras/verify-duplicates", {"file_paths": [str(a), str(b)]})
    assert status == 200 and body["verified_as_duplicates"] is True
    status, mixed = await call(lc, "/api/lm/loras/verify-duplicates", {"file_paths": [str(a), str(b), str(c)]})
    assert status == 200 and mixed["verified_as_duplicates"] is False
    for answer in (body, mixed):
        answer["new_hash_map"] = {k.rsplit("/", 1)[-1]: v for k, v in answer["new_hash_map"].items()}
    assert {"same": body, "mixed": mixed} == snapshot
    status, bad = await call(lc, "/api/lm/loras/verify-duplicates", {"file_paths": [str(a)]})
    assert status == 400


async def test_missing_parameters_are_400(lc):
    before = digests(lc.env.loras)
    _, listing = await call(lc, "/api/lm/loras/list", None, method="get")
    for route in ("delete", "exclude", "rename", "move_model", "add-tags"):
        status, body = await call(lc, f"/api/lm/loras/{route}", {})
        assert status == 400 and body["success"] is False and "Missing required parameter" in body["error"]
    for route in ("bulk-delete", "move_models_bulk", "verify-duplicates"):
        status, body = await call(lc, f"/api/lm/loras/{route}", {"file_paths": "nope"})
        assert status == 400
    status, body = await call(lc, "/api/lm/undo-delete", {})
    assert status == 400
    status, body = await call(lc, "/api/lm/loras/move_model", {
        "file_path": str(lc.env.loras / "chars/hero.safetensors"), "target_path": "x", "on_conflict": "overwrite"})
    assert status == 400
    # Not one refused call touched a file or the index.
    assert digests(lc.env.loras) == before
    _, after = await call(lc, "/api/lm/loras/list", None, method="get")
    assert after["items"] == listing["items"]
