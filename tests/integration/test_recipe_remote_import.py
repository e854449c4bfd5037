"""Recipe imports from Civitai image pages (import-remote, import-from-url, analyze by URL) against the fake Civitai."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from support.fake_civitai import fake_civitai  # noqa: F401  (fixture)
from support.library import lm_sidecar, write_lora
from support.recipes import SHA_A, a1111_png
from support.snap import scrub

META = {
    "prompt": "a castle on a hill at dawn with dramatic clouds and golden light everywhere",
    "negativePrompt": "blurry",
    "steps": 25,
    "sampler": "DPM++ 2M",
    "cfgScale": 6,
    "seed": 99,
    "Size": "512x512",
    "clipSkip": 2,
    "civitaiResources": [{"type": "lora", "modelVersionId": 1000, "weight": 0.6},
                         {"type": "lora", "modelVersionId": 4242, "weight": 0.9, "modelVersionName": "v3"}],
}


@pytest.fixture
async def remote_client(lib_env, make_client, fake_civitai, monkeypatch):
    monkeypatch.setenv("LORA_MANAGER_CIVITAI_BASE_URL", fake_civitai.base_url)
    write_lora(lib_env.loras, "styles/detail_tweaker.safetensors", sidecar=lm_sidecar("detail_tweaker", sha256=SHA_A))
    fake_civitai.add_image(image_id=777, meta=META, data=a1111_png())
    fake_civitai.add_image(image_id=778, meta={}, data=a1111_png())
    client = await make_client(lib_env)
    client.env = lib_env
    client.fake = fake_civitai
    await client.lm_context.components["recipes"].wait_ready()
    return client


def recipe_json(client, body) -> dict:
    return json.loads(Path(body["json_path"]).read_text())


async def test_import_from_url_then_already_exists(remote_client, snapshot):
    resp = await remote_client.get("/api/lm/recipes/import-from-url",
                                   params={"image_url": "https://civitai.com/images/777"})
    body = await resp.json()
    assert resp.status == 200, body
    assert body["name"] == "a castle on a hill at dawn with dramatic clouds"
    assert body["already_exists"] is False
    saved = recipe_json(remote_client, body)
    assert saved["source_path"] == "https://civitai.com/images/777"
    assert saved["gen_params"]["cfg_scale"] == 6 and saved["gen_params"]["clip_skip"] == 2
    first = saved["loras"][0]
    assert (first["modelVersionId"], first["hash"], first["file_name"]) == (1000, SHA_A, "detail_tweaker")
    again = await (await remote_client.get("/api/lm/recipes/import-from-url",
                                           params={"image_url": "https://civitai.green/images/777"})).json()
    assert again["already_exists"] is True and again["recipe_id"] == body["recipe_id"]
    exists = await (await remote_client.get("/api/lm/recipes/check-image-exists",
                                            params={"image_ids": "777,778"})).json()
    assert exists["results"]["777"] == {"in_library": True, "recipe_id": body["recipe_id"]}
    assert exists["results"]["778"]["in_library"] is False
    assert scrub({k: v for k, v in body.items() if k not in ("recipe_id", "image_path", "json_path")},
                 remote_client.env.tmp) == snapshot


async def test_import_from_url_falls_back_to_embedded_metadata(remote_client):
    resp = await remote_client.get("/api/lm/recipes/import-from-url",
                                   params={"image_url": "https://civitai.com/images/778"})
    body = await resp.json()
    assert resp.status == 200, body
    saved = recipe_json(remote_client, body)
    assert saved["loras"][0]["file_name"] == "detail_tweaker"
    assert body["name"] == "masterpiece, 1girl <lora:detail_tweaker:0.7>"


async def test_import_remote_merges_request_civitai_embedded(remote_client, snapshot):
    resources = [{"type": "lora", "modelId": 100, "modelVersionId": 1000, "modelName": "Detail Tweaker",
                  "modelVersionName": "v1.0", "weight": 0.8},
                 {"type": "checkpoint", "modelId": 5, "modelVersionId": 55, "modelName": "DreamShaper",
                  "modelVersionName": "8"},
                 {"type": "embedding", "modelVersionId": 66, "modelName": "ignored"}]
    params = {"image_url": "https://civitai.com/images/777", "name": "Castle", "resources": json.dumps(resources),
              "tags": "castle, dawn", "gen_params": json.dumps({"seed": 1, "cfgScale": 4.5, "unknown": 3})}
    resp = await remote_client.get("/api/lm/recipes/import-remote", params=params)
    body = await resp.json()
    assert resp.status == 200, body
    saved = recipe_json(remote_client, body)
    assert [(l["modelVersionId"], l["strength"], l["hash"]) for l in saved["loras"]] == [(1000, 0.8, SHA_A)]
    assert saved["checkpoint"]["modelVersionId"] == 55
    assert saved["gen_params"]["seed"] == 1 and saved["gen_params"]["cfg_scale"] == 4.5
    assert saved["gen_params"]["steps"] == 25 and "unknown" not in saved["gen_params"]
    assert saved["tags"] == ["castle", "dawn"] and saved["title"] == "Castle"
    exists = await (await remote_client.get("/api/lm/recipes/check-image-exists",
                                            params={"image_ids": "777"})).json()
    assert exists["results"]["777"]["in_library"] is True
    again = await (await remote_client.get("/api/lm/recipes/import-remote", params=params)).json()
    assert again["matching_recipes"] == [body["recipe_id"]]
    assert sorted(scrub(body, remote_client.env.tmp)) == snapshot


async def test_import_errors(remote_client, snapshot):
    bad_url = await remote_client.get("/api/lm/recipes/import-from-url", params={"image_url": "https://x.org/a.png"})
    missing_image = await remote_client.get("/api/lm/recipes/import-from-url",
                                            params={"image_url": "https://civitai.com/images/999"})
    no_resources = await remote_client.get("/api/lm/recipes/import-remote",
                                           params={"image_url": "https://civitai.com/images/777", "name": "x"})
    bad_resources = await remote_client.get("/api/lm/recipes/import-remote", params={
        "image_url": "https://civitai.com/images/777", "name": "x", "resources": "{"})
    no_name = await remote_client.get("/api/lm/recipes/import-remote", params={
        "image_url": "https://civitai.com/images/777", "resources": "[]"})
    remote_client.fake.fail_next(1, 403, path="/media")
    media_refused = await remote_client.get("/api/lm/recipes/import-remote", params={
        "image_url": "https://civitai.com/images/777", "name": "x", "resources": "[]"})
    responses = (bad_url, missing_image, no_resources, bad_resources, no_name, media_refused)
    assert [r.status for r in responses] == [400, 404, 400, 400, 400, 502]
    bodies = [scrub(await r.json(), remote_client.env.tmp) for r in responses]
    assert all(b["success"] is False for b in bodies)
    assert bodies == snapshot
    listed = await (await remote_client.get("/api/lm/recipes")).json()
    assert listed["total"] == 0  # nothing half-imported


async def test_analyze_civitai_page_url(remote_client, snapshot):
    resp = await remote_client.post("/api/lm/recipes/analyze-image", json={"url": "https://civitai.com/images/777"})
    body = await resp.json()
    assert resp.status == 200, body
    assert base64.b64decode(body.pop("image_base64"))[:8] == b"\x89PNG\r\n\x1a\n"
    assert [(l["id"], l["matchStatus"]) for l in body["loras"]] == [(1000, "in_library"), (4242, "missing")]
    assert body["loras"][1]["downloadUrl"].endswith("/api/download/models/4242")
    body["loras"][1]["downloadUrl"] = body["loras"][1]["downloadUrl"].replace(remote_client.fake.base_url, "<civitai>")
    assert scrub(body, remote_client.env.tmp) == snapshot
    direct = await remote_client.post("/api/lm/recipes/analyze-image",
                                      json={"url": remote_client.fake.base_url + "/media/778/778.png"})
    assert direct.status == 200
    bad = await remote_client.post("/api/lm/recipes/analyze-image", json={"url": "ftp://x"})
    assert bad.status == 400


async def test_download_missing_queues_through_the_download_manager(remote_client, snapshot):
    params = {"image_url": "https://civitai.com/images/777", "name": "Castle", "resources": "[]"}
    body = await (await remote_client.get("/api/lm/recipes/import-remote", params=params)).json()
    resp = await remote_client.post(f"/api/lm/recipe/{body['recipe_id']}/download-missing")
    answer = await resp.json()
    assert resp.status == 200, answer
    assert [q["model_version_id"] for q in answer["queued"]] == [4242]
    for item in answer["queued"]:
        item["download_id"] = "<id>"
    assert answer == snapshot
