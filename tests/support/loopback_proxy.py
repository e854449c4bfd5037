"""A forwarding HTTP proxy on 127.0.0.1 for tests: it answers absolute-form requests (``GET http://host/path``)
by fetching the target itself, and records each one (method, target URL, Proxy-Authorization) in ``requests``.

Why: proof that a remote call went through the configured proxy is the proxy having seen it."""
from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

HOP_HEADERS = {"proxy-authorization", "proxy-connection", "connection", "keep-alive", "transfer-encoding",
               "host", "content-length"}


@dataclass
class ProxiedRequest:
    method: str
    url: str
    proxy_authorization: str | None


@dataclass
class LoopbackProxy:
    requests: list[ProxiedRequest] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._session = aiohttp.ClientSession(auto_decompress=False)
        return f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        target = str(request.url)
        self.requests.append(ProxiedRequest(request.method, target, request.headers.get("Proxy-Authorization")))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        assert self._session is not None
        async with self._session.request(request.method, target, headers=headers, data=await request.read(),
                                         allow_redirects=False) as upstream:
            body = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
            return web.Response(status=upstream.status, body=body, headers=out)
