"""GET /api/lm/kinds: every model kind with its label and file count (see services/kind_summary.py), and the
page of each kind beyond LoRAs, checkpoints and embeddings (/kinds/<kind>, the same model page)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from ..library.kinds import EXTRA_KINDS
from ..services.kind_summary import kinds_summary
from .http import json_ok
from .system_routes import WEB_APP_DIR, SystemRoutes

if TYPE_CHECKING:
    from ..app import AppContext


def route_table(context: "AppContext") -> list[web.RouteDef]:
    pages = SystemRoutes(context)

    async def kinds(request: web.Request) -> web.Response:
        return json_ok({"success": True, "kinds": kinds_summary(context)})

    async def kind_page(request: web.Request) -> web.StreamResponse:
        if request.match_info["kind"] not in EXTRA_KINDS:
            raise web.HTTPNotFound()
        return await pages.page(request)

    table = [web.get("/api/lm/kinds", kinds)]
    if WEB_APP_DIR.is_dir():
        table.append(web.get("/kinds/{kind}", kind_page))
    return table
