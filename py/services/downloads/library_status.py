"""Which Civitai models and versions are in the library or were ever downloaded (API-COMPAT §2.2).

Why: the browser extension badges every model card it sees with these answers, so they come from the
in-memory projections and the version memory, never from a disk walk; only the calls that need Civitai
(versions of a model, a creator's models) go out to the network.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from ...library.records import ModelRecord
from ...settings import MODEL_TYPES
from ..remote.clients import RemoteClients
from ..remote.errors import ErrorKind, RemoteError, classify_os_error
from . import artifacts
from .errors import DownloadError
from .store import DownloadStore

if TYPE_CHECKING:
    from ...app import AppContext

logger = logging.getLogger(__name__)

TYPE_ALIASES = {"lora": "lora", "locon": "lora", "dora": "lora", "checkpoint": "checkpoint",
                "embedding": "embedding", "textualinversion": "embedding"}
STATUS_TYPES = ("lora", "locon", "dora", "checkpoint", "textualinversion")
NOT_IN_CACHE = "Model version not found in any scanner cache"


def normalize_model_type(raw: Any) -> str:
    """lora | checkpoint | embedding from the names clients send (case-insensitive); DownloadError otherwise."""
    value = str(raw or "").strip().lower()
    if not value:
        raise DownloadError("Missing required parameter: modelType")
    found = TYPE_ALIASES.get(value)
    if found is None:
        raise DownloadError(f"Invalid modelType: {raw} (expected lora, locon, dora, checkpoint, embedding or "
                            "textualinversion)")
    return found


def _remote_failure(what: str, exc: RemoteError) -> DownloadError:
    status = 503 if exc.kind in (ErrorKind.UNAVAILABLE, ErrorKind.RATE_LIMITED) else 502
    return DownloadError(f"{what}: {exc.message}", status)


def _version_entries(records: Iterable[ModelRecord]) -> list[dict[str, Any]]:
    """One entry per local version (a version with several files appears once), newest version first."""
    by_version: dict[int, ModelRecord] = {}
    for record in records:
        if record.civitai_version_id is not None and record.civitai_version_id not in by_version:
            by_version[record.civitai_version_id] = record
    return [
        {"versionId": vid, "name": rec.civitai_name, "fileName": rec.file_name, "hasBeenDownloaded": True}
        for vid, rec in sorted(by_version.items(), key=lambda item: -item[0])
    ]


class LibraryStatus:
    def __init__(self, context: "AppContext", store: DownloadStore, remote: RemoteClients):
        self.context = context
        self.store = store
        self.remote = remote

    # -- library lookups -------------------------------------------------------------------------------
    def _services(self) -> list[tuple[str, Any]]:
        out = []
        for model_type in MODEL_TYPES:
            service = self.context.services.get(model_type)
            if service is not None and service.index is not None:
                out.append((model_type, service))
        return out

    def find_version(self, version_id: int) -> tuple[str | None, list[ModelRecord]]:
        """The first library type (lora, checkpoint, embedding) holding the version, with its records."""
        for model_type, service in self._services():
            records = service.find_by_version_id(version_id)
            if records:
                return model_type, list(records)
        return None, []

    def in_library(self, version_id: int) -> bool:
        return self.find_version(version_id)[0] is not None

    def models_in_library(self, model_ids: Iterable[int]) -> dict[int, tuple[str, list[ModelRecord]]]:
        """For each wanted model id: the first type with local versions of it, and those records."""
        wanted = set(model_ids)
        found: dict[int, tuple[str, list[ModelRecord]]] = {}
        for model_type, service in self._services():
            grouped: dict[int, list[ModelRecord]] = {}
            for record in service.all_records():
                mid = record.civitai_model_id
                if mid in wanted and mid not in found:
                    grouped.setdefault(mid, []).append(record)
            for mid, records in grouped.items():
                found[mid] = (model_type, records)
        return found

    # -- §2.2 ------------------------------------------------------------------------------------------
    async def check_model_exists(self, model_id: int, version_id: int | None) -> dict[str, Any]:
        if version_id is not None:
            model_type, records = self.find_version(version_id)
            if model_type is not None:
                return {"success": True, "exists": True, "modelType": model_type, "hasBeenDownloaded": False,
                        "downloadedFiles": [{"fileId": None, "fileName": r.file_name + r.extension,
                                             "filePath": r.file_path} for r in records]}
            memory = await self.store.version_memory(version_id)
            return {"success": True, "exists": False, "modelType": memory.model_type if memory else None,
                    "hasBeenDownloaded": bool(memory and memory.downloaded), "downloadedFiles": []}
        local = self.models_in_library([model_id]).get(model_id)
        if local is not None:
            return {"success": True, "modelType": local[0], "versions": _version_entries(local[1]),
                    "downloadedVersionIds": []}
        memories = await self.store.model_memory(model_id)
        downloaded = [m for m in memories if m.downloaded]
        return {"success": True, "modelType": memories[-1].model_type if memories else None, "versions": [],
                "downloadedVersionIds": list(dict.fromkeys(m.version_id for m in downloaded))}

    def check_models_exist(self, model_ids: list[int]) -> dict[str, Any]:
        local = self.models_in_library(model_ids)
        results = []
        for mid in model_ids:
            model_type, records = local.get(mid, (None, []))
            results.append({"modelId": mid, "modelType": model_type, "versions": _version_entries(records),
                            "downloadedVersionIds": []})
        return {"success": True, "results": results}

    async def model_versions_status(self, model_id: int) -> dict[str, Any]:
        try:
            model = await self.remote.civitai().get_model(model_id)
        except RemoteError as exc:
            raise _remote_failure("Failed to fetch model from Civitai", exc) from None
        source = "civitai"
        if model is None:  # removed from Civitai: CivArchive may keep it (downloads then come from its mirrors)
            try:
                archived = await self.remote.civarchive().get_model_version(model_id)
            except RemoteError as exc:
                logger.info("CivArchive could not be asked about model %s: %s", model_id, exc)
                raise DownloadError(f"Model {model_id} not found on Civitai (and CivArchive could not be asked: "
                                    f"{exc.message})", 404) from None
            if archived is None:
                raise DownloadError(f"Model {model_id} not found on Civitai or CivArchive", 404)
            model, source = archived[1], "civarchive"
        model_type = str(model.get("type") or "").lower()
        if model_type not in STATUS_TYPES:
            raise DownloadError(f'Model type "{model.get("type")}" is not supported', 400)
        versions = [v for v in model.get("modelVersions") or [] if isinstance(v, dict) and v.get("id") is not None]
        if not versions:
            raise DownloadError(f"Model {model_id} has no versions", 404)
        ids = [int(v["id"]) for v in versions]
        downloaded = await self.store.downloaded_version_ids(ids)
        out = []
        for version, vid in zip(versions, ids):
            image = artifacts.first_image(version) or next(
                (i for i in version.get("images") or [] if isinstance(i, dict) and i.get("url")), None)
            out.append({"id": vid, "name": str(version.get("name") or ""),
                        "thumbnailUrl": image["url"] if image else None, "inLibrary": self.in_library(vid),
                        "hasBeenDownloaded": vid in downloaded})
        answer = {"success": True, "modelId": int(model.get("id") or model_id), "modelName": str(model.get("name") or ""),
                  "modelType": model_type, "versions": out}
        if source != "civitai":
            answer["source"] = source
        return answer

    async def version_download_status(self, model_type: str, version_id: int) -> dict[str, Any]:
        memory = await self.store.version_memory(version_id, model_type)
        return {"success": True, "modelType": model_type, "modelVersionId": version_id,
                "hasBeenDownloaded": bool(memory and memory.downloaded)}

    async def set_version_download_status(self, model_type: str, version_id: int, downloaded: bool, *,
                                          model_id: int | None = None, file_path: str | None = None) -> dict[str, Any]:
        await self.store.remember_version(model_type, version_id, model_id=model_id, file_path=file_path,
                                          source="manual", downloaded=downloaded)
        return {"success": True, "modelType": model_type, "modelVersionId": version_id,
                "hasBeenDownloaded": downloaded}

    async def delete_model_version(self, version_id: int) -> dict[str, Any]:
        """Delete every local file of a version with its companions (no undo), drop the index rows and mark
        the version deleted in the version memory."""
        model_type, records = self.find_version(version_id)
        if model_type is None:
            raise DownloadError(NOT_IN_CACHE, 404)

        def remove_all() -> list[str]:
            removed: list[str] = []
            for record in records:
                removed.extend(artifacts.delete_model_files(Path(record.file_path)))
            return removed

        try:
            deleted = await asyncio.to_thread(remove_all)
        except OSError as exc:
            error = classify_os_error(exc, "delete the model files")
            await self.context.service(model_type).reindex_paths([r.file_path for r in records])
            raise DownloadError(error.message, 507 if error.kind is ErrorKind.DISK_FULL else 500) from None
        await self.context.service(model_type).reindex_paths([], removed=[r.file_path for r in records])
        await self.store.mark_version_deleted(version_id)
        names = ", ".join(Path(r.file_path).name for r in records)
        return {"success": True, "modelType": model_type, "modelVersionId": version_id, "deletedFiles": len(deleted),
                "deleted_files": deleted, "message": f"Deleted {names}"}

    async def user_models(self, username: str, cursor: str | None) -> dict[str, Any]:
        try:
            page = await self.remote.civitai().get_user_models(username, cursor)
        except RemoteError as exc:
            raise _remote_failure("Failed to fetch the user's models from Civitai", exc) from None
        models = [m for m in page["items"] if str(m.get("type") or "").lower() in STATUS_TYPES]
        rows: list[dict[str, Any]] = []
        for model in models:
            tags = [t for t in model.get("tags") or [] if isinstance(t, str)]
            for version in model.get("modelVersions") or []:
                if not isinstance(version, dict) or version.get("id") is None:
                    continue
                image = next((i for i in version.get("images") or [] if isinstance(i, dict) and i.get("url")), None)
                rows.append({
                    "modelId": model.get("id"), "versionId": int(version["id"]), "modelName": model.get("name") or "",
                    "versionName": version.get("name") or "", "type": model.get("type"), "tags": tags,
                    "baseModel": version.get("baseModel"), "thumbnailUrl": image["url"] if image else None,
                    "inLibrary": False, "hasBeenDownloaded": False,
                })
        downloaded = await self.store.downloaded_version_ids(r["versionId"] for r in rows)
        for row in rows:
            row["inLibrary"] = self.in_library(row["versionId"])
            row["hasBeenDownloaded"] = row["versionId"] in downloaded
        metadata = page.get("metadata") or {}
        total = metadata.get("totalItems")
        next_cursor = metadata.get("nextCursor")
        return {"success": True, "username": username, "versions": rows, "modelCount": len(models),
                "nextCursor": next_cursor, "hasMore": next_cursor is not None,
                "estimatedTotal": total if isinstance(total, int) and not isinstance(total, bool) else None}
