"""Usage statistics: how often each LoRA and checkpoint was used by a loader run (for ``sort=usage``).

Why a separate small database (``<data_dir>/db/usage.sqlite``): counts must outlive a rebuilt library index,
and the library index schema belongs to the library. Counts are keyed by sha256 when the file is hashed (so
moving a file keeps its count) and by path until then. The node only *schedules* a recording onto the app
loop (never hashing, never waiting); ``UsageService`` then writes SQLite in a worker thread and updates
``usage_count`` of one index row per model.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, TypeVar

from ..library.aside import SQLITE_COMPANIONS, set_aside
from ..library.sqlite_setup import prepare_sync

from . import runtime
from .resolve import LibraryView

if TYPE_CHECKING:
    from ..app import AppContext
    from ..library.records import ModelRecord
    from ..services.lifecycle import PathChange

logger = logging.getLogger(__name__)

__all__ = ["UsageService", "usage_key", "record_node_usage", "checkpoint_name_upstream"]

COMPONENT = "usage"
_T = TypeVar("_T")
MAX_CHAIN = 256
_CHECKPOINT_KEYS = ("ckpt_name", "unet_name")
_SCHEMA = ("CREATE TABLE IF NOT EXISTS usage (key TEXT PRIMARY KEY, model_type TEXT NOT NULL, "
           "count INTEGER NOT NULL, last_used REAL NOT NULL, last_path TEXT NOT NULL)")


def usage_key(record: "ModelRecord") -> str:
    return f"sha256:{record.sha256}" if record.sha256 else f"path:{record.file_path}"


def _path_key(record: "ModelRecord") -> str:
    return f"path:{record.file_path}"


def _guarded(method: Callable[..., _T]) -> Callable[..., _T]:
    """Run a store method under the store's thread lock."""

    @functools.wraps(method)
    def run(self: "UsageStore", *args: Any, **kwargs: Any) -> _T:
        with self._guard:
            return method(self, *args, **kwargs)

    return run


class UsageStore:
    """The SQLite file. Blocking: called from worker threads. One connection behind a thread lock: a call
    still running in its thread after the awaiting task was cancelled finishes before a close can run (a
    close under a running statement crashes the process)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.healed_from: Path | None = None
        self._conn: sqlite3.Connection | None = None
        self._guard = threading.RLock()

    @_guarded
    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._connect()
        except sqlite3.DatabaseError as exc:
            self.close()
            self.healed_from = set_aside(self.path, str(exc), companions=SQLITE_COMPANIONS)
            self._connect()

    def _connect(self) -> None:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn = conn
        prepare_sync(conn, [_SCHEMA], "usage statistics")
        conn.execute("SELECT count(*) FROM usage").fetchone()

    @_guarded
    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("usage store is closed")
        return self._conn

    @_guarded
    def counts(self) -> dict[str, int]:
        return {key: count for key, count in self._db().execute("SELECT key, count FROM usage")}

    @_guarded
    def bump(self, records: Iterable["ModelRecord"]) -> dict[str, int]:
        """Add one use per record (folding an older by-path count into the sha256 key); file path -> count."""
        db = self._db()
        now = time.time()
        result: dict[str, int] = {}
        with db:
            db.execute("BEGIN")
            for record in records:
                key = usage_key(record)
                count = self._get(db, key) + 1
                if key != _path_key(record):
                    count += self._get(db, _path_key(record))
                    db.execute("DELETE FROM usage WHERE key = ?", (_path_key(record),))
                self._set(db, key, record, count, now)
                result[record.file_path] = count
        return result

    @_guarded
    def ensure_at_least(self, rows: Iterable[tuple["ModelRecord", int]]) -> None:
        db = self._db()
        now = time.time()
        with db:
            db.execute("BEGIN")
            for record, count in rows:
                self._set(db, usage_key(record), record, count, now)

    @_guarded
    def move_path(self, old_path: str, new_path: str) -> None:
        """A model now lives at ``new_path``: its by-path count goes with it (replacing whatever count a former
        file at ``new_path`` left), and every row names the new path as its last."""
        db = self._db()
        old_key, new_key = f"path:{old_path}", f"path:{new_path}"
        with db:
            db.execute("BEGIN")
            row = db.execute("SELECT model_type, count, last_used FROM usage WHERE key = ?", (old_key,)).fetchone()
            db.execute("DELETE FROM usage WHERE key = ?", (new_key,))
            if row is not None:
                db.execute("DELETE FROM usage WHERE key = ?", (old_key,))
                db.execute("INSERT INTO usage (key, model_type, count, last_used, last_path) VALUES (?, ?, ?, ?, ?)",
                           (new_key, row[0], int(row[1]), float(row[2]), new_path))
            db.execute("UPDATE usage SET last_path = ? WHERE last_path = ?", (new_path, old_path))

    @staticmethod
    def _get(db: sqlite3.Connection, key: str) -> int:
        row = db.execute("SELECT count FROM usage WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _set(db: sqlite3.Connection, key: str, record: "ModelRecord", count: int, now: float) -> None:
        db.execute("INSERT INTO usage (key, model_type, count, last_used, last_path) VALUES (?, ?, ?, ?, ?) "
                   "ON CONFLICT(key) DO UPDATE SET count = excluded.count, last_used = excluded.last_used, "
                   "last_path = excluded.last_path", (key, record.model_type, count, now, record.file_path))


class UsageService:
    """Area component ``usage``: records runs and keeps ``ModelRecord.usage_count`` in step with the store."""

    def __init__(self, context: "AppContext") -> None:
        self.context = context
        self.store = UsageStore(context.paths.db_dir / "usage.sqlite")
        self._lock = asyncio.Lock()
        self._open = False

    async def start(self) -> None:
        await asyncio.to_thread(self.store.open)
        self._open = True
        lifecycle = self.context.components.get("lifecycle")
        if lifecycle is not None and self._moved not in lifecycle.path_listeners:
            lifecycle.path_listeners.append(self._moved)
        await self.reconcile()

    async def close(self) -> None:
        lifecycle = self.context.components.get("lifecycle")
        if lifecycle is not None and self._moved in lifecycle.path_listeners:
            lifecycle.path_listeners.remove(self._moved)
        async with self._lock:
            self._open = False
            await asyncio.to_thread(self.store.close)

    async def _moved(self, change: "PathChange") -> None:
        """A rename or move: a count kept by path (a model not hashed yet) follows the file, so the next use
        adds to it instead of starting again from one."""
        if change.old_path == change.new_path:
            return
        async with self._lock:
            if self._open:
                await asyncio.to_thread(self.store.move_path, change.old_path, change.new_path)

    def _indexes(self) -> list[Any]:
        return [s.index for s in self.context.services.values() if getattr(s, "index", None) is not None]

    async def reconcile(self) -> int:
        """Make index and store agree (the larger count wins: either may have been rebuilt); rows changed."""
        async with self._lock:
            counts = await asyncio.to_thread(self.store.counts)
            to_store: list[tuple[Any, int]] = []
            changed = 0
            for index in self._indexes():
                updates = []
                for record in index.projection.values():
                    stored = counts.get(usage_key(record), 0)
                    if record.sha256:
                        stored += counts.get(_path_key(record), 0)
                    best = max(stored, record.usage_count)
                    if best != stored:
                        to_store.append((record, best))
                    if best != record.usage_count:
                        updates.append(record.evolve(usage_count=best))
                if updates:
                    await index.put_many(updates)
                    changed += len(updates)
            if to_store:
                await asyncio.to_thread(self.store.ensure_at_least, to_store)
            return changed + len(to_store)

    async def record(self, uses: Iterable[tuple[str, str]]) -> dict[str, int]:
        """One use of each ``(model_type, file_path)``; returns file path -> new count (unknown paths skipped)."""
        async with self._lock:
            if not self._open:
                return {}
            by_type: dict[str, list[Any]] = {}
            for model_type, path in dict.fromkeys(uses):
                service = self.context.services.get(model_type)
                index = getattr(service, "index", None)
                record = index.get(path) if index is not None else None
                if record is not None:
                    by_type.setdefault(model_type, []).append(record)
            records = [r for group in by_type.values() for r in group]
            if not records:
                return {}
            counts = await asyncio.to_thread(self.store.bump, records)
            for model_type, group in by_type.items():
                index = self.context.services[model_type].index
                fresh = [current.evolve(usage_count=counts[r.file_path])
                         for r in group if (current := index.get(r.file_path)) is not None]
                if fresh:
                    await index.put_many(fresh)
            return counts


def checkpoint_name_upstream(prompt: Any, node_id: Any) -> str | None:
    """The ``ckpt_name``/``unet_name`` of the loader at the start of ``node_id``'s model chain, if any."""
    if not isinstance(prompt, dict) or node_id is None:
        return None
    node = prompt.get(str(node_id))
    seen: set[str] = set()
    for _ in range(MAX_CHAIN):
        if not isinstance(node, dict) or not isinstance(node.get("inputs"), dict):
            return None
        inputs = node["inputs"]
        for key in _CHECKPOINT_KEYS:
            if isinstance(inputs.get(key), str) and inputs[key].strip():
                return inputs[key].strip()
        link = inputs.get("model")
        if not (isinstance(link, (list, tuple)) and len(link) == 2) or str(link[0]) in seen:
            return None
        seen.add(str(link[0]))
        node = prompt.get(str(link[0]))
    return None


def record_node_usage(loras: list["ModelRecord"], checkpoint_name: str | None) -> bool:
    """Schedule one use of these LoRAs (and the checkpoint, when the library knows it); never blocks."""
    bound = runtime.current()
    if bound is None:
        return False
    service = bound.context.components.get(COMPONENT)
    if service is None:
        return False
    uses = [("lora", record.file_path) for record in loras]
    if checkpoint_name:
        checkpoint = LibraryView.of(bound.context, "checkpoint").find(checkpoint_name)
        if checkpoint is not None:
            uses.append(("checkpoint", checkpoint.file_path))
    if not uses:
        return False
    return runtime.submit(service.record(uses)) is not None
