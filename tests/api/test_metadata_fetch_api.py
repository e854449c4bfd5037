"""POST /api/lm/{type}/fetch-civitai against the fake Civitai, through the real app."""
from __future__ import annotations

import json
import re

import pytest

from support.fake_civitai import fake_civitai  # noqa: F401 - fixture
from support.library import lm_sidecar
from support.metadata_helpers import civitai_env, http_clock  # noqa: F401 - fixtures
from support.metadata_helpers import add_known_lora, add_unknown_lora, fast_http, read_sidecar_json
from support.snap import scrub


async def start(make_client, env, http):
    client = await make_client(env)
    client.lm_context.components["metadata"].set_http(http)
    return client


async def fetch(client, path):
    resp = await client.post("/api/lm/loras/fetch-civitai", json={"file_path": str(path)})
    return resp.status, await resp.json()


async def test_fetch_one_happy_path(civitai_env, fake_civitai, make_client, http_clock, snapshot):  # noqa: F811
    model, path = add_known_lora(fake_civitai, civitai_env.loras, "chars/hero.safetensors", seed=1, name="Hero LoRA",
                                 trained_words=["hero_style"])
    client = await start(make_client, civitai_env, http_clock[0])
    status, body = await fetch(client, path)
    assert status == 200, body
    assert scrub(body, civitai_env.tmp) == snapshot
    assert body["found"] is True and body["preview_downloaded"] is True
    sidecar = read_sidecar_json(path)
    assert sidecar["model_name"] == "Hero LoRA"
    assert sidecar["from_civitai"] is True and sidecar["civitai_deleted"] is False
    assert sidecar["civitai"]["modelId"] == model.id
    assert sidecar["civitai"]["trainedWords"] == ["hero_style"]
    assert sidecar["tags"] == ["character", "style"]
    assert sidecar["modelDescription"] == "<p>A model for tests.</p>"
    preview = path.with_name("hero.webp")
    assert preview.read_bytes()[8:12] == b"WEBP"
    assert sidecar["preview_url"] == preview.as_posix()
    listed = await (await client.get("/api/lm/loras/list")).json()
    item = listed["items"][0]
    assert item["model_name"] == "Hero LoRA" and item["civitai"]["modelId"] == model.id
    assert item["preview_url"].endswith("hero.webp")


async def test_user_edited_fields_survive(civitai_env, fake_civitai, make_client, http_clock):  # noqa: F811
    _model, path = add_known_lora(fake_civitai, civitai_env.loras, "mine.safetensors", seed=2, name="Remote Name")
    client = await start(make_client, civitai_env, http_clock[0])
    edits = {"file_path": str(path), "model_name": "My Own Name", "notes": "keep me ✓", "tags": ["mine"],
             "usage_tips": "{\"strength\": 0.6}", "base_model": "Custom Base", "favorite": True,
             "civitai": {"trainedWords": ["my_word"]}}
    resp = await client.post("/api/lm/loras/save-metadata", json=edits)
    assert resp.status == 200, await resp.text()
    before = read_sidecar_json(path)
    status, body = await fetch(client, path)
    assert status == 200 and body["found"] is True
    after = read_sidecar_json(path)
    for key in ("model_name", "notes", "tags", "usage_tips", "base_model", "favorite", "user_edited_fields"):
        assert json.dumps(after[key]) == json.dumps(before[key]), key
    assert after["civitai"]["trainedWords"] == ["my_word"]
    assert after["civitai"]["name"] == "v1.0" and after["from_civitai"] is True
    item = body["model"]
    assert item["model_name"] == "My Own Name" and item["notes"] == "keep me ✓" and item["tags"] == ["mine"]


async def test_unknown_model_is_marked_not_on_civitai(civitai_env, fake_civitai, make_client, http_clock,  # noqa: F811
                                                      snapshot):
    path = add_unknown_lora(civitai_env.loras, "local_only.safetensors", seed=3)
    client = await start(make_client, civitai_env, http_clock[0])
    status, body = await fetch(client, path)
    assert status == 200
    assert scrub(body, civitai_env.tmp) == snapshot
    assert body["found"] is False
    sidecar = read_sidecar_json(path)
    assert sidecar["from_civitai"] is False and sidecar["civitai_deleted"] is True and sidecar["db_checked"] is True
    assert len(fake_civitai.requests_to("/api/v1/model-versions/by-hash/")) == 1  # a 404 is never retried


async def test_rate_limited_then_success_honours_retry_after(civitai_env, fake_civitai, make_client,  # noqa: F811
                                                             http_clock):
    _model, path = add_known_lora(fake_civitai, civitai_env.loras, "rl.safetensors", seed=4)
    client = await start(make_client, civitai_env, http_clock[0])
    fake_civitai.rate_limit_next(1, retry_after=7, path="/api/v1/model-versions")
    status, body = await fetch(client, path)
    assert status == 200 and body["found"] is True
    assert 7 in http_clock[1].sleeps


async def test_rate_limited_for_good_is_429(civitai_env, fake_civitai, make_client, http_clock, snapshot):  # noqa: F811
    _model, path = add_known_lora(fake_civitai, civitai_env.loras, "rl2.safetensors", seed=5)
    client = await start(make_client, civitai_env, http_clock[0])
    before = path.with_name("rl2.metadata.json").read_bytes()
    fake_civitai.rate_limit_next(10, retry_after=3, path="/api/v1/model-versions")
    status, body = await fetch(client, path)
    assert status == 429
    assert body == snapshot
    assert path.with_name("rl2.metadata.json").read_bytes() == before


async def test_server_error_then_success(civitai_env, fake_civitai, make_client, http_clock):  # noqa: F811
    _model, path = add_known_lora(fake_civitai, civitai_env.loras, "flaky.safetensors", seed=6)
    client = await start(make_client, civitai_env, http_clock[0])
    fake_civitai.fail_next(2, 500, path="/api/v1/model-versions")
    status, body = await fetch(client, path)
    assert status == 200 and body["found"] is True
    assert len(http_clock[1].sleeps) == 2


async def test_circuit_open_answers_503(civitai_env, fake_civitai, make_client, snapshot):  # noqa: F811
    _model, path = add_known_lora(fake_civitai, civitai_env.loras, "down.safetensors", seed=7)
    http, _clock = fast_http(attempts=2, breaker_threshold=2)
    try:
        client = await start(make_client, civitai_env, http)
        before = path.with_name("down.metadata.json").read_bytes()
        fake_civitai.fail_next(100, 503)
        status, first = await fetch(client, path)
        assert status == 502 and "gave up after 2 attempts" in first["error"]
        count = len(fake_civitai.requests)
        status, body = await fetch(client, path)
        assert status == 503
        body["error"] = re.sub(r"\d\d:\d\d", "HH:MM", body["error"].replace(fake_civitai.host, "<fake>"))
        assert body == snapshot
        assert len(fake_civitai.requests) == count  # failing fast: the host was not called
        assert path.with_name("down.metadata.json").read_bytes() == before
    finally:
        await http.close()


@pytest.mark.parametrize("payload, status", [
    ({}, 400),
    ({"file_path": ""}, 400),
    ({"file_path": "/etc/passwd"}, 403),
])
async def test_bad_input(civitai_env, make_client, http_clock, payload, status, snapshot):
    client = await start(make_client, civitai_env, http_clock[0])
    resp = await client.post("/api/lm/loras/fetch-civitai", json=payload)
    assert resp.status == status
    assert scrub(await resp.json(), civitai_env.tmp) == snapshot


async def test_missing_model_is_404(civitai_env, make_client, http_clock, snapshot):
    client = await start(make_client, civitai_env, http_clock[0])
    resp = await client.post("/api/lm/loras/fetch-civitai",
                             json={"file_path": str(civitai_env.loras / "nope.safetensors")})
    assert resp.status == 404
    assert scrub(await resp.json(), civitai_env.tmp) == snapshot


async def test_existing_preview_is_kept(civitai_env, fake_civitai, make_client, http_clock):  # noqa: F811
    _model, path = add_known_lora(fake_civitai, civitai_env.loras, "withprev.safetensors", seed=8,
                                  sidecar=lm_sidecar("withprev"))
    from support.library import write_image

    write_image(path.with_name("withprev.png"))
    client = await start(make_client, civitai_env, http_clock[0])
    status, body = await fetch(client, path)
    assert status == 200 and body["preview_downloaded"] is False
    assert not path.with_name("withprev.webp").exists()
    assert not fake_civitai.requests_to("/media/")
    sidecar = read_sidecar_json(path)
    assert sidecar["an_unknown_field"] == {"kept": True}  # unknown fields survive a refresh


async def test_fetch_uses_the_shared_remote_clients(civitai_env, fake_civitai, make_client):  # noqa: F811
    _model, path = add_known_lora(fake_civitai, civitai_env.loras, "shared.safetensors", seed=9, images=0)
    client = await make_client(civitai_env)
    metadata = client.lm_context.components["metadata"]
    assert metadata.http() is client.lm_context.components["remote"].http
    status, body = await fetch(client, path)
    assert status == 200 and body["found"] is True
    assert metadata.client().base_url == fake_civitai.base_url
