"""The spine's HTTP surface: health, version, settings, locales, jobs, JSON errors and the origin guard."""
from __future__ import annotations

import json

import pytest
from aiohttp import web

from lora_manager.py.app import build_app
from lora_manager.py.services.model_service_factory import ModelServiceFactory
from support.library import write_lora
from support.snap import scrub

FOREIGN = {"Origin": "http://evil.example"}


async def test_health_check(client, snapshot):
    resp = await client.get("/api/lm/health-check")
    assert resp.status == 200
    assert await resp.json() == snapshot


async def test_version_info_reports_a_compatible_version(client, snapshot):
    resp = await client.get("/api/lm/version-info")
    body = await resp.json()
    numeric, _, build = body["version"].partition("-")
    assert tuple(int(p) for p in numeric.split(".")) >= (1, 1, 4)
    assert build
    assert {k: v for k, v in body.items() if k not in ("version", "has_git")} == snapshot


async def test_unknown_api_route_is_json_404(client, snapshot):
    resp = await client.get("/api/lm/no/such/thing")
    assert resp.status == 404
    assert resp.content_type == "application/json"
    assert await resp.json() == snapshot


async def test_wrong_method_is_json_405(client, snapshot):
    resp = await client.delete("/api/lm/health-check")
    assert resp.status == 405
    assert await resp.json() == snapshot


async def test_empty_library_lists_nothing(client, snapshot):
    resp = await client.get("/api/lm/loras/list")
    assert resp.status == 200
    assert await resp.json() == snapshot


async def test_settings_masks_the_api_key(lib_env, make_client, snapshot):
    lib_env.write_settings(civitai_api_key="sk-1234567890abcdef")
    client = await make_client(lib_env)
    body = await (await client.get("/api/lm/settings")).json()
    assert "sk-1234567890abcdef" not in json.dumps(body)
    assert body["settings"]["civitai_api_key"].endswith("cdef")
    assert scrub(body, lib_env.tmp) == snapshot


async def test_settings_update_is_validated_and_saved(client, lib_env, snapshot):
    resp = await client.post("/api/lm/settings", json={"watch_mode": "poll", "language": "de"})
    assert resp.status == 200
    assert scrub(await resp.json(), lib_env.tmp) == snapshot
    on_disk = json.loads(lib_env.settings_path.read_text())
    assert on_disk["watch_mode"] == "poll" and on_disk["language"] == "de"


async def test_masked_key_sent_back_keeps_the_key(lib_env, make_client):
    lib_env.write_settings(civitai_api_key="sk-1234567890abcdef")
    client = await make_client(lib_env)
    masked = (await (await client.get("/api/lm/settings")).json())["settings"]["civitai_api_key"]
    resp = await client.post("/api/lm/settings", json={"civitai_api_key": masked, "display_name": "file_name"})
    assert resp.status == 200
    assert json.loads(lib_env.settings_path.read_text())["civitai_api_key"] == "sk-1234567890abcdef"


async def test_invalid_settings_are_refused_and_nothing_is_written(client, lib_env, snapshot):
    before = lib_env.settings_path.read_bytes()
    resp = await client.post("/api/lm/settings", json={"watch_mode": "sometimes", "download_concurrency": 99,
                                                       "download_path_templates": {"lora": "../{nope}"}})
    assert resp.status == 400
    assert await resp.json() == snapshot
    assert lib_env.settings_path.read_bytes() == before


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"{}"])
async def test_bad_settings_bodies_are_400(client, body):
    resp = await client.post("/api/lm/settings", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    payload = await resp.json()
    assert payload["success"] is False and payload["error"]


async def test_locale_fallbacks(client, snapshot):
    zh = await (await client.get("/api/lm/locales/zh")).json()
    unknown = await (await client.get("/api/lm/locales/xx-YY")).json()
    assert zh["locale"] == "zh-CN"
    assert unknown["locale"] == "en"
    assert unknown["translations"]["nav"] == snapshot


async def test_jobs_list_and_unknown_cancel(client, lib_env, snapshot):
    jobs = await (await client.get("/api/lm/jobs")).json()
    assert jobs["success"] is True and isinstance(jobs["jobs"], list)
    startup = sorted(({k: v for k, v in job.items() if k != "id"} for job in jobs["jobs"]), key=lambda j: j["kind"])
    assert all(len(job["id"]) >= 8 for job in jobs["jobs"])
    resp = await client.post("/api/lm/jobs/nope/cancel")
    assert resp.status == 404
    assert await resp.json() == snapshot
    assert scrub(startup, lib_env.tmp) == snapshot(name="startup-jobs")  # each startup validation, done


async def test_foreign_origin_post_is_refused(client, lib_env, snapshot):
    before = lib_env.settings_path.read_bytes()
    resp = await client.post("/api/lm/settings", json={"language": "fr"}, headers=FOREIGN)
    assert resp.status == 403
    assert await resp.json() == snapshot
    assert lib_env.settings_path.read_bytes() == before


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
async def test_cross_site_state_changing_get_without_origin_is_refused(client, site):
    resp = await client.get("/api/lm/loras/scan", headers={"Sec-Fetch-Site": site})
    assert resp.status == 403
    assert (await resp.json())["success"] is False


async def test_cross_site_plain_read_is_allowed(client):
    resp = await client.get("/api/lm/loras/list", headers={"Sec-Fetch-Site": "cross-site"})
    assert resp.status == 200


@pytest.mark.parametrize("headers", [
    {},
    {"Sec-Fetch-Site": "same-origin"},
    {"Sec-Fetch-Site": "none"},
    {"Origin": "chrome-extension://abcdefghijklmnop"},
    {"Origin": "moz-extension://1234-5678"},
])
async def test_allowed_callers_may_change_state(client, lib_env, headers):
    write_lora(lib_env.loras, "arrived.safetensors")  # appears after the start: only the scan can find it
    resp = await client.get("/api/lm/loras/scan", headers=headers)
    assert resp.status == 200, await resp.text()
    listed = await (await client.get("/api/lm/loras/list")).json()
    assert [i["file_name"] for i in listed["items"]] == ["arrived"]  # the scan ran


async def test_same_origin_page_may_post(client, lib_env):
    origin = f"http://{client.server.host}:{client.server.port}"
    resp = await client.post("/api/lm/settings", json={"language": "ja"}, headers={"Origin": origin})
    assert resp.status == 200
    assert json.loads(lib_env.settings_path.read_text())["language"] == "ja"
    read_back = await (await client.get("/api/lm/settings")).json()
    assert read_back["settings"]["language"] == "ja"


async def test_opaque_origin_is_refused(client, lib_env):
    before = lib_env.settings_path.read_bytes()
    resp = await client.post("/api/lm/settings", json={"language": "ja"}, headers={"Origin": "null"})
    assert resp.status == 403
    assert lib_env.settings_path.read_bytes() == before
    read_back = await (await client.get("/api/lm/settings")).json()
    assert read_back["settings"].get("language") != "ja"


async def test_extension_origin_gets_cors_and_preflight(client):
    origin = "moz-extension://1234-5678"
    resp = await client.get("/api/lm/health-check", headers={"Origin": origin})
    assert resp.headers["Access-Control-Allow-Origin"] == origin
    pre = await client.options("/api/lm/loras/list", headers={"Origin": origin})
    assert pre.status == 204
    assert "GET" in pre.headers["Access-Control-Allow-Methods"]
    web_origin = await client.get("/api/lm/health-check", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in web_origin.headers


class _ExplodingRoutes:
    def __init__(self, name, context):
        self.name = name

    def route_table(self):
        async def boom(request):
            raise RuntimeError("secret internal detail")

        return [web.get(f"/api/lm/{self.name}/boom", boom)]


async def test_handler_crash_is_json_500_without_details(lib_env, aiohttp_client, snapshot):
    from lora_manager.py.app import register_default_model_types
    from lora_manager.py.services.model_service import ModelService

    factory = ModelServiceFactory()
    register_default_model_types(factory)
    factory.register_model_type("lora", ModelService, _ExplodingRoutes)
    from lora_manager.py.app import create_context
    from lora_manager.py.settings import resolve_runtime_paths

    context = create_context(resolve_runtime_paths(None, str(lib_env.data_dir), environ={}), factory=factory)
    client = await aiohttp_client(build_app(context))
    resp = await client.get("/api/lm/lora/boom")
    assert resp.status == 500
    body = await resp.json()
    assert "secret" not in json.dumps(body)
    assert body == snapshot


async def test_websocket_replays_scan_state_on_connect(client):
    async with client.ws_connect("/ws/init-progress") as ws:
        frames = [await ws.receive_json(timeout=5) for _ in range(3)]
    page_types = {f["pageType"] for f in frames}
    assert page_types == {"loras", "checkpoints", "embeddings"}
    assert all(f["status"] == "complete" for f in frames)
