"""ComfyUI-Lora-Manager's calls answered from the local library: name lookups its widgets make, the excluded view,
folder trees, descriptions, trained words, vocabularies, example workflows and its old recipes page path.

Every answer goes through the real app on a real library in tmp_path; snapshots pin each response shape,
errors included.
"""
from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from support.comfy_stubs import comfy_stubs  # noqa: F401 - fixture
from support.library import lm_sidecar, write_image, write_lora
from support.snap import scrub

TAGS = json.dumps({"10_hero": {"hero": 20, "red cape": 5}, "5_city": {"city": 7, "hero": 3}})
DATASETS = json.dumps([{"subsets": [{"class_tokens": "hero person", "num_repeats": 10}]}])


@pytest.fixture
async def compat(lib_env, make_client):
    loras = lib_env.loras
    write_lora(loras, "styles/Water Color.safetensors", preview=".preview.png",
               sidecar=lm_sidecar("Water Color", notes="paint softly", usage_tips="{\"strength\": 0.7}",
                                  modelDescription="<p>Soft washes.</p>", tags=["style", "watercolor"],
                                  civitai={"id": 1001, "modelId": 101, "name": "v1.0",
                                           "trainedWords": ["wtrclr", "wash"]}))
    write_lora(loras, "chars/hero.safetensors", metadata={"ss_tag_frequency": TAGS, "ss_datasets": DATASETS})
    write_lora(loras, "other/hero.safetensors",
               sidecar=lm_sidecar("hero", notes="the other hero", civitai={}, tags=["character"]))
    write_lora(loras, "hidden/Secret Style.safetensors", sidecar=lm_sidecar("Secret Style", exclude=True))
    write_lora(loras, "hidden/Ancient.safetensors", sidecar=lm_sidecar("Ancient", exclude=True, tags=["old"]))
    (loras / "empty" / "deeper").mkdir(parents=True)
    write_lora(lib_env.checkpoints, "xl/Base Model.safetensors", sidecar=lm_sidecar("Base Model", base_model="SDXL 1.0"))
    write_lora(lib_env.embeddings, "negative.safetensors")
    client = await make_client(lib_env)
    client.env = lib_env
    return client


async def call(client, method, path, **kwargs):
    resp = await client.request(method, path, **kwargs)
    body = await resp.json()
    return resp.status, scrub(body, client.env.tmp)


# -- name= lookups (the widgets' calls) ---------------------------------------------------------------
@pytest.mark.parametrize("path,params", [
    ("/api/lm/loras/preview-url", {"name": "Water Color"}),
    ("/api/lm/loras/preview-url", {"name": "styles/Water Color.safetensors"}),
    ("/api/lm/loras/preview-url", {"name": "chars/hero"}),
    ("/api/lm/loras/civitai-url", {"name": "Water Color"}),
    ("/api/lm/loras/civitai-url", {"name": "other/hero"}),
    ("/api/lm/loras/get-notes", {"name": "other/hero"}),
    ("/api/lm/loras/get-notes", {"name": "styles\\Water Color"}),
    ("/api/lm/loras/get-trigger-words", {"name": "Water Color"}),
    ("/api/lm/loras/get-trigger-words", {"name": "deep/styles/Water Color"}),
    ("/api/lm/loras/get-trigger-words", {"name": "nobody"}),
    ("/api/lm/loras/get-trigger-words", {"file_path": "<loras>/styles/Water Color.safetensors"}),
    ("/api/lm/checkpoints/preview-url", {"name": "xl/Base Model"}),
])
async def test_name_lookups(compat, path, params, snapshot):
    params = {k: v.replace("<loras>", str(compat.env.loras)) for k, v in params.items()}
    status, body = await call(compat, "GET", path, params=params)
    assert status == 200, body
    assert body == snapshot


async def test_name_and_file_path_mean_the_same_model(compat):
    path = str(compat.env.loras / "styles" / "Water Color.safetensors")
    for route in ("preview-url", "civitai-url", "get-notes", "get-trigger-words"):
        by_name = await call(compat, "GET", f"/api/lm/loras/{route}", params={"name": "Water Color"})
        by_path = await call(compat, "GET", f"/api/lm/loras/{route}", params={"file_path": path})
        assert by_name == by_path, route


async def test_a_bare_stem_shared_by_two_folders_picks_one_deterministically(compat):
    _, first = await call(compat, "GET", "/api/lm/loras/get-notes", params={"name": "hero"})
    _, again = await call(compat, "GET", "/api/lm/loras/get-notes", params={"name": "hero"})
    assert first == again and first["file_path"] == "<tmp>/loras/chars/hero.safetensors"
    _, other = await call(compat, "GET", "/api/lm/loras/get-notes", params={"name": "other/hero"})
    assert other["notes"] == "the other hero"


@pytest.mark.parametrize("route", ["preview-url", "civitai-url", "get-notes", "get-trigger-words"])
@pytest.mark.parametrize("name,status", [
    ("", 400), ("../../etc/passwd", 400), ("styles/../../secret", 400), ("/etc/passwd", 400),
    ("C:\\Windows\\win.ini", 400), ("bad\x00name", 400), ("x" * 5000, 400),
])
async def test_hostile_names_are_refused(compat, route, name, status, snapshot):
    code, body = await call(compat, "GET", f"/api/lm/loras/{route}", params={"name": name})
    assert code == status and body["success"] is False
    assert body == snapshot


@pytest.mark.parametrize("route", ["preview-url", "civitai-url", "get-notes"])
async def test_unknown_names_and_missing_parameters(compat, route, snapshot):
    unknown = await call(compat, "GET", f"/api/lm/loras/{route}", params={"name": "nobody"})
    missing = await call(compat, "GET", f"/api/lm/loras/{route}")
    assert unknown[0] == 404 and missing[0] == 400
    assert {"unknown": unknown[1], "missing": missing[1]} == snapshot


async def test_search_tags_filters_by_q(compat, snapshot):
    _, by_q = await call(compat, "GET", "/api/lm/loras/search-tags", params={"q": "wat"})
    _, by_search = await call(compat, "GET", "/api/lm/loras/search-tags", params={"search": "wat"})
    _, everything = await call(compat, "GET", "/api/lm/loras/search-tags")
    assert by_q == by_search
    assert [t["tag"] for t in by_q["tags"]] == ["watercolor"]
    assert {"q": by_q, "all": everything} == snapshot
    code, body = await call(compat, "GET", "/api/lm/loras/search-tags", params={"q": "a", "limit": "many"})
    assert code == 400 and body == {"success": False, "error": "Invalid value for limit: expected a whole number"}


# -- info/{name} ----------------------------------------------------------------------------------------
async def test_info_by_name(compat, snapshot):
    status, checkpoint = await call(compat, "GET", "/api/lm/checkpoints/info/" + quote("xl/Base Model.safetensors"))
    assert status == 200, checkpoint
    status, embedding = await call(compat, "GET", "/api/lm/embeddings/info/negative")
    assert status == 200, embedding
    assert checkpoint["file_name"] == "Base Model" and checkpoint["size"] > 0
    assert {"checkpoint": checkpoint, "embedding": embedding} == snapshot


@pytest.mark.parametrize("name,status", [("missing", 404), ("..%2F..%2Fetc%2Fpasswd", 400),
                                         (quote("x" * 2000), 400)])
async def test_info_by_name_errors(compat, name, status, snapshot):
    code, body = await call(compat, "GET", f"/api/lm/checkpoints/info/{name}")
    assert code == status and body["success"] is False
    assert body == snapshot


# -- usage tips, excluded, folder trees, description --------------------------------------------------------
@pytest.mark.parametrize("relative_path", ["styles/Water Color.safetensors", "styles\\Water Color.safetensors",
                                           "other/hero.safetensors", "nowhere/none.safetensors"])
async def test_usage_tips_by_path(compat, relative_path, snapshot):
    status, body = await call(compat, "GET", "/api/lm/loras/usage-tips-by-path",
                              params={"relative_path": relative_path})
    assert status == 200
    assert body == snapshot


@pytest.mark.parametrize("params", [{}, {"relative_path": "../../etc/passwd"}, {"relative_path": "/etc/passwd"},
                                    {"relative_path": "y" * 3000}])
async def test_usage_tips_by_path_refuses_bad_paths(compat, params, snapshot):
    status, body = await call(compat, "GET", "/api/lm/loras/usage-tips-by-path", params=params)
    assert status == 400
    assert body == snapshot


async def test_usage_tips_is_a_lora_route_only(compat):
    status, body = await call(compat, "GET", "/api/lm/checkpoints/usage-tips-by-path",
                              params={"relative_path": "xl/Base Model.safetensors"})
    assert status == 404 and body["success"] is False


async def test_excluded_view(compat, snapshot):
    status, page = await call(compat, "GET", "/api/lm/loras/excluded")
    assert status == 200
    assert [i["model_name"] for i in page["items"]] == ["Ancient", "Secret Style"]
    _, searched = await call(compat, "GET", "/api/lm/loras/excluded", params={"search": "secret"})
    _, paged = await call(compat, "GET", "/api/lm/loras/excluded", params={"page_size": "1", "page": "2",
                                                                         "sort_by": "name:desc"})
    assert [i["model_name"] for i in searched["items"]] == ["Secret Style"]
    assert [i["model_name"] for i in paged["items"]] == ["Ancient"] and paged["total_pages"] == 2
    listed = await (await compat.get("/api/lm/loras/list")).json()
    assert not {"Ancient", "Secret Style"} & {i["model_name"] for i in listed["items"]}
    assert page == snapshot
    code, error = await call(compat, "GET", "/api/lm/loras/excluded", params={"page": "-1"})
    assert code == 400 and error == {"success": False, "error": "Invalid value for page: must be at least 1"}


async def test_unified_folder_trees(compat, snapshot):
    status, loras = await call(compat, "GET", "/api/lm/loras/unified-folder-tree")
    assert status == 200
    assert loras["tree"]["empty"] == {"deeper": {}}
    status, recipes = await call(compat, "GET", "/api/lm/recipes/unified-folder-tree")
    assert status == 200
    assert {"loras": loras, "recipes": recipes} == snapshot


async def test_model_description(compat, snapshot):
    water = str(compat.env.loras / "styles" / "Water Color.safetensors")
    hero = str(compat.env.loras / "chars" / "hero.safetensors")
    answers = {}
    for key, params in {"with": {"file_path": water}, "without": {"file_path": hero}, "missing_param": {},
                        "outside": {"file_path": "/etc/passwd"},
                        "traversal": {"file_path": str(compat.env.loras / ".." / ".." / "etc" / "passwd")},
                        "unknown": {"file_path": str(compat.env.loras / "none.safetensors")}}.items():
        answers[key] = await call(compat, "GET", "/api/lm/loras/model-description", params=params)
    assert [answers[k][0] for k in answers] == [200, 200, 400, 403, 403, 404]
    assert answers["with"][1]["description"] == "<p>Soft washes.</p>"
    assert answers == snapshot


# -- trained words --------------------------------------------------------------------------------------
async def test_trained_words(compat, snapshot):
    hero = compat.env.loras / "chars" / "hero.safetensors"
    status, body = await call(compat, "GET", "/api/lm/trained-words", params={"file_path": str(hero)})
    assert status == 200
    assert body["trained_words"][0] == ["hero", 23] and body["class_tokens"] == "hero person"
    status, plain = await call(compat, "GET", "/api/lm/trained-words",
                               params={"file_path": str(compat.env.embeddings / "negative.safetensors")})
    assert status == 200 and plain["trained_words"] == [] and plain["class_tokens"] is None
    assert {"hero": body, "plain": plain} == snapshot


async def test_trained_words_of_unreadable_headers_are_empty(compat):
    broken = compat.env.loras / "broken.safetensors"
    broken.write_bytes(b"\x00\x01")
    odd = write_lora(compat.env.loras, "odd.safetensors",
                     metadata={"ss_tag_frequency": "{not json", "ss_datasets": "[1, 2]"})
    for path in (broken, odd):
        status, body = await call(compat, "GET", "/api/lm/trained-words", params={"file_path": str(path)})
        assert status == 200 and body == {"success": True, "trained_words": [], "class_tokens": None}


async def test_trained_words_errors(compat, tmp_path, snapshot):
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes(b"x")
    (compat.env.loras / "notes.txt").write_text("x")
    answers = {}
    for key, value in {"missing": None, "outside": str(outside), "traversal": "../../../../etc/passwd",
                       "not_safetensors": str(compat.env.loras / "notes.txt"),
                       "absent": str(compat.env.loras / "gone.safetensors")}.items():
        params = {} if value is None else {"file_path": value}
        answers[key] = await call(compat, "GET", "/api/lm/trained-words", params=params)
    assert [answers[k][0] for k in answers] == [400, 403, 403, 400, 404]
    assert all(body["success"] is False for _, body in answers.values())
    assert answers == snapshot


# -- vocabularies ----------------------------------------------------------------------------------------
async def test_base_models_and_categories(compat, snapshot):
    status, models = await call(compat, "GET", "/api/lm/base-models")
    assert status == 200 and models["data"]["merged_count"] == len(models["data"]["models"])
    status, categories = await call(compat, "GET", "/api/lm/base-models/categories")
    assert status == 200
    listed = {name for names in categories["data"].values() for name in names}
    assert listed == set(models["data"]["models"])
    assert {"base_models": models, "categories": categories} == snapshot


async def test_priority_tags_default_and_configured(lib_env, make_client, snapshot):
    lib_env.write_settings(priority_tags={"lora": "character(char|chara), style\nconcept, Style",
                                          "checkpoint": ""})
    client = await make_client(lib_env)
    resp = await client.get("/api/lm/priority-tags")
    body = await resp.json()
    assert resp.status == 200
    assert body["tags"]["lora"] == ["character", "style", "concept"]
    assert body["tags"]["checkpoint"] == [] and body["tags"]["embedding"][0] == "character"
    assert body == snapshot


# -- example workflows --------------------------------------------------------------------------------
async def test_example_workflows(compat, snapshot):
    status, listing = await call(compat, "GET", "/api/lm/example-workflows")
    assert status == 200
    assert listing == snapshot
    for item in listing["workflows"]:
        code, body = await call(compat, "GET", "/api/lm/example-workflows/" + quote(item["value"]))
        assert code == 200 and body["success"] is True
        assert {"nodes", "links"} <= set(body["workflow"])
        if item["value"] != "Default":
            types = {node["type"] for node in body["workflow"]["nodes"]}
            assert "LoraLoaderLM" in types and "TriggerWordToggleLM" in types


@pytest.mark.parametrize("name,status", [
    ("missing.json", 404), ("..%2F..%2Fsettings.json", 400), ("..%2Fpy%2Fapp.py", 400), ("%2Fetc%2Fpasswd", 400),
    ("LoRA_Manager_Basic.json%00.txt", 400), ("notes.txt", 400), (quote("w" * 400 + ".json"), 400),
    ("..", 400), ("%2E%2E%2F%2E%2E%2Fpyproject.json", 400),
])
async def test_example_workflow_names_are_confined(compat, name, status, snapshot):
    code, body = await call(compat, "GET", f"/api/lm/example-workflows/{name}")
    assert code in (status, 404) and code >= 400 and body["success"] is False
    assert (code, body) == snapshot


# -- POST loras/get_trigger_words -----------------------------------------------------------------------
async def test_push_trigger_words_to_toggle_nodes(compat, comfy_stubs, snapshot):  # noqa: F811
    status, body = await call(compat, "POST", "/api/lm/loras/get_trigger_words", json={
        "lora_names": ["Water Color", "styles/Water Color.safetensors", "nobody"],
        "node_ids": [7, "12", {"node_id": "3", "graph_id": "sub-1"}]})
    assert status == 200
    assert body == snapshot
    assert comfy_stubs.sent == [
        ("trigger_word_update", {"id": 7, "message": "wtrclr, wash"}),
        ("trigger_word_update", {"id": 12, "message": "wtrclr, wash"}),
        ("trigger_word_update", {"id": 3, "graph_id": "sub-1", "message": "wtrclr, wash"}),
    ]


async def test_push_trigger_words_standalone_sends_nothing(compat):
    sidecar = compat.env.loras / "styles" / "Water Color.metadata.json"
    before = sidecar.read_bytes()
    status, body = await call(compat, "POST", "/api/lm/loras/get_trigger_words",
                              json={"lora_names": ["Water Color"], "node_ids": [1]})
    assert status == 200 and body == {"success": True, "trigger_words": "wtrclr, wash", "sent": 0}
    assert sidecar.read_bytes() == before  # a push only reads the words, it never writes them back


@pytest.mark.parametrize("payload", [
    {"lora_names": "Water Color"}, {"lora_names": [1, 2]}, {"lora_names": ["../../x"]},
    {"lora_names": ["a"] * 1001}, {"lora_names": [], "node_ids": "7"}, {"lora_names": [], "node_ids": [True]},
    {"lora_names": [], "node_ids": [{"node_id": None}]}, {"lora_names": [], "node_ids": ["9" * 100]},
    {"lora_names": [], "node_ids": list(range(300))},
])
async def test_push_trigger_words_refuses_bad_bodies(compat, payload, snapshot):
    status, body = await call(compat, "POST", "/api/lm/loras/get_trigger_words", json=payload)
    assert status == 400
    assert body == snapshot


async def test_push_trigger_words_refuses_non_json(compat, comfy_stubs):  # noqa: F811
    resp = await compat.post("/api/lm/loras/get_trigger_words", data=b"[1, 2",
                             headers={"Content-Type": "application/json"})
    assert resp.status == 400 and (await resp.json())["success"] is False
    assert comfy_stubs.sent == []  # inside ComfyUI too, a refused push reaches no node


# -- the old recipes page path ------------------------------------------------------------------------
async def test_old_recipes_page_redirects(compat):
    resp = await compat.get("/loras/recipes", params={"search": "hero"}, allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "/recipes?search=hero"
    followed = await compat.get("/loras/recipes")
    assert followed.status == 200 and str(followed.url).endswith("/recipes")
