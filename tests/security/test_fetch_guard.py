"""The fetch rule where connections are made: names that resolve to internal addresses (DNS rebinding of the
fetch itself) and the policy's trusted and allowed hosts. The DNS answers come from a stand-in resolver (the
network has no hostile DNS server); the connections are real."""
from __future__ import annotations

import socket

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver

from lora_manager.py.security.fetch_guard import FetchPolicy, GuardedResolver
from lora_manager.py.services.remote.errors import ErrorKind, RemoteError
from support.loopback import serve_on_loopback


class ScriptedDns(AbstractResolver):
    """Answers every name with the given addresses, as a hostile or split-horizon DNS server would."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):
        self.asked.append(host)
        return [{"hostname": host, "host": a, "port": port, "family": socket.AF_INET6 if ":" in a else socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST} for a in self.addresses]

    async def close(self) -> None:
        return None


@pytest.fixture
async def internal():
    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="secret")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner, base = await serve_on_loopback(app)
    yield int(base.rsplit(":", 1)[1]), hits
    await runner.cleanup()


async def test_a_name_that_resolves_to_loopback_is_never_connected(internal):
    port, hits = internal
    policy = FetchPolicy()
    dns = ScriptedDns(["127.0.0.1"])
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=GuardedResolver(policy, dns)),
                                     middlewares=(policy.middleware,)) as session:
        with pytest.raises(RemoteError) as refused:
            await session.get(f"http://rebind.example:{port}/admin")
    assert refused.value.kind is ErrorKind.BLOCKED
    assert "rebind.example resolves to a local or private network address (127.0.0.1)" in refused.value.message
    assert dns.asked == ["rebind.example"] and hits == []


async def test_mixed_answers_keep_only_public_addresses():
    policy = FetchPolicy()
    resolver = GuardedResolver(policy, ScriptedDns(["10.0.0.7", "93.184.216.34", "::1", "2606:4700::1111"]))
    kept = await resolver.resolve("split.example", 443)
    assert [r["host"] for r in kept] == ["93.184.216.34", "2606:4700::1111"]


async def test_trusted_origins_and_allowed_hosts_may_be_private(internal):
    port, hits = internal
    policy = FetchPolicy(trusted_origins=lambda: [f"http://mirror.lan:{port}"],
                         allowed_hosts=lambda: ["images.lan"])
    resolver = GuardedResolver(policy, ScriptedDns(["127.0.0.1"]))
    assert len(await resolver.resolve("mirror.lan", port)) == 1
    assert len(await resolver.resolve("images.lan", 8080)) == 1
    with pytest.raises(RemoteError):
        await resolver.resolve("mirror.lan", port + 1)  # another port of the trusted host is not trusted
    policy.check_url(f"http://mirror.lan:{port}/x")
    async with policy.session() as session:  # the app's session: real connection to the trusted loopback origin
        policy_trusting_loopback = FetchPolicy(trusted_origins=lambda: [f"http://127.0.0.1:{port}"])
        assert policy_trusting_loopback.is_trusted("127.0.0.1", port)
        with pytest.raises(RemoteError):
            await session.get(f"http://127.0.0.1:{port}/x")
    async with policy_trusting_loopback.session() as session:
        async with session.get(f"http://127.0.0.1:{port}/ok") as response:
            assert await response.text() == "secret"
    assert hits == ["/ok"]
