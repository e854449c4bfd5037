"""Which proxy the shared remote session goes through: the settings' proxy, else the standard env variables.

Why: many users reach Civitai only through a proxy, and every remote call (metadata, downloads, images) shares
one session (``clients.py``), so the proxy is chosen once, where that session is made. The settings use
ComfyUI-Lora-Manager's keys (``proxy_enabled``, ``proxy_host``, ``proxy_port``, ``proxy_type``,
``proxy_username``, ``proxy_password``; the password is a secret, masked by the settings API like the Civitai key).
The fetch guard still judges each request's target URL; the proxy itself is a host the user chose, so its
address is trusted by the guard's resolver.
"""
from __future__ import annotations

import logging
import urllib.request
from dataclasses import dataclass
from typing import Any, Mapping

from yarl import URL

logger = logging.getLogger(__name__)

HTTP_TYPES = ("http", "https")
SOCKS_TYPES = ("socks4", "socks5", "socks5h")


@dataclass(frozen=True)
class ProxyConfig:
    """One proxy: its URL (``http://host:port``) and optional credentials."""

    url: str
    username: str = ""
    password: str = ""

    def address(self) -> URL:
        """The URL aiohttp connects through, credentials included (aiohttp sends them as Proxy-Authorization)."""
        url = URL(self.url)
        return url.with_user(self.username).with_password(self.password or None) if self.username else url


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return value is True or (isinstance(value, int) and value == 1)


def proxy_from_settings(values: Mapping[str, Any]) -> ProxyConfig | None:
    """The settings' proxy, or None when it is off or incomplete (a bad value is logged, never a crash)."""
    if not _truthy(values.get("proxy_enabled")):
        return None
    raw_host = values.get("proxy_host")
    host = raw_host.strip() if isinstance(raw_host, str) else ""
    port = values.get("proxy_port")
    kind = str(values.get("proxy_type") or "http").strip().lower()
    if not host or any(c in host for c in "/@ \t"):
        logger.warning("Proxy enabled but proxy_host is missing or invalid; no proxy used")
        return None
    try:
        port_number = int(port)
    except (TypeError, ValueError):
        port_number = 0
    if not 0 < port_number < 65536:
        logger.warning("Proxy enabled but proxy_port %r is not a port; no proxy used", port)
        return None
    if kind in SOCKS_TYPES:
        logger.warning("SOCKS proxies are not supported yet; no proxy used")
        return None
    if kind not in HTTP_TYPES:
        logger.warning("Unknown proxy_type %r; no proxy used", kind)
        return None
    username = values.get("proxy_username")
    password = values.get("proxy_password")
    return ProxyConfig(url=f"{kind}://{host}:{port_number}",
                       username=username if isinstance(username, str) else "",
                       password=password if isinstance(password, str) else "")


def env_proxy_urls() -> list[str]:
    """The proxies the standard variables (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY) name, for the guard to trust."""
    return [url for scheme, url in urllib.request.getproxies().items() if scheme != "no" and url]


def session_options(config: ProxyConfig | None) -> dict[str, Any]:
    """``ClientSession`` keyword arguments: the settings' proxy, else aiohttp reads the env variables."""
    if config is None:
        return {"trust_env": True}
    return {"proxy": config.address()}
