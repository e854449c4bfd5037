"""Issue 13, item 3: no URL a client, a sidecar or a remote answer supplies reaches this machine or its network.

A real loopback HTTP server plays the internal target and records every hit: it must record none. A second
loopback server, allowed as a LAN host, redirects to the target, to prove the rule holds at every hop.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from urllib.parse import quote

import pytest
from aiohttp import web
from PIL import Image

from support.downloads import add_lora, download_client, wait_history
from support.example_images_kit import add_example_model, run_download, use_examples
from support.fake_civitai import fake_civitai  # noqa: F401  (fixture)
from support.library import write_lora
from support.loopback import serve_on_loopback
from support.snap import scrub


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (9, 9, 9)).save(out, "PNG")
    return out.getvalue()


@dataclass
class Target:
    """An internal service: records each request it gets."""

    base_url: str
    port: int
    hits: list[str] = field(default_factory=list)


@pytest.fixture
async def target():
    hits: list[str] = []

    async def anything(request: web.Request) -> web.Response:
        hits.append(request.path_qs)
        return web.Response(body=png(), content_type="image/png")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    runner, base = await serve_on_loopback(app)
    found = Target(base, int(base.rsplit(":", 1)[1]), hits)
    yield found
    await runner.cleanup()


@pytest.fixture
async def redirector():
    """Redirects ``/to?u=<url>`` to ``<url>``."""
    hits: list[str] = []

    async def to(request: web.Request) -> web.Response:
        hits.append(request.path_qs)
        raise web.HTTPFound(request.query["u"])

    app = web.Application()
    app.router.add_get("/to", to)
    runner, base = await serve_on_loopback(app)
    yield Target(base, int(base.rsplit(":", 1)[1]), hits)
    await runner.cleanup()


def spellings(port: int) -> list[str]:
    """The target's address as an attacker would write it."""
    return [f"http://127.0.0.1:{port}/x.png", f"http://localhost:{port}/x.png", f"http://127.1:{port}/x.png",
            f"http://0x7f000001:{port}/x.png", f"http://2130706433:{port}/x.png",
            f"http://[::ffff:127.0.0.1]:{port}/x.png", f"http://[::1]:{port}/x.png",
            f"http://LOCALHOST.:{port}/x.png", f"http://0.0.0.0:{port}/x.png", "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.1/x.png", "http://192.168.1.1/x.png"]


@pytest.fixture
async def lib_client(lib_env, make_client):
    write_lora(lib_env.loras, "hero.safetensors", preview=".png")
    client = await make_client(lib_env)
    client.env = lib_env
    return client


async def replace_preview(client, url: str) -> tuple[int, dict]:
    resp = await client.post("/api/lm/loras/replace-preview",
                             json={"file_path": str(client.env.loras / "hero.safetensors"), "url": url})
    return resp.status, await resp.json()


async def test_replace_preview_refuses_every_spelling_of_an_internal_address(lib_client, target, snapshot):
    preview = lib_client.env.loras / "hero.png"
    before = preview.read_bytes()
    errors = []
    for url in spellings(target.port):
        status, body = await replace_preview(lib_client, url)
        assert status == 400 and body["success"] is False, (url, body)
        assert "local or private network address" in body["error"], url
        errors.append(body["error"].replace(str(target.port), "<port>"))
    assert target.hits == []
    assert preview.read_bytes() == before and not (lib_client.env.loras / "hero.webp").exists()
    assert errors[:2] == snapshot


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x.png", "gopher://127.0.0.1:70/"])
async def test_replace_preview_refuses_other_schemes(lib_client, url):
    preview = lib_client.env.loras / "hero.png"
    before = preview.read_bytes()
    status, body = await replace_preview(lib_client, url)
    assert status == 400 and "http" in body["error"]
    assert preview.read_bytes() == before and not (lib_client.env.loras / "hero.webp").exists()  # preview kept


async def test_every_redirect_hop_is_checked(lib_client, target, redirector):
    await lib_client.post("/api/lm/settings", json={"fetch_allowed_hosts": [f"127.0.0.1:{redirector.port}"]})
    for hop in (f"{target.base_url}/x.png", f"http://0x7f000001:{target.port}/x.png",
                f"http://localhost:{target.port}/x.png", "file:///etc/passwd"):
        status, body = await replace_preview(lib_client, f"{redirector.base_url}/to?u={quote(hop, safe='')}")
        assert status == 400 and body["success"] is False, (hop, body)
        assert "Refused to fetch" in body["error"]
    assert len(redirector.hits) == 4  # the allowed host was asked; where it pointed was not
    assert target.hits == []


async def test_an_allowed_lan_host_is_fetched(lib_client, target):
    resp = await lib_client.post("/api/lm/settings", json={"fetch_allowed_hosts": [f"127.0.0.1:{target.port}"]})
    assert resp.status == 200
    status, body = await replace_preview(lib_client, f"{target.base_url}/x.png")
    assert status == 200, body
    assert target.hits == ["/x.png"]
    # the allowance names one port: the same host on another port stays refused
    status, _ = await replace_preview(lib_client, f"http://127.0.0.1:{target.port + 1}/x.png")
    assert status == 400


async def test_recipe_imports_refuse_internal_addresses(lib_env, make_client, target, snapshot):
    client = await make_client(lib_env)
    await client.lm_context.components["recipes"].wait_ready()
    url = f"http://127.0.0.1:{target.port}/img.png"
    answers = {}
    resp = await client.get("/api/lm/recipes/import-from-url", params={"image_url": url})
    answers["import-from-url"] = (resp.status, await resp.json())
    resp = await client.get("/api/lm/recipes/import-remote",
                            params={"image_url": url, "name": "x", "resources": "[]"})
    answers["import-remote"] = (resp.status, await resp.json())
    resp = await client.post("/api/lm/recipes/analyze-image", json={"url": url})
    answers["analyze-image"] = (resp.status, await resp.json())
    for route, (status, body) in answers.items():
        assert status == 400 and body["success"] is False, route
    # import-from-url only takes Civitai image pages; the two that take any image URL refuse the address
    assert "Civitai image" in answers["import-from-url"][1]["error"]
    assert "local or private" in answers["import-remote"][1]["error"]
    assert "local or private" in answers["analyze-image"][1]["error"]
    assert target.hits == []
    assert list(lib_env.tmp.rglob("*.recipe.json")) == []
    assert json.loads(json.dumps(answers).replace(str(target.port), "<port>")) == snapshot


async def test_example_images_from_a_sidecar_never_reach_internal_hosts(lib_env, fake_civitai, make_client,  # noqa: F811
                                                                        monkeypatch, target):
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    model = add_example_model(fake_civitai, lib_env.loras, "m.safetensors", seed=5, kinds=("image",))
    sidecar_path = model.path.with_name(model.stem + ".metadata.json")
    sidecar = json.loads(sidecar_path.read_text())
    sidecar["civitai"]["images"][0]["url"] = f"http://localhost:{target.port}/admin"  # a hostile sidecar
    sidecar_path.write_text(json.dumps(sidecar))
    client = await make_client(lib_env)
    _answer, job = await run_download(client)
    assert job.result["failures"] == 1
    assert "local or private network address" in job.result["errors"][0]["error"]
    assert target.hits == []
    assert not (root / model.sha256).exists() or list((root / model.sha256).iterdir()) == []


async def test_a_civitai_answer_cannot_point_a_download_at_an_internal_host(lib_env, make_client, fake_civitai,  # noqa: F811
                                                                           monkeypatch, target, snapshot):
    version = add_lora(fake_civitai, "Hostile Answer")
    version.files[0].extra["downloadUrl"] = f"{target.base_url}/file.safetensors"
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    resp = await client.post("/api/lm/download-model", json={"model_version_id": version.id, "download_id": "h1"})
    assert resp.status == 200
    row = await wait_history(client, "h1")
    assert row["status"] == "failed"
    assert "local or private network address" in row["error"]
    assert target.hits == []
    assert [p for p in lib_env.loras.rglob("*") if p.is_file()] == []
    assert scrub(row["error"].replace(str(target.port), "<port>"), lib_env.tmp) == snapshot
