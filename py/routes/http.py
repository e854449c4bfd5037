"""Small HTTP helpers shared by every route module: JSON answers, errors, parameter parsing.

Why: handlers stay thin (parse, call a service, shape JSON) and every bad input becomes the same
``{"success": false, "error": "..."}`` answer with a 4xx status.
"""
from __future__ import annotations

import json
from typing import Any, Awaitable, Callable, Mapping, TypeVar

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

STATE_CHANGING_ATTR = "_lm_state_changing"
SERVES_WHILE_LOADING_ATTR = "_lm_serves_while_loading"
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")
# The widest whole number the index stores (SQLite INTEGER); anything wider can only be a bad request.
MAX_INT = 2**63 - 1


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


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


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


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object (empty body: ``{}``), or a 400."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError("The request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError("The request body must be a JSON object")
    return value


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
