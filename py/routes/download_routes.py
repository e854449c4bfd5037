"""Download routes: the browser extension's whole download contract (API-COMPAT §2.2-§2.4) and the UI's
``POST /api/lm/download-model``. Handlers parse, call the DownloadManager, shape JSON.

Every extension call is a header-less GET; the ones that change state are marked ``@state_changing`` so the
origin guard protects them like a POST.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Mapping

from aiohttp import web

from ..services.downloads import huggingface
from ..services.downloads.errors import ControlError, DownloadError
from ..services.downloads.library_status import normalize_model_type
from ..services.downloads.manager import DownloadManager, DownloadParams
from ..services.downloads.store import HISTORY_STATUSES, MAX_HISTORY_PAGE, QUEUE_STATUSES, new_download_id
from ..services.metadata.civitai_client import FileSelection
from .http import ApiError, json_ok, optional_bool, optional_int, read_json_object, require_component, require_int, \
    require_str, state_changing

if TYPE_CHECKING:
    from ..app import AppContext

COMPONENT = "downloads"
QUEUE_NOT_FOUND = "Download not found in queue"
TASK_NOT_FOUND = "Download task not found"


def _text(query: Mapping[str, Any], name: str) -> str | None:
    value = query.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _file_params(value: Any) -> str | None:
    """``file_params`` as stored text (a dict from a JSON body is encoded); 400 when it is not a JSON object."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False)
    try:
        FileSelection.from_params(value)
    except ValueError as exc:
        raise ApiError(f"Invalid file_params: {exc}") from None
    return value


def _optional_float(query: Mapping[str, Any], name: str) -> float | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ApiError(f"Invalid value for {name}: expected a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ApiError(f"Invalid value for {name}: expected a number")
    return value


class DownloadRoutes:
    def __init__(self, context: "AppContext"):
        self.context = context

    @property
    def manager(self) -> DownloadManager:
        return require_component(self.context, COMPONENT, "Downloads")

    async def _call(self, work: Any) -> Any:
        try:
            return await work
        except DownloadError as exc:
            raise ApiError(exc.message, exc.status) from None

    # -- §2.2 library status -----------------------------------------------------------------------------
    async def check_model_exists(self, request: web.Request) -> web.Response:
        q = request.query
        model_id = require_int(q, "modelId", low=1)
        version_id = optional_int(q, "modelVersionId")
        return json_ok(await self.manager.status.check_model_exists(model_id, version_id))

    async def check_models_exist(self, request: web.Request) -> web.Response:
        ids: list[int] = []
        for token in (request.query.get("modelIds") or "").split(","):
            token = token.strip()
            if token.isdigit() and token.isascii():
                ids.append(int(token))
        ids = list(dict.fromkeys(ids))
        return json_ok(self.manager.status.check_models_exist(ids))

    async def model_versions_status(self, request: web.Request) -> web.Response:
        model_id = require_int(request.query, "modelId", low=1)
        return json_ok(await self._call(self.manager.status.model_versions_status(model_id)))

    async def version_download_status(self, request: web.Request) -> web.Response:
        data: Mapping[str, Any] = request.query
        if request.method == "POST":
            data = await read_json_object(request)
        model_type = self._model_type(data)
        version_id = require_int(data, "modelVersionId", low=1)
        return json_ok(await self.manager.status.version_download_status(model_type, version_id))

    @state_changing
    async def set_version_download_status(self, request: web.Request) -> web.Response:
        q = request.query
        model_type = self._model_type(q)
        version_id = require_int(q, "modelVersionId", low=1)
        if q.get("downloaded") in (None, ""):
            raise ApiError("Missing required parameter: downloaded")
        raw = str(q["downloaded"]).strip().lower()
        if raw not in ("true", "1", "false", "0"):
            raise ApiError("Invalid value for downloaded: expected true, false, 1 or 0")
        result = await self.manager.status.set_version_download_status(
            model_type, version_id, raw in ("true", "1"), model_id=optional_int(q, "modelId"),
            file_path=_text(q, "filePath"))
        return json_ok(result)

    @staticmethod
    def _model_type(data: Mapping[str, Any]) -> str:
        try:
            return normalize_model_type(data.get("modelType"))
        except DownloadError as exc:
            raise ApiError(exc.message, exc.status) from None

    @state_changing
    async def delete_model_version(self, request: web.Request) -> web.Response:
        version_id = require_int(request.query, "modelVersionId", low=1)
        return json_ok(await self._call(self.manager.status.delete_model_version(version_id)))

    async def user_models(self, request: web.Request) -> web.Response:
        username = require_str(request.query, "username").strip()
        cursor = _text(request.query, "cursor")
        return json_ok(await self._call(self.manager.status.user_models(username, cursor)))

    # -- §2.3 transfers ----------------------------------------------------------------------------------
    @state_changing
    async def download_model_get(self, request: web.Request) -> web.Response:
        """Held open until the transfer ends; the transfer is its own task, so a dropped client never stops it."""
        q = request.query
        params = self._params(
            download_id=_text(q, "download_id"), model_id=require_int(q, "model_id", low=1),
            model_version_id=optional_int(q, "model_version_id", low=1), file_params=_file_params(q.get("file_params")),
            source=_text(q, "source"), use_default_paths=optional_bool(q, "use_default_paths", True))
        outcome = await self.manager.download(params)
        return json_ok(outcome.to_response(), status=outcome.http_status)

    async def download_model_post(self, request: web.Request) -> web.Response:
        """The UI's download: answers at once with the id; progress goes to ``/ws/download-progress?id=``."""
        body = await read_json_object(request)
        if body.get("hf_url") not in (None, ""):  # a Hugging Face file instead of a Civitai version
            params = self._hf_params(body, "hf_url", default_paths=False)
            return self._submit(params)
        model_id = optional_int(body, "model_id", low=1)
        version_id = optional_int(body, "model_version_id", low=1)
        if model_id is None and version_id is None:
            raise ApiError("Missing required parameter: model_id or model_version_id")
        model_root = body.get("model_root")
        relative = body.get("relative_path")
        for name, value in (("model_root", model_root), ("relative_path", relative), ("source", body.get("source"))):
            if value is not None and not isinstance(value, str):
                raise ApiError(f"Invalid value for {name}: expected a string")
        download_id = body.get("download_id")
        if download_id is not None and not isinstance(download_id, (str, int)):
            raise ApiError("Invalid value for download_id: expected a string")
        params = self._params(
            download_id=str(download_id).strip() if download_id not in (None, "") else None, model_id=model_id,
            model_version_id=version_id, file_params=_file_params(body.get("file_params")),
            source=body.get("source") or None, model_root=model_root or None,
            relative_path=relative if relative not in (None, "") else None,
            use_default_paths=optional_bool(body, "use_default_paths", relative in (None, "")))
        return self._submit(params)

    def _submit(self, params: DownloadParams) -> web.Response:
        manager = self.manager
        try:
            manager.precheck(params)
            manager.submit(params)
        except DownloadError as exc:
            raise ApiError(exc.message, exc.status, download_id=params.download_id) from None
        return json_ok({"success": True, "download_id": params.download_id})

    async def download_hf_model(self, request: web.Request) -> web.Response:
        """A Hugging Face file through the same queue, resume and verification; held open until it lands
        (as ComfyUI-Lora-Manager's handler is). The body names the file as ``url`` (a resolve address or
        ``hf://owner/repo[@rev]/path``) or as ``repo`` + ``filename`` (+ ``revision``)."""
        body = await read_json_object(request)
        outcome = await self.manager.download(self._hf_params(body, "url", default_paths=False))
        answer = outcome.to_response()
        if outcome.success:
            answer["path"] = outcome.file_path
        return json_ok(answer, status=outcome.http_status)

    def _hf_params(self, body: Mapping[str, Any], key: str, *, default_paths: bool) -> DownloadParams:
        """A Hugging Face download's parameters: the file as ``body[key]`` or as ``repo`` + ``filename``."""
        url = body.get(key)
        if url is not None and not isinstance(url, str):
            raise ApiError(f"Invalid value for {key}: expected a string")
        for name in ("repo", "filename", "revision", "model_root", "relative_path", "model_type"):
            if body.get(name) is not None and not isinstance(body.get(name), str):
                raise ApiError(f"Invalid value for {name}: expected a string")
        url = (url or "").strip()
        if not url:
            if not (body.get("repo") or "").strip() or not (body.get("filename") or "").strip():
                raise ApiError("Missing required fields: 'url', or 'repo' and 'filename'")
            try:
                file = huggingface.hf_file(body["repo"], body["filename"], body.get("revision") or "main")
            except huggingface.HfUrlError as exc:
                raise ApiError(str(exc)) from None
            url = f"hf://{file.repo}@{file.revision}/{file.path}"
        download_id = body.get("download_id")
        if download_id is not None and not isinstance(download_id, (str, int)):
            raise ApiError("Invalid value for download_id: expected a string")
        return self._params(
            download_id=str(download_id).strip() if download_id not in (None, "") else None, hf_url=url,
            model_type=(body.get("model_type") or "").strip().lower() or None,
            model_root=body.get("model_root") or None, relative_path=body.get("relative_path") or None,
            use_default_paths=optional_bool(body, "use_default_paths", default_paths))

    @staticmethod
    def _params(*, download_id: str | None, **fields: Any) -> DownloadParams:
        try:
            return DownloadParams(download_id=download_id or new_download_id(), **fields)
        except DownloadError as exc:
            raise ApiError(exc.message, exc.status) from None

    async def download_progress(self, request: web.Request) -> web.Response:
        download_id = request.match_info["download_id"]
        body = await self.manager.progress(download_id)
        if body is None:
            raise ApiError("Download ID not found", 404)
        return json_ok(body)

    def _control(self, request: web.Request, action: str) -> str:
        download_id = require_str(request.query, "download_id").strip()
        try:
            return getattr(self.manager, action)(download_id)
        except ControlError as exc:
            raise ApiError(str(exc), 404 if str(exc) == TASK_NOT_FOUND else 400) from None

    @state_changing
    async def cancel_download(self, request: web.Request) -> web.Response:
        return json_ok({"success": True, "message": self._control(request, "cancel")})

    @state_changing
    async def pause_download(self, request: web.Request) -> web.Response:
        return json_ok({"success": True, "message": self._control(request, "pause")})

    @state_changing
    async def resume_download(self, request: web.Request) -> web.Response:
        return json_ok({"success": True, "message": self._control(request, "resume")})

    @state_changing
    async def skip_download(self, request: web.Request) -> web.Response:
        """An unknown id stays 2xx (API-COMPAT §4.2): the extension's requeue only goes on after a 2xx."""
        try:
            message = self._control(request, "skip")
        except ApiError as exc:
            if exc.message != TASK_NOT_FOUND:
                raise
            return json_ok({"success": False, "error": TASK_NOT_FOUND})
        return json_ok({"success": True, "message": message})

    # -- §2.4 queue --------------------------------------------------------------------------------------
    async def queue(self, request: web.Request) -> web.Response:
        rows, stats = await self.manager.queue_snapshot()
        return json_ok({"success": True, "queue": rows, "stats": stats})

    @state_changing
    async def queue_add(self, request: web.Request) -> web.Response:
        q = request.query
        item = {
            "download_id": _text(q, "download_id") or new_download_id(),
            "model_id": optional_int(q, "model_id"),
            "model_version_id": optional_int(q, "model_version_id"),
            "model_name": q.get("model_name") or "",
            "version_name": q.get("version_name") or "",
            "thumbnail_url": q.get("thumbnail_url") or "",
            "source": _text(q, "source"),
            "file_params": _file_params(q.get("file_params")),
        }
        return json_ok({"success": True, "item": await self.manager.queue_add(item)})

    @state_changing
    async def queue_status(self, request: web.Request) -> web.Response:
        download_id = require_str(request.query, "download_id").strip()
        status = require_str(request.query, "status").strip().lower()
        if not await self._call(self.manager.queue_set_status(download_id, status)):
            raise ApiError(QUEUE_NOT_FOUND, 404)
        return json_ok({"success": True})

    @state_changing
    async def queue_complete(self, request: web.Request) -> web.Response:
        q = request.query
        download_id = require_str(q, "download_id").strip()
        removed = await self._call(self.manager.queue_complete(
            download_id, status=(_text(q, "status") or "completed").lower(), error=_text(q, "error"),
            file_path=_text(q, "file_path"), bytes_downloaded=optional_int(q, "bytes_downloaded", 0, low=0),
            total_bytes=optional_int(q, "total_bytes", low=0), completed_at=_optional_float(q, "completed_at")))
        if removed is None:
            raise ApiError(QUEUE_NOT_FOUND, 404)
        return json_ok({"success": True, "item": removed})

    @state_changing
    async def queue_move_to_top(self, request: web.Request) -> web.Response:
        download_id = require_str(request.query, "download_id").strip()
        return json_ok({"success": await self.manager.store.move(download_id, to_top=True)})

    @state_changing
    async def queue_move_to_end(self, request: web.Request) -> web.Response:
        download_id = require_str(request.query, "download_id").strip()
        return json_ok({"success": await self.manager.store.move(download_id, to_top=False)})

    @state_changing
    async def queue_clear(self, request: web.Request) -> web.Response:
        """Only ``queued`` rows unless a status is given (API-COMPAT §4.8): active rows keep their completion."""
        status = (_text(request.query, "status") or "queued").lower()
        if status not in QUEUE_STATUSES:
            raise ApiError(f"Invalid status: {status} (expected one of {', '.join(QUEUE_STATUSES)})")
        return json_ok({"success": True, "cleared": await self.manager.store.clear_queue(status)})

    @state_changing
    async def queue_remove(self, request: web.Request) -> web.Response:
        download_id = require_str(request.query, "download_id").strip()
        if self.manager.is_active(download_id):
            self.manager.cancel(download_id)
        if not await self.manager.store.remove_queue(download_id):
            raise ApiError(QUEUE_NOT_FOUND, 404)
        return json_ok({"success": True})

    async def stats(self, request: web.Request) -> web.Response:
        return json_ok({"success": True, "stats": await self.manager.stats()})

    # -- §2.4 history ------------------------------------------------------------------------------------
    async def history(self, request: web.Request) -> web.Response:
        q = request.query
        limit = optional_int(q, "limit", 50, low=1, high=MAX_HISTORY_PAGE, clamp=True)
        offset = optional_int(q, "offset", 0, low=0, clamp=True)
        status = self._history_status(q)
        items, total = await self.manager.store.list_history(limit=limit, offset=offset, status=status)
        return json_ok({"success": True, "items": items, "total": total, "limit": limit, "offset": offset})

    @staticmethod
    def _history_status(q: Mapping[str, Any]) -> str | None:
        status = _text(q, "status")
        if status is None:
            return None
        status = "canceled" if status.lower() == "cancelled" else status.lower()
        if status not in HISTORY_STATUSES:
            raise ApiError(f"Invalid status: {status} (expected one of {', '.join(HISTORY_STATUSES)})")
        return status

    @state_changing
    async def history_clear(self, request: web.Request) -> web.Response:
        status = self._history_status(request.query)
        return json_ok({"success": True, "cleared": await self.manager.store.clear_history(status)})

    @staticmethod
    def _history_key(q: Mapping[str, Any]) -> dict[str, Any]:
        history_id = optional_int(q, "id")
        download_id = _text(q, "download_id")
        if history_id is None and download_id is None:
            raise ApiError("Missing required parameter: id or download_id")
        return {"history_id": history_id} if history_id is not None else {"download_id": download_id}

    @state_changing
    async def history_delete(self, request: web.Request) -> web.Response:
        key = self._history_key(request.query)
        if not await self.manager.store.delete_history(**key):
            raise ApiError("Download not found in history", 404)
        return json_ok({"success": True})

    @state_changing
    async def history_retry(self, request: web.Request) -> web.Response:
        key = self._history_key(request.query)
        item = await self.manager.retry(**key)
        if item is None:
            raise ApiError("Download not found in history, or it did not fail or get cancelled", 404)
        return json_ok({"success": True, "item": item})

    @state_changing
    async def history_retry_all(self, request: web.Request) -> web.Response:
        return json_ok({"success": True, "retry_count": await self.manager.retry_all()})


def route_table(context: "AppContext") -> list[web.AbstractRouteDef]:
    r = DownloadRoutes(context)
    p = "/api/lm"
    return [
        web.get(f"{p}/check-model-exists", r.check_model_exists),
        web.get(f"{p}/check-models-exist", r.check_models_exist),
        web.get(f"{p}/model-versions-status", r.model_versions_status),
        web.get(f"{p}/model-version-download-status", r.version_download_status),
        web.post(f"{p}/model-version-download-status", r.version_download_status),
        web.get(f"{p}/set-model-version-download-status", r.set_version_download_status),
        web.get(f"{p}/delete-model-version", r.delete_model_version),
        web.get(f"{p}/civitai/user-models", r.user_models),
        web.get(f"{p}/download-model-get", r.download_model_get),
        web.post(f"{p}/download-model", r.download_model_post),
        web.post(f"{p}/download-hf-model", r.download_hf_model),
        web.get(p + "/download-progress/{download_id}", r.download_progress),
        web.get(f"{p}/cancel-download-get", r.cancel_download),
        web.get(f"{p}/pause-download", r.pause_download),
        web.get(f"{p}/resume-download", r.resume_download),
        web.get(f"{p}/skip-download", r.skip_download),
        web.get(f"{p}/downloads/queue", r.queue),
        web.get(f"{p}/downloads/queue/add", r.queue_add),
        web.get(f"{p}/downloads/queue/status", r.queue_status),
        web.get(f"{p}/downloads/queue/complete", r.queue_complete),
        web.get(f"{p}/downloads/queue/move-to-top", r.queue_move_to_top),
        web.get(f"{p}/downloads/queue/move-to-end", r.queue_move_to_end),
        web.get(f"{p}/downloads/queue/clear", r.queue_clear),
        web.get(f"{p}/downloads/queue/remove", r.queue_remove),
        web.get(f"{p}/downloads/stats", r.stats),
        web.get(f"{p}/downloads/history", r.history),
        web.get(f"{p}/downloads/history/clear", r.history_clear),
        web.get(f"{p}/downloads/history/delete", r.history_delete),
        web.get(f"{p}/downloads/history/retry", r.history_retry),
        web.get(f"{p}/downloads/history/retry-all", r.history_retry_all),
    ]
