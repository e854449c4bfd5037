"""Civitai metadata refresh: one model or a whole library, batched by hash, never overwriting user edits.

Why: a refresh rewrites sidecars that users have curated by hand. What may change is decided by a pure
function over the current sidecar (``refresh_updates``), applied under the model's write lock, so an edit
saved at the same moment is never lost. Bulk refreshes look hashes up 100 at a time and model details
100 ids at a time, so a 10k library costs a few hundred requests instead of tens of thousands.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from ...library.atomic import atomic_write_bytes
from ...library.records import ModelRecord
from ...library.sidecar import SidecarError, apply_updates, read_sidecar_for_edit, sidecar_path_for, write_sidecar
from ..remote.errors import ErrorKind, RemoteError, classify_os_error
from ..remote.resilience import host_key
from .civitai_client import MAX_BATCH, CivitaiClient, version_to_civitai_block

if TYPE_CHECKING:
    from ..model_service import ModelService

logger = logging.getLogger(__name__)

USER_EDITED_KEY = "user_edited_fields"
MAX_PREVIEW_BYTES = 64 * 1024 * 1024
PREVIEW_SUFFIX = ".webp"

UPDATED = "updated"
NOT_FOUND = "not_found"
SKIPPED = "skipped"
FAILED = "failed"


class RefreshStopped(Exception):
    """The provider cannot be used any more (circuit open, still rate limited): the bulk job stops."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ItemResult:
    """What happened to one model."""

    file_path: str
    name: str
    status: str  # updated | not_found | skipped | failed
    message: str = ""
    error_kind: str | None = None
    preview_downloaded: bool = False
    record: ModelRecord | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("record")
        return out


@dataclass
class RefreshSummary:
    total: int = 0
    processed: int = 0
    success: int = 0
    not_found: int = 0
    failure_count: int = 0
    skipped_count: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    status: str = "completed"
    message: str = ""

    @property
    def handled(self) -> int:
        """Models Civitai answered for (found or not): the ones that need no further try."""
        return self.success + self.not_found

    def add(self, item: ItemResult) -> None:
        if item.status == SKIPPED:
            self.skipped_count += 1
            return
        self.processed += 1
        if item.status == UPDATED:
            self.success += 1
        elif item.status == NOT_FOUND:
            self.not_found += 1
        else:
            self.failure_count += 1
            if len(self.failures) < 200:
                self.failures.append({"file_path": item.file_path, "name": item.name, "error": item.message})


# -- pure sidecar logic --------------------------------------------------------------------------------
def user_edited(raw: Mapping[str, Any]) -> frozenset[str]:
    value = raw.get(USER_EDITED_KEY)
    return frozenset(str(v) for v in value) if isinstance(value, list) else frozenset()


def refresh_updates(
    raw: Mapping[str, Any],
    version: Mapping[str, Any],
    model: Mapping[str, Any] | None,
    *,
    sha256: str,
    now: float,
) -> dict[str, Any]:
    """The sidecar fields a refresh sets, given the current sidecar ``raw``.

    Fields named in ``user_edited_fields`` are left out entirely; notes, usage tips and favourites are never
    touched. ``civitai`` is merged one level deep by ``apply_updates``, so leaving ``trainedWords`` out of the
    block keeps the user's words.
    """
    edited = user_edited(raw)
    block = version_to_civitai_block(version, model)
    if "civitai.trainedWords" in edited:
        block.pop("trainedWords", None)
    updates: dict[str, Any] = {
        "civitai": block,
        "from_civitai": True,
        "civitai_deleted": False,
        "sha256": sha256,
        "metadata_source": "civitai_api",
        "last_checked_at": now,
    }
    model_info = block.get("model") if isinstance(block.get("model"), dict) else {}
    name = model_info.get("name")
    if "model_name" not in edited and isinstance(name, str) and name.strip():
        updates["model_name"] = name.strip()
    base = version.get("baseModel")
    if "base_model" not in edited and isinstance(base, str) and base.strip():
        updates["base_model"] = base.strip()
    tags = model_info.get("tags")
    if "tags" not in edited and isinstance(tags, list) and model is not None:
        updates["tags"] = [t for t in tags if isinstance(t, str)]
    if model is not None and isinstance(model.get("description"), str):
        updates["modelDescription"] = model["description"]
    return updates


def not_found_updates(now: float, sha256: str) -> dict[str, Any]:
    """What a 404 records: the model is not (or no longer) on Civitai, and when that was checked."""
    return {
        "from_civitai": False,
        "civitai_deleted": True,
        "db_checked": True,
        "sha256": sha256,
        "last_checked_at": now,
    }


def first_preview_image(version: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first still image of a version (videos are skipped: previews are written as WebP)."""
    for image in version.get("images") or []:
        if isinstance(image, dict) and isinstance(image.get("url"), str) and image.get("type", "image") == "image":
            return image
    return None


def encode_webp(data: bytes, quality: int = 85) -> bytes:
    """Any image within the pixel limit, as WebP. Raises ``ValueError`` (``ImageRejected``) otherwise."""
    from ...library.media import ImageRejected, to_webp

    try:
        return to_webp(data, quality=quality)
    except ImageRejected as exc:
        raise ValueError(f"not a usable image: {exc}") from exc


# -- remote helpers ------------------------------------------------------------------------------------
async def fetch_models_by_ids(client: CivitaiClient, ids: Iterable[int]) -> dict[int, dict]:
    """Full model answers (with tags, description, every version) for many ids, 100 per request."""
    wanted = sorted({int(i) for i in ids if isinstance(i, int) and i > 0})
    found: dict[int, dict] = {}
    url = client.api_base + "/models"
    headers = {"Accept": "application/json", **client.auth_headers(url)}
    for start in range(0, len(wanted), MAX_BATCH):
        chunk = wanted[start : start + MAX_BATCH]
        params = {"ids": ",".join(map(str, chunk)), "limit": str(MAX_BATCH), "nsfw": "true"}
        try:
            answer = await client.http.request_json("GET", url, params=params, headers=headers)
        except RemoteError as exc:
            if exc.kind is ErrorKind.NOT_FOUND:
                continue
            raise
        items = answer.get("items") if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise RemoteError(ErrorKind.MALFORMED, "Civitai sent an unexpected model list (no items)", url=url)
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("id"), int) and item["id"] in chunk:
                found[item["id"]] = item
    return found


async def fetch_bytes(client: CivitaiClient, url: str, *, max_bytes: int = MAX_PREVIEW_BYTES) -> bytes:
    """One media file under the resilience rules (rate limit, breaker, retries)."""
    from ..remote.errors import classify_status

    headers = client.auth_headers(url)

    async def operation() -> bytes:
        session = await client.http.session()
        async with session.get(url, headers=headers, timeout=client.http.timeout) as response:
            error = classify_status(response.status, response.headers, str(response.url))
            if error is not None:
                raise error
            if response.content_length is not None and response.content_length > max_bytes:
                raise RemoteError(ErrorKind.MALFORMED, f"Preview is larger than {max_bytes} bytes", url=url)
            body = await response.content.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise RemoteError(ErrorKind.MALFORMED, f"Preview is larger than {max_bytes} bytes", url=url)
            return body

    return await client.http.call(host_key(url), operation, describe=f"GET {url}")


# -- the refresher -------------------------------------------------------------------------------------
ItemCallback = Callable[[ItemResult], None]


class MetadataRefresher:
    """Refreshes models of one ModelService from Civitai."""

    def __init__(
        self,
        client: CivitaiClient,
        service: "ModelService",
        *,
        batch_size: int = MAX_BATCH,
        download_previews: bool = True,
        write_concurrency: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.service = service
        self.batch_size = max(1, min(int(batch_size), MAX_BATCH))
        self.download_previews = download_previews
        # Sidecar writes are file-system and GIL bound: more threads than half the cores only add contention.
        if write_concurrency is None:
            write_concurrency = max(2, (os.cpu_count() or 2) // 2)
        self._writers = asyncio.Semaphore(max(1, write_concurrency))
        self._clock = clock

    # -- one model -------------------------------------------------------------------------------
    async def refresh_one(self, record: ModelRecord) -> ItemResult:
        """Refresh one model. Remote failures raise ``RemoteError``; a 404 is a ``not_found`` result;
        a sidecar that cannot be written raises ``RemoteError`` (DISK_FULL / PERMISSION)."""
        record = await self._ensure_hash(record)
        if not record.sha256:
            return ItemResult(record.file_path, record.display_name, FAILED,
                              "The model has no SHA256 hash (the file could not be hashed)")
        version = await self.client.get_version_by_hash(record.sha256)
        model = None
        if version is not None:
            model_id = version.get("modelId")
            if isinstance(model_id, int):
                model = await self.client.get_model(model_id)
        return await self._apply(record, version, model, raise_write_errors=True)

    async def relink(self, record: ModelRecord, model_id: int, version_id: int | None) -> ItemResult:
        """Tie a model to a Civitai model the user chose (its version ``version_id``, else its newest), whatever
        the file's hash says: for files Civitai cannot find by hash. ``LookupError`` when Civitai has no such
        model or the model no such version; fields the user edited are kept, as in a refresh."""
        record = await self._ensure_hash(record)
        model = await self.client.get_model(model_id)
        versions = [v for v in (model or {}).get("modelVersions") or [] if isinstance(v, dict)]
        if model is None or not versions:
            raise LookupError(f"Model not found on Civitai: {model_id}")
        if version_id is None:
            version = versions[0]
        else:
            version = next((v for v in versions if v.get("id") == version_id), None)
            if version is None:
                raise LookupError(f"Civitai model {model_id} has no version {version_id}")
        return await self._apply(record, {**version, "modelId": model_id}, model, raise_write_errors=True)

    # -- many models -----------------------------------------------------------------------------
    async def refresh_many(
        self,
        records: Sequence[ModelRecord],
        *,
        cancel: threading.Event | None = None,
        on_item: ItemCallback | None = None,
    ) -> RefreshSummary:
        """Refresh ``records`` in hash batches. Skipped models (``skip_metadata_refresh``) are counted, not
        looked up. Stops early on ``cancel`` (status ``cancelled``) or when the provider cannot be used
        (``RefreshStopped``, raised after the summary so far is reported through ``on_item``)."""
        cancel = cancel or threading.Event()
        summary = RefreshSummary(total=len(records))

        def emit(item: ItemResult) -> None:
            summary.add(item)
            if on_item is not None:
                on_item(item)

        todo: list[ModelRecord] = []
        for record in records:
            if record.skip_metadata_refresh:
                emit(ItemResult(record.file_path, record.display_name, SKIPPED, "Metadata refresh is turned off"))
            elif record.status != "ok":
                emit(ItemResult(record.file_path, record.display_name, SKIPPED, "The model file is invalid"))
            else:
                todo.append(record)
        pending = [r.file_path for r in todo if not r.sha256]
        if pending:
            await self.service.hash_pending(paths=pending)
            index = self.service.index
            todo = [(index.get(r.file_path) or r) if index is not None else r for r in todo]
        hashed: list[ModelRecord] = []
        for record in todo:
            if record.sha256:
                hashed.append(record)
            else:
                emit(ItemResult(record.file_path, record.display_name, FAILED,
                                "The model has no SHA256 hash (the file could not be hashed)"))

        for start in range(0, len(hashed), self.batch_size):
            if cancel.is_set():
                summary.status = "cancelled"
                return summary
            batch = hashed[start : start + self.batch_size]
            try:
                await self._refresh_batch(batch, cancel, emit)
            except RemoteError as exc:
                if exc.kind is ErrorKind.UNAVAILABLE:
                    raise RefreshStopped("error", f"Civitai is not answering; refresh stopped: {exc.message}") from exc
                if exc.kind is ErrorKind.RATE_LIMITED:
                    raise RefreshStopped("rate_limited",
                                         f"Civitai keeps rate limiting; refresh stopped: {exc.message}") from exc
                if exc.kind is ErrorKind.AUTH:
                    raise RefreshStopped("error", f"Civitai refused access; refresh stopped: {exc.message}") from exc
                for record in batch:
                    emit(ItemResult(record.file_path, record.display_name, FAILED, exc.message, exc.kind.value))
        if cancel.is_set():
            summary.status = "cancelled"
        return summary

    async def _refresh_batch(self, batch: list[ModelRecord], cancel: threading.Event, emit: ItemCallback) -> None:
        versions = await self.client.get_versions_by_hashes([r.sha256 for r in batch], self.batch_size)
        model_ids = {v.get("modelId") for v in versions.values() if isinstance(v.get("modelId"), int)}
        models: dict[int, dict] = {}
        if model_ids:
            try:
                models = await fetch_models_by_ids(self.client, model_ids)
            except RemoteError as exc:
                if exc.kind in (ErrorKind.UNAVAILABLE, ErrorKind.RATE_LIMITED, ErrorKind.AUTH):
                    raise
                # The versions alone still carry names, base models and trigger words.
                logger.warning("Model details not fetched (%s); refreshing from the versions only", exc.message)

        async def one(record: ModelRecord) -> ItemResult | None:
            if cancel.is_set():
                return None
            version = versions.get(record.sha256)
            model = models.get(version.get("modelId")) if version is not None else None
            async with self._writers:
                if cancel.is_set():
                    return None
                try:
                    return await self._apply(record, version, model, raise_write_errors=False, reindex=False)
                except RemoteError as exc:
                    if exc.kind is ErrorKind.UNAVAILABLE:
                        raise
                    return ItemResult(record.file_path, record.display_name, FAILED, exc.message, exc.kind.value)

        tasks = [asyncio.ensure_future(one(record)) for record in batch]
        results: list[ItemResult] = []
        try:
            for finished in asyncio.as_completed(tasks):
                item = await finished
                if item is not None:
                    results.append(item)
                    emit(item)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            paths = [r.file_path for r in results if r.status in (UPDATED, NOT_FOUND)]
            if paths:
                await self.service.reindex_paths(paths)

    # -- shared steps ----------------------------------------------------------------------------
    async def _ensure_hash(self, record: ModelRecord) -> ModelRecord:
        if record.sha256 or record.status != "ok":
            return record
        await self.service.hash_pending(paths=[record.file_path])
        index = self.service.index
        return (index.get(record.file_path) if index is not None else None) or record

    async def _apply(
        self,
        record: ModelRecord,
        version: Mapping[str, Any] | None,
        model: Mapping[str, Any] | None,
        *,
        raise_write_errors: bool,
        reindex: bool = True,
    ) -> ItemResult:
        now = self._clock()
        preview_bytes: bytes | None = None
        preview_level: int | None = None
        if version is not None and self.download_previews and not record.preview_path:
            image = first_preview_image(version)
            if image is not None:
                try:
                    raw_image = await fetch_bytes(self.client, str(image["url"]))
                    preview_bytes = await asyncio.to_thread(encode_webp, raw_image)
                    level = image.get("nsfwLevel")
                    preview_level = level if isinstance(level, int) and not isinstance(level, bool) else None
                except RemoteError as exc:
                    if exc.kind is ErrorKind.UNAVAILABLE:
                        raise
                    logger.warning("Preview of %s not downloaded: %s", record.file_path, exc.message)
                except ValueError as exc:
                    logger.warning("Preview of %s not usable: %s", record.file_path, exc)

        def write() -> bool:
            path = sidecar_path_for(record.file_path)
            raw, _aside = read_sidecar_for_edit(path)  # an unreadable sidecar is kept, never overwritten
            if version is None:
                updates = not_found_updates(now, record.sha256)
            else:
                updates = refresh_updates(raw, version, model, sha256=record.sha256, now=now)
            wrote_preview = False
            if preview_bytes is not None:
                target = Path(record.file_path).with_name(Path(record.file_path).stem + PREVIEW_SUFFIX)
                if not target.exists():
                    atomic_write_bytes(target, preview_bytes)
                    wrote_preview = True
                    updates["preview_url"] = target.as_posix()
                    if preview_level is not None and "preview_nsfw_level" not in user_edited(raw):
                        updates["preview_nsfw_level"] = preview_level
            try:
                write_sidecar(path, apply_updates(raw, updates))
            except BaseException:
                if wrote_preview:  # the sidecar is unchanged, so the preview it would have named goes too
                    target.unlink(missing_ok=True)
                raise
            return wrote_preview

        fresh = record
        try:
            async with self.service.lock(record.file_path):
                wrote_preview = await asyncio.to_thread(write)
                if reindex:  # under the same lock, so no edit lands between the sidecar and its index row
                    rows = await self.service.reindex_paths([record.file_path])
                    fresh = rows[0] if rows else record
        except OSError as exc:
            error = classify_os_error(exc, "save the metadata")
            if raise_write_errors:
                raise error from exc
            return ItemResult(record.file_path, record.display_name, FAILED, error.message, error.kind.value)
        except SidecarError as exc:
            if raise_write_errors:
                raise RemoteError(ErrorKind.MALFORMED, f"Civitai data could not be saved: {exc.reason}") from exc
            return ItemResult(record.file_path, record.display_name, FAILED, exc.reason, ErrorKind.MALFORMED.value)
        if version is None:
            return ItemResult(record.file_path, record.display_name, NOT_FOUND,
                              "Not found on Civitai; marked as not from Civitai", record=fresh)
        return ItemResult(fresh.file_path, fresh.display_name, UPDATED, "Metadata refreshed from Civitai",
                          preview_downloaded=wrote_preview, record=fresh)


__all__ = [
    "FAILED", "NOT_FOUND", "SKIPPED", "UPDATED", "ItemResult", "MetadataRefresher", "RefreshStopped",
    "RefreshSummary", "encode_webp", "fetch_bytes", "fetch_models_by_ids", "first_preview_image",
    "not_found_updates", "refresh_updates", "user_edited",
]
