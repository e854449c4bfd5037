"""The library's query API over a real library on disk (snapshots pin every response shape)."""
from __future__ import annotations

import asyncio
import json

import pytest

from support.library import lm_sidecar, write_image, write_lora
from support.snap import scrub


@pytest.fixture
async def lib_client(lib_env, make_client):
    loras = lib_env.loras
    write_lora(loras, "styles/Water Color 2.safetensors", family="sd15", preview=".preview.png",
               metadata={"ss_tag_frequency": json.dumps({"set": {"wtrclr": 30, "painting": 12}})})
    write_lora(loras, "styles/Water Color 10.safetensors", family="sd15",
               sidecar=lm_sidecar("Water Color 10", sha256="aa" * 32, favorite=True, tags=["style", "color"]))
    write_lora(loras, "chars/hero.safetensors", family="sdxl",
               metadata={"ss_base_model_version": "sdxl_base_v1-0", "ss_network_dim": "16",
                         "ss_network_alpha": "8"}, preview=".webp")
    write_lora(loras, "chars/hero_copy.safetensors", family="sdxl",
               sidecar=lm_sidecar("hero_copy", sha256="aa" * 32, model_name="Hero Copy", base_model="Pony",
                                  tags=["character"], notes="use at 0.7"))
    write_lora(loras, "flux/123 sunrise.safetensors", family="flux")
    write_lora(loras, "other/hero.safetensors", family="sd15")
    (lib_env.loras / "empty-folder").mkdir()
    client = await make_client(lib_env)
    client.env = lib_env
    return client


async def get_json(client, path, **params):
    resp = await client.get(path, params=params)
    return resp.status, scrub(await resp.json(), client.env.tmp)


async def test_list_default_sort_is_natural_by_name(lib_client, snapshot):
    status, body = await get_json(lib_client, "/api/lm/loras/list")
    assert status == 200
    assert [i["model_name"] for i in body["items"]] == ["123 sunrise", "hero", "hero", "Hero Copy", "Water Color 2",
                                                       "Water Color 10"]
    assert body == snapshot


@pytest.mark.parametrize("params,expected", [
    ({"sort_by": "name:desc"}, ["Water Color 10", "Water Color 2", "Hero Copy", "hero", "hero", "123 sunrise"]),
    ({"folder": "styles"}, ["Water Color 2", "Water Color 10"]),
    ({"folder": "", "recursive": "false"}, []),
    ({"base_model": "SDXL 1.0"}, ["hero"]),
    ({"base_model": ["SDXL 1.0", "Pony"]}, ["hero", "Hero Copy"]),
    ({"tag_include": "style"}, ["Water Color 10"]),
    ({"tag_include": ["style", "character"], "tag_logic": "all"}, []),
    ({"tag_include": "__no_tags__"}, ["123 sunrise", "hero", "hero", "Water Color 2"]),
    ({"tag_exclude": "__no_tags__"}, ["Hero Copy", "Water Color 10"]),
    ({"favorites_only": "true"}, ["Water Color 10"]),
    ({"search": "water"}, ["Water Color 2", "Water Color 10"]),
    ({"search": "wter colr", "fuzzy": "true"}, ["Water Color 2", "Water Color 10"]),
    ({"search": "artist", "search_creator": "true", "search_filename": "false", "search_modelname": "false"},
     ["Hero Copy", "Water Color 10"]),
    ({"search": "character", "search_tags": "true"}, ["Hero Copy"]),
    ({"first_letter": "#"}, ["123 sunrise"]),
    ({"first_letter": "h"}, ["hero", "hero", "Hero Copy"]),
    ({"hash": "AA" * 32, "folder": "nowhere"}, ["Hero Copy", "Water Color 10"]),
    ({"hashes": json.dumps(["aa" * 32])}, ["Hero Copy", "Water Color 10"]),
    ({"civitai_model_id": "100"}, ["Hero Copy", "Water Color 10"]),
])
async def test_list_filters(lib_client, params, expected):
    query = []
    for key, value in params.items():
        for v in (value if isinstance(value, list) else [value]):
            query.append((key, v))
    resp = await lib_client.get("/api/lm/loras/list", params=query)
    body = await resp.json()
    assert resp.status == 200
    assert [i["model_name"] for i in body["items"]] == expected


async def test_random_sort_is_stable_per_seed(lib_client):
    first = await (await lib_client.get("/api/lm/loras/list", params={"sort_by": "random:42"})).json()
    again = await (await lib_client.get("/api/lm/loras/list", params={"sort_by": "random:42"})).json()
    assert [i["file_path"] for i in first["items"]] == [i["file_path"] for i in again["items"]]


@pytest.mark.parametrize("params", [{"page": "0"}, {"page": "x"}, {"page_size": "abc"}, {"tag_logic": "most"},
                                   {"favorites_only": "maybe"}, {"hashes": "{\"a\": 1}"}])
async def test_bad_list_params_are_400(lib_client, params, snapshot):
    resp = await lib_client.get("/api/lm/loras/list", params=params)
    assert resp.status == 400
    assert await resp.json() == snapshot


async def test_page_size_is_clamped(lib_client):
    body = await (await lib_client.get("/api/lm/loras/list", params={"page_size": "100000"})).json()
    assert body["page_size"] == 500


@pytest.mark.parametrize("path,params", [
    ("/api/lm/loras/base-models", {}),
    ("/api/lm/loras/base-models", {"limit": "1"}),
    ("/api/lm/loras/top-tags", {"limit": "0"}),
    ("/api/lm/loras/search-tags", {"search": "char"}),
    ("/api/lm/loras/folders", {}),
    ("/api/lm/loras/folder-tree", {}),
    ("/api/lm/loras/roots", {}),
    ("/api/lm/loras/relative-paths", {"search": "hero"}),
    ("/api/lm/loras/letter-counts", {}),
    ("/api/lm/loras/get-trigger-words", {"name": "Water Color 10.safetensors"}),
    ("/api/lm/loras/get-trigger-words", {"name": "unknown"}),
    ("/api/lm/loras/get-notes", {"name": "hero_copy"}),
])
async def test_navigation_endpoints(lib_client, path, params, snapshot):
    status, body = await get_json(lib_client, path, **params)
    assert status == 200
    assert body == snapshot


async def test_duplicates_and_conflicts(lib_client, snapshot):
    _, dupes = await get_json(lib_client, "/api/lm/loras/find-duplicates")
    _, conflicts = await get_json(lib_client, "/api/lm/loras/find-filename-conflicts")
    assert [len(g["models"]) for g in dupes["duplicates"]] == [2]
    assert [c["filename"] for c in conflicts["conflicts"]] == ["hero"]
    assert {"duplicates": dupes, "conflicts": conflicts} == snapshot


async def test_one_model_endpoints(lib_client, snapshot):
    hero = str(lib_client.env.loras / "chars" / "hero.safetensors")
    copy = str(lib_client.env.loras / "chars" / "hero_copy.safetensors")
    answers = {}
    for name, path, target in [("info", "/api/lm/loras/info", hero), ("metadata", "/api/lm/loras/metadata", copy),
                               ("preview", "/api/lm/loras/preview-url", hero),
                               ("civitai", "/api/lm/loras/civitai-url", copy),
                               ("civitai_none", "/api/lm/loras/civitai-url", hero)]:
        status, body = await get_json(lib_client, path, file_path=target)
        assert status == 200, body
        answers[name] = body
    assert answers["info"]["base_model"] == {"value": "SDXL 1.0", "source": "metadata:ss_base_model_version"}
    assert answers["info"]["identity"]["rank"] == 16
    assert answers["metadata"]["metadata"]["an_unknown_field"] == {"kept": True}
    assert answers == snapshot


@pytest.mark.parametrize("target,status", [("", 400), ("/etc/passwd", 403), ("../../etc/passwd", 403),
                                           ("styles/missing.safetensors", 404)])
async def test_one_model_errors(lib_client, target, status, snapshot):
    resp = await lib_client.get("/api/lm/loras/info", params={"file_path": target})
    assert resp.status == status
    assert scrub(await resp.json(), lib_client.env.tmp) == snapshot


async def test_trigger_words_and_notes_need_a_name(lib_client):
    for path in ("/api/lm/loras/get-trigger-words", "/api/lm/loras/get-notes"):
        resp = await lib_client.get(path)
        assert resp.status == 400
    assert (await lib_client.get("/api/lm/loras/get-notes", params={"name": "zzz"})).status == 404


async def test_previews_are_served_with_caching_and_confined(lib_client, tmp_path):
    items = (await (await lib_client.get("/api/lm/loras/list")).json())["items"]
    url = next(i["preview_url"] for i in items if i["preview_url"])
    resp = await lib_client.get(url)
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "public, max-age=86400"
    assert (await lib_client.get("/api/lm/previews")).status == 400
    outside = write_image(tmp_path / "outside.png")
    assert (await lib_client.get("/api/lm/previews", params={"path": str(outside)})).status == 403
    missing = lib_client.env.loras / "nope.png"
    resp = await lib_client.get("/api/lm/previews", params={"path": str(missing)})
    assert resp.status == 404 and (await resp.json())["success"] is False


async def test_preview_with_percent_in_name_is_decoded_once(lib_client):
    weird = lib_client.env.loras / "styles" / "100%25 cotton.safetensors"
    write_lora(weird.parent, weird.name, preview=".png")
    await lib_client.get("/api/lm/loras/scan")
    items = (await (await lib_client.get("/api/lm/loras/list", params={"search": "cotton"})).json())["items"]
    assert items and items[0]["file_name"] == "100%25 cotton"
    assert (await lib_client.get(items[0]["preview_url"])).status == 200


async def test_save_metadata_updates_sidecar_and_listing(lib_client, snapshot):
    path = lib_client.env.loras / "chars" / "hero_copy.safetensors"
    resp = await lib_client.post("/api/lm/loras/save-metadata", json={
        "file_path": str(path), "model_name": "Hero (edited)", "notes": "new note", "favorite": True,
        "tags": ["character", "hero"], "civitai": {"trainedWords": ["hro"]}, "usage_tips": "{\"strength\": 0.6}"})
    assert resp.status == 200
    assert scrub(await resp.json(), lib_client.env.tmp) == snapshot
    sidecar = json.loads(path.with_name("hero_copy.metadata.json").read_text())
    assert sidecar["model_name"] == "Hero (edited)" and sidecar["an_unknown_field"] == {"kept": True}
    assert sidecar["civitai"]["trainedWords"] == ["hro"] and sidecar["civitai"]["modelId"] == 100
    assert sidecar["user_edited_fields"] == ["civitai.trainedWords", "favorite", "model_name", "notes", "tags",
                                             "usage_tips"]
    listed = (await (await lib_client.get("/api/lm/loras/list", params={"search": "edited"})).json())["items"]
    assert listed[0]["favorite"] is True and listed[0]["civitai"]["trainedWords"] == ["hro"]
    scan = await (await lib_client.get("/api/lm/loras/scan")).json()
    assert scan["updated"] == 0  # the service's own write is not seen as an outside change


async def test_save_metadata_validation(lib_client):
    from support.lifecycle_helpers import digests

    path = str(lib_client.env.loras / "chars" / "hero_copy.safetensors")
    before = digests(lib_client.env.loras)
    listed = (await (await lib_client.get("/api/lm/loras/list")).json())["items"]
    assert (await lib_client.post("/api/lm/loras/save-metadata", json={"file_path": path})).status == 400
    assert (await lib_client.post("/api/lm/loras/save-metadata", json={"notes": "x"})).status == 400
    assert (await lib_client.post("/api/lm/loras/save-metadata", data=b"nope")).status == 400
    # No sidecar was written or created and the index answers exactly as before.
    assert digests(lib_client.env.loras) == before
    assert (await (await lib_client.get("/api/lm/loras/list")).json())["items"] == listed


async def test_checkpoints_hash_lazily_until_asked(lib_env, make_client):
    from lora_manager.py.library.safetensors import write_safetensors_header

    ckpt = lib_env.checkpoints / "base.safetensors"
    write_safetensors_header(ckpt, {"cond_stage_model.transformer.text_model.embeddings.token_embedding.weight":
                                    ("F16", [49408, 768])})
    client = await make_client(lib_env)
    item = (await (await client.get("/api/lm/checkpoints/list")).json())["items"][0]
    assert item["hash_status"] == "pending" and item["sha256"] == "" and item["sub_type"] == "checkpoint"
    resp = await client.post("/api/lm/checkpoints/compute-hash", json={"file_path": str(ckpt)})
    body = await resp.json()
    import hashlib

    assert body["sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert body["hash_status"] == "done"
    assert json.loads(ckpt.with_name("base.metadata.json").read_text())["sha256"] == body["sha256"]


async def test_scan_picks_up_outside_changes(lib_client):
    env = lib_client.env
    sidecar = env.loras / "chars" / "hero_copy.metadata.json"
    data = json.loads(sidecar.read_text())
    data["model_name"] = "Renamed Outside"
    sidecar.write_text(json.dumps(data))
    write_lora(env.loras, "new/fresh.safetensors")
    (env.loras / "flux" / "123 sunrise.safetensors").unlink()
    body = await (await lib_client.get("/api/lm/loras/scan")).json()
    assert (body["added"], body["updated"], body["removed"]) == (1, 1, 1)
    names = [i["model_name"] for i in (await (await lib_client.get("/api/lm/loras/list")).json())["items"]]
    assert "Renamed Outside" in names and "fresh" in names and "123 sunrise" not in names


async def test_full_rebuild_keeps_everything(lib_client):
    before = (await (await lib_client.get("/api/lm/loras/list")).json())["total"]
    body = await (await lib_client.get("/api/lm/loras/scan", params={"full_rebuild": "true"})).json()
    assert body["status"] == "success" and body["added"] == before
    assert (await (await lib_client.get("/api/lm/loras/list")).json())["total"] == before


async def test_aggregate_endpoints_follow_every_change(lib_client):
    """Tags, base models, folders and letters are derived once per index change: an edit, a move and a
    rescan each show at once."""
    env = lib_client.env
    listed = (await (await lib_client.get("/api/lm/loras/list", params={"page_size": "1"})).json())["items"][0]
    tags_before = (await (await lib_client.get("/api/lm/loras/top-tags")).json())["tags"]
    resp = await lib_client.post("/api/lm/loras/add-tags", json={"file_path": listed["file_path"],
                                                                "tags": ["brand-new-tag"]})
    assert resp.status == 200
    tags_after = (await (await lib_client.get("/api/lm/loras/top-tags", params={"limit": "200"})).json())["tags"]
    assert {"tag": "brand-new-tag", "count": 1} in tags_after and tags_after != tags_before
    (env.loras / "made-outside").mkdir()
    await lib_client.get("/api/lm/loras/scan")
    folders = (await (await lib_client.get("/api/lm/loras/folders")).json())["folders"]
    assert "made-outside" in folders
    resp = await lib_client.post("/api/lm/loras/move_model", json={"file_path": listed["file_path"],
                                                                  "target_path": str(env.loras / "made-outside")})
    assert resp.status == 200, await resp.json()
    tree = (await (await lib_client.get("/api/lm/loras/folder-tree")).json())["tree"]
    assert "made-outside" in tree
    letters = (await (await lib_client.get("/api/lm/loras/letter-counts")).json())["letter_counts"]
    assert sum(letters.values()) == (await (await lib_client.get("/api/lm/loras/list")).json())["total"]


async def test_folder_requests_during_a_disk_walk_share_it(lib_client):
    """After a change of files the folder list walks the disk once, however many requests arrive meanwhile;
    every one of them gets the folder made outside the app."""
    env = lib_client.env
    (env.loras / "empty-outside").mkdir()
    await lib_client.get("/api/lm/loras/scan")
    service = lib_client.lm_context.service("lora")
    walks = service._disk_walks
    answers = await asyncio.gather(*(lib_client.get("/api/lm/loras/folders") for _ in range(20)))
    bodies = [await answer.json() for answer in answers]
    assert all(answer.status == 200 for answer in answers)
    assert all("empty-outside" in body["folders"] for body in bodies)
    assert service._disk_walks == walks + 1
