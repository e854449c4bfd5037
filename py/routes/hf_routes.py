"""Hugging Face links of models: ``POST /api/lm/set-hf-url`` (ComfyUI-Lora-Manager's), which records the
repository a model came from in its sidecar (``hf_url``). Downloads from HF are ``download-hf-model``
(download_routes). The handler parses, calls the model service's locked edit, shapes JSON."""
from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from aiohttp import web

from ..library.paths import PathNotAllowed
from ..library.records import ModelRecord
from ..services.downloads import huggingface
from ..services.model_service import MetadataWriteError, ModelNotFound, ModelService, SharedSidecar, SidecarChange
from .http import ApiError, json_ok, read_json_object, require_str

if TYPE_CHECKING:
    from ..app import AppContext


class HfRoutes:
    def __init__(self, context: "AppContext"):
        self.context = context

    def _owner(self, raw_path: str) -> tuple[ModelService, ModelRecord]:
        """The service whose roots hold the path, and the model's record (403 outside every root, 404 unknown)."""
        inside_a_root = False
        for service in self.context.services.values():
            if not service.ready.is_set():
                raise ApiError("Service not ready", 503)
            try:
                return service, service.resolve(raw_path)
            except PathNotAllowed:
                continue
            except ModelNotFound:
                inside_a_root = True
        if inside_a_root:
            raise ApiError(f"File not found: {raw_path}", 404)
        raise ApiError("File is not within any configured model directory. Cannot link to HuggingFace.", 400)

    async def set_hf_url(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        file_path = require_str(body, "file_path").strip()
        try:
            hf_url = huggingface.parse_repo_url(require_str(body, "hf_url"))
        except huggingface.HfUrlError as exc:
            raise ApiError(str(exc)) from None
        service, record = self._owner(file_path)
        try:
            await service.edit(record.file_path, SidecarChange({"hf_url": hf_url}))
        except SharedSidecar as exc:
            raise ApiError(exc.message, 409) from None
        except ModelNotFound as exc:
            raise ApiError(str(exc), 404) from None
        except MetadataWriteError as exc:
            status = {errno.ENOSPC: 507, errno.EACCES: 403, errno.EPERM: 403, errno.EROFS: 403}.get(exc.errno, 500)
            raise ApiError(exc.strerror or str(exc), status) from None
        return json_ok({"success": True, "message": f"hf_url set to {hf_url}", "hf_url": hf_url})


def route_table(context: "AppContext") -> list[web.RouteDef]:
    routes = HfRoutes(context)
    return [web.post("/api/lm/set-hf-url", routes.set_hf_url)]
