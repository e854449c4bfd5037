"""Discover search (``GET /api/lm/discover/models``): Civitai's catalog through our client, with library badges."""
from __future__ import annotations

import aiohttp

from support.downloads import download_client, stable
from support.fake_civitai import fake_civitai  # noqa: F401  (fixture)
from support.library import lm_sidecar, write_lora

PATH = "/api/lm/discover/models"


def _local(root, stem: str, *, model_id: int, version_id: int, sha256: str = ""):
    return write_lora(root, f"{stem}.safetensors", sidecar=lm_sidecar(stem, sha256=sha256, civitai={
        "id": version_id, "modelId": model_id, "name": "v", "trainedWords": [], "baseModel": "SDXL 1.0",
        "model": {"name": stem, "type": "LORA"}}))


async def _get(client, params) -> tuple[int, dict]:
    response = await client.get(PATH, params=params)
    return response.status, await response.json()


def _searches(fake) -> int:
    return sum(1 for r in fake.requests if r.path == "/api/v1/models")


async def test_search_badges_paging_filters_and_cache(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    fresh = fake_civitai.add_model("Fresh Style")
    current = fake_civitai.add_model("Current Style", versions=2)
    old = fake_civitai.add_model("Old Style", versions=2)
    hashed = fake_civitai.add_model("Hashed Style")
    fake_civitai.add_model("Big Checkpoint", type="Checkpoint", versions=[{"base_model": "Flux.1 D"}])
    _local(lib_env.loras, "current", model_id=current.id, version_id=current.versions[0].id)
    _local(lib_env.loras, "old", model_id=old.id, version_id=old.versions[1].id)
    _local(lib_env.loras, "hashed", model_id=0, version_id=1, sha256=hashed.versions[0].files[0].sha256)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)

    status, first = await _get(client, {"types": "lora", "limit": "3", "query": "style"})
    assert status == 200, first
    badges = {m["name"]: m["libraryStatus"] for m in first["models"]}
    assert badges == {"Hashed Style": "installed", "Old Style": "outdated", "Current Style": "installed"}
    assert first["nextCursor"] == "c3"
    assert stable(first, fake_civitai.base_url) == snapshot(name="first-page")
    status, second = await _get(client, {"types": "lora", "limit": "3", "query": "style", "cursor": "c3"})
    assert status == 200 and [(m["name"], m["libraryStatus"]) for m in second["models"]] == [("Fresh Style", "new")]
    assert second["nextCursor"] is None and fresh.id == second["models"][0]["id"]

    sent = [r for r in fake_civitai.requests if r.path == "/api/v1/models"][0]
    assert sent.query.getall("types") == ["LORA"] and sent.query["query"] == "style" and sent.query["limit"] == "3"
    status, ckpt = await _get(client, {"types": "checkpoint", "baseModels": "Flux.1 D", "sort": "Newest",
                                       "period": "Week"})
    assert status == 200 and [m["name"] for m in ckpt["models"]] == ["Big Checkpoint"]
    last = [r for r in fake_civitai.requests if r.path == "/api/v1/models"][-1]
    assert (last.query["sort"], last.query["period"], last.query.getall("baseModels")) == ("Newest", "Week",
                                                                                            ["Flux.1 D"])

    before = _searches(fake_civitai)
    status, again = await _get(client, {"types": "lora", "limit": "3", "query": "style"})
    assert status == 200 and again == first and _searches(fake_civitai) == before  # served from the cache


async def test_bad_parameters_are_400(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    answers = {}
    for name, params in {
        "type": {"types": "vae"}, "sort": {"sort": "Random"}, "period": {"period": "Century"},
        "nsfw": {"nsfw": "extreme"}, "limit-zero": {"limit": "0"}, "limit-big": {"limit": "101"},
        "limit-text": {"limit": "ten"}, "query-long": {"query": "x" * 201}, "cursor-long": {"cursor": "c" * 201},
        "bases-many": {"baseModels": ",".join(f"b{i}" for i in range(11))},
    }.items():
        answers[name] = await _get(client, params)
    assert {k: v[0] for k, v in answers.items()} == {k: 400 for k in answers}
    assert all(v[1]["success"] is False and v[1]["error"] for v in answers.values())
    assert answers == snapshot
    assert _searches(fake_civitai) == 0


async def test_remote_failures_are_gateway_errors(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    fake_civitai.add_model("Some Style")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    remote = client.lm_context.components["remote"]
    remote.http.timeout = aiohttp.ClientTimeout(total=0.5)
    answers = {}
    fake_civitai.malformed_json_next(10, path="/api/v1/models")
    answers["corrupt"] = await _get(client, {"query": "a"})
    fake_civitai.answer_next(10, {"items": "nope"}, path="/api/v1/models")
    answers["bad-shape"] = await _get(client, {"query": "b"})
    fake_civitai.fail_next(10, 500, path="/api/v1/models")
    answers["server-error"] = await _get(client, {"query": "c"})
    fake_civitai.rate_limit_next(10, retry_after=0, path="/api/v1/models")
    answers["rate-limited"] = await _get(client, {"query": "d"})
    fake_civitai.stall(5, n=10, path="/api/v1/models")
    answers["timeout"] = await _get(client, {"query": "e"})
    for name, (status, body) in answers.items():
        assert status in (502, 503) and body["success"] is False and body["error"], name
    assert {k: v for k, v in answers.items() if k in ("corrupt", "bad-shape")} == snapshot


async def test_api_key_is_sent_when_set(lib_env, make_client, fake_civitai, monkeypatch):
    fake_civitai.add_model("Keyed Style")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch, civitai_api_key="sekrit")
    status, body = await _get(client, {"query": "keyed", "nsfw": "x"})
    assert status == 200 and [m["name"] for m in body["models"]] == ["Keyed Style"]
    sent = [r for r in fake_civitai.requests if r.path == "/api/v1/models"][-1]
    assert sent.headers.get("Authorization") == "Bearer sekrit" and sent.query["nsfw"] == "true"
