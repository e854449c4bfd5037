"""MetadataService: the area component behind metadata refresh and update checks.

Why: it owns the pieces these use cases share (the Civitai client built from settings, the update-check
store, the jobs and their progress frames), so routes only parse and shape JSON.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from ..jobs import Job, JobContext
from ..remote.errors import ErrorKind, RemoteError
from ..remote.clients import remote_clients
from ..remote.resilience import ResilientHttp
from .civitai_client import CivitaiClient, resolve_civitai_base_url
from .compat_shapes import (annotate_versions, enrich_with_model, local_versions, type_mismatch, update_record,
                            without_comfy_metadata)
from .refresh import ItemResult, MetadataRefresher, RefreshStopped, RefreshSummary, fetch_models_by_ids
from .updates import UpdateStore, newer_versions

if TYPE_CHECKING:
    from ...app import AppContext
    from ...library.records import ModelRecord
    from ..model_service import ModelService

logger = logging.getLogger(__name__)

FETCH_PROGRESS = "fetch-progress"
REFRESH_KIND = "metadata_refresh"
UPDATE_KIND = "update_check"
FLAG_SYNC_INTERVAL = 0.5


class ServiceNotReady(RuntimeError):
    """The model type's library is still loading."""


class MetadataService:
    """Registered as ``context.components["metadata"]``."""

    def __init__(self, context: "AppContext") -> None:
        self.context = context
        self.store = UpdateStore(context.paths.db_dir / "updates.sqlite")
        self.batch_size = 100
        self.download_previews = True
        self.frame_interval = 0.05  # seconds between progress frames of a bulk refresh
        self.flag_interval = FLAG_SYNC_INTERVAL  # seconds between checks for re-read (unflagged) records
        self._remote = remote_clients(context)  # registered with the components, so it is closed with them
        self._http: ResilientHttp | None = None
        self._client: CivitaiClient | None = None
        self._client_key: tuple[Any, ...] | None = None
        self._flag_task: asyncio.Task[None] | None = None
        self._flag_versions: dict[str, int] = {}
        self._flagged: dict[str, int] = {}  # records flagged per type at the last pass

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self.store.open)
        if self.store.healed_from is not None:
            self.context.hub.broadcast(FETCH_PROGRESS, {
                "type": "cache_health_warning",
                "message": f"The update-check store was damaged; it was set aside as {self.store.healed_from.name}",
            })
        self._flag_task = asyncio.create_task(self._keep_flags(), name="lm-update-flags")

    async def close(self) -> None:
        if self._flag_task is not None:
            self._flag_task.cancel()
            await asyncio.gather(self._flag_task, return_exceptions=True)
            self._flag_task = None
        await asyncio.to_thread(self.store.close)
        self._client = None

    # -- remote ----------------------------------------------------------------------------------
    def set_http(self, http: ResilientHttp) -> None:
        """Use ``http`` for every Civitai call from now on instead of the shared one (e.g. with test clocks)."""
        self._http = http
        self._client = None

    def http(self) -> ResilientHttp:
        """The app's shared resilient HTTP (one rate limit and breaker per host for every area)."""
        return self._http if self._http is not None else self._remote.http

    def client(self) -> CivitaiClient:
        """A Civitai client for the current settings (rebuilt when the base URL or key changes)."""
        if self._http is None:
            return self._remote.civitai()
        settings = self.context.settings
        key = (resolve_civitai_base_url(settings.civitai_base_url), settings.civitai_api_key)
        if self._client is None or key != self._client_key:
            self._client = CivitaiClient(self._http, base_url=key[0], api_key=settings.civitai_api_key)
            self._client_key = key
        return self._client

    def _model_service(self, model_type: str) -> "ModelService":
        service = self.context.services.get(model_type)
        if service is None:
            raise KeyError(f"Unknown model type: {model_type}")
        if not service.ready.is_set() or service.index is None:
            raise ServiceNotReady(f"The {service.page_type} library is still loading")
        return service

    def _refresher(self, service: "ModelService") -> MetadataRefresher:
        return MetadataRefresher(self.client(), service, batch_size=self.batch_size,
                                 download_previews=self.download_previews)

    # -- refresh ---------------------------------------------------------------------------------
    async def refresh_one(self, record: "ModelRecord") -> ItemResult:
        """Refresh one model now. Raises ``RemoteError`` for provider failures and failed writes."""
        service = self._model_service(record.model_type)
        result = await self._refresher(service).refresh_one(record)
        self.apply_flags(record.model_type)
        return result

    def start_refresh_all(self, model_type: str) -> Job[Any]:
        """Start the bulk refresh of one type as an exclusive job (``JobConflict`` when one runs)."""
        self._model_service(model_type)
        return self.context.jobs.start(
            f"{REFRESH_KIND}:{model_type}", lambda job: self._refresh_all(job, model_type),
            title=f"Refresh {model_type} metadata from Civitai", exclusive=True,
        )

    async def _refresh_all(self, job: JobContext, model_type: str) -> dict[str, Any]:
        service = self._model_service(model_type)
        records = sorted(service.all_records(), key=lambda r: r.file_path)
        started = time.monotonic()
        summary = RefreshSummary(total=len(records))
        last_frame = float("-inf")

        def frame(status: str, **extra: Any) -> dict[str, Any]:
            payload = {
                "status": status,
                "model_type": model_type,
                "job_id": job.job_id,
                "total": summary.total,
                "processed": summary.processed,
                "success": summary.success,
                "not_found_count": summary.not_found,
                "failure_count": summary.failure_count,
                "skipped_count": summary.skipped_count,
                "handled": summary.handled,
                "elapsed_seconds": round(time.monotonic() - started, 3),
            }
            payload.update(extra)
            self.context.hub.broadcast(FETCH_PROGRESS, payload)
            return payload

        def on_item(item: ItemResult) -> None:
            nonlocal last_frame
            summary.add(item)
            job.report(summary.processed + summary.skipped_count, summary.total, success=summary.success,
                       failure_count=summary.failure_count, skipped_count=summary.skipped_count)
            now = time.monotonic()
            if item.status == "failed" or now - last_frame >= self.frame_interval:
                last_frame = now
                extra: dict[str, Any] = {"current_name": item.name}
                if item.status == "failed":
                    extra["failures"] = [{"name": item.name, "file_path": item.file_path, "error": item.message}]
                frame("processing", **extra)

        frame("started")
        try:
            result = await self._refresher(service).refresh_many(records, cancel=job.cancel_event, on_item=on_item)
        except RefreshStopped as stop:
            frame(stop.status, message=stop.message, failures=summary.failures[-20:])
            raise RuntimeError(stop.message) from stop
        status = "cancelled" if result.status == "cancelled" or job.cancelled else "completed"
        message = (f"Refreshed {summary.success} of {summary.total} models; {summary.not_found} not on Civitai, "
                   f"{summary.failure_count} failed, {summary.skipped_count} skipped")
        if status == "cancelled":
            message = "Cancelled. " + message
        frame(status, message=message, failures=summary.failures[-20:])
        self.apply_flags(model_type)
        return {**_summary_dict(summary), "status": status, "message": message}

    # -- update checks ---------------------------------------------------------------------------
    def start_update_check(self, model_type: str, model_ids: Iterable[int] | None = None) -> Job[Any]:
        service = self._model_service(model_type)
        local = _local_versions(service.all_records())
        wanted = sorted(local if model_ids is None else {int(m) for m in model_ids})
        return self.context.jobs.start(
            f"{UPDATE_KIND}:{model_type}", lambda job: self._check(job, model_type, wanted),
            title=f"Check {model_type} updates on Civitai", exclusive=True,
        )

    async def _check(self, job: JobContext, model_type: str, model_ids: list[int]) -> dict[str, Any]:
        client = self.client()
        checked = 0
        seen: dict[int, dict] = {}
        missing: list[int] = []
        from_archive: list[int] = []
        step = 100
        for start in range(0, len(model_ids), step):
            job.raise_if_cancelled()
            chunk = model_ids[start : start + step]
            found = await fetch_models_by_ids(client, chunk)
            archived = await self._from_civarchive([m for m in chunk if m not in found])
            found.update(archived)
            from_archive.extend(archived)
            seen.update(found)
            missing.extend(m for m in chunk if m not in found)
            await asyncio.to_thread(self.store.record_check, model_type, found,
                                    [m for m in chunk if m not in found], time.time())
            checked += len(chunk)
            job.report(checked, len(model_ids))
        self.apply_flags(model_type)
        service = self._model_service(model_type)
        local = _local_versions(service.all_records())
        with_updates = sorted(m for m in model_ids if newer_versions(self.store.get(model_type, m), local.get(m, ())))
        return {"checked": checked, "not_found": sorted(missing), "updates_available": with_updates,
                "from_civarchive": sorted(from_archive)}

    async def _from_civarchive(self, model_ids: Iterable[int]) -> dict[int, dict]:
        """Models Civitai no longer has, as CivArchive keeps them (their versions, newest first), so an update
        check and a version status still answer for them. CivArchive's failures leave a model not found."""
        archive = self._remote.civarchive(self.http())
        found: dict[int, dict] = {}
        for model_id in model_ids:
            try:
                answer = await archive.get_model_version(model_id)
            except RemoteError as exc:
                logger.info("CivArchive could not be asked about model %s: %s", model_id, exc)
                continue
            if answer is not None and answer[1].get("modelVersions"):
                found[model_id] = answer[1]
        return found

    def update_status(self, model_type: str, model_id: int) -> dict[str, Any]:
        service = self._model_service(model_type)
        local = _local_versions(service.all_records()).get(model_id, set())
        entry = self.store.get(model_type, model_id)
        if entry is None and not local:
            raise LookupError(f"No local {service.page_type} and no update check for Civitai model {model_id}")
        newer = newer_versions(entry, local)
        status: dict[str, Any] = {
            "model_id": model_id,
            "model_name": "",
            "checked": False,
            "checked_at": None,
            "not_found": False,
            "ignored": False,
            "ignored_versions": [],
            "latest_version": None,
            "versions": [],
        }
        if entry is not None:
            status.update(entry.to_dict())
        status["local_versions"] = sorted(local)
        status["newer_versions"] = newer
        status["update_available"] = bool(newer)
        return status

    async def ignore(self, model_type: str, model_id: int, *, version_id: int | None = None,
                     ignore: bool = True) -> dict[str, Any]:
        self._model_service(model_type)
        await asyncio.to_thread(self.store.set_ignored, model_type, model_id, version_id=version_id, ignore=ignore)
        self.apply_flags(model_type)
        return self.update_status(model_type, model_id)

    async def check_model(self, model_type: str, model_id: int) -> None:
        """Check one Civitai model for updates now (what a refresh of its versions tab asks for)."""
        self._model_service(model_type)
        found = await fetch_models_by_ids(self.client(), [model_id])
        if model_id not in found:
            found.update(await self._from_civarchive([model_id]))
        await asyncio.to_thread(self.store.record_check, model_type, found,
                                [] if model_id in found else [model_id], time.time())
        self.apply_flags(model_type)

    async def version_record(self, model_type: str, model_id: int, *, refresh: bool = False) -> dict[str, Any]:
        """ComfyUI-Lora-Manager's update record of one model (see ``compat_shapes.update_record``);
        ``LookupError`` when the model is neither local nor checked (refresh checks it first)."""
        service = self._model_service(model_type)
        if refresh:
            await self.check_model(model_type, model_id)
        entry = self.store.get(model_type, model_id)
        local = local_versions(service.all_records(), model_id)
        if entry is None and not local:
            raise LookupError("Model not tracked")
        downloaded = await self._downloaded_versions(model_id)
        return update_record(model_type, model_id, entry, local, downloaded)

    async def ignore_version(self, model_type: str, model_id: int, version_id: int, ignore: bool) -> dict[str, Any]:
        self._model_service(model_type)
        await asyncio.to_thread(self.store.set_ignored, model_type, model_id, version_id=version_id, ignore=ignore)
        self.apply_flags(model_type)
        return await self.version_record(model_type, model_id)

    async def _downloaded_versions(self, model_id: int) -> set[int]:
        """Version ids of the model that the download memory says were downloaded (and not deleted since)."""
        downloads = self.context.components.get("downloads")
        store = getattr(downloads, "store", None)
        if store is None:
            return set()
        try:
            return {m.version_id for m in await store.model_memory(model_id) if m.downloaded}
        except Exception:  # noqa: BLE001 - the memory only adds a flag; its absence must not fail the answer
            logger.debug("Download memory unavailable for model %s", model_id, exc_info=True)
            return set()

    # -- Civitai lookups and relinking -------------------------------------------------------------
    async def civitai_versions(self, model_type: str, model_id: int) -> list[dict[str, Any]]:
        """The model's versions on Civitai, annotated with what is local; ``LookupError`` when Civitai does not
        have it, ``ValueError`` (the anchor's message) when it is another type of model."""
        service = self._model_service(model_type)
        model = await self.client().get_model(model_id)
        if model is None or not model.get("modelVersions"):
            raise LookupError("Model not found")
        mismatch = type_mismatch(model_type, model.get("type"))
        if mismatch is not None:
            raise ValueError(mismatch)
        local = local_versions(service.all_records(), model_id)
        return annotate_versions(model, local, await self._downloaded_versions(model_id))

    async def civitai_version(self, version_id: int) -> dict[str, Any] | None:
        version = await self.client().get_version(version_id)
        return without_comfy_metadata(version) if version is not None else None

    async def civitai_by_hash(self, sha256: str) -> dict[str, Any] | None:
        """The version whose file has this hash, with its model's description, tags, licence and creator."""
        client = self.client()
        version = await client.get_version_by_hash(sha256)
        if version is None:
            return None
        model_id = version.get("modelId")
        model = await client.get_model(model_id) if isinstance(model_id, int) and model_id > 0 else None
        return without_comfy_metadata(enrich_with_model(version, model))

    async def relink(self, record: "ModelRecord", model_id: int, version_id: int | None) -> ItemResult:
        service = self._model_service(record.model_type)
        result = await self._refresher(service).relink(record, model_id, version_id)
        self.apply_flags(record.model_type)
        return result

    # -- the list's update_available flag ---------------------------------------------------------
    def apply_flags(self, model_type: str) -> int:
        """Set ``update_available`` on the in-memory records of a type (never stored); returns changes."""
        changed = 0
        for changes in self._flag_passes(model_type, chunk=None):
            changed += changes
        return changed

    def _flag_passes(self, model_type: str, chunk: int | None) -> Iterator[int]:
        """One pass over a type's records, yielding after every ``chunk`` records so a caller on the event
        loop can let other work run; a record replaced meanwhile is left to the next pass."""
        service = self.context.services.get(model_type)
        index = getattr(service, "index", None)
        if index is None:
            return
        entries = self.store.entries(model_type)
        if not entries and not self._flagged.get(model_type):
            self._flag_versions[model_type] = index.projection.version
            return
        start_version = index.projection.version
        records = list(index.projection.values())
        local = _local_versions(records)
        flags = {mid: bool(newer_versions(entries.get(mid), versions)) for mid, versions in local.items()}
        flagged = changed = 0
        settled = True
        for number, record in enumerate(records, 1):
            flag = flags.get(record.civitai_model_id, False) if record.civitai_model_id is not None else False
            flagged += flag
            if record.update_available != flag:
                if index.projection.get(record.file_path) is record:
                    index.projection.put(record.evolve(update_available=flag))
                    changed += 1
                else:
                    settled = False
            if chunk and number % chunk == 0:
                yield changed
                changed = 0
        self._flagged[model_type] = flagged
        # Unsettled (a record changed under the pass): the next pass looks again.
        self._flag_versions[model_type] = index.projection.version if settled else start_version
        yield changed

    async def _keep_flags(self) -> None:
        """Records re-read from disk (scans, moves, edits) come back unflagged: flag them again."""
        while True:
            for model_type, service in list(self.context.services.items()):
                index = getattr(service, "index", None)
                if index is not None and self._flag_versions.get(model_type) != index.projection.version:
                    try:
                        for _changes in self._flag_passes(model_type, chunk=500):
                            await asyncio.sleep(0)
                    except Exception:  # noqa: BLE001 - a flag refresh must never stop the loop
                        logger.exception("Could not refresh update flags of %s", model_type)
            await asyncio.sleep(self.flag_interval)


def _local_versions(records: Iterable["ModelRecord"]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for record in records:
        if record.civitai_model_id is not None:
            versions = out.setdefault(record.civitai_model_id, set())
            if record.civitai_version_id is not None:
                versions.add(record.civitai_version_id)
    return out


def _summary_dict(summary: RefreshSummary) -> dict[str, Any]:
    return {
        "total": summary.total,
        "processed": summary.processed,
        "success": summary.success,
        "not_found_count": summary.not_found,
        "failure_count": summary.failure_count,
        "skipped_count": summary.skipped_count,
        "handled": summary.handled,
        "failures": list(summary.failures),
    }


def remote_error_status(error: RemoteError) -> int:
    """The HTTP status a route answers for a provider or storage failure."""
    return {
        ErrorKind.NOT_FOUND: 404,
        ErrorKind.RATE_LIMITED: 429,
        ErrorKind.UNAVAILABLE: 503,
        ErrorKind.DISK_FULL: 507,
        ErrorKind.PERMISSION: 403,
        ErrorKind.CANCELLED: 409,
    }.get(error.kind, 502)
