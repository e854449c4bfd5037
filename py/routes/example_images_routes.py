"""Example-image routes: start, follow and cancel a bulk download; list one model's stored files.

Every route answers 400 "Set example_images_path in settings first" while no folder is configured.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..services.example_images.paths import InvalidSha256, preview_url
from ..services.example_images.progress import plural
from ..services.example_images.service import COMPONENT, ExampleImagesError, ExampleImagesService
from ..settings import MODEL_TYPES
from .http import ApiError, json_ok, optional_bool, read_json_object, require_component

if TYPE_CHECKING:
    from ..app import AppContext

_TYPE_ALIASES = {**{t: t for t in MODEL_TYPES}, **{f"{t}s": t for t in MODEL_TYPES}}


def parse_model_types(value: Any) -> list[str] | None:
    """``model_types``: absent means every type; otherwise a non-empty list of lora/checkpoint/embedding
    (plural page names and any case accepted)."""
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise ApiError("Invalid value for model_types: expected a non-empty list of lora, checkpoint, embedding")
    types: list[str] = []
    for item in value:
        name = _TYPE_ALIASES.get(item.strip().lower()) if isinstance(item, str) else None
        if name is None:
            raise ApiError(f"Unknown model type: {str(item)[:100]}")
        if name not in types:
            types.append(name)
    return types


def parse_file_paths(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ApiError("Invalid value for file_paths: expected a list of model file paths")
    return list(value)


class ExampleImagesRoutes:
    def __init__(self, context: "AppContext") -> None:
        self.context = context

    @property
    def service(self) -> ExampleImagesService:
        return require_component(self.context, COMPONENT, "Example images")

    async def download(self, request: web.Request) -> web.Response:
        data = await read_json_object(request)
        service = self.service
        try:
            service.root()
            model_types = parse_model_types(data.get("model_types"))
            file_paths = parse_file_paths(data.get("file_paths"))
            optimize = optional_bool(data, "optimize", False)
            job = service.download_for_models(model_types, file_paths, optimize=optimize)
        except ExampleImagesError as exc:
            raise ApiError(exc.message, exc.status, **exc.extra) from None
        progress = service.status()["status"]
        total = progress["total"]
        return json_ok({"success": True, "status": "started", "job_id": job.id, "total": total,
                        "optimize": optimize, "model_types": progress["model_types"],
                        "message": f"Downloading the example images of {plural(total, 'model')}"})

    async def status(self, request: web.Request) -> web.Response:
        try:
            return json_ok(self.service.status())
        except ExampleImagesError as exc:
            raise ApiError(exc.message, exc.status, **exc.extra) from None

    async def cancel(self, request: web.Request) -> web.Response:
        await read_json_object(request)
        try:
            job_id = self.service.cancel()
        except ExampleImagesError as exc:
            raise ApiError(exc.message, exc.status, **exc.extra) from None
        return json_ok({"success": True, "message": "Cancellation requested", "job_id": job_id})

    async def files(self, request: web.Request) -> web.Response:
        raw = request.match_info.get("sha256", "")
        try:
            files = await self.service.list_for_model(raw)
        except ExampleImagesError as exc:
            raise ApiError(exc.message, exc.status, **exc.extra) from None
        except InvalidSha256 as exc:
            raise ApiError(str(exc), 400) from None
        return json_ok({"success": True, "sha256": raw.lower(), "files": [
            {"name": f.name, "url": preview_url(f.path), "size": f.size, "is_video": f.is_video} for f in files
        ]})


def route_table(context: "AppContext") -> list[web.RouteDef]:
    r = ExampleImagesRoutes(context)
    p = "/api/lm"
    return [
        web.post(f"{p}/download-example-images", r.download),
        web.get(f"{p}/example-images-status", r.status),
        web.post(f"{p}/cancel-example-images", r.cancel),
        web.post(f"{p}/stop-example-images", r.cancel),  # the name ComfyUI-Lora-Manager's client uses
        web.get(p + "/example-images/{sha256}", r.files),
    ]
