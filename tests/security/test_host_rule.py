"""Issue 13, items 1-2: a rebinding Host is refused on every route of ours, reads too, and the event sockets
run the Origin and Host verdict before the upgrade. Real sockets throughout (the test client is real TCP)."""
from __future__ import annotations

import json
import socket

import aiohttp
import pytest
from aiohttp import web

from lora_manager.py.app import attach_to_app, build_app
from support.fixtures import wait_idle
from support.snap import scrub

WS_PATHS = ("/ws/fetch-progress", "/ws/init-progress", "/ws/download-progress?id=123")
READS = ("/api/lm/health-check", "/api/lm/loras/list", "/api/lm/settings", "/loras", "/api/lm/no/such/route")


def rebinding_headers(port: int = 8188) -> dict[str, str]:
    """What a rebinding page sends: its own name (re-pointed at 127.0.0.1) as Host and as Origin."""
    return {"Host": f"attacker.example:{port}", "Origin": f"http://attacker.example:{port}"}


@pytest.mark.parametrize("path", READS)
async def test_rebinding_host_is_refused_on_reads(client, path):
    resp = await client.get(path, headers=rebinding_headers(client.port))
    assert resp.status == 403
    body = await resp.json()
    assert body["success"] is False and "attacker.example" in body["error"]


async def test_rebinding_host_is_refused_on_writes_and_nothing_changes(client, lib_env, snapshot):
    before = lib_env.settings_path.read_bytes()
    resp = await client.post("/api/lm/settings", json={"language": "de"}, headers=rebinding_headers())
    assert resp.status == 403
    assert await resp.json() == snapshot
    assert lib_env.settings_path.read_bytes() == before


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST.", "127.0.0.2", "[::1]", "app.localhost",
                                  "0x7f000001", "2130706433", "[::ffff:127.0.0.1]"])
async def test_loopback_names_and_addresses_are_served(client, host):
    resp = await client.get("/api/lm/health-check", headers={"Host": f"{host}:{client.port}"})
    assert resp.status == 200, host


@pytest.mark.parametrize("host", ["attacker.example", "127.0.0.1.attacker.example", "localhost.attacker.example",
                                  "10.0.0.5", "192.168.1.20", "[fe80::1]", "127.0.0.1:99999", "", "vm.local.evil"])
async def test_other_hosts_are_refused(client, host):
    resp = await client.get("/api/lm/health-check", headers={"Host": host})
    assert resp.status == 403, host


async def test_allowed_hosts_setting(lib_env, make_client):
    lib_env.write_settings(allowed_hosts=["my-nas.lan", "studio.local:8188"])
    client = await make_client(lib_env)
    for host, status in (("my-nas.lan:1234", 200), ("MY-NAS.LAN.", 200), ("studio.local:8188", 200),
                         ("studio.local:9000", 403), ("other.lan", 403)):
        resp = await client.get("/api/lm/loras/list", headers={"Host": host})
        assert resp.status == status, host
    # a change through the API applies at once
    saved = await client.post("/api/lm/settings", json={"allowed_hosts": ["other.lan"]})
    assert saved.status == 200, await saved.json()
    assert json.loads(lib_env.settings_path.read_text())["allowed_hosts"] == ["other.lan"]  # and it is kept
    read_back = await (await client.get("/api/lm/settings")).json()
    assert read_back["settings"]["allowed_hosts"] == ["other.lan"]
    assert (await client.get("/api/lm/loras/list", headers={"Host": "other.lan"})).status == 200
    assert (await client.get("/api/lm/loras/list", headers={"Host": "my-nas.lan"})).status == 403


async def test_allowed_hosts_are_validated(client, snapshot):
    resp = await client.post("/api/lm/settings", json={"allowed_hosts": ["ok.lan", "bad host/x"]})
    assert resp.status == 400
    assert await resp.json() == snapshot


def lan_address() -> str | None:
    """A non-loopback address of this machine, if it has one (no packet is sent)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


async def test_bound_to_all_interfaces_the_machine_address_and_name_are_served(lib_env):
    address = lan_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    from lora_manager.py.security.hosts import machine_names

    context = lib_env.context()
    runner = web.AppRunner(build_app(context))
    await runner.setup()
    try:  # the runner's cleanup closes the context, whatever fails from here on
        site = web.TCPSite(runner, "0.0.0.0", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        await wait_idle(context)
        async with aiohttp.ClientSession() as session:
            async def status(host: str, via: str = address) -> int:
                async with session.get(f"http://{via}:{port}/api/lm/health-check", headers={"Host": host}) as r:
                    return r.status

            assert await status(f"{address}:{port}") == 200
            assert await status(f"{sorted(machine_names())[0]}:{port}") == 200
            assert await status(f"attacker.example:{port}") == 403
            assert await status("10.9.8.7") == 403  # an address that is not this connection's
            # over loopback the machine's name is not trusted: a rebinding page could use any name
            assert await status(f"{sorted(machine_names())[0]}:{port}", via="127.0.0.1") == 403
    finally:
        await runner.cleanup()


# -- WebSockets ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", WS_PATHS)
@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
], ids=["foreign-origin", "opaque-origin", "cross-site"])
async def test_foreign_pages_cannot_open_the_event_sockets(client, path, headers):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(path, headers=headers)
    assert refused.value.status == 403


@pytest.mark.parametrize("path", WS_PATHS)
async def test_rebinding_host_cannot_open_the_event_sockets(client, path):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(path, headers=rebinding_headers(client.port))
    assert refused.value.status == 403


async def test_the_own_page_and_scripts_open_the_sockets(client):
    own = {"Origin": f"http://127.0.0.1:{client.port}"}
    ws = await client.ws_connect("/ws/download-progress?id=abc", headers=own)
    first = await ws.receive_json(timeout=5)
    assert first == {"type": "download_id", "download_id": "abc"}
    await ws.close()
    ws = await client.ws_connect("/ws/fetch-progress")  # no Origin: a script, not a web page
    await ws.close()


async def test_a_foreign_page_cannot_take_over_a_download_socket(client):
    own = await client.ws_connect("/ws/download-progress?id=d1", headers={"Origin": f"http://127.0.0.1:{client.port}"})
    await own.receive_json(timeout=5)
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await client.ws_connect("/ws/download-progress?id=d1", headers={"Origin": "http://evil.example"})
    client.lm_context.hub.send_to_download("d1", {"status": "progress", "progress": 5, "download_id": "d1"})
    assert (await own.receive_json(timeout=5))["progress"] == 5  # still the owner's socket
    await own.close()


# -- inside ComfyUI -----------------------------------------------------------------------------------
async def test_inside_a_host_app_only_our_routes_follow_the_host_rule(lib_env, aiohttp_client, snapshot):
    host_app = web.Application()

    async def comfy_own(_request: web.Request) -> web.Response:
        return web.json_response({"comfy": True})

    host_app.router.add_get("/system_stats", comfy_own)
    context = lib_env.context()
    attach_to_app(host_app, context)
    client = await aiohttp_client(host_app)
    await wait_idle(context)
    foreign = {"Host": "my-lan-name:8188"}
    assert (await client.get("/system_stats", headers=foreign)).status == 200  # ComfyUI's own rules apply there
    for path in ("/api/lm/loras/list", "/loras", "/api/lm/unknown"):
        resp = await client.get(path, headers=foreign)
        assert resp.status == 403, path
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await client.ws_connect("/ws/fetch-progress", headers=foreign)
    body = await (await client.get("/api/lm/health-check", headers=foreign)).json()
    assert scrub(body, lib_env.tmp) == snapshot
