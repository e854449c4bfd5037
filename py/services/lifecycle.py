"""ModelLifecycleService: edit, rename, move, organize, delete with undo, exclude; never lose a file or a note.

Why: every multi-file change of a model goes through one path: find its ``ModelArtifacts``, plan the moves and
refuse the whole plan if any destination is taken, journal the plan, execute it (rolling back on an error),
fix the sidecar's own path fields, and update the index per row. Each model's changes hold that model's lock
(the ``ModelService`` path locks, shared with metadata edits), so two requests never interleave writes to one
sidecar. A crash leaves a journal that ``start`` finishes on the next run.
"""
from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Iterable

from ..library import fileops
from ..library.artifacts import InvalidName, ModelArtifacts, Move, TargetExists, posix, validate_stem
from ..library.atomic import atomic_write_bytes
from ..library.edits import MAX_TAGS, InvalidEdit, check_tags, clean_tags
from ..library.hashing import hash_file
from ..library.journal import FORWARD, Journal, Operation
from ..library.media import VIDEO_KINDS, ImageRejected, sniff_media, to_webp
from ..library.organize import plan_organize, render_folder
from ..library.paths import PathNotAllowed, confine, is_within, lexical
from ..library.records import ModelRecord
from ..library.scanner import PREVIEW_EXTENSIONS
from ..library.sidecar import SidecarError, apply_updates, read_sidecar, sidecar_path_for, write_sidecar
from ..library.tag_edits import TagEdit
from ..library.trash import (FILES_DIR, MANIFEST, TRASH_DIR, InvalidBatchId, Manifest, UnsafeManifest,
                             confined_manifest, expired_batches, find_batch, list_batches, purge)
from .jobs import JobCancelled
from .remote.clients import remote_clients
from .model_service import EditResult, MetadataWriteError, ModelNotFound, ModelService, SharedSidecar, SidecarChange

if TYPE_CHECKING:
    from ..app import AppContext

logger = logging.getLogger(__name__)

PREVIEW_MAX_SIDE = 1024
PREVIEW_WEBP_QUALITY = 85
MAX_PREVIEW_BYTES = 200 * 1024 * 1024
VIDEO_EXTENSIONS = (".mp4", ".webm")
PURGE_INTERVAL_SECONDS = 3600
ORGANIZE_BUSY = "Auto-organize is already running. Please wait for it to complete."
MAX_ORGANIZE_RESULTS = 100
_ERRNO_STATUS = {errno.ENOSPC: 507, errno.EDQUOT: 507, errno.EACCES: 403, errno.EPERM: 403, errno.EROFS: 403,
                 errno.ENOENT: 404, errno.EEXIST: 409}


class LifecycleError(Exception):
    """A refused or failed operation; ``status`` is the HTTP status it maps to. Nothing was lost."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message


def _from_os_error(exc: OSError, doing: str) -> LifecycleError:
    if isinstance(exc, FileExistsError):
        name = os.path.basename(exc.filename) if exc.filename else ""
        return LifecycleError(f"{doing} refused: a file with that name already exists{': ' + name if name else ''}",
                              409)
    if isinstance(exc, FileNotFoundError):
        return LifecycleError(f"{doing} failed: the model file vanished from the disk", 404)
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = "the disk is full"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        reason = "permission denied"
    elif exc.errno == errno.EROFS:
        reason = "the disk is read-only"
    return LifecycleError(f"{doing} failed: {reason}; nothing was changed", _ERRNO_STATUS.get(exc.errno, 500))


@dataclass(frozen=True)
class PathChange:
    """A model that now lives elsewhere (rename, move, organize): what recipes and caches must follow."""

    model_type: str
    old_path: str
    new_path: str
    sha256: str


@dataclass
class RelocateResult:
    old_path: str
    new_path: str
    moved: list[Move]
    record: ModelRecord | None


@dataclass
class DeleteResult:
    batch_id: str
    deleted_files: list[str]
    failed: list[dict[str, str]] = field(default_factory=list)


@dataclass
class OrganizeProgress:
    model_type: str
    status: str = "started"
    total: int = 0
    processed: int = 0
    success: int = 0
    failures: int = 0
    skipped: int = 0
    message: str = ""
    job_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"type": "auto_organize_progress", "status": self.status, "total": self.total,
                "processed": self.processed, "success": self.success, "failures": self.failures,
                "skipped": self.skipped, "operation_type": "all", "model_type": self.model_type,
                "message": self.message, "job_id": self.job_id}


class ModelLifecycleService:
    """The lifecycle of models of every type; registered as the ``lifecycle`` component."""

    def __init__(self, context: "AppContext"):
        self.context = context
        self.journal = Journal(Path(context.paths.data_dir) / "journal")
        self._remote = remote_clients(context)
        self.path_listeners: list[Callable[[PathChange], Awaitable[None] | None]] = []
        self.last_organize: OrganizeProgress | None = None
        self._organize_lock = asyncio.Lock()
        self._trash_lock = asyncio.Lock()
        self._purger: asyncio.Task[None] | None = None
        # Files first, before any model service scans: a half-done move must be finished before a scan could
        # see a model without its sidecar (and write a fresh one in its place).
        self._recovered: list[Operation] = self._replay_pending()

    # -- start / stop ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Finish or roll back what a previous run left half done, then empty expired trash."""
        await self.recover()
        await self.purge_trash()
        self._purger = asyncio.create_task(self._purge_periodically(), name="lm-trash-purge")

    async def close(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._purger
            self._purger = None

    async def _purge_periodically(self) -> None:
        while True:
            await asyncio.sleep(PURGE_INTERVAL_SECONDS)
            try:
                await self.purge_trash()
            except Exception:  # noqa: BLE001 - the next round tries again
                logger.exception("Emptying the trash failed")

    async def recover(self) -> int:
        """Replay every leftover journal and update the index; returns how many operations were ended."""
        finished = self._recovered + await asyncio.to_thread(self._replay_pending)
        self._recovered = []
        for op in finished:
            await self._reindex_after_replay(op)
        return len(finished)

    def _replay_pending(self) -> list[Operation]:
        finished = []
        for op in self.journal.pending():
            problem = self._journal_problem(op)
            if problem:  # a journal is data: one naming places outside the library is never followed
                logger.error("Interrupted operation %s (%s) not replayed: %s", op.op_id, op.kind, problem)
                self.journal.refuse(op)
                continue
            try:
                outcome = self._replay_one(op)
            except OSError as exc:
                logger.error("Could not finish interrupted operation %s (%s): %s", op.op_id, op.kind, exc)
                continue
            finished.append(op)
            if outcome.kept_both or outcome.missing:
                logger.warning("Interrupted %s %s finished with kept=%s missing=%s", op.kind, op.op_id,
                               outcome.kept_both, outcome.missing)
        return finished

    def _journal_problem(self, op: Operation) -> str:
        """Why a journaled operation may not be replayed ('' when every path it names is in the library)."""
        roots = [lexical(r) for r in self.context.all_roots()]

        def inside(text: Any) -> bool:
            return (isinstance(text, str) and os.path.isabs(text) and ".." not in text.replace("\\", "/").split("/")
                    and any(is_within(lexical(text), root) and lexical(text) != root for root in roots))

        if op.kind not in ("trash", "restore", "relocate"):
            return f"unknown operation kind {op.kind!r}"
        for step in op.steps:
            if not (inside(step.src) and inside(step.dst)):
                return f"a step leaves the library roots: {step.src} -> {step.dst}"
        if op.kind == "relocate" and not (inside(op.data.get("new")) and inside(op.data.get("old"))):
            return "its model paths leave the library roots"
        batch_id = op.data.get("batch_id")
        for raw in op.data.get("manifests", []):
            try:
                manifest = Manifest.from_dict(raw)
                root = next(r for r in roots if lexical(manifest.root) == r)
                confined_manifest(manifest, root, str(batch_id))
            except StopIteration:
                return "a manifest names a root that is not configured"
            except (UnsafeManifest, KeyError, TypeError, ValueError) as exc:
                return f"a manifest is unsafe: {exc}"
        for folder in op.data.get("batch_folders", []):
            parent = lexical(folder).parent if isinstance(folder, str) else None
            if parent is None or parent.name != TRASH_DIR or parent.parent not in roots or \
                    lexical(folder).name != batch_id:
                return f"a batch folder is not a trash batch of the library: {folder}"
        return ""

    def _replay_one(self, op: Operation) -> Any:
        if op.kind == "trash" and op.state == FORWARD:
            for raw in op.data.get("manifests", []):
                manifest = Manifest.from_dict(raw)
                if not (manifest.folder / MANIFEST).exists():
                    manifest.write()
        outcome = self.journal.replay(op)
        if op.kind == "relocate" and op.state == FORWARD:
            _fix_sidecar_paths(op.data["new"], op.data.get("sidecar_updates") or {})
        if (op.kind == "trash" and op.state != FORWARD) or (op.kind == "restore" and op.state == FORWARD):
            for folder in op.data.get("batch_folders", []):
                _remove_batch_folder(Path(folder))
        self.journal.done(op)
        return outcome

    async def _reindex_after_replay(self, op: Operation) -> None:
        by_type: dict[str, set[str]] = {}
        if op.kind == "relocate":
            by_type.setdefault(op.data["model_type"], set()).update([op.data["old"], op.data["new"]])
        else:
            for raw in op.data.get("manifests", []):
                manifest = Manifest.from_dict(raw)
                by_type.setdefault(manifest.model_type, set()).update(e.model for e in manifest.entries)
        for model_type, paths in by_type.items():
            service = self.context.services.get(model_type)
            if service is None:
                continue
            present = [p for p in paths if os.path.exists(p)]
            try:
                await service.reindex_paths(present, removed=[p for p in paths if p not in present])
            except PathNotAllowed as exc:
                logger.warning("After recovery: %s", exc)

    # -- finding models ----------------------------------------------------------------------------
    def model_service(self, model_type: str) -> ModelService:
        if model_type not in self.context.services:
            raise LifecycleError(f"Unknown model type: {model_type}", 404)
        service = self.context.services[model_type]
        if not service.ready.is_set():
            raise LifecycleError("Service not ready", 503)
        return service

    def resolve(self, model_type: str, raw_path: Any) -> ModelRecord:
        """The record of a path from a request, confined to the type's roots."""
        if not isinstance(raw_path, str) or not raw_path.strip():
            raise LifecycleError("Missing required parameter: file_path")
        service = self.model_service(model_type)
        try:
            return service.resolve(raw_path)
        except PathNotAllowed as exc:
            raise LifecycleError(str(exc), 403) from None
        except ModelNotFound as exc:
            raise LifecycleError(str(exc), 404) from None

    def target_from_payload(self, model_type: str, payload: dict[str, Any]) -> ModelRecord:
        """The model a request means: ``file_path`` (or ``model_path``), else ``sha256``."""
        raw = payload.get("file_path") or payload.get("model_path")
        if raw:
            return self.resolve(model_type, raw)
        sha = payload.get("sha256") or payload.get("hash")
        if isinstance(sha, str) and sha.strip():
            matches = self.model_service(model_type).find_by_sha256(sha.strip().lower())
            if not matches:
                raise LifecycleError(f"No model with sha256 {sha.strip().lower()}", 404)
            # the same confinement as a file_path: a row of a root no longer configured is not reachable
            return self.resolve(model_type, sorted(matches, key=lambda r: r.file_path)[0].file_path)
        raise LifecycleError("Missing required parameter: file_path")

    @contextlib.asynccontextmanager
    async def _locked(self, service: ModelService, paths: Iterable[str]) -> AsyncIterator[None]:
        """Hold the locks of every given path (the model service's locks, shared with metadata edits)."""
        async with service.locked(paths):
            yield

    def _current(self, service: ModelService, path: str) -> ModelRecord:
        """The record as it is now (under its lock): a request may have waited for a move of the same model."""
        record = service.index.get(path) if service.index is not None else None
        if record is None:
            raise LifecycleError(f"Model not found: {path} (it was moved, renamed or deleted meanwhile)", 404)
        return record

    # -- edits -------------------------------------------------------------------------------------
    async def _edit(self, service: ModelService, path: str, change: Any, *, locked: bool = False) -> EditResult:
        """One read-modify-write of a model's sidecar and index row (see ``ModelService.edit``), as
        ``LifecycleError`` on failure."""
        try:
            if locked:
                return await service.edit_locked(path, change)
            return await service.edit(path, change)
        except ModelNotFound as exc:
            raise LifecycleError(str(exc), 404) from None
        except SharedSidecar as exc:
            raise LifecycleError(exc.message, 409) from None
        except MetadataWriteError as exc:
            raise _from_os_error(exc, "Saving the metadata") from None

    async def exclude_model(self, model_type: str, record: ModelRecord, exclude: bool = True) -> EditResult:
        """Hide (or show again) a model in listings; the files stay where they are."""
        service = self.model_service(model_type)
        result = await self._edit(service, record.file_path, SidecarChange({"exclude": exclude}, {"exclude": exclude}))
        self._changed(model_type)
        return result

    async def add_tags(self, model_type: str, record: ModelRecord, tags: list[str]) -> EditResult:
        """Add tags (case-insensitive, existing order kept) to the sidecar and the index row, merged with the
        tags the model has at the moment the write happens."""
        service = self.model_service(model_type)
        try:
            wanted = check_tags(tags)
        except InvalidEdit as exc:
            raise LifecycleError(str(exc)) from None

        def merge(current: ModelRecord, _raw: dict[str, Any]) -> SidecarChange:
            merged = clean_tags(wanted, current.tags)
            if len(merged) > MAX_TAGS:
                raise LifecycleError(f"A model can have at most {MAX_TAGS} tags")
            return SidecarChange({"tags": merged}, {"tags": merged}, frozenset({"tags"}))

        result = await self._edit(service, record.file_path, merge)
        self._changed(model_type)
        return result

    async def edit_tags_bulk(self, model_type: str, records: list[ModelRecord], edit: TagEdit) -> list[dict[str, Any]]:
        """Apply one tag edit (add / remove / replace) to each model, each as its own read-modify-write under
        its lock, from the tags it has at that moment. A model the edit leaves as it is is not written; one
        model failing (gone, shared sidecar, too many tags) does not stop the others."""
        service = self.model_service(model_type)
        results: list[dict[str, Any]] = []

        def change(current: ModelRecord, _raw: dict[str, Any]) -> SidecarChange:
            tags = edit.apply(current.tags)
            if len(tags) > MAX_TAGS:
                raise LifecycleError(f"A model can have at most {MAX_TAGS} tags")
            return SidecarChange({"tags": tags}, {"tags": tags}, frozenset({"tags"}))

        for record in records:
            try:
                async with self._locked(service, [record.file_path]):
                    current = self._current(service, record.file_path)
                    changed = edit.apply(current.tags) != list(current.tags)
                    notice: dict[str, Any] = {}
                    if changed:
                        written = await self._edit(service, record.file_path, change, locked=True)
                        current, notice = written.record, written.notice()
                results.append({"file_path": record.file_path, "success": True, "changed": changed,
                                "tags": list(current.tags), **notice})
            except LifecycleError as exc:
                results.append({"file_path": record.file_path, "success": False, "status": exc.status,
                                "error": exc.message})
        if any(r.get("changed") for r in results):
            self._changed(model_type)
        return results

    async def replace_preview(self, model_type: str, record: ModelRecord, data: bytes, *, filename: str = "",
                              content_type: str = "", nsfw_level: int | None = None) -> ModelRecord:
        """Make ``data`` the model's preview: images become WebP (at most 1024 px a side), videos stay as they
        are. The other previews of the model are removed only after the new one is safely written."""
        if not data:
            raise LifecycleError("The preview file is empty")
        if len(data) > MAX_PREVIEW_BYTES:
            raise LifecycleError(f"The preview file is too large (over {MAX_PREVIEW_BYTES // (1024 * 1024)} MB)", 413)
        payload, extension = await asyncio.to_thread(_prepare_preview, data, filename, content_type)
        service = self.model_service(model_type)
        async with self._locked(service, [record.file_path]):
            current = self._current(service, record.file_path)
            stem_path = os.path.splitext(current.file_path)[0]
            target = stem_path + extension

            def write() -> None:
                atomic_write_bytes(target, payload)
                artifacts = ModelArtifacts.find(current.file_path)
                for path in artifacts.companions:
                    suffix = artifacts.suffix_of(path).lower()
                    is_preview = suffix.removeprefix(".preview") in PREVIEW_EXTENSIONS
                    if is_preview and os.path.abspath(path) != os.path.abspath(target):
                        os.unlink(path)

            try:
                await asyncio.to_thread(write)
            except OSError as exc:
                raise _from_os_error(exc, "Replacing the preview") from None
            updates: dict[str, Any] = {"preview_url": posix(target)}
            if nsfw_level is not None:
                updates["preview_nsfw_level"] = nsfw_level
            await self._edit(service, current.file_path, SidecarChange(updates), locked=True)
            fresh = await service.reindex_paths([current.file_path])
            updated = await self._carry_over(service, current, fresh)
        return updated or current

    async def fetch_preview(self, url: str) -> tuple[bytes, str, str]:
        """Download a preview from an http(s) URL a client gave, under the outbound-fetch rule (no local or
        private addresses, at any redirect hop) and the shared resilience layer; bounded size.
        Returns (bytes, file name, content type)."""
        from urllib.parse import urlparse

        from .remote.errors import ErrorKind, RemoteError
        from .remote.resilience import host_key

        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise LifecycleError("The preview URL must be an http or https address")
        http = self._remote.http

        async def operation() -> tuple[bytes, str]:
            session = await http.session()
            async with session.get(url, timeout=http.timeout) as response:
                if response.status >= 400:
                    raise RemoteError(ErrorKind.NOT_FOUND if response.status == 404 else ErrorKind.CLIENT,
                                      f"HTTP {response.status}", response.status, url=url)
                if response.content_length is not None and response.content_length > MAX_PREVIEW_BYTES:
                    raise LifecycleError("The preview at that URL is too large", 413)
                body = await response.content.read(MAX_PREVIEW_BYTES + 1)
                if len(body) > MAX_PREVIEW_BYTES:
                    raise LifecycleError("The preview at that URL is too large", 413)
                return body, response.content_type or ""

        try:
            data, content_type = await http.call(host_key(url), operation, describe=f"preview {url}")
        except ValueError:
            raise LifecycleError("The preview URL must be an http or https address") from None
        except RemoteError as exc:
            if exc.kind is ErrorKind.BLOCKED:
                raise LifecycleError(exc.message, 400) from None
            raise LifecycleError(f"Could not download the preview: {exc.message}", 502) from None
        return data, os.path.basename(parsed.path), content_type

    # -- rename and move ---------------------------------------------------------------------------
    async def rename_model(self, model_type: str, record: ModelRecord, new_name: Any) -> RelocateResult:
        """Rename the model and every artifact; refuses invalid names and taken names."""
        try:
            stem = validate_stem(new_name)
        except InvalidName as exc:
            raise LifecycleError(str(exc), 400) from None
        return await self._relocate(model_type, record, None, stem, doing="Rename")

    async def move_model(self, model_type: str, record: ModelRecord, target_path: Any, *,
                         use_default_paths: bool = False, on_conflict: str = "refuse") -> RelocateResult:
        """Move the model and every artifact into a folder inside the type's roots."""
        if on_conflict not in ("refuse", "rename"):
            raise LifecycleError("Invalid value for on_conflict: use refuse or rename")
        folder = self.target_folder(model_type, target_path)
        if use_default_paths:
            sub = render_folder(self.context.settings.download_path_templates.get(model_type, ""), record)
            folder = os.path.join(folder, *sub.split("/")) if sub else folder
        return await self._relocate(model_type, record, folder, None, doing="Move",
                                    resolve=on_conflict == "rename")

    def target_folder(self, model_type: str, raw: Any) -> str:
        """A target folder from a request, confined to the type's roots, in the form the index uses."""
        if not isinstance(raw, str) or not raw.strip():
            raise LifecycleError("Missing required parameter: target_path")
        service = self.model_service(model_type)
        roots = service.roots()
        try:
            confined = confine(raw, roots, through_links=True)
        except PathNotAllowed as exc:
            raise LifecycleError(str(exc), 403) from None
        rel = confined.relative
        if any(part.startswith(".") for part in rel.split("/") if part):
            raise LifecycleError("The target folder must not be a hidden folder")
        if confined.path.exists() and not confined.path.is_dir():
            raise LifecycleError(f"The target is not a folder: {raw}")
        return str(confined.path)

    async def _relocate(self, model_type: str, record: ModelRecord, folder: str | None, stem: str | None, *,
                        doing: str, resolve: bool = False) -> RelocateResult:
        service = self.model_service(model_type)
        old = record.file_path
        target_folder = folder if folder is not None else os.path.dirname(old)
        async with self._locked(service, [old]):
            current = self._current(service, old)
            try:
                artifacts = await asyncio.to_thread(ModelArtifacts.find, old)
            except FileNotFoundError:
                await service.reindex_paths([], removed=[old])
                raise LifecycleError(f"{doing} failed: the model file vanished from the disk", 404) from None
            if os.path.abspath(target_folder) == os.path.abspath(artifacts.folder) and (
                    stem is None or stem == artifacts.stem):
                return RelocateResult(old, old, [], current)
            try:
                moves = await asyncio.to_thread(artifacts.free_plan, target_folder, stem, resolve=resolve)
            except TargetExists as exc:
                raise LifecycleError(f"{doing} refused: {exc.message}", 409) from None
            new = next(m.dst for m in moves if m.src == artifacts.model)
            new_lock = service._path_locks[posix(new)]
            if posix(new) != old and new_lock.locked():
                raise LifecycleError(f"{doing} refused: another operation is using {os.path.basename(new)}", 409)
            async with self._locked(service, [posix(new)] if posix(new) != old else []):
                new_stem = os.path.splitext(os.path.basename(new))[0]
                sidecar_updates = {"file_name": new_stem, "file_path": posix(new)}
                for move in moves:
                    if move.src.replace("\\", "/") == current.preview_path:
                        sidecar_updates["preview_url"] = posix(move.dst)
                op = Operation("relocate", moves, {"model_type": model_type, "old": old, "new": posix(new),
                                                    "sidecar_updates": sidecar_updates})
                try:
                    await asyncio.to_thread(self.journal.run, op)
                except OSError as exc:
                    raise _from_os_error(exc, doing) from None
                await asyncio.to_thread(_fix_sidecar_paths, posix(new), sidecar_updates)
                fresh = await service.reindex_paths([posix(new)], removed=[old])
                updated = await self._carry_over(service, current, fresh)
        await self._notify(PathChange(model_type, old, posix(new), current.sha256))
        return RelocateResult(old, posix(new), moves, updated)

    async def move_models_bulk(self, model_type: str, records: list[ModelRecord], target_path: Any, *,
                               use_default_paths: bool = False, on_conflict: str = "refuse"
                               ) -> list[tuple[ModelRecord, RelocateResult | LifecycleError]]:
        results: list[tuple[ModelRecord, RelocateResult | LifecycleError]] = []
        self.target_folder(model_type, target_path)  # a bad target fails the whole request up front
        for record in records:
            try:
                results.append((record, await self.move_model(model_type, record, target_path,
                                                              use_default_paths=use_default_paths,
                                                              on_conflict=on_conflict)))
            except LifecycleError as exc:
                results.append((record, exc))
        return results

    async def _carry_over(self, service: ModelService, old: ModelRecord, fresh: list[ModelRecord]
                          ) -> ModelRecord | None:
        """Keep what a move cannot change (hashes of the same bytes, usage counts) without hashing again."""
        if not fresh:
            return None
        record = fresh[0]
        changes: dict[str, Any] = {}
        if old.hash_status == "done" and record.size == old.size and (
                record.sha256 != old.sha256 or record.autov3 != old.autov3 or record.hash_status != "done"):
            changes.update(sha256=old.sha256, autov3=old.autov3, hash_status="done")
        if record.usage_count != old.usage_count:
            changes["usage_count"] = old.usage_count
        if changes:
            record = record.evolve(**changes)
            await service.index.put(record)
        return record

    async def _notify(self, change: PathChange) -> None:
        self.context.hub.broadcast("fetch-progress", {"type": "model_path_changed", "model_type": change.model_type,
                                                      "old_path": change.old_path, "new_path": change.new_path,
                                                      "sha256": change.sha256})
        for listener in list(self.path_listeners):
            try:
                result = listener(change)
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # noqa: BLE001 - a listener failing must not undo a finished move
                logger.exception("A path-change listener failed for %s", change.new_path)

    def _changed(self, model_type: str) -> None:
        self.context.hub.broadcast("fetch-progress", {"type": "models_changed", "model_type": model_type})

    # -- delete and undo ---------------------------------------------------------------------------
    async def delete_model(self, model_type: str, record: ModelRecord) -> DeleteResult:
        result = await self.bulk_delete_models(model_type, [record])
        if result.failed:
            failure = result.failed[0]
            raise LifecycleError(failure["error"], int(failure.get("status", 500)))
        return result

    async def bulk_delete_models(self, model_type: str, records: list[ModelRecord]) -> DeleteResult:
        """Move every model's artifacts to its root's trash, one batch for all; undo with ``undo_delete``."""
        service = self.model_service(model_type)
        batch_id = uuid.uuid4().hex
        result = DeleteResult(batch_id, [])
        paths = [r.file_path for r in records]
        async with self._locked(service, paths):
            manifests: dict[str, Manifest] = {}
            doomed: list[str] = []
            for record in records:
                if service.index.get(record.file_path) is None:
                    result.failed.append({"file_path": record.file_path, "status": "404",
                                          "error": f"Model not found: {record.file_path}"})
                    continue
                try:
                    artifacts = await asyncio.to_thread(ModelArtifacts.find, record.file_path)
                except FileNotFoundError:
                    await service.reindex_paths([], removed=[record.file_path])
                    result.failed.append({"file_path": record.file_path, "status": "404",
                                          "error": "Delete failed: the model file vanished from the disk"})
                    continue
                manifest = manifests.setdefault(record.root, Manifest(batch_id, record.root, model_type))
                manifest.add(artifacts)
                doomed.append(record.file_path)
            if manifests:
                moves = [m for manifest in manifests.values() for m in manifest.moves]
                op = Operation("trash", moves, {"batch_id": batch_id,
                                                "manifests": [m.to_dict() for m in manifests.values()],
                                                "batch_folders": [str(m.folder) for m in manifests.values()]})

                def run() -> None:
                    self.journal.write(op)
                    try:
                        for manifest in manifests.values():
                            manifest.write()
                    except OSError:
                        for manifest in manifests.values():
                            _remove_batch_folder(manifest.folder)
                        self.journal.done(op)
                        raise
                    try:
                        self.journal.run(op)
                    except OSError:
                        if not self.journal.path_of(op).exists():  # rolled back completely
                            for manifest in manifests.values():
                                _remove_batch_folder(manifest.folder)
                        raise

                try:
                    await asyncio.to_thread(run)
                except OSError as exc:
                    raise _from_os_error(exc, "Delete") from None
                result.deleted_files = [posix(m.src) for manifest in manifests.values() for entry in manifest.entries
                                        for m in sorted(entry.files, key=lambda m: m.src != entry.model)]
                await service.reindex_paths([], removed=doomed)
        return result

    async def undo_delete(self, batch_id: Any) -> dict[str, Any]:
        """Put a deleted batch back exactly where it was; refused as a whole if any original place is taken."""
        try:
            manifests = await asyncio.to_thread(find_batch, self.context.all_roots(), batch_id)
        except InvalidBatchId as exc:
            raise LifecycleError(str(exc), 400) from None
        except UnsafeManifest as exc:
            logger.error("Undo of batch %s refused: %s", batch_id, exc)
            raise LifecycleError(f"Cannot restore batch {batch_id}: {exc}; nothing was moved", 400) from None
        if not manifests:
            raise LifecycleError(f"Nothing to restore for batch {batch_id}: it is unknown or its trash was emptied",
                                 404)
        async with self._trash_lock:
            moves = [Move(m.dst, m.src) for manifest in manifests for m in manifest.moves]
            missing = [m.src for m in moves if not os.path.lexists(m.src)]
            taken = [m.dst for m in moves if os.path.lexists(m.dst)]
            if taken:
                raise LifecycleError(f"Cannot restore: a file already exists at {posix(taken[0])}", 409)
            moves = [m for m in moves if m.src not in missing]
            op = Operation("restore", moves, {"batch_id": batch_id, "manifests": [m.to_dict() for m in manifests],
                                               "batch_folders": [str(m.folder) for m in manifests]})

            def run() -> None:
                self.journal.run(op)
                for manifest in manifests:
                    _remove_batch_folder(manifest.folder)

            try:
                await asyncio.to_thread(run)
            except OSError as exc:
                raise _from_os_error(exc, "Restore") from None
        restored: list[str] = []
        for manifest in manifests:
            service = self.context.services.get(manifest.model_type)
            models = [e.model for e in manifest.entries if os.path.exists(e.model)]
            if service is not None and models:
                await service.reindex_paths(models)
            restored.extend(models)
        order = [m for manifest in manifests for entry in manifest.entries
                 for m in sorted(entry.files, key=lambda m: m.src != entry.model) if m.dst not in missing]
        return {"batch_id": batch_id, "restored_files": [posix(m.src) for m in order],
                "restored_models": [posix(p) for p in restored], "missing_files": [posix(p) for p in missing]}

    async def trash_batches(self) -> list[dict[str, Any]]:
        """The trash as undo sees it: one entry per batch id (a bulk delete may span roots), newest first.
        A delete finished by crash recovery is listed like any other, so it stays undoable."""
        manifests = await asyncio.to_thread(list_batches, self.context.all_roots())
        days = self.context.settings.trash_retention_days
        batches: dict[str, dict[str, Any]] = {}
        for manifest in manifests:
            batch = batches.setdefault(manifest.batch_id, {
                "batch_id": manifest.batch_id, "created_at": manifest.created_at,
                "expires_at": manifest.created_at + days * 86400, "model_types": [], "models": [], "file_count": 0})
            if manifest.model_type not in batch["model_types"]:
                batch["model_types"].append(manifest.model_type)
            batch["models"].extend(posix(e.model) for e in manifest.entries)
            batch["file_count"] += len(manifest.moves)
        return list(batches.values())

    async def purge_trash(self, now: float | None = None) -> list[str]:
        """Empty trash batches older than ``settings.trash_retention_days`` (never a batch being restored)."""
        roots = self.context.all_roots()
        days = self.context.settings.trash_retention_days
        async with self._trash_lock:
            folders = await asyncio.to_thread(expired_batches, roots, days, now)
            removed = await asyncio.to_thread(purge, folders)
        return [posix(p) for p in removed]

    # -- duplicates --------------------------------------------------------------------------------
    async def verify_duplicates(self, model_type: str, records: list[ModelRecord]) -> dict[str, Any]:
        """Hash a duplicate group again from the bytes on disk before anything is deleted."""
        if len(records) < 2:
            raise LifecycleError("Send at least two file_paths of one duplicate group")
        service = self.model_service(model_type)
        expected = records[0].sha256

        def rehash() -> dict[str, str | OSError]:
            out: dict[str, str | OSError] = {}
            for record in records:
                try:
                    out[record.file_path] = hash_file(record.file_path).sha256
                except OSError as exc:
                    out[record.file_path] = exc
            return out

        hashes = await asyncio.to_thread(rehash)
        new_map: dict[str, str] = {}
        mismatched: list[str] = []
        unreadable: list[dict[str, str]] = []
        for record in records:
            value = hashes[record.file_path]
            if isinstance(value, OSError):
                unreadable.append({"file_path": posix(record.file_path), "error": value.strerror or str(value)})
                mismatched.append(posix(record.file_path))
                continue
            new_map[posix(record.file_path)] = value
            if value != record.sha256:
                change = SidecarChange({"sha256": value}, {"sha256": value, "hash_status": "done"})
                with contextlib.suppress(ModelNotFound):
                    await service.edit(record.file_path, change, strict=False)
        reference = expected or next(iter(new_map.values()), "")
        mismatched.extend(p for p, h in new_map.items() if h != reference)
        return {"verified_as_duplicates": not mismatched and len(set(new_map.values())) == 1,
                "expected_hash": reference, "mismatched_files": mismatched, "new_hash_map": new_map,
                "unreadable": unreadable}

    # -- auto-organize -----------------------------------------------------------------------------
    def organize_plan(self, model_type: str, file_paths: list[str] | None = None,
                      exclusion_patterns: Iterable[str] = ()) -> tuple[list[Any], list[ModelRecord]]:
        service = self.model_service(model_type)
        if file_paths is None:
            records = sorted(service.all_records(), key=lambda r: r.file_path)
        else:
            records = [self.resolve(model_type, p) for p in file_paths]
        template = self.context.settings.download_path_templates.get(model_type, "")
        return plan_organize(records, template, exclusion_patterns)

    async def auto_organize(self, model_type: str, file_paths: list[str] | None = None, *, dry_run: bool = False,
                            exclusion_patterns: Iterable[str] = ()) -> dict[str, Any]:
        """Re-file models by the download path template as a cancellable job (the request waits for it)."""
        template = self.context.settings.download_path_templates.get(model_type, "")
        moves, skipped = self.organize_plan(model_type, file_paths, exclusion_patterns)
        kind = "structured" if template.strip() else "flat"
        if dry_run:
            return {"success": True, "dry_run": True, "status": "preview",
                    "summary": {"total": len(moves) + len(skipped), "planned": len(moves), "skipped": len(skipped),
                                "organization_type": kind, "operation_type": "all"},
                    "planned": [{"model": m.record.file_name, "from": posix(m.record.file_path),
                                 "to": posix(os.path.join(m.record.root, m.target_folder,
                                                          m.record.file_name + m.record.extension))}
                                for m in moves]}
        if self._organize_lock.locked():
            raise LifecycleError(ORGANIZE_BUSY, 409)
        async with self._organize_lock:
            progress = OrganizeProgress(model_type, total=len(moves) + len(skipped), skipped=len(skipped))
            self.last_organize = progress
            outcome: dict[str, Any] = {}

            async def work(job: Any) -> dict[str, Any]:
                progress.job_id = job.job_id
                outcome.update(await self._organize(job, model_type, moves, progress, kind))
                return outcome

            job = self.context.jobs.start("auto-organize", work, title=f"Auto-organize {model_type}")
            try:
                await asyncio.shield(job.wait())
            except JobCancelled:
                pass
            except Exception as exc:  # noqa: BLE001 - reported as the run's error, files are never half moved
                progress.status, progress.message = "error", str(exc)
                self._broadcast_progress(progress)
                raise LifecycleError(f"Auto-organize failed: {exc}", 500) from None
            if not outcome:  # cancelled before it started
                progress.status = "cancelled"
                self._broadcast_progress(progress)
                outcome = self._organize_summary(progress, kind, [], {}, "cancelled")
            return outcome

    async def _organize(self, job: Any, model_type: str, moves: list[Any], progress: OrganizeProgress,
                        kind: str) -> dict[str, Any]:
        results: list[dict[str, Any]] = []
        sources: set[tuple[str, str]] = set()
        progress.status = "processing"
        self._broadcast_progress(progress)
        status = "success"
        for planned in moves:
            if job.cancelled:
                status = "cancelled"
                break
            record = planned.record
            folder = os.path.join(record.root, *planned.target_folder.split("/")) if planned.target_folder \
                else record.root
            try:
                result = await self._relocate(model_type, record, folder, None, doing="Move")
                progress.success += 1
                sources.add((os.path.dirname(result.old_path), record.root))
                results.append({"model": record.file_name, "success": True,
                                "message": f"Moved to {planned.target_folder or '(root)'}"})
            except LifecycleError as exc:
                progress.failures += 1
                results.append({"model": record.file_name, "success": False, "message": exc.message})
            progress.processed += 1
            job.report(progress.processed, len(moves))
            self._broadcast_progress(progress)
        progress.status = "cleaning"
        self._broadcast_progress(progress)
        cleaned = await asyncio.to_thread(_clean_sources, sources)
        progress.status = "cancelled" if status == "cancelled" else "completed"
        progress.message = f"Moved {progress.success} models"
        self._broadcast_progress(progress)
        return self._organize_summary(progress, kind, results, cleaned, status)

    @staticmethod
    def _organize_summary(progress: OrganizeProgress, kind: str, results: list[dict[str, Any]],
                          cleaned: dict[str, Any], status: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "success": True, "status": status,
            "message": f"Auto-organize {'was cancelled' if status == 'cancelled' else 'finished'}: "
                       f"{progress.success} moved, {progress.skipped} skipped, {progress.failures} failed",
            "summary": {"total": progress.total, "success": progress.success, "skipped": progress.skipped,
                        "failures": progress.failures, "organization_type": kind, "cleaned_dirs": cleaned,
                        "operation_type": "all"},
        }
        if len(results) > MAX_ORGANIZE_RESULTS:
            body["results_truncated"] = True
            body["sample_results"] = results[:50]
        else:
            body["results"] = results
        return body

    def _broadcast_progress(self, progress: OrganizeProgress) -> None:
        self.context.hub.broadcast("fetch-progress", progress.to_dict())


# ---------------------------------------------------------------------------------------------- helpers


def _fix_sidecar_paths(model_path: str, updates: dict[str, Any]) -> None:
    """After a move the sidecar's own ``file_path``/``file_name``/``preview_url`` name the new place.

    Best effort: the files are already together; a sidecar that cannot be read or written keeps stale text.
    """
    if not updates:
        return
    path = sidecar_path_for(model_path)
    try:
        raw = read_sidecar(path)
    except FileNotFoundError:
        return
    except (SidecarError, OSError) as exc:
        logger.warning("Sidecar %s not updated after the move: %s", path, exc)
        return
    wanted = {k: v for k, v in updates.items() if k in raw or k != "preview_url"}
    if all(raw.get(k) == v for k, v in wanted.items()):
        return
    try:
        write_sidecar(path, apply_updates(raw, wanted))
    except (SidecarError, OSError) as exc:
        logger.warning("Sidecar %s not updated after the move: %s", path, exc)


def _remove_batch_folder(folder: Path) -> None:
    """Remove a trash batch's manifest and its folders, but only folders that hold nothing else."""
    try:
        (folder / MANIFEST).unlink()
    except FileNotFoundError:
        pass
    files = folder / FILES_DIR
    if files.is_dir():
        for current, dirs, _names in sorted(os.walk(files, topdown=False), key=lambda t: -len(t[0])):
            with contextlib.suppress(OSError):
                os.rmdir(current)
    with contextlib.suppress(OSError):
        folder.rmdir()
    with contextlib.suppress(OSError):
        folder.parent.rmdir()


def _clean_sources(sources: set[tuple[str, str]]) -> dict[str, Any]:
    removed: list[str] = []
    for folder, root in sorted(sources, key=lambda t: -len(t[0])):
        removed.extend(posix(p) for p in fileops.remove_empty_dirs(folder, root))
    return {"count": len(removed), "removed": sorted(set(removed))}


def _prepare_preview(data: bytes, filename: str, content_type: str) -> tuple[bytes, str]:
    """(bytes to write, extension): images as WebP within ``PREVIEW_MAX_SIDE``; MP4/WebM videos unchanged.

    The bytes decide what the file is; a name or a content type that says "video" proves nothing."""
    kind = sniff_media(data)
    if kind in VIDEO_KINDS:
        return data, kind
    if kind is None and (content_type.startswith("video/") or os.path.splitext(filename.lower())[1] in VIDEO_EXTENSIONS):
        raise LifecycleError("Unsupported video format: the file is not an MP4 or WebM container")
    try:
        return to_webp(data, max_side=PREVIEW_MAX_SIDE, quality=PREVIEW_WEBP_QUALITY), ".webp"
    except ImageRejected as exc:
        raise LifecycleError(f"The preview is not a readable image or video: {exc}") from None
