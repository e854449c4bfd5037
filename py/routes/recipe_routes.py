"""Recipe routes under ``/api/lm/recipe(s)``: parse the request, call RecipeService, shape JSON."""
from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any, Awaitable, Callable
from urllib.parse import quote

from aiohttp import web
from multidict import MultiMapping

from ..services.recipes.query import QueryError, RecipeQuery, parse_sort
from ..services.recipes.records import SEARCH_FIELDS
from ..services.recipes.service import RecipeError, RecipeService
from .http import (ApiError, json_ok, optional_bool, optional_int, read_json_object, read_multipart, require_str,
                   state_changing)

if TYPE_CHECKING:
    from ..app import AppContext

COMPONENT = "recipes"
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
SEARCH_FLAGS = {"search_title": "title", "search_tags": "tags", "search_lora_name": "lora_name",
                "search_lora_model": "lora_model", "search_prompt": "prompt"}


def _split_many(query: MultiMapping[str], *names: str) -> tuple[str, ...]:
    values: list[str] = []
    for name in names:
        for raw in query.getall(name, []):
            parts = raw.split(",") if name.endswith("s") else [raw]
            values.extend(p.strip() for p in parts if p.strip())
    return tuple(dict.fromkeys(values))


def parse_recipe_query(query: MultiMapping[str]) -> RecipeQuery:
    """The list parameters of API-COMPAT §3 ``GET /api/lm/recipes``; page_size is not capped (contract)."""
    try:
        sort_by, descending, seed = parse_sort(query.get("sort_by"))
    except QueryError as exc:
        raise ApiError(str(exc)) from None
    fields = frozenset(field for flag, field in SEARCH_FLAGS.items() if optional_bool(query, flag, True))
    return RecipeQuery(
        page=optional_int(query, "page", 1, low=1) or 1,
        page_size=optional_int(query, "page_size", 20, low=1) or 20,
        sort_by=sort_by,
        descending=descending,
        seed=seed,
        search=query.get("search", ""),
        search_fields=fields or frozenset(SEARCH_FIELDS),
        folder=query.get("folder") or None,
        recursive=optional_bool(query, "recursive", True),
        base_models=_split_many(query, "base_models", "base_model"),
        favorite=optional_bool(query, "favorite", False),
        tag_include=_split_many(query, "tag_include", "tags", "tag"),
        tag_exclude=_split_many(query, "tag_exclude"),
        lora_hash=query.get("lora_hash", "").strip(),
        checkpoint_hash=query.get("checkpoint_hash", "").strip(),
    )


def _json_param(value: str | None, name: str, kind: type, default: Any) -> Any:
    if value is None or not str(value).strip():
        return default
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        raise ApiError(f"Invalid value for {name}: not valid JSON") from None
    if not isinstance(parsed, kind):
        raise ApiError(f"Invalid value for {name}: expected a JSON {'list' if kind is list else 'object'}")
    return parsed


async def _shielded(work: Awaitable[Any]) -> Any:
    """Long-held imports finish even when the client goes away (API-COMPAT §1: no client timeout)."""
    return await asyncio.shield(asyncio.ensure_future(work))


class RecipeRoutes:
    def __init__(self, context: "AppContext"):
        self.context = context

    @property
    def service(self) -> RecipeService:
        service = self.context.components.get(COMPONENT)
        if service is None or service.store is None:
            raise ApiError(getattr(service, "unavailable", "") or "Recipes are not ready yet", 503)
        return service

    async def _call(self, awaitable: Awaitable[Any]) -> Any:
        try:
            return await awaitable
        except RecipeError as exc:
            raise ApiError(exc.message, exc.status, **exc.extra) from None

    def _sync(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RecipeError as exc:
            raise ApiError(exc.message, exc.status, **exc.extra) from None

    # -- listing and one recipe -------------------------------------------------------------------
    async def list_recipes(self, request: web.Request) -> web.Response:
        query = parse_recipe_query(request.query)
        return json_ok(await self._call(self.service.list_recipes(query)))

    async def get_recipe(self, request: web.Request) -> web.Response:
        return json_ok(self._sync(self.service.get_recipe, request.match_info["recipe_id"]))

    async def update_recipe(self, request: web.Request) -> web.Response:
        changes = await read_json_object(request)
        return json_ok(await self._call(self.service.update(request.match_info["recipe_id"], changes)))

    async def delete_recipe(self, request: web.Request) -> web.Response:
        return json_ok(await self._call(self.service.delete([request.match_info["recipe_id"]])))

    async def bulk_delete(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        ids = body.get("recipe_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise ApiError("Missing required parameter: recipe_ids (a list of recipe ids)")
        return json_ok(await self._call(self.service.delete(ids)))

    async def undo_delete(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        return json_ok(await self._call(self.service.undo_delete(require_str(body, "batch_id"))))

    async def syntax(self, request: web.Request) -> web.Response:
        return json_ok(self._sync(self.service.syntax, request.match_info["recipe_id"]))

    async def for_lora(self, request: web.Request) -> web.Response:
        return json_ok(self._sync(self.service.for_lora, request.query.get("hash", "")))

    async def find_duplicates(self, request: web.Request) -> web.Response:
        return json_ok(self._sync(self.service.find_duplicates))

    async def top_tags(self, request: web.Request) -> web.Response:
        limit = optional_int(request.query, "limit", 20, low=0, high=200, clamp=True) or 0
        return json_ok({"success": True, "tags": self._sync(self.service.top_tags, limit)})

    async def base_models(self, request: web.Request) -> web.Response:
        limit = optional_int(request.query, "limit", 20, low=0, high=100, clamp=True) or 0
        return json_ok({"success": True, "base_models": self._sync(self.service.base_models, limit)})

    async def folders(self, request: web.Request) -> web.Response:
        return json_ok({"success": True, "folders": self._sync(self.service.folders)})

    async def download_missing(self, request: web.Request) -> web.Response:
        return json_ok(await self._call(self.service.download_missing(request.match_info["recipe_id"])))

    # -- analysis and saving ----------------------------------------------------------------------
    async def _read_upload(self, request: web.Request) -> tuple[dict[str, str], dict[str, tuple[bytes, str]]]:
        """Multipart fields (text) and files ((bytes, filename)); a 400 for anything else."""
        fields: dict[str, str] = {}
        files: dict[str, tuple[bytes, str]] = {}
        if request.content_type == "application/x-www-form-urlencoded":
            try:
                form = await request.post()
            except (UnicodeDecodeError, ValueError):
                raise ApiError("The form body could not be read: it is not valid UTF-8 form data", 400,
                               loras=[]) from None
            return {k: v for k, v in form.items() if isinstance(v, str)}, files
        if not request.content_type.startswith("multipart/"):
            raise ApiError("Send the image as multipart/form-data", 400, loras=[])
        fields, uploads = await read_multipart(request, max_part_bytes=MAX_UPLOAD_BYTES,
                                               max_total_bytes=2 * MAX_UPLOAD_BYTES, loras=[])
        files = {name: (data, filename) for name, (data, filename, _type) in uploads.items()}
        return fields, files

    async def analyze_image(self, request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            body = await read_json_object(request)
            url = body.get("url")
            if not isinstance(url, str) or not url.strip():
                raise ApiError("Missing required parameter: url", 400, loras=[])
            return json_ok(await self._call(self.service.analyze_url(url)))
        fields, files = await self._read_upload(request)
        if "image" not in files:
            raise ApiError("Missing required field: image", 400, loras=[])
        data, filename = files["image"]
        return json_ok(await self._call(self.service.analyze_bytes(data, filename=filename)))

    async def analyze_local(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        path = body.get("path")
        if not isinstance(path, str) or not path.strip():
            raise ApiError("Missing required parameter: path", 400, loras=[])
        return json_ok(await self._call(self.service.analyze_local(path)))

    async def save(self, request: web.Request) -> web.Response:
        import base64
        import binascii

        fields, files = await self._read_upload(request)
        if "image" in files:
            media, filename = files["image"]
        elif fields.get("image_base64"):
            text = fields["image_base64"]
            if text.startswith("data:") and "," in text:
                text = text.split(",", 1)[1]
            try:
                media = base64.b64decode(text, validate=False)
            except (binascii.Error, ValueError):
                raise ApiError("Invalid value for image_base64: not base64") from None
            filename = ""
        else:
            raise ApiError("Missing required field: image (or image_base64)")
        name = fields.get("name", "")
        if not name.strip():
            raise ApiError("Missing required parameter: name")
        raw_tags = fields.get("tags", "")
        if raw_tags.strip().startswith("["):
            tags = _json_param(raw_tags, "tags", list, [])
        else:
            tags = [t.strip() for t in raw_tags.split(",") if t.strip()]
        metadata = _json_param(fields.get("metadata"), "metadata", dict, {})
        extension = fields.get("extension") or (("." + filename.rsplit(".", 1)[-1]) if "." in filename else "")
        answer = await self._call(self.service.save(media=media, extension=extension, name=name, tags=tags,
                                                    metadata=metadata, folder=fields.get("folder", "")))
        return json_ok(answer)

    # -- remote imports (extension: GET with query parameters) ------------------------------------
    @state_changing
    async def import_remote(self, request: web.Request) -> web.Response:
        query = request.query
        image_url = require_str(query, "image_url")
        name = require_str(query, "name")
        resources = _json_param(query.get("resources"), "resources", list, None)
        if resources is None:
            raise ApiError("Missing required parameter: resources")
        gen_params = _json_param(query.get("gen_params"), "gen_params", dict, {})
        tags = [t.strip() for t in query.get("tags", "").split(",") if t.strip()]
        answer = await self._call(_shielded(self.service.import_remote(
            image_url=image_url.strip(), name=name.strip(), resources=resources, tags=tags, gen_params=gen_params,
            base_model=query.get("base_model", "").strip(), source_path=query.get("source_path", "").strip())))
        return json_ok(answer)

    @state_changing
    async def import_from_url(self, request: web.Request) -> web.Response:
        image_url = require_str(request.query, "image_url")
        force = optional_bool(request.query, "force", False)
        return json_ok(await self._call(_shielded(self.service.import_from_url(image_url.strip(), force=force))))

    async def check_image_exists(self, request: web.Request) -> web.Response:
        ids = [t.strip() for t in request.query.get("image_ids", "").split(",") if t.strip().isdecimal()]
        return json_ok(self._sync(self.service.check_image_exists, ids))

    # -- share / export / import ------------------------------------------------------------------
    async def share(self, request: web.Request) -> web.StreamResponse:
        data, filename = await self._call(self.service.share(request.match_info["recipe_id"]))
        content_type = "video/mp4" if filename.endswith(".mp4") else \
            "video/webm" if filename.endswith(".webm") else "image/webp" if filename.endswith(".webp") else \
            "application/octet-stream"
        return web.Response(body=data, content_type=content_type, headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"})

    async def export(self, request: web.Request) -> web.StreamResponse:
        body = await read_json_object(request)
        ids = body.get("recipe_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise ApiError("Missing required parameter: recipe_ids (a list of recipe ids)")
        data = await self._call(self.service.export_zip(ids))
        return web.Response(body=data, content_type="application/zip", headers={
            "Content-Disposition": "attachment; filename=recipes.zip"})

    async def import_file(self, request: web.Request) -> web.Response:
        _fields, files = await self._read_upload(request)
        upload = files.get("file") or files.get("image")
        if upload is None:
            raise ApiError("Missing required field: file")
        data, filename = upload
        return json_ok(await self._call(self.service.import_file(data, filename)))

    async def bulk_import(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        folder = require_str(body, "folder")
        recursive = optional_bool(body, "recursive", True)
        return json_ok(self._sync(self.service.start_bulk_import, folder, recursive=recursive))


def route_table(context: "AppContext") -> list[web.RouteDef]:
    r = RecipeRoutes(context)
    return [
        web.get("/api/lm/recipes", r.list_recipes),
        web.get("/api/lm/recipes/find-duplicates", r.find_duplicates),
        web.get("/api/lm/recipes/for-lora", r.for_lora),
        web.get("/api/lm/recipes/top-tags", r.top_tags),
        web.get("/api/lm/recipes/base-models", r.base_models),
        web.get("/api/lm/recipes/folders", r.folders),
        web.get("/api/lm/recipes/check-image-exists", r.check_image_exists),
        web.get("/api/lm/recipes/import-remote", r.import_remote),
        web.get("/api/lm/recipes/import-from-url", r.import_from_url),
        web.post("/api/lm/recipes/analyze-image", r.analyze_image),
        web.post("/api/lm/recipes/analyze-local-image", r.analyze_local),
        web.post("/api/lm/recipes/save", r.save),
        web.post("/api/lm/recipes/undo-delete", r.undo_delete),
        web.post("/api/lm/recipes/bulk-delete", r.bulk_delete),
        web.post("/api/lm/recipes/export", r.export),
        web.post("/api/lm/recipes/import", r.import_file),
        web.post("/api/lm/recipes/bulk-import", r.bulk_import),
        web.get("/api/lm/recipe/{recipe_id}", r.get_recipe),
        web.put("/api/lm/recipe/{recipe_id}/update", r.update_recipe),
        web.post("/api/lm/recipe/{recipe_id}/update", r.update_recipe),
        web.delete("/api/lm/recipe/{recipe_id}", r.delete_recipe),
        web.get("/api/lm/recipe/{recipe_id}/syntax", r.syntax),
        web.get("/api/lm/recipe/{recipe_id}/share", r.share),
        web.post("/api/lm/recipe/{recipe_id}/download-missing", r.download_missing),
    ]
