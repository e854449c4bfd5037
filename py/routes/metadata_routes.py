"""Metadata refresh and update-check routes under ``/api/lm/{loras|checkpoints|embeddings}/...``."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiohttp import web

from ..library.paths import PathNotAllowed
from ..services.jobs import JobConflict
from ..services.metadata.service import MetadataService, ServiceNotReady, remote_error_status
from ..services.model_service import PAGE_TYPES, ModelNotFound
from ..services.remote.errors import RemoteError
from .http import MAX_INT, ApiError, json_ok, optional_bool, read_json_object, state_changing

if TYPE_CHECKING:
    from ..app import AppContext

COMPONENT = "metadata"


def _positive_int(value: Any, name: str, *, required: bool = True) -> int | None:
    if value is None or value == "":
        if required:
            raise ApiError(f"Missing required parameter: {name}")
        return None
    if isinstance(value, bool):
        raise ApiError(f"Invalid value for {name}: expected a positive integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdecimal():
        number = int(value.strip())
    else:
        raise ApiError(f"Invalid value for {name}: expected a positive integer")
    if number <= 0:
        raise ApiError(f"Invalid value for {name}: expected a positive integer")
    if number > MAX_INT:
        raise ApiError(f"Invalid value for {name}: the number is too large")
    return number


class MetadataRoutes:
    def __init__(self, context: "AppContext", model_type: str) -> None:
        self.context = context
        self.model_type = model_type

    @property
    def metadata(self) -> MetadataService:
        return self.context.components[COMPONENT]

    def _guard(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except ServiceNotReady as exc:
            raise ApiError(str(exc), 503) from None

    async def fetch_civitai(self, request: web.Request) -> web.Response:
        data = await read_json_object(request)
        record = self._resolve(data.get("file_path"))
        service = self.context.service(self.model_type)
        try:
            result = await self.metadata.refresh_one(record)
        except ServiceNotReady as exc:
            raise ApiError(str(exc), 503) from None
        except RemoteError as exc:
            extra = {"retry_after": round(exc.retry_after, 1)} if exc.retry_after is not None else {}
            raise ApiError(exc.message, remote_error_status(exc), error_kind=exc.kind.value, **extra) from None
        if result.status == "failed":
            raise ApiError(result.message, 422)
        fresh = service.index.get(record.file_path) if service.index is not None else None
        return json_ok({
            "success": True,
            "found": result.status == "updated",
            "message": result.message,
            "preview_downloaded": result.preview_downloaded,
            "model": (fresh or result.record or record).to_list_item(),
        })

    async def fetch_all_civitai(self, request: web.Request) -> web.Response:
        await read_json_object(request)
        try:
            job = self._guard(lambda: self.metadata.start_refresh_all(self.model_type))
        except JobConflict as exc:
            raise ApiError("A metadata refresh is already running", 409,
                           job_id=exc.job.id if exc.job else None) from None
        total = len(self.context.service(self.model_type).all_records())
        return json_ok({"success": True, "status": "started", "job_id": job.id, "total": total,
                        "message": f"Refreshing {total} models from Civitai"})

    async def refresh_updates(self, request: web.Request) -> web.Response:
        data = await read_json_object(request)
        raw_ids = data.get("model_ids")
        model_ids = None
        if raw_ids is not None:
            if not isinstance(raw_ids, list):
                raise ApiError("Invalid value for model_ids: expected a list of positive integers")
            model_ids = [_positive_int(v, "model_ids") for v in raw_ids]
        try:
            job = self._guard(lambda: self.metadata.start_update_check(self.model_type, model_ids))
        except JobConflict as exc:
            raise ApiError("An update check is already running", 409,
                           job_id=exc.job.id if exc.job else None) from None
        return json_ok({"success": True, "status": "started", "job_id": job.id})

    async def update_status(self, request: web.Request) -> web.Response:
        model_id = _positive_int(request.match_info.get("model_id"), "model_id")
        try:
            status = self._guard(lambda: self.metadata.update_status(self.model_type, model_id))
        except LookupError as exc:
            raise ApiError(str(exc).strip("'\""), 404) from None
        return json_ok({"success": True, **status})

    async def ignore_update(self, request: web.Request) -> web.Response:
        data = await read_json_object(request)
        model_id = _positive_int(data.get("model_id"), "model_id")
        version_id = _positive_int(data.get("version_id"), "version_id", required=False)
        ignore = optional_bool(data, "ignore", True)
        try:
            status = await self.metadata.ignore(self.model_type, model_id, version_id=version_id, ignore=ignore)
        except ServiceNotReady as exc:
            raise ApiError(str(exc), 503) from None
        except OSError as exc:
            raise ApiError(f"Could not save the ignore choice: {exc}", 507 if exc.errno == 28 else 500) from None
        return json_ok({"success": True, **status})


    # -- ComfyUI-Lora-Manager's update and Civitai routes (its UI's calls) ----------------------------
    async def _remote(self, work: Awaitable[Any]) -> Any:
        """Await a Civitai-backed call, mapping its failures to the statuses clients expect."""
        try:
            return await work
        except ServiceNotReady as exc:
            raise ApiError(str(exc), 503) from None
        except RemoteError as exc:
            extra = {"retry_after": round(exc.retry_after, 1)} if exc.retry_after is not None else {}
            raise ApiError(exc.message, remote_error_status(exc), error_kind=exc.kind.value, **extra) from None

    @state_changing
    async def update_versions(self, request: web.Request) -> web.Response:
        """``{"success": true, "record": {...}}``; ``refresh``/``force`` check Civitai first."""
        model_id = _positive_int(request.match_info.get("model_id"), "model_id")
        refresh = optional_bool(request.query, "refresh", False) or optional_bool(request.query, "force", False)
        try:
            record = await self._remote(self.metadata.version_record(self.model_type, model_id, refresh=refresh))
        except LookupError as exc:
            raise ApiError(str(exc).strip("'\""), 404) from None
        return json_ok({"success": True, "record": record})

    async def ignore_version(self, request: web.Request) -> web.Response:
        """``{modelId, versionId, shouldIgnore}`` (snake_case accepted) -> ``{"success": true, "record"}``."""
        data = await read_json_object(request)
        raw_model = data.get("modelId", data.get("model_id"))
        raw_version = data.get("versionId", data.get("version_id"))
        if raw_model in (None, "") or raw_version in (None, ""):
            raise ApiError("modelId and versionId are required")
        model_id = _positive_int(raw_model, "modelId")
        version_id = _positive_int(raw_version, "versionId")
        ignore = optional_bool(data, "shouldIgnore", optional_bool(data, "ignore", False))
        try:
            record = await self._remote(self.metadata.ignore_version(self.model_type, model_id, version_id, ignore))
        except OSError as exc:
            raise ApiError(f"Could not save the ignore choice: {exc}", 507 if exc.errno == 28 else 500) from None
        return json_ok({"success": True, "record": record})

    async def civitai_versions(self, request: web.Request) -> web.Response:
        """The model's Civitai versions (a JSON list, as the anchor answers) with local annotations."""
        model_id = _positive_int(request.match_info.get("model_id"), "model_id")
        try:
            versions = await self._remote(self.metadata.civitai_versions(self.model_type, model_id))
        except LookupError as exc:
            raise ApiError(str(exc).strip("'\""), 404) from None
        except ValueError as exc:
            raise ApiError(str(exc), 400) from None
        return json_ok(versions)

    async def civitai_model_by_version(self, request: web.Request) -> web.Response:
        version_id = _positive_int(request.match_info.get("version_id"), "modelVersionId")
        version = await self._remote(self.metadata.civitai_version(version_id))
        if version is None:
            raise ApiError("Model not found", 404)
        return json_ok(version)

    async def civitai_model_by_hash(self, request: web.Request) -> web.Response:
        raw = request.match_info.get("hash", "")
        try:
            version = await self._remote(self.metadata.civitai_by_hash(raw))
        except ValueError:
            raise ApiError("Invalid value for hash: expected a SHA256 (or AutoV2) hex digest") from None
        if version is None:
            raise ApiError("Model not found", 404)
        return json_ok(version)

    async def relink_civitai(self, request: web.Request) -> web.Response:
        """``{file_path, model_id, model_version_id?}`` -> ``{"success", "message", "hash", "model"}``."""
        data = await read_json_object(request)
        if not data.get("file_path") or data.get("model_id") in (None, ""):
            raise ApiError("Both file_path and model_id are required")
        model_id = _positive_int(data.get("model_id"), "model_id")
        version_id = _positive_int(data.get("model_version_id"), "model_version_id", required=False)
        record = self._resolve(data.get("file_path"))
        try:
            result = await self._remote(self.metadata.relink(record, model_id, version_id))
        except LookupError as exc:
            raise ApiError(str(exc).strip("'\""), 404) from None
        fresh = result.record or record
        message = f"Model successfully re-linked to Civitai model {model_id}" + (
            f" version {version_id}" if version_id else "")
        return json_ok({"success": True, "message": message, "hash": fresh.sha256, "model": fresh.to_list_item()})

    def _resolve(self, raw_path: Any) -> Any:
        if raw_path is not None and not isinstance(raw_path, str):
            raise ApiError("Invalid value for file_path: expected a string")
        if raw_path is None or not raw_path.strip():
            raise ApiError("Missing required parameter: file_path")
        service = self.context.service(self.model_type)
        if not service.ready.is_set():
            raise ApiError("Service not ready", 503)
        try:
            return service.resolve(raw_path)
        except PathNotAllowed as exc:
            raise ApiError(str(exc), 403) from None
        except ModelNotFound as exc:
            raise ApiError(str(exc), 404) from None


def route_table(context: "AppContext") -> list[web.RouteDef]:
    table: list[web.RouteDef] = []
    for model_type in context.services:
        routes = MetadataRoutes(context, model_type)
        prefix = f"/api/lm/{PAGE_TYPES[model_type]}"
        handlers: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
            ("POST", "/fetch-civitai", routes.fetch_civitai),
            ("POST", "/fetch-all-civitai", routes.fetch_all_civitai),
            ("POST", "/updates/refresh", routes.refresh_updates),
            ("GET", r"/updates/status/{model_id}", routes.update_status),
            ("POST", "/updates/ignore", routes.ignore_update),
            ("POST", "/updates/ignore-version", routes.ignore_version),
            ("GET", r"/updates/versions/{model_id}", routes.update_versions),
            ("GET", r"/civitai/versions/{model_id}", routes.civitai_versions),
            ("GET", r"/civitai/model/version/{version_id}", routes.civitai_model_by_version),
            ("GET", r"/civitai/model/hash/{hash}", routes.civitai_model_by_hash),
            ("POST", "/relink-civitai", routes.relink_civitai),
        ]
        table += [web.route(method, prefix + path, handler) for method, path, handler in handlers]
    return table
