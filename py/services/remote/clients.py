"""The app's shared remote clients: one ``ResilientHttp`` and a ``CivitaiClient`` that follows the settings.

Why: rate limits and circuit breakers only work when every caller shares them, so downloads, metadata refresh and
recipe imports all get their clients from ``remote_clients(context)`` (kept as ``context.components["remote"]``).
Its session follows the outbound-fetch rule (``security/fetch_guard.py``): no URL from a client, a sidecar or
a remote answer reaches this machine or its local network.
The Civitai client is rebuilt when the API key or base URL changes in the settings.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ...security.fetch_guard import FetchPolicy
from ..metadata.civarchive_client import CivArchiveClient, resolve_civarchive_base_url
from ..downloads import huggingface
from ..metadata.civitai_client import CivitaiClient, resolve_civitai_base_url
from .proxy import ProxyConfig, env_proxy_urls, proxy_from_settings, session_options
from .resilience import ResilientHttp

if TYPE_CHECKING:
    from ...app import AppContext

COMPONENT_NAME = "remote"


class RemoteClients:
    """An area component (``start``/``close``) owning the HTTP session used for every remote call."""

    def __init__(self, context: "AppContext", *, http: ResilientHttp | None = None):
        self.context = context
        self.fetch_policy = FetchPolicy(self.trusted_origins, lambda: context.settings.fetch_allowed_hosts,
                                        lambda: session_options(self.proxy()))
        self.http = http or ResilientHttp(rate_per_host=4.0, rate_burst=8, fetch_policy=self.fetch_policy)
        self._civitai: CivitaiClient | None = None
        self._civitai_key: tuple[str, str] | None = None
        self._civarchive: CivArchiveClient | None = None

    def civitai(self) -> CivitaiClient:
        settings = self.context.settings
        base_url = resolve_civitai_base_url(settings.civitai_base_url, os.environ)
        key = (base_url, settings.civitai_api_key)
        if self._civitai is None or self._civitai_key != key:
            self._civitai = CivitaiClient(self.http, base_url=base_url, api_key=settings.civitai_api_key or None)
            self._civitai_key = key
        return self._civitai

    def civarchive(self, http: ResilientHttp | None = None) -> CivArchiveClient:
        """CivArchive on the shared HTTP (or ``http``, a caller's own), its base URL from the environment."""
        base_url, http = resolve_civarchive_base_url(os.environ), http or self.http
        if self._civarchive is None or (self._civarchive.base_url, self._civarchive.http) != (base_url, http):
            self._civarchive = CivArchiveClient(http, base_url=base_url)
        return self._civarchive

    def proxy(self) -> ProxyConfig | None:
        """The settings' proxy (the session is made with it on first use; without one the env variables apply)."""
        return proxy_from_settings(self.context.settings.extra)

    def trusted_origins(self) -> list[str]:
        """The sites the user configured (settings or environment), and the proxy the user chose: connected to
        even when they are private."""
        proxy = self.proxy()
        return [resolve_civitai_base_url(self.context.settings.civitai_base_url, os.environ),
                resolve_civarchive_base_url(os.environ),
                huggingface.resolve_base_url(os.environ),
                *([proxy.url] if proxy else env_proxy_urls())]

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        await self.http.close()


def remote_clients(context: Any) -> RemoteClients:
    """The context's shared clients, made on first use. Call it while components are registered (not while
    they start), so the new component is started and closed with the others."""
    found = context.components.get(COMPONENT_NAME)
    if found is None:
        found = RemoteClients(context)
        context.components[COMPONENT_NAME] = found
    return found
