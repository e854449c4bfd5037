"""The recipe API on the real app: a recipes folder in ComfyUI-Lora-Manager's format, a library to match against."""
from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from aiohttp import FormData
from PIL import Image

from support.library import lm_sidecar, write_lora
from support.recipes import SHA_A, SHA_B, a1111_png, plain_png, write_recipe
from support.lifecycle_helpers import digests
from support.snap import scrub

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ID_KEYS = ("batch_id", "job_id")


def rscrub(value, tmp):
    """scrub + formatted local dates and generated ids."""
    value = scrub(value, tmp)
    if isinstance(value, dict):
        return {k: ("<volatile>" if k.endswith("_formatted") else "<id>" if k in ID_KEYS else rscrub(v, tmp))
                for k, v in value.items()}
    if isinstance(value, list):
        return [rscrub(v, tmp) for v in value]
    if isinstance(value, str):
        return UUID_RE.sub("<id>", value)
    return value


@pytest.fixture
async def rclient(lib_env, make_client):
    write_lora(lib_env.loras, "styles/detail_tweaker.safetensors",
               sidecar=lm_sidecar("detail_tweaker", sha256=SHA_A), preview=".preview.png")
    recipes = lib_env.data_dir / "recipes"
    write_recipe(recipes, "r1", title="Sunset portrait", tags=["portrait", "sunset"], favorite=True)
    write_recipe(recipes / "landscapes", "r2", title="Mountain lake", base_model="SDXL 1.0", tags=["landscape"],
                 created_date=1700000500.0,
                 loras=[{"file_name": "gone_lora", "hash": SHA_B, "strength": 1.0, "modelVersionId": 2000,
                         "modelName": "Gone", "modelVersionName": "v2", "isDeleted": False, "exclude": False},
                        {"file_name": "no_id_lora", "hash": "", "strength": 0.5, "modelVersionId": 0,
                         "modelName": "", "modelVersionName": "", "isDeleted": False, "exclude": False}],
                 checkpoint={"type": "checkpoint", "modelId": 1, "modelVersionId": 0, "modelName": "dreamshaper_8",
                             "modelVersionName": "", "hash": "", "file_name": "dreamshaper_8", "baseModel": ""},
                 source_path="https://civitai.com/images/555")
    client = await make_client(lib_env)
    client.env = lib_env
    await client.lm_context.components["recipes"].wait_ready()
    return client


async def get(client, path, **params):
    resp = await client.get(path, params=params)
    return resp.status, rscrub(await resp.json(), client.env.tmp)


async def test_list_default_newest_first(rclient, snapshot):
    status, body = await get(rclient, "/api/lm/recipes")
    assert status == 200
    assert [i["id"] for i in body["items"]] == ["r2", "r1"]
    first_loras = body["items"][1]["loras"]
    assert first_loras[0]["inLibrary"] is True and first_loras[0]["localPath"].endswith("detail_tweaker.safetensors")
    assert [l["matchStatus"] for l in body["items"][0]["loras"]] == ["missing", "unknown"]
    assert body == snapshot


@pytest.mark.parametrize("params,expected", [
    ({"sort_by": "name"}, ["r2", "r1"]),
    ({"sort_by": "date:asc"}, ["r1", "r2"]),
    ({"sort_by": "loras_count"}, ["r2", "r1"]),
    ({"search": "sun"}, ["r1"]),
    ({"search": "sun", "search_title": "false", "search_tags": "false"}, []),
    ({"search": "gone"}, ["r2"]),
    ({"search": "detail"}, ["r1"]),
    ({"search": "masterpiece 1gi"}, ["r2", "r1"]),
    ({"search": "masterpiece zzz"}, []),
    ({"folder": "landscapes"}, ["r2"]),
    ({"folder": "", "recursive": "false"}, ["r1"]),
    ({"base_models": "SDXL 1.0,Pony"}, ["r2"]),
    ({"favorite": "true"}, ["r1"]),
    ({"tag_include": "landscape"}, ["r2"]),
    ({"tags": "portrait,landscape"}, ["r2", "r1"]),
    ({"tag_exclude": "portrait"}, ["r2"]),
    ({"lora_hash": SHA_B, "favorite": "true"}, ["r2"]),
    ({"page_size": "1", "page": "2"}, ["r1"]),
])
async def test_list_filters(rclient, params, expected):
    status, body = await get(rclient, "/api/lm/recipes", **params)
    assert status == 200
    assert [i["id"] for i in body["items"]] == expected


async def test_random_sort_is_stable_across_pages(rclient):
    _, one = await get(rclient, "/api/lm/recipes", sort_by="random:7", page_size="1", page="1")
    _, two = await get(rclient, "/api/lm/recipes", sort_by="random:7", page_size="1", page="2")
    assert {one["items"][0]["id"], two["items"][0]["id"]} == {"r1", "r2"}


async def test_bad_list_params_are_400(rclient, snapshot):
    status, body = await get(rclient, "/api/lm/recipes", sort_by="weird")
    assert status == 400
    status2, body2 = await get(rclient, "/api/lm/recipes", page="zero")
    assert status2 == 400
    assert [body, body2] == snapshot


async def test_get_recipe_keeps_unknown_fields(rclient, snapshot):
    status, body = await get(rclient, "/api/lm/recipe/r1")
    assert status == 200
    assert body["an_unknown_field"] == {"kept": True}
    assert body == snapshot
    status, missing = await get(rclient, "/api/lm/recipe/nope")
    assert status == 404
    assert missing == snapshot


async def test_update_then_get(rclient, snapshot):
    resp = await rclient.put("/api/lm/recipe/r1/update", json={"title": "Renamed", "tags": ["a", "b"],
                                                               "favorite": False})
    body = rscrub(await resp.json(), rclient.env.tmp)
    assert resp.status == 200
    assert body == snapshot
    on_disk = json.loads((rclient.env.data_dir / "recipes" / "r1.recipe.json").read_text())
    assert on_disk["title"] == "Renamed" and on_disk["an_unknown_field"] == {"kept": True}
    _, listed = await get(rclient, "/api/lm/recipes", search="renamed")
    assert [i["id"] for i in listed["items"]] == ["r1"]
    bad = await rclient.put("/api/lm/recipe/r1/update", json={"file_path": "/etc/passwd"})
    assert bad.status == 400
    wrong_type = await rclient.put("/api/lm/recipe/r1/update", json={"favorite": "yes"})
    assert wrong_type.status == 400
    assert [await bad.json(), await wrong_type.json()] == snapshot


async def test_delete_and_undo(rclient, snapshot):
    resp = await rclient.delete("/api/lm/recipe/r1")
    body = await resp.json()
    assert resp.status == 200 and body["success"] is True
    recipes = rclient.env.data_dir / "recipes"
    assert not (recipes / "r1.recipe.json").exists() and not (recipes / "r1.webp").exists()
    _, listed = await get(rclient, "/api/lm/recipes")
    assert [i["id"] for i in listed["items"]] == ["r2"]
    again = await rclient.delete("/api/lm/recipe/r1")
    assert again.status == 404
    undo = await rclient.post("/api/lm/recipes/undo-delete", json={"batch_id": body["batch_id"]})
    assert undo.status == 200
    assert (await undo.json())["restored"] == ["r1"]
    assert (recipes / "r1.recipe.json").exists() and (recipes / "r1.webp").exists()
    _, listed = await get(rclient, "/api/lm/recipes")
    assert [i["id"] for i in listed["items"]] == ["r2", "r1"]
    unknown = await rclient.post("/api/lm/recipes/undo-delete", json={"batch_id": "abc"})
    assert unknown.status == 404
    assert [rscrub(body, rclient.env.tmp), await again.json(), await unknown.json()] == snapshot


async def test_bulk_delete(rclient):
    resp = await rclient.post("/api/lm/recipes/bulk-delete", json={"recipe_ids": ["r1", "r2"]})
    assert resp.status == 200
    assert (await resp.json())["deleted"] == ["r1", "r2"]
    bad = await rclient.post("/api/lm/recipes/bulk-delete", json={"recipe_ids": []})
    assert bad.status == 400


def upload(data: bytes, filename: str = "image.png", **fields) -> FormData:
    form = FormData()
    form.add_field("image", data, filename=filename, content_type="image/png")
    for key, value in fields.items():
        form.add_field(key, value)
    return form


async def test_analyze_upload_matches_library(rclient, snapshot):
    resp = await rclient.post("/api/lm/recipes/analyze-image", data=upload(a1111_png()))
    body = rscrub(await resp.json(), rclient.env.tmp)
    assert resp.status == 200
    lora = body["loras"][0]
    assert lora["existsLocally"] is True and lora["matchedBy"] == "short"  # 12 hex: a sha256 prefix here
    assert body["gen_params"]["seed"] == 42
    assert body == snapshot


async def test_analyze_errors(rclient, snapshot):
    none = await rclient.post("/api/lm/recipes/analyze-image", data=upload(plain_png()))
    assert none.status == 422
    corrupt = await rclient.post("/api/lm/recipes/analyze-image", data=upload(b"\x89PNG\r\n\x1a\nbroken"))
    assert corrupt.status == 400
    missing = await rclient.post("/api/lm/recipes/analyze-image", data=FormData({"x": "1"}))
    assert missing.status == 400
    no_url = await rclient.post("/api/lm/recipes/analyze-image", json={})
    assert no_url.status == 400
    bodies = [await r.json() for r in (none, corrupt, missing, no_url)]
    assert all(b["success"] is False and b["loras"] == [] for b in bodies)
    assert bodies == snapshot


async def test_analyze_local_image_is_confined(rclient, tmp_path, snapshot):
    inside = rclient.env.loras / "styles" / "example.png"
    inside.write_bytes(a1111_png())
    ok = await rclient.post("/api/lm/recipes/analyze-local-image", json={"path": str(inside)})
    assert ok.status == 200
    assert (await ok.json())["loras"][0]["file_name"] == "detail_tweaker"
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(a1111_png())
    refused = await rclient.post("/api/lm/recipes/analyze-local-image", json={"path": str(outside)})
    assert refused.status == 403
    gone = await rclient.post("/api/lm/recipes/analyze-local-image",
                              json={"path": str(rclient.env.loras / "nope.png")})
    assert gone.status == 404
    assert rscrub([await refused.json(), await gone.json()], rclient.env.tmp) == snapshot


async def test_save_embeds_recipe_and_lists_it(rclient, snapshot):
    analyzed = await (await rclient.post("/api/lm/recipes/analyze-image", data=upload(a1111_png()))).json()
    metadata = {"base_model": "SD 1.5", "loras": analyzed["loras"], "gen_params": analyzed["gen_params"],
                "checkpoint": analyzed["checkpoint"]}
    resp = await rclient.post("/api/lm/recipes/save", data=upload(
        a1111_png(size=(2048, 1024)), name="My new recipe", tags=json.dumps(["new"]), metadata=json.dumps(metadata)))
    body = await resp.json()
    assert resp.status == 200, body
    assert body["matching_recipes"] == ["r1"]  # same LoRA (by hash) and strength
    image = Path(body["image_path"])
    assert image.suffix == ".webp"
    with Image.open(image) as img:
        assert max(img.size) == 1024
    saved = json.loads(Path(body["json_path"]).read_text())
    assert saved["loras"][0]["hash"] == SHA_A and saved["loras"][0]["file_name"] == "detail_tweaker"
    again = await (await rclient.post("/api/lm/recipes/analyze-image",
                                      data=upload(image.read_bytes(), "x.webp"))).json()
    assert again["source_format"] == "lora-manager-recipe"
    assert again["title"] == "My new recipe"
    assert [l["hash"] for l in again["loras"]] == [SHA_A]
    _, listed = await get(rclient, "/api/lm/recipes", search="new")
    assert [i["title"] for i in listed["items"]] == ["My new recipe"]
    assert rscrub(body, rclient.env.tmp) == snapshot


async def test_save_errors(rclient, snapshot):
    no_name = await rclient.post("/api/lm/recipes/save", data=upload(a1111_png()))
    no_image = await rclient.post("/api/lm/recipes/save", data=FormData({"name": "x"}))
    bad_meta = await rclient.post("/api/lm/recipes/save", data=upload(a1111_png(), name="x", metadata="{oops"))
    not_image = await rclient.post("/api/lm/recipes/save", data=upload(b"not an image", name="x"))
    statuses = [r.status for r in (no_name, no_image, bad_meta, not_image)]
    assert statuses == [400, 400, 400, 400]
    assert [await r.json() for r in (no_name, no_image, bad_meta, not_image)] == snapshot
    assert sorted(p.name for p in (rclient.env.data_dir / "recipes").iterdir() if p.is_file()) == [
        "r1.recipe.json", "r1.webp"]


async def test_save_base64(rclient):
    import base64

    form = FormData({"image_base64": "data:image/png;base64," + base64.b64encode(a1111_png()).decode(),
                     "name": "From base64", "tags": "a, b"})
    resp = await rclient.post("/api/lm/recipes/save", data=form)
    assert resp.status == 200
    _, body = await get(rclient, f"/api/lm/recipe/{(await resp.json())['recipe_id']}")
    assert body["tags"] == ["a", "b"]


async def test_syntax_for_lora_duplicates(rclient, snapshot):
    status, syntax = await get(rclient, "/api/lm/recipe/r1/syntax")
    assert status == 200 and syntax["syntax"] == "<lora:styles/detail_tweaker:0.7>"
    _, syntax2 = await get(rclient, "/api/lm/recipe/r2/syntax")
    assert syntax2["syntax"] == "<lora:gone_lora:1> <lora:no_id_lora:0.5>"
    _, for_lora = await get(rclient, "/api/lm/recipes/for-lora", hash=SHA_A.upper())
    assert [r["id"] for r in for_lora["recipes"]] == ["r1"]
    write_recipe(rclient.env.data_dir / "recipes", "r3", title="Copy of sunset")
    await rclient.lm_context.components["recipes"].store.sweep()
    _, dupes = await get(rclient, "/api/lm/recipes/find-duplicates")
    assert [[r["id"] for r in g["recipes"]] for g in dupes["duplicate_groups"]] == [["r1", "r3"]]
    status404, missing = await get(rclient, "/api/lm/recipe/nope/syntax")
    assert status404 == 404
    assert [syntax, dupes, missing] == snapshot
    assert for_lora == snapshot(name="for-lora")


async def test_syntax_without_loras_is_400(rclient):
    resp = await rclient.put("/api/lm/recipe/r1/update", json={"loras": []})
    assert resp.status == 200
    saved = json.loads((rclient.env.data_dir / "recipes" / "r1.recipe.json").read_text())
    assert saved["loras"] == [] and saved["title"] == "Sunset portrait"  # the edit landed, the rest was kept
    status, body = await get(rclient, "/api/lm/recipe/r1/syntax")
    assert status == 400 and body["error"] == "No LoRAs found in this recipe"


async def test_check_image_exists(rclient, snapshot):
    status, body = await get(rclient, "/api/lm/recipes/check-image-exists", image_ids="555,777,abc")
    assert status == 200
    assert body == snapshot
    _, empty = await get(rclient, "/api/lm/recipes/check-image-exists")
    assert empty == {"success": True, "results": {}}


async def test_small_lists(rclient, snapshot):
    _, tags = await get(rclient, "/api/lm/recipes/top-tags")
    _, bases = await get(rclient, "/api/lm/recipes/base-models")
    _, folders = await get(rclient, "/api/lm/recipes/folders")
    assert [tags, bases, folders] == snapshot


async def test_share_and_zip_export_import(rclient, snapshot):
    shared = await rclient.get("/api/lm/recipe/r1/share")
    assert shared.status == 200 and shared.headers["Content-Type"] == "image/webp"
    data = await shared.read()
    form = FormData()
    form.add_field("file", data, filename="shared.webp", content_type="image/webp")
    imported = await rclient.post("/api/lm/recipes/import", data=form)
    body = await imported.json()
    assert imported.status == 200, body
    assert rscrub(body, rclient.env.tmp) == snapshot(name="import-shared-image")
    _, copy = await get(rclient, f"/api/lm/recipe/{body['imported'][0]}")
    assert copy["title"] == "Sunset portrait" and copy["loras"][0]["hash"] == SHA_A

    exported = await rclient.post("/api/lm/recipes/export", json={"recipe_ids": ["r1", "r2"]})
    assert exported.status == 200
    archive = await exported.read()
    assert sorted(zipfile.ZipFile(io.BytesIO(archive)).namelist())[:2] == ["manifest.json", "recipes/r1.recipe.json"]
    with zipfile.ZipFile(io.BytesIO(archive)) as exported_zip:
        listing = sorted(exported_zip.namelist())
        manifest = json.loads(exported_zip.read("manifest.json"))
    assert rscrub({"members": listing, "manifest": manifest}, rclient.env.tmp) == snapshot(name="export-zip")
    form = FormData()
    form.add_field("file", archive, filename="recipes.zip", content_type="application/zip")
    restored = await (await rclient.post("/api/lm/recipes/import", data=form)).json()
    assert len(restored["imported"]) == 2 and restored["problems"] == []
    assert rscrub(restored, rclient.env.tmp) == snapshot(name="import-zip")
    _, dupes = await get(rclient, "/api/lm/recipes/find-duplicates")
    assert sorted(g["count"] for g in dupes["duplicate_groups"]) == [2, 3]


async def test_import_errors(rclient, snapshot):
    def form_of(data: bytes, name: str) -> FormData:
        form = FormData()
        form.add_field("file", data, filename=name)
        return form

    empty = await rclient.post("/api/lm/recipes/import", data=form_of(b"", "x.png"))
    bad_zip = await rclient.post("/api/lm/recipes/import", data=form_of(b"PK\x03\x04garbage", "x.zip"))
    plain = await rclient.post("/api/lm/recipes/import", data=form_of(plain_png(), "x.png"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("recipes/x.recipe.json", "{not json")
    broken_member = await rclient.post("/api/lm/recipes/import", data=form_of(buffer.getvalue(), "y.zip"))
    assert [r.status for r in (empty, bad_zip, plain, broken_member)] == [400, 400, 422, 400]
    assert [await r.json() for r in (empty, bad_zip, plain, broken_member)] == snapshot
    no_ids = await rclient.post("/api/lm/recipes/export", json={})
    assert no_ids.status == 400
    share404 = await rclient.get("/api/lm/recipe/nope/share")
    assert share404.status == 404


async def test_bulk_import_job(rclient, snapshot):
    folder = rclient.env.loras / "outputs"
    folder.mkdir()
    (folder / "one.png").write_bytes(a1111_png())
    (folder / "two.png").write_bytes(a1111_png("bbbbbbbbbbbb"))
    (folder / "plain.png").write_bytes(plain_png())
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    resp = await rclient.post("/api/lm/recipes/bulk-import", json={"folder": str(folder)})
    assert resp.status == 200
    job = rclient.lm_context.jobs.get((await resp.json())["job_id"])
    result = await job.wait()
    assert (result["imported"], result["skipped"], result["failed"]) == (2, 1, 1)
    _, listed = await get(rclient, "/api/lm/recipes", sort_by="name")
    assert [i["title"] for i in listed["items"]] == ["Mountain lake", "one", "Sunset portrait", "two"]
    again = await rclient.post("/api/lm/recipes/bulk-import", json={"folder": str(folder)})
    result2 = await rclient.lm_context.jobs.get((await again.json())["job_id"]).wait()
    assert (result2["imported"], result2["skipped"], result2["failed"]) == (0, 3, 1)  # imported ones skipped
    refused = await rclient.post("/api/lm/recipes/bulk-import", json={"folder": "/etc"})
    assert refused.status == 403
    assert rscrub([result, await refused.json()], rclient.env.tmp) == snapshot


async def test_download_missing(rclient, snapshot):
    nothing = await rclient.post("/api/lm/recipe/r1/download-missing")
    assert nothing.status == 200 and (await nothing.json())["queued"] == []
    missing404 = await rclient.post("/api/lm/recipe/nope/download-missing")
    assert missing404.status == 404
    assert [await nothing.json(), await missing404.json()] == snapshot


async def test_foreign_origin_cannot_import(rclient):
    recipes = rclient.env.data_dir / "recipes"
    before = digests(recipes)
    resp = await rclient.get("/api/lm/recipes/import-from-url", params={"image_url": "https://civitai.com/images/1"},
                             headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert resp.status == 403
    assert digests(recipes) == before  # no recipe (nor image) was created
    _, listed = await get(rclient, "/api/lm/recipes")
    assert sorted(i["id"] for i in listed["items"]) == ["r1", "r2"]


VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(64)


async def test_video_is_kept_as_it_is(rclient):
    analyzed = await rclient.post("/api/lm/recipes/analyze-image", data=upload(VIDEO, "clip.mp4"))
    assert analyzed.status == 422
    resp = await rclient.post("/api/lm/recipes/save", data=upload(VIDEO, "clip.mp4", name="Clip", extension=".mp4"))
    body = await resp.json()
    assert resp.status == 200, body
    assert body["image_path"].endswith(".mp4") and Path(body["image_path"]).read_bytes() == VIDEO
    shared = await rclient.get(f"/api/lm/recipe/{body['recipe_id']}/share")
    assert shared.headers["Content-Type"] == "video/mp4" and await shared.read() == VIDEO


async def test_update_validation(rclient, snapshot):
    cases = [{}, {"preview_nsfw_level": "x"}, {"tags": [1]}, {"title": "  "}, {"checkpoint": None}]
    answers = []
    for case in cases:
        resp = await rclient.put("/api/lm/recipe/r1/update", json=case)
        answers.append((resp.status, await resp.json()))
    assert [a[0] for a in answers] == [400, 400, 400, 400, 200]
    assert [a[1] for a in answers[:4]] == snapshot
    missing = await rclient.put("/api/lm/recipe/nope/update", json={"title": "x"})
    assert missing.status == 404


async def test_search_works_while_the_index_is_building(rclient):
    store = rclient.lm_context.components["recipes"].store
    store._complete = False
    _, body = await get(rclient, "/api/lm/recipes", search="sun")
    assert [i["id"] for i in body["items"]] == ["r1"]
    _, body = await get(rclient, "/api/lm/recipes", search="detail", search_lora_name="false",
                        search_lora_model="false")
    assert body["items"] == []


async def test_small_errors(rclient):
    text_file = rclient.env.loras / "notes.txt"
    text_file.write_text("hello")
    recipes = rclient.env.data_dir / "recipes"
    before = digests(recipes)
    not_image = await rclient.post("/api/lm/recipes/analyze-local-image", json={"path": str(text_file)})
    no_path = await rclient.post("/api/lm/recipes/analyze-local-image", json={})
    no_hash = await rclient.get("/api/lm/recipes/for-lora")
    no_folder = await rclient.post("/api/lm/recipes/bulk-import", json={"folder": str(rclient.env.loras / "nope")})
    empty = await rclient.post("/api/lm/recipes/analyze-image", data=upload(b"", "x.png"))
    not_multipart = await rclient.post("/api/lm/recipes/analyze-image", data=b"raw", headers={"Content-Type": "text/plain"})
    assert [r.status for r in (not_image, no_path, no_hash, no_folder, empty, not_multipart)] == [
        400, 400, 400, 404, 400, 400]
    # Nothing was imported or written, no import job was started and the analysed file is as it was.
    assert digests(recipes) == before and text_file.read_text() == "hello"
    assert not rclient.lm_context.jobs.list_jobs("recipes:bulk-import")
    _, listed = await get(rclient, "/api/lm/recipes")
    assert sorted(i["id"] for i in listed["items"]) == ["r1", "r2"]


async def test_disk_full_on_save_is_507_and_leaves_nothing(rclient, monkeypatch):
    import errno

    from lora_manager.py.library import atomic

    def full(path, data, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "atomic_write_bytes", full)
    resp = await rclient.post("/api/lm/recipes/save", data=upload(a1111_png(), name="x"))
    assert resp.status == 507
    assert (await resp.json()) == {"success": False, "error": "The disk is full: the recipe was not saved"}
    assert sorted(p.name for p in (rclient.env.data_dir / "recipes").iterdir() if p.is_file()) == [
        "r1.recipe.json", "r1.webp"]


async def test_corrupt_cache_at_startup_heals(lib_env, make_client):
    write_recipe(lib_env.data_dir / "recipes", "r1")
    cache = lib_env.data_dir / "cache" / "recipes.sqlite"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"garbage" * 1000)
    client = await make_client(lib_env)
    service = client.lm_context.components["recipes"]
    await service.wait_ready()
    assert service.store.cache.healed_from is not None
    body = await (await client.get("/api/lm/recipes")).json()
    assert [i["id"] for i in body["items"]] == ["r1"]


async def test_unusable_recipes_folder_answers_503_and_the_rest_works(lib_env, make_client):
    blocker = lib_env.tmp / "not-a-folder"
    blocker.write_text("a file where the recipes folder should be")
    lib_env.write_settings(recipes_dir=str(blocker))
    client = await make_client(lib_env)
    resp = await client.get("/api/lm/recipes")
    body = await resp.json()
    assert resp.status == 503 and body["success"] is False and "recipes folder cannot be used" in body["error"]
    assert (await client.get("/api/lm/loras/list")).status == 200
    # The file in the folder's place is the user's: it was neither replaced nor written to.
    assert blocker.is_file() and blocker.read_text() == "a file where the recipes folder should be"


@pytest.mark.parametrize("params,expected", [
    ({"folder": "art"}, ["in-art", "in-art-sub"]),
    ({"folder": "art/"}, ["in-art", "in-art-sub"]),
    ({"folder": "ART", "recursive": "false"}, ["in-art"]),
    ({"folder": "artwork"}, ["in-artwork"]),
    ({"folder": "ar"}, []),
    ({"folder": "art/sub"}, ["in-art-sub"]),
])
async def test_folder_filter_matches_whole_folder_names(lib_env, make_client, params, expected):
    """``art`` is a folder, not a prefix: recipes in ``artwork`` or ``art-old`` are not in it."""
    recipes = lib_env.data_dir / "recipes"
    for folder, recipe_id in (("art", "in-art"), ("art/sub", "in-art-sub"), ("artwork", "in-artwork"),
                              ("art-old", "in-art-old")):
        write_recipe(recipes / folder, recipe_id, title=recipe_id)
    client = await make_client(lib_env)
    await client.lm_context.components["recipes"].wait_ready()
    response = await client.get("/api/lm/recipes", params={"sort_by": "name:asc", **params})
    assert response.status == 200
    assert sorted(i["id"] for i in (await response.json())["items"]) == expected
