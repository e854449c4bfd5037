"""Routes that are not about one model type: health, version, settings, locales, jobs, WebSockets, pages."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from ..library.paths import PathNotAllowed, confine
from ..library.scanner import PREVIEW_EXTENSIONS
from ..settings import SettingsError
from .http import ApiError, json_ok, read_json_object

if TYPE_CHECKING:
    from ..app import AppContext

logger = logging.getLogger(__name__)

WEB_APP_DIR = Path(__file__).resolve().parent.parent.parent / "web" / "app"
PAGES = ("loras", "checkpoints", "embeddings", "recipes", "discover", "downloads", "stats", "settings")


class SystemRoutes:
    def __init__(self, context: "AppContext"):
        self.context = context

    async def health_check(self, request: web.Request) -> web.Response:
        return json_ok({"status": "ok"})

    async def version_info(self, request: web.Request) -> web.Response:
        info = self.context.version
        return json_ok({"success": True, "version": info.full, "has_git": info.has_git})

    async def get_settings(self, request: web.Request) -> web.Response:
        return json_ok({"success": True, "settings": self.context.settings.to_public_dict()})

    async def update_settings(self, request: web.Request) -> web.Response:
        changes = await read_json_object(request)
        if not changes:
            raise ApiError("No settings given: send a JSON object of the keys to change")
        store = self.context.settings_store
        previous_base_url = store.settings.civitai_base_url
        try:
            settings = await asyncio.to_thread(store.update, changes)
        except SettingsError as exc:
            raise ApiError(f"Invalid settings: {exc}", 400, problems=exc.problems) from None
        except OSError as exc:
            raise ApiError(f"Settings could not be saved: {exc.strerror or exc}", 507 if exc.errno == 28 else 500) from None
        if "language" in changes:
            self.context.i18n.set_locale(settings.language)
        if settings.civitai_base_url != previous_base_url:  # where API keys and downloads go: always on record
            logger.warning("Civitai base URL changed from %s to %s (request from %s)", previous_base_url,
                           settings.civitai_base_url, request.remote)
        return json_ok({"success": True, "settings": settings.to_public_dict()})

    async def get_locale(self, request: web.Request) -> web.Response:
        i18n = self.context.i18n
        locale = i18n.resolve_locale(request.match_info["lang"])
        return json_ok({"success": True, "locale": locale, "translations": i18n.locale_data(locale)})

    async def library_stats(self, request: web.Request) -> web.Response:
        """The statistics page's figures, aggregated by the index database (see library/stats.py)."""
        stats = await self.context.database.stats()
        return json_ok({"success": True, **stats.to_dict()})

    async def list_jobs(self, request: web.Request) -> web.Response:
        jobs = [job.to_dict() for job in self.context.jobs.list_jobs(request.query.get("kind") or None)]
        return json_ok({"success": True, "jobs": jobs})

    async def cancel_job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        if not self.context.jobs.cancel(job_id):
            raise ApiError(f"No running job with id {job_id}", 404)
        return json_ok({"success": True, "message": "Cancellation requested"})

    async def preview(self, request: web.Request) -> web.StreamResponse:
        """Serve a preview image or video; the path must lie inside a library root, the recipes folder or
        the example images folder."""
        raw = request.query.get("path", "")
        if not raw.strip():
            raise ApiError("Missing required parameter: path")
        model_roots: list[Path] = self.context.all_roots()
        own_roots = [self.context.recipes_dir]
        example_root = Path(self.context.settings.example_images_path or "").expanduser()
        if example_root.is_absolute():
            own_roots.append(example_root)
        try:
            confined = confine(raw, model_roots, through_links=True)  # no model roots: refused, then below
        except PathNotAllowed:
            try:  # the folders this project fills itself: real-path containment
                confined = confine(raw, own_roots)
            except PathNotAllowed as exc:
                raise ApiError(str(exc), 403) from None
        if confined.path.suffix.lower() not in PREVIEW_EXTENSIONS or not confined.path.is_file():
            raise ApiError(f"Preview not found: {raw}", 404)
        return web.FileResponse(confined.path, headers={"Cache-Control": "public, max-age=86400"})

    async def page(self, request: web.Request) -> web.StreamResponse:
        index = WEB_APP_DIR / "index.html"
        if not index.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(index, headers={"Cache-Control": "no-cache"})

    async def root(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/loras")


def route_table(context: "AppContext") -> list[web.AbstractRouteDef]:
    routes = SystemRoutes(context)
    hub = context.hub
    table: list[web.AbstractRouteDef] = [
        web.get("/api/lm/health-check", routes.health_check),
        web.get("/api/lm/version-info", routes.version_info),
        web.get("/api/lm/settings", routes.get_settings),
        web.post("/api/lm/settings", routes.update_settings),
        web.get("/api/lm/locales/{lang}", routes.get_locale),
        web.get("/api/lm/previews", routes.preview),
        web.get("/api/lm/jobs", routes.list_jobs),
        web.get("/api/lm/stats", routes.library_stats),
        web.post("/api/lm/jobs/{job_id}/cancel", routes.cancel_job),
        web.get("/ws/fetch-progress", hub.handle_fetch_progress),
        web.get("/ws/download-progress", hub.handle_download_progress),
        web.get("/ws/init-progress", hub.handle_init_progress),
    ]
    if WEB_APP_DIR.is_dir():
        table += [web.get(f"/{page}", routes.page) for page in PAGES]
        table.append(web.static("/lm-static", WEB_APP_DIR, append_version=False))
    return table


def standalone_route_table(context: "AppContext") -> list[web.AbstractRouteDef]:
    """Only for the standalone server: ``/`` opens the manager (inside ComfyUI, ``/`` is ComfyUI's)."""
    return [web.get("/", SystemRoutes(context).root)]
