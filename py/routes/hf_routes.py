"""Hugging Face, ComfyUI-Lora-Manager's routes: ``POST /api/lm/set-hf-url`` records the repository a model
came from in its sidecar (``hf_url``); ``GET /api/lm/hf-repo-files`` lists a repository's model files.
Downloads from HF are ``download-hf-model`` (download_routes). Handlers parse, call a service, shape JSON."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from aiohttp import web

from ..library.artifacts import ALL_MODEL_EXTENSIONS
from ..library.paths import PathNotAllowed
from ..library.records import ModelRecord
from ..services.downloads import huggingface
from ..services.model_service import ModelNotFound, ModelService, SidecarChange
from ..services.remote.clients import remote_clients
from ..services.remote.errors import ErrorKind, RemoteError
from .http import ApiError, json_ok, read_json_object, require_str
from .model_routes import run_edit

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
        await run_edit(service.edit(record.file_path, SidecarChange({"hf_url": hf_url}, record={"hf_url": hf_url})))
        return json_ok({"success": True, "message": f"hf_url set to {hf_url}", "hf_url": hf_url})


    async def repo_files(self, request: web.Request) -> web.Response:
        """ComfyUI-Lora-Manager's answer: a bare list of ``{"filename", "size"}``, biggest first."""
        repo = require_str(request.query, "repo").strip()
        revision = (request.query.get("revision") or "main").strip()
        try:
            huggingface.hf_file(repo, "x", revision)
        except huggingface.HfUrlError as exc:
            raise ApiError(f"Missing or invalid 'repo' parameter (expected user/repo): {exc}") from None
        try:
            files = await huggingface.list_model_files(
                remote_clients(self.context).http, huggingface.resolve_base_url(os.environ), repo, revision,
                huggingface.token_from(self.context.settings.extra), ALL_MODEL_EXTENSIONS)
        except RemoteError as exc:
            raise ApiError(exc.message, _REMOTE_STATUS.get(exc.kind, 502)) from None
        return web.json_response(files)


_REMOTE_STATUS = {ErrorKind.NOT_FOUND: 404, ErrorKind.AUTH: 401, ErrorKind.RATE_LIMITED: 503,
                  ErrorKind.UNAVAILABLE: 503, ErrorKind.TIMEOUT: 504}


def route_table(context: "AppContext") -> list[web.RouteDef]:
    routes = HfRoutes(context)
    return [web.post("/api/lm/set-hf-url", routes.set_hf_url), web.get("/api/lm/hf-repo-files", routes.repo_files)]
