"""GET /api/lm/kinds: every model kind with its label and file count (see services/kind_summary.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from ..services.kind_summary import kinds_summary
from .http import json_ok

if TYPE_CHECKING:
    from ..app import AppContext


def route_table(context: "AppContext") -> list[web.RouteDef]:
    async def kinds(request: web.Request) -> web.Response:
        return json_ok({"success": True, "kinds": kinds_summary(context)})

    return [web.get("/api/lm/kinds", kinds)]
