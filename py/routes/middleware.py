"""Cross-cutting HTTP behaviour for the server's own routes: the Host rule, the foreign-origin guard, JSON
errors, CORS.

The middleware only acts on this project's routes (``/api/lm``, the manager pages, the event sockets), because
inside ComfyUI it sits in ComfyUI's own app; the standalone app is ours throughout.
"""
from __future__ import annotations

import asyncio
import html
import logging
from typing import Callable, Iterable
from urllib.parse import urlsplit

from aiohttp import web

from ..security.hosts import HOST_REFUSED_ERROR, host_allowed
from .http import ApiError, Handler, is_served_while_loading, is_state_changing, json_error

logger = logging.getLogger(__name__)

API_PREFIX = "/api/lm"
EXTENSION_SCHEMES = ("chrome-extension", "moz-extension", "safari-web-extension")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
# Set once the library is loaded and every area has started; until then API requests wait (see AppContext.start).
STARTUP_GATE: web.AppKey[asyncio.Event] = web.AppKey("lora_manager_fully_started")
# The resources this project added to the app (inside ComfyUI the app holds ComfyUI's routes too).
OWN_RESOURCES: web.AppKey[frozenset[web.AbstractResource]] = web.AppKey("lora_manager_resources")
# True when the whole app is ours (standalone): every path, unknown ones included, follows our rules.
OWNS_WHOLE_APP: web.AppKey[bool] = web.AppKey("lora_manager_owns_app")
# The user's extra Host names (``allowed_hosts``), read per request so a settings change applies at once.
ALLOWED_HOSTS: web.AppKey[Callable[[], Iterable[str]]] = web.AppKey("lora_manager_allowed_hosts")
STARTUP_WAIT_SECONDS = 120.0
STILL_LOADING_ERROR = "The library is still loading; try again in a moment"
FOREIGN_ORIGIN_ERROR = "Cross-site request refused: this action is only accepted from the LoRA Manager page itself"


def is_own_path(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def is_ours(request: web.Request) -> bool:
    """Whether a request belongs to this project (and so follows its Host and Origin rules)."""
    if request.app.get(OWNS_WHOLE_APP) or is_own_path(request.path):
        return True
    resource = getattr(request.match_info.route, "resource", None)
    return resource is not None and resource in request.app.get(OWN_RESOURCES, frozenset())


def host_refusal(request: web.Request) -> str | None:
    """Why the request's ``Host`` is not served (DNS rebinding), or None. No Host header: not a browser."""
    host = request.headers.get("Host")
    if host is None:
        return None
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    local = sockname[0] if isinstance(sockname, tuple) and sockname else None
    allowed = request.app.get(ALLOWED_HOSTS)
    if host_allowed(host, local, allowed() if allowed is not None else ()):
        return None
    return HOST_REFUSED_ERROR.format(host=host[:200])


def is_websocket_upgrade(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def is_extension_origin(origin: str | None) -> bool:
    if not origin:
        return False
    return urlsplit(origin).scheme in EXTENSION_SCHEMES


def origin_verdict(request: web.Request) -> str | None:
    """Why a state-changing request must be refused, or None to allow it (API-COMPAT §4.1, in that order)."""
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        if is_extension_origin(origin):
            return None
        parts = urlsplit(origin)
        if parts.scheme in ("http", "https"):
            if parts.netloc.lower() != (request.host or "").lower():
                return f"origin {origin} is not this server"
        else:
            return f"origin {origin} is not allowed"
    elif origin == "null":
        return "opaque origin is not allowed"
    fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
    if fetch_site in ("cross-site", "same-site"):
        return f"Sec-Fetch-Site is {fetch_site}"
    return None


def _cors_headers(request: web.Request) -> dict[str, str]:
    origin = request.headers.get("Origin")
    if is_extension_origin(origin):
        return {"Access-Control-Allow-Origin": origin or "", "Vary": "Origin"}
    return {}


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The Host rule on every route of ours; the origin guard on state changes and socket upgrades; JSON
    errors for every failure under /api/lm; CORS for extension origins."""
    if not is_ours(request):
        return await handler(request)
    refusal = host_refusal(request)
    if refusal is not None:
        logger.warning("Refused %s %s: Host %r is not a name of this server", request.method, request.path,
                       request.headers.get("Host", "")[:200])
        return json_error(refusal, 403)
    if not is_own_path(request.path):
        changes_state = request.method in UNSAFE_METHODS or is_websocket_upgrade(request) or is_state_changing(
            getattr(request.match_info.route, "handler", None))
        if changes_state:
            reason = origin_verdict(request)
            if reason is not None:
                logger.warning("Refused %s %s: %s", request.method, request.path, reason)
                return json_error(FOREIGN_ORIGIN_ERROR, 403)
        if request.app.get(OWNS_WHOLE_APP) and request.method in ("GET", "HEAD"):
            try:
                return await handler(request)
            except web.HTTPNotFound:
                return not_found_page(request.path)
        return await handler(request)
    cors = _cors_headers(request)
    if request.method == "OPTIONS" and cors:
        return web.Response(
            status=204,
            headers={
                **cors,
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": "Content-Type",
                "Access-Control-Max-Age": "600",
            },
        )
    try:
        if await _answered_by_a_foreign_route(request):
            raise web.HTTPNotFound()
        response = await _guarded(request, handler)
    except ApiError as exc:
        response = json_error(exc.message, exc.status, **exc.extra)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.reason
        if exc.status == 404:
            message = f"No such API route: {request.path}"
        elif exc.status == 405:
            message = f"Method {request.method} not allowed for {request.path}"
        response = json_error(message, exc.status)
        allow = exc.headers.get("Allow")
        if allow:
            response.headers["Allow"] = allow
    except Exception:  # noqa: BLE001 - the last line of defence: log it, answer JSON, no stack trace
        logger.exception("Unhandled error in %s %s", request.method, request.path)
        response = json_error("Internal server error", 500)
    if cors and not response.prepared:
        response.headers.update(cors)
    return response


def not_found_page(path: str) -> web.Response:
    """A 404 page a person can read and leave: a title, a language, the path asked for and a way back.

    Why: the standalone server owns every path, so a mistyped page address must not end on bare text (and
    screen readers need the page's title and language).
    """
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Page not found · LoRA Manager</title></head><body><main>"
        "<h1>Page not found</h1>"
        f"<p>There is no page at <code>{html.escape(path[:500])}</code>.</p>"
        '<p><a href="/loras">Go to the LoRA library</a></p></main></body></html>'
    )
    return web.Response(status=404, text=body, content_type="text/html")


async def _answered_by_a_foreign_route(request: web.Request) -> bool:
    """True when an ``/api/lm`` path is none of our routes but the host app would answer it anyway.

    Why: inside ComfyUI a catch-all static route at ``/`` matches every path (it answers an unknown one with a
    plain-text 404 only once the response is sent, and a POST with 405), so an unknown API route must be
    recognised before it gets there: it then answers a JSON 404 like every other API error.
    """
    app = request.app
    own = app.get(OWN_RESOURCES)
    if app.get(OWNS_WHOLE_APP) or own is None:
        return False
    resource = getattr(request.match_info.route, "resource", None)
    if resource is not None:
        return resource not in own
    error = getattr(request.match_info, "http_exception", None)
    if getattr(error, "status", None) != 405:
        return False
    for candidate in own:  # a 405: ours only when one of our routes has this path with other methods
        _match, allowed = await candidate.resolve(request)
        if allowed:
            return False
    return True


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    route_handler = getattr(request.match_info.route, "handler", None)
    if request.method in UNSAFE_METHODS or is_state_changing(route_handler):
        reason = origin_verdict(request)
        if reason is not None:
            logger.warning("Refused %s %s: %s", request.method, request.path, reason)
            raise ApiError(FOREIGN_ORIGIN_ERROR, 403)
    gate = request.app.get(STARTUP_GATE)
    if gate is not None and not is_served_while_loading(route_handler):
        await wait_while_loading(gate)
    return await handler(request)


async def wait_while_loading(ready: asyncio.Event) -> None:
    """Wait for a part of the start (``STARTUP_WAIT_SECONDS`` at most, then a 503 that says so)."""
    if ready.is_set():
        return
    try:
        await asyncio.wait_for(ready.wait(), STARTUP_WAIT_SECONDS)
    except TimeoutError:
        raise ApiError(STILL_LOADING_ERROR, 503) from None
