"""ModelService: the use cases of one model type (lora, checkpoint, embedding) over the library.

Why: routes stay thin and the library stays free of HTTP. The service owns its ModelIndex, runs scans and
hashing as background jobs (never on the event loop), and applies every change per row.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterable

from ..library.gc_tuning import FREEZE_MIN_OBJECTS, bulk_allocation, freeze_long_lived, freeze_without_collecting
from ..library.hashing import hash_files
from ..library.index import ModelIndex
from ..library.list_json import ListItemJson
from ..library.ingest import IngestResult, safe_ingest, sidecar_of_record
from ..library.paths import PathNotAllowed, confine, to_api_path
from ..library.query import (ListQuery, QueryCache, QueryResult, count_values, is_unfiltered, page_bounds,
                             run_query)
from ..library.artifacts import stem_siblings
from ..library.edits import metadata_edit, with_user_fields
from ..library.records import ModelRecord
from ..library.scanner import MODEL_EXTENSIONS, FileStat, stat_changed, stat_one, sweep_roots
from ..library.sidecar import apply_updates, read_sidecar_for_edit, sidecar_path_for, write_sidecar
from ..library.worker_pool import IngestWorkerPool, WorkerCrashed
from ..library.kinds import EXTRA_KINDS, SERVED_KINDS
from .jobs import JobCancelled, JobConflict

if TYPE_CHECKING:
    from ..app import AppContext
    from .jobs import JobContext

logger = logging.getLogger(__name__)

# The address part of each kind's API (/api/lm/loras/list, /api/lm/vae/list...).
PAGE_TYPES = {"lora": "loras", "checkpoint": "checkpoints", "embedding": "embeddings", **{k: k for k in EXTRA_KINDS}}
# Multi-gigabyte kinds hashed only when asked (compute-hash, a Civitai lookup) under ``hash_checkpoints_lazily``.
LAZY_HASH_KINDS = ("checkpoint", "text_encoders")
INGEST_BATCH = 64
FREEZE_EVERY = 4096
PROCESS_POOL_MIN = 5000  # new or changed files from which a scan reads in worker processes


class ModelNotFound(LookupError):
    pass


class MetadataWriteError(OSError):
    """A user edit that could not be written; nothing was changed (sidecar and index keep the old values)."""


@dataclass
class ScanSummary:
    status: str = "success"
    total: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def message(self) -> str:
        text = (f"Scanned {self.total} models: {self.added} added, {self.updated} updated, {self.removed} removed, "
                f"{self.unchanged} unchanged")
        if self.problems:
            text += f"; {len(self.problems)} problems"
        return text


class ModelService:
    """One model type's library. Built by the factory with ``(model_type, context)``."""

    def __init__(self, model_type: str, context: "AppContext"):
        if model_type not in SERVED_KINDS:
            raise ValueError(f"unknown model type {model_type}")
        self.model_type = model_type
        self.context = context
        self.page_type = PAGE_TYPES[model_type]
        self.index: ModelIndex | None = None
        self.ready = asyncio.Event()
        self.scanning = False
        self.last_problems: list[str] = []
        self._scan_lock = asyncio.Lock()
        self._path_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._background: asyncio.Task[Any] | None = None
        self._loading: asyncio.Task[Any] | None = None
        self._watcher: asyncio.Task[Any] | None = None
        self._query_cache = QueryCache()
        self.list_json = ListItemJson()  # list items as JSON text, reused across pages and requests
        self._derived: dict[str, tuple[Any, Any]] = {}
        self._disk_folders: frozenset[str] | None = None  # empty folders too; walked after scans and moves
        self._disk_walk: asyncio.Future[frozenset[str]] | None = None  # the walk under way, shared by callers
        self._disk_walks = 0

    # -- lifecycle -------------------------------------------------------------------------------
    def roots(self) -> list[Path]:
        return self.context.roots_for(self.model_type)

    async def start(self, *, early: bool = False) -> None:
        """Warm start: serve from the index at once, then validate against the disk in the background.

        With ``early`` the projection loads in the background: until it is ready, unfiltered listings are
        answered straight from the index database (``early_list``) and everything else waits for ``ready``.
        """
        self.index = ModelIndex(self.context.database, self.model_type)
        if early:
            self._loading = asyncio.create_task(self._load(), name=f"lm-load-{self.model_type}")
        else:
            await self._load()

    async def _load(self) -> None:
        index = self._require_index()
        try:
            count = await index.load_in_thread()
        except Exception:  # noqa: BLE001 - an unreadable index must not stop the server: the sweep rebuilds it
            logger.exception("Loading the %s index failed; the library is read from disk again", self.page_type)
            count = 0
        self.ready.set()
        if count == 0 and self.model_type in EXTRA_KINDS and not self.roots():
            return  # a kind with no roots and nothing indexed: no validation job, no progress, nothing to watch
        self._emit_init("loading_cache", 100, f"{count} models from the index")
        self._background = asyncio.create_task(self._background_validate(), name=f"lm-validate-{self.model_type}")
        mode = self.context.settings.watch_mode
        if mode != "off":
            self._watcher = asyncio.create_task(self._watch(mode), name=f"lm-watch-{self.model_type}")

    async def early_list(self, query: ListQuery) -> QueryResult | None:
        """An unfiltered page read from the index database while the projection loads; ``None`` when the
        query needs the projection (filters, search, usage or random order) or the projection is ready."""
        if self.ready.is_set() or self.index is None or not is_unfiltered(query):
            return None
        page, size = page_bounds(query)
        found = await self.index.database.page_rows(self.model_type, query.sort_by, query.descending, size,
                                                    (page - 1) * size, query.include_excluded)
        if found is None:
            return None
        records, total = found
        return QueryResult(records, total, page, size)

    async def _background_validate(self) -> None:
        try:
            job = self.context.jobs.start(f"scan:{self.model_type}", lambda ctx: self.refresh(ctx),
                                          title=f"Validate {self.page_type}")
            await job.wait()
        except (asyncio.CancelledError, JobCancelled):
            return
        except Exception:  # noqa: BLE001 - reported through the job; the listing keeps serving the index
            logger.exception("Background validation of %s failed", self.page_type)

    async def _watch(self, mode: str) -> None:
        """Keep up with the disk: ``poll`` re-sweeps (stats only) every interval, ``notify`` on file events.

        Both end in the same incremental refresh, so only changed files are read again.
        """
        if self._background is not None:
            await asyncio.gather(self._background, return_exceptions=True)
        try:
            if mode == "notify":
                from watchfiles import awatch

                roots = [str(r) for r in self.roots() if r.is_dir()]
                if not roots:
                    return
                async for _changes in awatch(*roots, debounce=300, step=50, recursive=True):
                    await self._refresh_quietly()
            else:
                while True:
                    await asyncio.sleep(self.context.settings.poll_interval_seconds)
                    await self._refresh_quietly()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a watcher failure must not take the service down
            logger.exception("Watching %s stopped", self.page_type)

    async def _refresh_quietly(self) -> None:
        try:
            job = self.context.jobs.start(f"scan:{self.model_type}", lambda ctx: self.refresh(ctx),
                                          title=f"Refresh {self.page_type}", exclusive=True)
        except JobConflict:
            return  # a scan is already running; it will see the same changes
        await asyncio.gather(job.wait(), return_exceptions=True)

    async def close(self) -> None:
        for task in (self._loading, self._watcher, self._background):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):  # noqa: BLE001
                    pass

    def _require_index(self) -> ModelIndex:
        if self.index is None:
            raise RuntimeError("service not started")
        return self.index

    def _emit_init(self, stage: str, progress: int, details: str, status: str | None = None) -> None:
        frame: dict[str, Any] = {"stage": stage, "progress": progress, "details": details,
                                 "scanner_type": self.model_type, "pageType": self.page_type}
        if status:
            frame["status"] = status
        self.context.hub.broadcast("init-progress", frame, snapshot_key=self.page_type)

    # -- scanning --------------------------------------------------------------------------------
    async def refresh(self, job: "JobContext | None" = None, *, full_rebuild: bool = False) -> ScanSummary:
        """Sweep the roots, re-read only what changed, drop what vanished, then hash what is pending."""
        async with self._scan_lock:
            self.scanning = True
            try:
                summary = await self._refresh(job, full_rebuild)
            finally:
                self.scanning = False
        if summary.status == "success":
            await self.hash_pending(job)
        return summary

    async def _refresh(self, job: "JobContext | None", full_rebuild: bool) -> ScanSummary:
        index = self._require_index()
        started = time.monotonic()
        cancel = job.cancel_event if job is not None else threading.Event()
        roots = self.roots()
        summary = ScanSummary()
        self._emit_init("scan_folders", 0, "Listing folders")
        with bulk_allocation(freeze=False):  # no full collection walks the file list while it grows
            sweep = await asyncio.to_thread(sweep_roots, roots, MODEL_EXTENSIONS[self.model_type], cancel=cancel)
            if len(sweep.files) >= FREEZE_MIN_OBJECTS:
                freeze_without_collecting()
        summary.problems.extend(sweep.problems)
        if sweep.cancelled:
            summary.status = "cancelled"
            return summary
        if full_rebuild:
            await index.clear()
        known = dict(index.projection._by_path)  # a C-level copy; the diff itself runs in a worker thread
        reachable_roots = [os.path.abspath(p).replace("\\", "/") for p in roots if p.is_dir()]

        def diff() -> tuple[list[tuple[FileStat, ModelRecord | None]], list[str]]:
            changed: list[tuple[FileStat, ModelRecord | None]] = []
            seen: set[str] = set()
            for stat in sweep.files:
                seen.add(stat.path)
                old = known.get(stat.path)
                if old is None or stat_changed(stat, old.size, old.mtime_ns, old.inode, old.sidecar_mtime_ns,
                                               old.sidecar_size, old.preview_path):
                    changed.append((stat, old))
            vanished = [path for path, record in known.items()
                        if path not in seen and any(_under(record.root, root) for root in reachable_roots)]
            return changed, vanished

        with bulk_allocation(freeze=False):
            changed, vanished = await asyncio.to_thread(diff)
            if len(changed) >= FREEZE_MIN_OBJECTS:
                freeze_without_collecting()
        summary.total = len(sweep.files)
        summary.unchanged = summary.total - len(changed)
        self._emit_init("process_models", 0, f"{len(changed)} new or changed models")
        done = 0
        loop_cancelled = False

        async def apply(batch: list[tuple[FileStat, ModelRecord | None]], results: list[IngestResult]) -> None:
            nonlocal done
            records = []
            for (_stat, old), result in zip(batch, results):
                summary.problems.extend(result.problems)
                records.append(result.record)
                if old is None:
                    summary.added += 1
                else:
                    summary.updated += 1
            # An edit (a hash stored, a note saved) may have landed on a model while it was being read: its
            # record is newer than what was read, so it is kept, and the next sweep reads the file again.
            async with self.locked(r.file_path for r in records):
                current = [r for (_stat, old), r in zip(batch, records) if index.get(r.file_path) is old]
                refused = await index.put_many(current)
            for path in refused:
                summary.problems.append(f"{path}: its metadata cannot be stored in the index; skipped")
            await self._clear_stale_hashes([(result.record, old.sha256) for (_s, old), result in zip(batch, results)
                                            if result.stale_sidecar_hash and old is not None
                                            and result.record.file_path not in refused])
            done += len(batch)
            if len(changed) >= FREEZE_MIN_OBJECTS and done % FREEZE_EVERY < len(batch):
                freeze_long_lived()  # keep full collections from walking the records built so far
            if job is not None:
                job.report(done, len(changed), stage="process_models")
            self._emit_init("process_models", int(done * 100 / max(1, len(changed))), f"{done}/{len(changed)}")

        runner = await _IngestRunner.create(self.model_type, len(changed))
        try:
            in_flight: dict[asyncio.Task[list[IngestResult]], list[tuple[FileStat, ModelRecord | None]]] = {}
            for start in range(0, len(changed), INGEST_BATCH):
                if cancel.is_set():
                    loop_cancelled = True
                    break
                batch = changed[start:start + INGEST_BATCH]
                in_flight[asyncio.create_task(runner.run(batch))] = batch
                if len(in_flight) >= runner.parallel:
                    finished, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    for task in finished:
                        await apply(in_flight.pop(task), task.result())
            while in_flight:
                finished, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    await apply(in_flight.pop(task), task.result())
        finally:
            await runner.close()
        if vanished and not loop_cancelled:
            await index.remove(vanished)
            summary.removed = len(vanished)
        summary.seconds = time.monotonic() - started
        summary.status = "cancelled" if loop_cancelled else "success"
        self._forget_disk_folders()
        self.last_problems = summary.problems[-200:]
        self._emit_init("finalizing", 100, summary.message, status="complete")
        if summary.added or summary.updated or summary.removed:
            self.context.hub.broadcast("fetch-progress", {"type": "models_changed", "model_type": self.model_type})
        logger.info("%s: %s (%.2fs)", self.page_type, summary.message, summary.seconds)
        return summary

    def _should_hash(self, record: ModelRecord) -> bool:
        if record.hash_status != "pending":
            return False
        if self.model_type in LAZY_HASH_KINDS and self.context.settings.hash_checkpoints_lazily:
            return False
        return True

    async def hash_pending(self, job: "JobContext | None" = None, paths: Iterable[str] | None = None) -> int:
        """Hash pending files in parallel threads; results go to the index and the sidecars, per row."""
        index = self._require_index()
        if paths is None:
            records = [r for r in index.projection.values() if self._should_hash(r)]
        else:
            records = [r for r in (index.get(p) for p in paths) if r is not None and r.status == "ok"]
        if not records:
            return 0
        cancel = job.cancel_event if job is not None else threading.Event()
        by_path = {r.file_path: r for r in records}
        total = len(records)
        finished = 0
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def on_done(path: Any, outcome: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (str(path), outcome))

        self._emit_init("hashing", 0, f"Hashing {total} files")
        worker = asyncio.ensure_future(asyncio.to_thread(
            hash_files, [(r.file_path, None) for r in records], cancel=cancel, on_file_done=on_done))
        hashed = 0
        while finished < total:
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, worker}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                while not queue.empty():
                    path, outcome = queue.get_nowait()
                    finished += 1
                    hashed += await self._store_hash(by_path[path], outcome)
                break
            path, outcome = getter.result()
            finished += 1
            hashed += await self._store_hash(by_path[path], outcome)
            if job is not None:
                job.report(finished, total, stage="hashing")
        await worker
        self._emit_init("hashing", 100, f"Hashed {hashed} files", status="complete")
        return hashed

    async def _store_hash(self, old: ModelRecord, outcome: Any) -> int:
        index = self._require_index()
        current = index.get(old.file_path)
        if current is None:
            return 0
        if isinstance(outcome, BaseException):
            logger.warning("Hashing %s failed: %s", old.file_path, outcome)
            await index.put(current.evolve(hash_status="error", status_reason=str(outcome)))
            return 0
        if (current.size, current.mtime_ns) != (old.size, old.mtime_ns):
            return 0  # the file changed while hashing: the next sweep hashes it again
        change = SidecarChange({"sha256": outcome.sha256},
                               {"sha256": outcome.sha256, "autov3": outcome.autov3 or "", "hash_status": "done"})
        try:
            await self.edit(old.file_path, change, strict=False,
                            still_valid=lambda now: (now.size, now.mtime_ns) == (old.size, old.mtime_ns))
        except (ModelNotFound, StaleEdit):
            return 0  # moved, deleted or changed meanwhile: its new state is indexed (and hashed) on its own
        return 1

    async def _clear_stale_hashes(self, stale: Iterable[tuple[ModelRecord, str]], *,
                                  skip_locked: bool = False) -> None:
        """Take a stale sha256 out of the sidecars of files rewritten in place (see ``ingest``): until the file
        is hashed again, no reader (another machine, ComfyUI-Lora-Manager, our next full rebuild) trusts it.

        ``stale`` pairs a fresh record with the hash its sidecar stated; a sidecar that says anything else by
        now (hashed meanwhile) is left alone. ``skip_locked`` leaves models whose lock is held (the caller's
        own operation on them): they stay pending, and hashing them writes their sidecar.
        """
        for record, old in stale:
            if not old or (skip_locked and self._path_locks[record.file_path].locked()):
                continue

            def clear(current: ModelRecord, raw: dict[str, Any], old: str = old) -> SidecarChange:
                stated = raw.get("sha256")
                if current.hash_status == "done" or not isinstance(stated, str) or stated.lower() != old:
                    return SidecarChange({})
                return SidecarChange({"sha256": ""})

            try:
                await self.edit(record.file_path, clear, strict=False,
                                still_valid=lambda now, r=record: (now.size, now.mtime_ns) == (r.size, r.mtime_ns))
            except (ModelNotFound, StaleEdit):
                continue  # moved, deleted or changed again meanwhile: its next read decides

    # -- edits: one read-modify-write of sidecar and index row, under the model's lock ------------------
    def lock(self, path: str) -> asyncio.Lock:
        """The model's lock: every change of one model's files, sidecar or index row holds it."""
        return self._path_locks[path]

    @contextlib.asynccontextmanager
    async def locked(self, paths: Iterable[str]) -> AsyncIterator[None]:
        """Hold the locks of every given path, in sorted order (so two operations cannot deadlock)."""
        async with contextlib.AsyncExitStack() as stack:
            for path in sorted(set(paths)):
                await stack.enter_async_context(self._path_locks[path])
            yield

    async def edit(self, file_path: str, change: "SidecarChange | ChangeBuilder", *, strict: bool = True,
                   still_valid: Callable[[ModelRecord], bool] | None = None) -> "EditResult":
        """Apply one change to a model's sidecar and index row as one read-modify-write under its lock.

        ``change`` may be built from the current record and sidecar (for edits that merge, like adding tags).
        ``strict`` edits raise ``MetadataWriteError`` when the sidecar cannot be written (nothing changed) and
        ``SharedSidecar`` when another model file shares the stem; others keep the index change and leave the
        sidecar alone.
        """
        async with self._path_locks[file_path]:
            return await self.edit_locked(file_path, change, strict=strict, still_valid=still_valid)

    async def edit_locked(self, file_path: str, change: "SidecarChange | ChangeBuilder", *, strict: bool = True,
                          still_valid: Callable[[ModelRecord], bool] | None = None) -> "EditResult":
        """``edit`` for a caller that already holds the model's lock (a move, a preview replacement)."""
        index = self._require_index()
        current = index.get(file_path)
        if current is None or not await asyncio.to_thread(os.path.exists, current.file_path):
            # moved, renamed or deleted while this edit waited for the lock: never leave a stray sidecar
            raise ModelNotFound(f"Model not found: {file_path} (it was moved, renamed or deleted)")
        if still_valid is not None and not still_valid(current):
            raise StaleEdit(file_path)
        siblings = await asyncio.to_thread(stem_siblings, current.file_path)
        if siblings and strict:
            raise SharedSidecar(current.file_path, siblings)
        path = sidecar_path_for(current.file_path)

        def build(raw: dict[str, Any]) -> SidecarChange:
            return change(current, raw) if callable(change) else change

        def write() -> tuple[SidecarChange, dict[str, Any], str]:
            if siblings:  # the sidecar is not this model's alone: only the index learns the change
                return build({}), {}, ""
            raw, aside = read_sidecar_for_edit(path)
            raw = raw or sidecar_of_record(current)
            built = build(raw)
            write_sidecar(path, apply_updates(raw, with_user_fields(raw, dict(built.updates), built.user_fields)))
            st = os.stat(path)
            return built, {"sidecar_mtime_ns": st.st_mtime_ns, "sidecar_size": st.st_size,
                           "sidecar_status": "ok"}, aside

        try:
            built, stat, aside = await asyncio.to_thread(write)
        except OSError as exc:
            if strict:
                raise MetadataWriteError(exc.errno, f"Could not save metadata: {exc.strerror or exc}") from exc
            logger.warning("Could not update sidecar %s: %s", path, exc)
            built = build({})
            stat, aside = {"sidecar_status": "read_only"}, ""
        updated = current.evolve(**built.record, **stat)
        await index.put(updated)
        return EditResult(updated, aside)

    async def reindex_paths(self, paths: Iterable[str], *, removed: Iterable[str] = ()) -> list[ModelRecord]:
        """Per-row update after a move, rename, download or delete: re-read ``paths``, drop ``removed``.

        Each path must lie inside one of this type's roots; records keep their usage counts.
        """
        index = self._require_index()
        roots = [os.path.abspath(r) for r in self.roots()]
        gone = [to_api_path(os.path.abspath(p)) for p in removed]
        fresh: list[ModelRecord] = []
        stale: list[tuple[ModelRecord, str]] = []
        for raw in paths:
            path = os.path.abspath(raw)
            root = max((r for r in roots if path == r or path.startswith(r.rstrip(os.sep) + os.sep)), key=len,
                       default=None)
            if root is None:
                raise PathNotAllowed(f"Path is outside the library roots: {raw}")
            stat = await asyncio.to_thread(stat_one, path, root)
            if stat is None:
                gone.append(to_api_path(path))
                continue
            previous = index.get(stat.path)
            result = await asyncio.to_thread(safe_ingest, stat, self.model_type, previous)
            fresh.append(result.record)
            if result.stale_sidecar_hash and previous is not None:
                stale.append((result.record, previous.sha256))
        self._forget_disk_folders()
        if fresh:
            await index.put_many(fresh)
            await self._clear_stale_hashes(stale, skip_locked=True)
        gone = [p for p in dict.fromkeys(gone) if index.get(p) is not None]
        if gone:
            await index.remove(gone)
        if fresh or gone:
            self.context.hub.broadcast("fetch-progress", {"type": "models_changed", "model_type": self.model_type})
        return fresh

    def find_by_sha256(self, sha256: str) -> list[ModelRecord]:
        return self._require_index().projection.by_sha256(sha256)

    def find_by_version_id(self, version_id: int) -> list[ModelRecord]:
        return self._require_index().projection.by_version_id(version_id)

    # -- queries ---------------------------------------------------------------------------------
    def list_models(self, query: ListQuery) -> QueryResult:
        projection = self._require_index().projection
        return run_query(projection, query, cache=self._query_cache)

    def all_records(self) -> list[ModelRecord]:
        return list(self._require_index().projection.values())

    def resolve(self, raw_path: str) -> ModelRecord:
        """The record of a path given by a request, confined to this type's roots."""
        try:
            confined = confine(raw_path, self.roots(), through_links=True)
        except PathNotAllowed:
            raise
        path = to_api_path(str(confined.path))
        record = self._require_index().get(path)
        if record is None:
            # the index holds the path as swept (symlinks unresolved): try the literal absolute path
            literal = to_api_path(os.path.abspath(os.path.expanduser(raw_path)))
            record = self._require_index().get(literal)
        if record is None:
            raise ModelNotFound(f"Model not found: {raw_path}")
        return record

    def derived(self, name: str, compute: Callable[[], Any], *, key: Any = None) -> Any:
        """A value computed from the projection once per projection version (and ``key``): the read
        endpoints that aggregate every record (tags, base models, folders, letters) answer from it until
        the next change. Treat the value as read-only."""
        stamp = (self._require_index().projection.version, key)
        hit = self._derived.get(name)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        value = compute()
        self._derived[name] = (stamp, value)
        return value

    def base_models(self) -> list[tuple[str, int]]:
        return self.derived("base_models", lambda: count_values(self._visible(), lambda r: [r.base_model]))

    def top_tags(self) -> list[tuple[str, int]]:
        return self.derived("top_tags", lambda: count_values(self._visible(), lambda r: r.tags))

    def _visible(self) -> Iterable[ModelRecord]:
        return (r for r in self._require_index().projection.values() if not r.exclude)

    def model_folders(self) -> frozenset[str]:
        """The folders that hold at least one model."""
        return self.derived("model_folders",
                            lambda: frozenset(r.folder for r in self._require_index().projection.values()))

    async def folders(self, *, hide: Path | None = None) -> list[str]:
        """Folders holding models plus empty folders on disk (targets for moves), '' being the root; ``hide``
        (the recipes folder) is left out when it sits in a root and holds no model. The disk is walked after
        a scan or a change of files, not per request."""
        roots = self.roots()
        disk = self._disk_folders
        if disk is None:
            def walk() -> frozenset[str]:
                found: set[str] = {""} if roots else set()
                for root in roots:
                    found.update(_walk_folders(root))
                return frozenset(found)

            # Requests that arrive during the walk wait for it instead of each walking the disk again.
            walking = self._disk_walk
            if walking is None:
                walking = self._disk_walk = asyncio.ensure_future(asyncio.to_thread(walk))
                self._disk_walks += 1
            disk = await asyncio.shield(walking)
            if self._disk_walk is walking:  # no change of files since it started: it is the folder list
                self._disk_folders, self._disk_walk = disk, None

        def combine() -> list[str]:
            folders = sorted(self.model_folders() | disk, key=str.casefold)
            return folders if hide is None else without_folder(folders, roots, hide, self.model_folders())

        return self.derived("folders", combine, key=(self._disk_walks, tuple(map(str, roots)), str(hide)))

    def _forget_disk_folders(self) -> None:
        """Files changed: the next folder listing walks the disk again (a walk under way is not adopted)."""
        self._disk_folders, self._disk_walk = None, None

    async def save_metadata(self, record: ModelRecord, body: dict[str, Any]) -> "EditResult":
        """Merge a validated user edit into the sidecar and the index row (one row, one entry).

        Edited fields are listed in the sidecar's ``user_edited_fields`` so metadata refreshes never overwrite
        them. Raises ``InvalidEdit`` (nothing written) for a value out of type, range or size.
        """
        validated = metadata_edit(body, file_name=record.file_name)
        return await self.edit(record.file_path, SidecarChange(validated.updates, validated.record,
                                                               validated.user_fields))


@dataclass
class SidecarChange:
    """One change of a model: sidecar keys to merge, index record fields to set, user-owned field names."""

    updates: dict[str, Any]
    record: dict[str, Any] = field(default_factory=dict)
    user_fields: frozenset[str] = frozenset()


ChangeBuilder = Callable[[ModelRecord, dict[str, Any]], SidecarChange]


@dataclass
class EditResult:
    record: ModelRecord
    set_aside: str = ""  # the file name an unreadable sidecar was kept under, when there was one

    def notice(self) -> dict[str, Any]:
        """What an answer adds when the old sidecar could not be read (it was kept, not overwritten)."""
        if not self.set_aside:
            return {}
        return {"sidecar_set_aside": self.set_aside,
                "message": f"The old metadata file could not be read; it was kept as {self.set_aside}"}


class SharedSidecar(Exception):
    """Two model files share one stem (``x.ckpt`` and ``x.pt``), so they would share one sidecar."""

    def __init__(self, model: str, others: list[str]):
        self.message = (f"{os.path.basename(model)} shares its name with {', '.join(map(os.path.basename, others))}"
                        f" in the same folder, so both would use one metadata file; rename one of them first")
        super().__init__(self.message)


class StaleEdit(Exception):
    """The model changed between the start of a background change and its write: the change is dropped."""


class _IngestRunner:
    """Reads batches of files: in worker processes for big scans (all cores, the event loop stays free),
    in threads otherwise or when processes cannot be started."""

    def __init__(self, model_type: str, pool: IngestWorkerPool | None):
        self.model_type = model_type
        self.pool = pool
        self.parallel = pool.size * 2 if pool else 2

    @classmethod
    async def create(cls, model_type: str, count: int) -> "_IngestRunner":
        if count < PROCESS_POOL_MIN:
            return cls(model_type, None)
        pool = IngestWorkerPool()
        try:
            await pool.start()
        except OSError as exc:
            logger.warning("Ingest worker processes could not start (%s); reading in threads", exc)
            await pool.close()
            return cls(model_type, None)
        return cls(model_type, pool)

    async def run(self, batch: list[tuple[FileStat, ModelRecord | None]]) -> list[IngestResult]:
        if self.pool is not None:
            try:
                return await self.pool.ingest(self.model_type, batch)
            except (WorkerCrashed, OSError, EOFError) as exc:
                logger.warning("An ingest worker failed (%s); this batch is read in a thread", exc)
        return await asyncio.to_thread(lambda: [safe_ingest(stat, self.model_type, old) for stat, old in batch])

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def without_folder(folders: Iterable[str], roots: Iterable[Path], recipes_dir: Path,
                   model_folders: Iterable[str]) -> list[str]:
    """A type's folders without the recipes folder (and its subfolders) when it sits inside one of the roots:
    ComfyUI-Lora-Manager keeps recipes in ``<first LoRA root>/recipes`` and lists only folders of models, so
    neither do we; a folder that holds models is always listed."""
    hidden: set[str] = set()
    recipes = recipes_dir.resolve()
    for root in roots:
        try:
            relative = recipes.relative_to(root.resolve()).as_posix()
        except (ValueError, OSError):
            continue
        if relative not in ("", "."):
            hidden.add(relative)
    folders = list(folders)
    if not hidden:
        return folders
    keep = set(model_folders)
    return [f for f in folders if f in keep or not any(f == h or f.startswith(h + "/") for h in hidden)]


def _walk_folders(root: Path) -> set[str]:
    found: set[str] = set()
    if not root.is_dir():
        return found
    for current, dirs, _files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = os.path.relpath(current, root)
        if rel != ".":
            found.add(rel.replace(os.sep, "/"))
    return found
