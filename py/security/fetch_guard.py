"""The outbound-fetch rule (against SSRF): URLs a client, a sidecar or a remote answer supplies never reach
this machine or its local network.

Why: ``replace-preview`` by URL, recipe imports, example images and Civitai's own answers hand us addresses to
fetch. Fetched as they are, ``http://127.0.0.1:8188/api/lm/...`` or a router's admin page on ``192.168.1.1``
would be read with the server's own network position. The rule holds at every hop because it is enforced
where connections are made: a resolver that drops every internal address a name resolves to (so a name
that re-points to 127.0.0.1 between a check and the connect gains nothing), and a client middleware, run by
aiohttp for every request and every redirect hop, that refuses other schemes and internal IP literals (which
never reach the resolver). The configured Civitai and CivArchive sites and the user's ``fetch_allowed_hosts``
are trusted as they are (a mirror or a LAN image server may be private on purpose).
"""
from __future__ import annotations

import logging
import socket
from typing import Callable, Iterable

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from ..services.remote.errors import ErrorKind, RemoteError
from .addresses import is_loopback_host, is_public_address, normalize_host, parse_ip, split_host_port, url_origin

logger = logging.getLogger(__name__)

ALLOWED_SCHEMES = ("http", "https")


def blocked(url: str, reason: str) -> RemoteError:
    return RemoteError(ErrorKind.BLOCKED, f"Refused to fetch {url[:300]}: {reason}", url=url)


class FetchPolicy:
    """Which hosts may be fetched. Both sources are read per call, so a settings change applies at once.

    ``trusted_origins`` yields base URLs (their host and port are compared); ``allowed_hosts`` yields the
    user's ``name`` or ``name:port`` entries.
    """

    def __init__(self, trusted_origins: Callable[[], Iterable[str]] = tuple,
                 allowed_hosts: Callable[[], Iterable[str]] = tuple,
                 session_options: Callable[[], dict[str, object]] = dict) -> None:
        self._trusted_origins = trusted_origins
        self._allowed_hosts = allowed_hosts
        self._session_options = session_options  # e.g. the proxy (``remote/proxy.py``), read when a session is made

    def is_trusted(self, host: str, port: int | None) -> bool:
        host = normalize_host(host)
        for origin in self._trusted_origins():
            site = url_origin(origin)
            if site is not None and site[1] and site[1:] == (host, port):
                return True
        for entry in self._allowed_hosts():
            allowed_host, allowed_port = split_host_port(entry)
            if allowed_host == host and allowed_port in (None, port):
                return True
        return False

    def check_url(self, url: str | URL) -> None:
        """Refuse a URL whose scheme is not http(s) or whose host is an internal IP literal (any spelling)."""
        target = url if isinstance(url, URL) else URL(str(url))
        text = str(target)
        if target.scheme not in ALLOWED_SCHEMES:
            raise blocked(text, "only http and https addresses are fetched")
        host = target.raw_host or ""
        if not host:
            raise blocked(text, "the address has no host")
        port = target.port
        if self.is_trusted(host, port):
            return
        literal = parse_ip(host)
        if is_loopback_host(host) or (literal is not None and not is_public_address(literal)):
            raise blocked(text, f"{host} is a local or private network address (add it to fetch_allowed_hosts "
                                "to allow it)")

    def public_only(self, host: str, port: int, results: list[ResolveResult]) -> list[ResolveResult]:
        """The resolved addresses a connection may use: all for trusted hosts, else only public ones."""
        if self.is_trusted(host, port):
            return results
        kept = [r for r in results if _is_public_text(r["host"])]
        if not kept:
            shown = ", ".join(sorted({r["host"] for r in results})[:4])
            raise blocked(f"{host}:{port}", f"{host} resolves to a local or private network address ({shown}); add "
                                            "it to fetch_allowed_hosts to allow it")
        if len(kept) < len(results):
            logger.warning("Fetch of %s: internal addresses dropped from its DNS answer", host)
        return kept

    async def middleware(self, request: aiohttp.ClientRequest,
                         handler: Callable[[aiohttp.ClientRequest], "aiohttp.client_middlewares.ClientHandlerType"]
                         ) -> aiohttp.ClientResponse:
        """aiohttp client middleware: runs for the first request and for every redirect hop."""
        self.check_url(request.url)
        return await handler(request)  # type: ignore[misc,no-any-return]

    def session(self, **kwargs: object) -> aiohttp.ClientSession:
        """A client session that can only reach what this policy allows (call it inside the event loop)."""
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self))
        options = {**self._session_options(), **kwargs}
        return aiohttp.ClientSession(connector=connector, middlewares=(self.middleware,), **options)  # type: ignore[arg-type]


def _is_public_text(address: str) -> bool:
    parsed = parse_ip(address)
    return parsed is not None and is_public_address(parsed)


class GuardedResolver(AbstractResolver):
    """Resolves with aiohttp's default resolver, then keeps only the addresses the policy allows."""

    def __init__(self, policy: FetchPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner or aiohttp.DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        return self.policy.public_only(host, port, results)

    async def close(self) -> None:
        await self._inner.close()
