"""Small HTTP helpers shared by every route module: JSON answers, errors, parameter parsing.

Why: handlers stay thin (parse, call a service, shape JSON) and every bad input becomes the same
``{"success": false, "error": "..."}`` answer with a 4xx status.
"""
from __future__ import annotations

import json
from typing import Any, Awaitable, Callable, Mapping, TypeVar

from aiohttp import web

from ..library.list_json import dumps as _dumps
from ..library.sidecar import MAX_STORED_INT

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

STATE_CHANGING_ATTR = "_lm_state_changing"
SERVES_WHILE_LOADING_ATTR = "_lm_serves_while_loading"
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")
# The widest whole number the index stores (SQLite INTEGER); anything wider can only be a bad request.
MAX_INT = MAX_STORED_INT
MAX_JSON_BYTES = 8 * 1024 * 1024  # a JSON request body (metadata edits, settings, bulk lists)
MAX_JSON_DEPTH = 64
MAX_PARTS = 32
READ_CHUNK = 256 * 1024


class ApiError(Exception):
    """A request the server refuses, with the status and the message the user sees."""

    def __init__(self, message: str, status: int = 400, **extra: Any):
        super().__init__(message)
        self.message = message
        self.status = status
        self.extra = extra


def json_ok(data: Mapping[str, Any] | list[Any], status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def json_error(message: str, status: int, **extra: Any) -> web.Response:
    body = {"success": False, "error": message}
    body.update(extra)
    return web.json_response(body, status=status, dumps=_dumps)


def json_text(text: str, status: int = 200) -> web.Response:
    """A JSON answer whose text is already encoded (``list_json``), with the headers ``json_ok`` sends."""
    return web.Response(text=text, status=status, content_type="application/json")


def state_changing(handler: H) -> H:
    """Mark a GET handler that changes state, so the origin guard protects it like a POST."""
    setattr(handler, STATE_CHANGING_ATTR, True)
    return handler


def is_state_changing(handler: Any) -> bool:
    return bool(getattr(handler, STATE_CHANGING_ATTR, False))


def require_component(context: Any, name: str, what: str) -> Any:
    """An area service of the app (``context.components[name]``), or a 503 naming the area."""
    found = context.components.get(name)
    if found is None:
        raise ApiError(f"{what} are not available", 503)
    return found


def serves_while_loading(handler: H) -> H:
    """Mark a handler that answers while the library is still loading (all others wait for the start)."""
    setattr(handler, SERVES_WHILE_LOADING_ATTR, True)
    return handler


def is_served_while_loading(handler: Any) -> bool:
    return bool(getattr(handler, SERVES_WHILE_LOADING_ATTR, False))


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, refused with a 413 as soon as it (after any Content-Encoding is inflated) passes
    ``limit`` bytes: the cap holds whatever the hosting app's ``client_max_size`` is (ComfyUI's is large)."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(f"The request body is too large (at most {limit} bytes)", 413)
    body = bytearray()
    try:
        async for chunk in request.content.iter_chunked(READ_CHUNK):
            body += chunk
            if len(body) > limit:
                raise ApiError(f"The request body is too large (at most {limit} bytes)", 413)
    except (ValueError, web.HTTPException) as exc:  # a broken compressed body, or aiohttp's own size refusal
        raise ApiError(f"The request body could not be read: {exc}", 400) from None
    return bytes(body)


async def read_json_object(request: web.Request, *, limit: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """The request body as a JSON object (empty body: ``{}``), or a 400 (413 when too large)."""
    raw = await read_body(request, limit)
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError("The request body is not valid JSON") from None
    except RecursionError:
        raise ApiError(f"The request body is nested too deeply (at most {MAX_JSON_DEPTH} levels)") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise ApiError(f"The request body is not usable JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError("The request body must be a JSON object")
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ApiError(f"The request body is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
    return value


def json_depth(value: Any) -> int:
    """How deeply containers nest in a decoded JSON value (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            return depth
        stack.extend((child, depth) for child in children)
    return deepest


async def read_multipart(request: web.Request, *, max_part_bytes: int, max_total_bytes: int,
                         max_parts: int = MAX_PARTS, **error_extra: Any
                         ) -> tuple[dict[str, str], dict[str, tuple[bytes, str, str]]]:
    """Multipart text fields and files ``(bytes, filename, content type)``, every part read in bounded chunks:
    one part over ``max_part_bytes``, the whole over ``max_total_bytes`` or more than ``max_parts`` parts is a
    413 before the rest is read."""
    if not request.content_type.startswith("multipart/"):
        raise ApiError("Send the upload as multipart/form-data", 400, **error_extra)
    fields: dict[str, str] = {}
    files: dict[str, tuple[bytes, str, str]] = {}
    total = 0
    try:
        reader = await request.multipart()
        for _ in range(max_parts + 1):
            part = await reader.next()
            if part is None:
                return fields, files
            if len(fields) + len(files) >= max_parts:
                break
            data = bytearray()
            while chunk := await part.read_chunk(READ_CHUNK):
                data += chunk
                total += len(chunk)
                if len(data) > max_part_bytes or total > max_total_bytes:
                    raise ApiError(f"The upload is too large (at most {max_part_bytes} bytes a file)", 413,
                                   **error_extra)
            name = part.name or ""
            if part.filename is not None:
                files[name] = (bytes(data), part.filename, part.headers.get("Content-Type", ""))
            else:
                fields[name] = data.decode("utf-8", errors="replace")
    except (ValueError, AssertionError) as exc:  # a malformed multipart body (aiohttp asserts on some)
        raise ApiError(f"The upload could not be read: {exc}", 400, **error_extra) from None
    raise ApiError(f"The upload has too many parts (at most {max_parts})", 413, **error_extra)


def require_str(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ApiError(f"Missing required parameter: {name}")
    if not isinstance(value, str):
        raise ApiError(f"Invalid value for {name}: expected a string")
    return value


def optional_int(data: Mapping[str, Any], name: str, default: int | None = None, *, low: int | None = None,
                 high: int | None = None, clamp: bool = False) -> int | None:
    """An integer parameter (query string or JSON); out of range is clamped or refused."""
    value = data.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ApiError(f"Invalid value for {name}: expected a whole number")
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except (TypeError, ValueError):
        number = None
    if number is None:
        raise ApiError(f"Invalid value for {name}: expected a whole number")
    if low is not None and number < low:
        if not clamp:
            raise ApiError(f"Invalid value for {name}: must be at least {low}")
        number = low
    if high is not None and number > high:
        if not clamp:
            raise ApiError(f"Invalid value for {name}: must be at most {high}")
        number = high
    if not -MAX_INT <= number <= MAX_INT:
        raise ApiError(f"Invalid value for {name}: the number is too large")
    return number


def require_int(data: Mapping[str, Any], name: str, *, low: int | None = None, high: int | None = None) -> int:
    value = optional_int(data, name, None, low=low, high=high)
    if value is None:
        raise ApiError(f"Missing required parameter: {name}")
    return value


def optional_bool(data: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = data.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ApiError(f"Invalid value for {name}: expected true or false")
