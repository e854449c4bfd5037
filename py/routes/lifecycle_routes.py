"""Lifecycle routes under ``/api/lm/{loras|checkpoints|embeddings}/...`` and ``/api/lm/undo-delete``.

Handlers parse, call ``ModelLifecycleService`` (the ``lifecycle`` component) and shape the JSON of API-COMPAT §3
and §2.6; every refusal is a 4xx ``{"success": false, "error": ...}``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiohttp import web

from ..library.edits import InvalidEdit
from ..library.paths import to_api_path
from ..library.tag_edits import MAX_BULK_MODELS, tag_edit
from ..services.lifecycle import MAX_PREVIEW_BYTES, LifecycleError, ModelLifecycleService
from ..services.model_service import PAGE_TYPES
from .http import (MAX_JSON_BYTES, ApiError, json_ok, optional_bool, optional_int, read_json_object, read_multipart,
                   require_component, require_str, state_changing)

if TYPE_CHECKING:
    from ..app import AppContext

COMPONENT = "lifecycle"


class LifecycleRoutes:
    def __init__(self, context: "AppContext", model_type: str):
        self.context = context
        self.model_type = model_type
        self.prefix = f"/api/lm/{PAGE_TYPES[model_type]}"

    @property
    def lifecycle(self) -> ModelLifecycleService:
        return require_component(self.context, COMPONENT, "Model lifecycle operations")

    def table(self) -> list[web.AbstractRouteDef]:
        p = self.prefix
        return [
            web.post(f"{p}/delete", self.delete),
            web.post(f"{p}/bulk-delete", self.bulk_delete),
            web.post(f"{p}/exclude", self.exclude),
            web.post(f"{p}/unexclude", self.unexclude),
            web.post(f"{p}/rename", self.rename),
            web.post(f"{p}/move_model", self.move_model),
            web.post(f"{p}/move_models_bulk", self.move_models_bulk),
            web.post(f"{p}/add-tags", self.add_tags),
            web.post(f"{p}/bulk-tags", self.bulk_tags),
            web.post(f"{p}/replace-preview", self.replace_preview),
            web.get(f"{p}/auto-organize", self.auto_organize_all),
            web.post(f"{p}/auto-organize", self.auto_organize),
            web.get(f"{p}/auto-organize-progress", self.auto_organize_progress),
            web.post(f"{p}/verify-duplicates", self.verify_duplicates),
        ]

    async def _call(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except LifecycleError as exc:
            raise ApiError(exc.message, exc.status) from None

    def _target(self, body: dict[str, Any]) -> Any:
        try:
            return self.lifecycle.target_from_payload(self.model_type, body)
        except LifecycleError as exc:
            raise ApiError(exc.message, exc.status) from None

    def _targets(self, body: dict[str, Any]) -> list[Any]:
        paths = body.get("file_paths")
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p.strip() for p in paths):
            raise ApiError("Missing required parameter: file_paths (a non-empty list of paths)")
        return [self._target({"file_path": p}) for p in dict.fromkeys(paths)]

    # -- delete ----------------------------------------------------------------------------------
    async def delete(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        record = self._target(body)
        result = await self._call(self.lifecycle.delete_model, self.model_type, record)
        return json_ok({"success": True, "deleted_files": result.deleted_files, "batch_id": result.batch_id})

    async def bulk_delete(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        records = self._targets(body)
        result = await self._call(self.lifecycle.bulk_delete_models, self.model_type, records)
        if not result.deleted_files and result.failed:
            raise ApiError(result.failed[0]["error"], int(result.failed[0]["status"]))
        failed = [{"file_path": to_api_path(f["file_path"]), "error": f["error"]} for f in result.failed]
        return json_ok({"success": True, "total_deleted": len(records) - len(failed),
                        "deleted_files": result.deleted_files, "batch_id": result.batch_id, "failed": failed})

    # -- exclude ---------------------------------------------------------------------------------
    async def exclude(self, request: web.Request) -> web.Response:
        return await self._set_exclude(request, True)

    async def unexclude(self, request: web.Request) -> web.Response:
        return await self._set_exclude(request, False)

    async def _set_exclude(self, request: web.Request, value: bool) -> web.Response:
        body = await read_json_object(request)
        record = self._target(body)
        result = await self._call(self.lifecycle.exclude_model, self.model_type, record, value)
        verb = "excluded from" if value else "shown again in"
        return json_ok({"success": True, "message": f"Model {verb} the listings: {record.file_name}",
                        **result.notice()})

    # -- rename and move -------------------------------------------------------------------------
    async def rename(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        record = self._target(body)
        new_name = require_str(body, "new_file_name")
        result = await self._call(self.lifecycle.rename_model, self.model_type, record, new_name)
        preview = result.record.preview_url() if result.record is not None else ""
        return json_ok({"success": True, "new_file_path": result.new_path, "new_preview_path": preview,
                        "renamed_files": [to_api_path(m.dst) for m in sorted(result.moved, key=lambda m: posix_src(m) != result.old_path)], "reload_required": False})

    async def move_model(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        record = self._target(body)
        target = require_str(body, "target_path")
        result = await self._call(self.lifecycle.move_model, self.model_type, record, target,
                                  use_default_paths=optional_bool(body, "use_default_paths", False),
                                  on_conflict=_on_conflict(body))
        answer: dict[str, Any] = {"success": True, "original_file_path": result.old_path,
                                  "new_file_path": result.new_path}
        if not result.moved:
            answer["message"] = "The model is already in that folder"
        if result.record is not None:
            answer["cache_entry"] = result.record.to_list_item()
        return json_ok(answer)

    async def move_models_bulk(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        records = self._targets(body)
        target = require_str(body, "target_path")
        outcomes = await self._call(self.lifecycle.move_models_bulk, self.model_type, records, target,
                                    use_default_paths=optional_bool(body, "use_default_paths", False),
                                    on_conflict=_on_conflict(body))
        results = []
        for record, outcome in outcomes:
            if isinstance(outcome, LifecycleError):
                results.append({"original_file_path": to_api_path(record.file_path), "new_file_path": None,
                                "success": False, "message": outcome.message})
            else:
                results.append({"original_file_path": outcome.old_path, "new_file_path": outcome.new_path,
                                "success": True, "message": "Moved" if outcome.moved else "Already there"})
        ok = sum(1 for r in results if r["success"])
        return json_ok({"success": ok == len(results), "results": results, "success_count": ok,
                        "failure_count": len(results) - ok})

    # -- edits -----------------------------------------------------------------------------------
    async def add_tags(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        record = self._target(body)
        raw = body.get("tags")
        if isinstance(raw, str):
            raw = raw.split(",")
        if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw) or not any(t.strip() for t in raw):
            raise ApiError("Missing required parameter: tags (a list of strings)")
        updated = await self._call(self.lifecycle.add_tags, self.model_type, record, raw)
        return json_ok({"success": True, "tags": list(updated.record.tags), **updated.notice()})

    async def bulk_tags(self, request: web.Request) -> web.Response:
        """``{"file_paths", "add"?, "remove"?, "replace"?: {"old": "new"}}``: one tag edit over many models. A path
        outside the roots refuses the whole request; a model that is gone is reported in ``results``."""
        body = await read_json_object(request)
        paths = body.get("file_paths")
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p.strip() for p in paths):
            raise ApiError("Missing required parameter: file_paths (a non-empty list of paths)")
        if len(paths) > MAX_BULK_MODELS:
            raise ApiError(f"Too many file_paths: at most {MAX_BULK_MODELS} models in one request ({len(paths)} given)")
        try:
            edit = tag_edit(body)
        except InvalidEdit as exc:
            raise ApiError(str(exc)) from None
        records, missing = [], []
        for path in dict.fromkeys(paths):
            try:
                records.append(self.lifecycle.target_from_payload(self.model_type, {"file_path": path}))
            except LifecycleError as exc:
                if exc.status != 404:
                    raise ApiError(exc.message, exc.status) from None
                missing.append({"file_path": path, "success": False, "status": 404, "error": exc.message})
        results = await self._call(self.lifecycle.edit_tags_bulk, self.model_type, records, edit) + missing
        for result in results:
            result["file_path"] = to_api_path(result["file_path"])
        ok = sum(1 for r in results if r["success"])
        return json_ok({"success": ok == len(results), "results": results, "success_count": ok,
                        "changed_count": sum(1 for r in results if r.get("changed")),
                        "failure_count": len(results) - ok})

    async def replace_preview(self, request: web.Request) -> web.Response:
        """Multipart ``preview_file`` + ``model_path`` (+ ``nsfw_level``), or JSON ``file_path`` + ``url``."""
        fields: dict[str, Any] = {}
        data, filename, content_type = b"", "", ""
        if request.content_type.startswith("multipart/"):
            texts, files = await read_multipart(request, max_part_bytes=MAX_PREVIEW_BYTES,
                                                max_total_bytes=MAX_PREVIEW_BYTES + MAX_JSON_BYTES)
            fields = dict(texts)
            if "preview_file" in files:
                data, filename, content_type = files["preview_file"]
        else:
            fields = await read_json_object(request)
        record = self._target(fields)
        nsfw = optional_int(fields, "nsfw_level", None, low=0)
        if not data:
            url = fields.get("url") or fields.get("preview_url")
            if not isinstance(url, str) or not url.strip():
                raise ApiError("Missing required parameter: preview_file (an upload) or url")
            data, filename, content_type = await self._call(self.lifecycle.fetch_preview, url.strip())
        updated = await self._call(self.lifecycle.replace_preview, self.model_type, record, data,
                                   filename=filename, content_type=content_type, nsfw_level=nsfw)
        return json_ok({"success": True, "preview_url": updated.preview_url(),
                        "preview_nsfw_level": updated.preview_nsfw_level})

    # -- organize and duplicates -----------------------------------------------------------------
    @state_changing
    async def auto_organize_all(self, request: web.Request) -> web.Response:
        dry_run = optional_bool(request.query, "dry_run", False)
        return json_ok(await self._call(self.lifecycle.auto_organize, self.model_type, None, dry_run=dry_run))

    async def auto_organize(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        paths = body.get("file_paths")
        if paths is not None and (not isinstance(paths, list) or not all(isinstance(p, str) for p in paths)):
            raise ApiError("Invalid value for file_paths: expected a list of paths")
        patterns = body.get("exclusion_patterns") or []
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise ApiError("Invalid value for exclusion_patterns: expected a list of patterns")
        return json_ok(await self._call(self.lifecycle.auto_organize, self.model_type, paths,
                                        dry_run=optional_bool(body, "dry_run", False), exclusion_patterns=patterns))

    async def auto_organize_progress(self, request: web.Request) -> web.Response:
        progress = self.lifecycle.last_organize
        if progress is None:
            raise ApiError("No auto-organize operation in progress", 404)
        return json_ok({"success": True, "progress": progress.to_dict()})

    async def verify_duplicates(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        records = self._targets(body)
        result = await self._call(self.lifecycle.verify_duplicates, self.model_type, records)
        return json_ok({"success": True, **result})


def posix_src(move: Any) -> str:
    return to_api_path(move.src)


def _on_conflict(body: dict[str, Any]) -> str:
    value = body.get("on_conflict", "refuse")
    if value not in ("refuse", "rename"):
        raise ApiError("Invalid value for on_conflict: use refuse or rename")
    return value


async def _undo_delete(context: "AppContext", request: web.Request) -> web.Response:
    body = await read_json_object(request)
    batch_id = require_str(body, "batch_id")
    service = require_component(context, COMPONENT, "Model lifecycle operations")
    try:
        result = await service.undo_delete(batch_id)
    except LifecycleError as exc:
        raise ApiError(exc.message, exc.status) from None
    return json_ok({"success": True, **result})


def route_table(context: "AppContext") -> list[web.AbstractRouteDef]:
    table: list[web.AbstractRouteDef] = []
    for model_type in PAGE_TYPES:
        table.extend(LifecycleRoutes(context, model_type).table())

    async def undo_delete(request: web.Request) -> web.Response:
        return await _undo_delete(context, request)

    async def trash(request: web.Request) -> web.Response:
        service = require_component(context, COMPONENT, "Model lifecycle operations")
        return json_ok({"success": True, "batches": await service.trash_batches()})

    table.append(web.post("/api/lm/undo-delete", undo_delete))
    table.append(web.get("/api/lm/trash", trash))
    return table
