"""Discover routes: ``GET /api/lm/discover/models`` searches Civitai with library badges (thin: parse, call)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from ..services.discover import DiscoverError, discover_service, parse_query
from .http import ApiError, json_ok

if TYPE_CHECKING:
    from ..app import AppContext


def route_table(context: "AppContext") -> list[web.AbstractRouteDef]:
    service = discover_service(context)

    async def models(request: web.Request) -> web.Response:
        try:
            return json_ok(await service.search(parse_query(request.query)))
        except DiscoverError as exc:
            raise ApiError(exc.message, exc.status) from None

    return [web.get("/api/lm/discover/models", models)]
