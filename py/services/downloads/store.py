"""The persistent download queue, history and version memory: one SQLite file (WAL) per data dir.

Why: the browser extension treats the server's queue and history as its source of truth (API-COMPAT §2.4), a
download must survive a restart (queue rows keep what is needed to resume), and "has this version ever been
downloaded" must be answerable after the file is gone. A corrupt file is set aside and recreated, like the
library index.
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import aiosqlite

from ...library.sqlite_setup import close_quietly, open_database

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
QUEUE_STATUSES = ("queued", "downloading", "paused", "waiting")
HISTORY_STATUSES = ("completed", "failed", "canceled", "skipped")
MAX_HISTORY_PAGE = 500

QUEUE_FIELDS = (
    "download_id", "model_id", "model_version_id", "model_name", "version_name", "thumbnail_url", "source",
    "file_params", "status", "priority", "progress", "bytes_downloaded", "total_bytes", "bytes_per_second", "error",
    "file_path", "added_at", "started_at", "completed_at",
)
HISTORY_FIELDS = (
    "id", "download_id", "model_id", "model_version_id", "model_name", "version_name", "thumbnail_url", "file_params",
    "status", "error", "file_path", "bytes_downloaded", "total_bytes", "completed_at", "is_already_exists",
)

MIGRATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS queue (
        download_id TEXT PRIMARY KEY,
        model_id INTEGER,
        model_version_id INTEGER,
        model_name TEXT NOT NULL DEFAULT '',
        version_name TEXT NOT NULL DEFAULT '',
        thumbnail_url TEXT NOT NULL DEFAULT '',
        source TEXT,
        file_params TEXT,
        status TEXT NOT NULL DEFAULT 'queued',
        priority INTEGER NOT NULL DEFAULT 0,
        progress INTEGER NOT NULL DEFAULT 0,
        bytes_downloaded INTEGER NOT NULL DEFAULT 0,
        total_bytes INTEGER,
        bytes_per_second REAL NOT NULL DEFAULT 0,
        error TEXT,
        file_path TEXT,
        added_at REAL NOT NULL,
        started_at REAL,
        completed_at REAL,
        request_json TEXT
    );
    CREATE TABLE IF NOT EXISTS history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        download_id TEXT NOT NULL UNIQUE,
        model_id INTEGER,
        model_version_id INTEGER,
        model_name TEXT NOT NULL DEFAULT '',
        version_name TEXT NOT NULL DEFAULT '',
        thumbnail_url TEXT NOT NULL DEFAULT '',
        file_params TEXT,
        status TEXT NOT NULL,
        error TEXT,
        file_path TEXT,
        bytes_downloaded INTEGER NOT NULL DEFAULT 0,
        total_bytes INTEGER,
        completed_at REAL NOT NULL,
        is_already_exists INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX IF NOT EXISTS history_completed ON history(completed_at);
    CREATE TABLE IF NOT EXISTS downloaded_versions (
        model_type TEXT NOT NULL,
        version_id INTEGER NOT NULL,
        model_id INTEGER,
        file_path TEXT,
        deleted INTEGER NOT NULL DEFAULT 0,
        source TEXT NOT NULL DEFAULT 'download',
        updated_at REAL NOT NULL,
        PRIMARY KEY (model_type, version_id)
    );
    CREATE INDEX IF NOT EXISTS downloaded_versions_model ON downloaded_versions(model_id);
    """,
]


@dataclass(frozen=True)
class VersionMemory:
    """One remembered version: ``downloaded`` is False once it was deleted or marked not downloaded."""

    model_type: str
    version_id: int
    model_id: int | None
    file_path: str | None
    downloaded: bool
    source: str


def new_download_id() -> str:
    return str(uuid.uuid4())


class DownloadStore:
    """Async access to ``downloads.sqlite``. Every write runs under one lock so multi-statement changes
    (queue row → history row) are atomic even though many requests share the connection."""

    def __init__(self, path: Path, *, clock: Any = time.time):
        self.path = path
        self.conn: aiosqlite.Connection | None = None
        self.healed_from: Path | None = None
        self._lock = asyncio.Lock()
        self._clock = clock

    # -- lifecycle -------------------------------------------------------------------------------------
    async def open(self) -> None:
        self.conn, self.healed_from = await open_database(self.path, MIGRATIONS, "download store",
                                                          row_factory=sqlite3.Row)

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        await close_quietly(conn)

    def _db(self) -> aiosqlite.Connection:
        if self.conn is None:
            raise RuntimeError("download store is not open")
        return self.conn

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self._db().execute(sql, tuple(params)) as cursor:
            return list(await cursor.fetchall())

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        async with self._db().execute(sql, tuple(params)) as cursor:
            return await cursor.fetchone()

    # -- queue -----------------------------------------------------------------------------------------
    @staticmethod
    def _queue_dict(row: sqlite3.Row) -> dict[str, Any]:
        return {name: row[name] for name in QUEUE_FIELDS}

    async def get_queue(self, download_id: str) -> dict[str, Any] | None:
        row = await self._one("SELECT * FROM queue WHERE download_id = ?", (download_id,))
        return None if row is None else self._queue_dict(row)

    async def queue_request(self, download_id: str) -> str | None:
        """The server-side request a row was started with (JSON text), for resuming after a restart."""
        row = await self._one("SELECT request_json FROM queue WHERE download_id = ?", (download_id,))
        return None if row is None else row["request_json"]

    async def list_queue(self, status: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM queue"
        params: tuple[Any, ...] = ()
        if status:
            sql += " WHERE status = ?"
            params = (status,)
        rows = await self._all(sql + " ORDER BY priority DESC, added_at ASC, rowid ASC", params)
        return [self._queue_dict(r) for r in rows]

    async def add_queue(self, item: dict[str, Any], *, request_json: str | None = None) -> dict[str, Any] | None:
        """Insert-or-ignore. Returns the (new or existing) row; None when the id is already in history."""
        download_id = str(item.get("download_id") or new_download_id())
        async with self._lock:
            existing = await self.get_queue(download_id)
            if existing is not None:
                if request_json is not None:
                    await self._db().execute("UPDATE queue SET request_json = ? WHERE download_id = ?",
                                             (request_json, download_id))
                    await self._db().commit()
                return existing
            if await self._one("SELECT 1 FROM history WHERE download_id = ?", (download_id,)) is not None:
                return None
            await self._db().execute(
                "INSERT INTO queue (download_id, model_id, model_version_id, model_name, version_name, thumbnail_url,"
                " source, file_params, status, priority, added_at, request_json)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    download_id, item.get("model_id"), item.get("model_version_id"), item.get("model_name") or "",
                    item.get("version_name") or "", item.get("thumbnail_url") or "", item.get("source"),
                    item.get("file_params"), item.get("status") or "queued", int(item.get("priority") or 0),
                    float(item.get("added_at") or self._clock()), request_json,
                ),
            )
            await self._db().commit()
            return await self.get_queue(download_id)

    async def update_queue(self, download_id: str, **fields: Any) -> bool:
        """Change some columns of a row (unknown names are refused); ``started_at`` is only set once."""
        allowed = set(QUEUE_FIELDS) - {"download_id"} | {"request_json"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown queue fields: {sorted(unknown)}")
        if not fields:
            return await self.get_queue(download_id) is not None
        sets = []
        params: list[Any] = []
        for name, value in fields.items():
            if name == "started_at":
                sets.append("started_at = COALESCE(started_at, ?)")
            else:
                sets.append(f"{name} = ?")
            params.append(value)
        async with self._lock:
            cursor = await self._db().execute(
                f"UPDATE queue SET {', '.join(sets)} WHERE download_id = ?", (*params, download_id))
            await self._db().commit()
            return cursor.rowcount > 0

    async def set_status(self, download_id: str, status: str) -> bool:
        if status == "downloading":
            return await self.update_queue(download_id, status=status, started_at=self._clock())
        return await self.update_queue(download_id, status=status)

    async def complete(self, download_id: str, *, status: str = "completed", error: str | None = None,
                       file_path: str | None = None, bytes_downloaded: int = 0, total_bytes: int | None = None,
                       completed_at: float | None = None) -> dict[str, Any] | None:
        """Move a queue row to history in one transaction; returns the removed row, or None if absent."""
        async with self._lock:
            row = await self.get_queue(download_id)
            if row is None:
                return None
            db = self._db()
            try:
                await db.execute("DELETE FROM queue WHERE download_id = ?", (download_id,))
                await db.execute("DELETE FROM history WHERE download_id = ?", (download_id,))
                await db.execute(
                    "INSERT INTO history (download_id, model_id, model_version_id, model_name, version_name,"
                    " thumbnail_url, file_params, status, error, file_path, bytes_downloaded, total_bytes,"
                    " completed_at, is_already_exists) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                    (
                        download_id, row["model_id"], row["model_version_id"], row["model_name"],
                        row["version_name"], row["thumbnail_url"], row["file_params"], status, error,
                        file_path if file_path is not None else row["file_path"], int(bytes_downloaded or 0),
                        total_bytes, float(completed_at if completed_at is not None else self._clock()),
                    ),
                )
                await db.commit()
            except BaseException:
                await db.rollback()
                raise
            return row

    async def remove_queue(self, download_id: str) -> bool:
        async with self._lock:
            cursor = await self._db().execute("DELETE FROM queue WHERE download_id = ?", (download_id,))
            await self._db().commit()
            return cursor.rowcount > 0

    async def move(self, download_id: str, *, to_top: bool) -> bool:
        """Priority becomes max+1 (top) or min-1 (end)."""
        async with self._lock:
            if await self.get_queue(download_id) is None:
                return False
            row = await self._one("SELECT MAX(priority), MIN(priority) FROM queue")
            high, low = (row[0] or 0), (row[1] or 0)
            await self._db().execute("UPDATE queue SET priority = ? WHERE download_id = ?",
                                     (high + 1 if to_top else low - 1, download_id))
            await self._db().commit()
            return True

    async def clear_queue(self, status: str = "queued") -> int:
        async with self._lock:
            cursor = await self._db().execute("DELETE FROM queue WHERE status = ?", (status,))
            await self._db().commit()
            return cursor.rowcount

    async def queue_counts(self) -> dict[str, int]:
        rows = await self._all("SELECT status, COUNT(*) AS n FROM queue GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    # -- history ---------------------------------------------------------------------------------------
    @staticmethod
    def _history_dict(row: sqlite3.Row) -> dict[str, Any]:
        return {name: row[name] for name in HISTORY_FIELDS}

    async def list_history(self, *, limit: int = 50, offset: int = 0,
                           status: str | None = None) -> tuple[list[dict[str, Any]], int]:
        where, params = ("WHERE status = ?", (status,)) if status else ("", ())
        total = (await self._one(f"SELECT COUNT(*) FROM history {where}", params))[0]
        rows = await self._all(
            f"SELECT * FROM history {where} ORDER BY completed_at DESC, id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset))
        return [self._history_dict(r) for r in rows], total

    async def get_history(self, *, history_id: int | None = None,
                          download_id: str | None = None) -> dict[str, Any] | None:
        if history_id is not None:
            row = await self._one("SELECT * FROM history WHERE id = ?", (history_id,))
        else:
            row = await self._one("SELECT * FROM history WHERE download_id = ?", (download_id,))
        return None if row is None else self._history_dict(row)

    async def history_counts(self) -> dict[str, int]:
        rows = await self._all("SELECT status, COUNT(*) AS n FROM history GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    async def clear_history(self, status: str | None = None) -> int:
        async with self._lock:
            if status:
                cursor = await self._db().execute("DELETE FROM history WHERE status = ?", (status,))
            else:
                cursor = await self._db().execute("DELETE FROM history")
            await self._db().commit()
            return cursor.rowcount

    async def delete_history(self, *, history_id: int | None = None, download_id: str | None = None) -> bool:
        async with self._lock:
            if history_id is not None:
                cursor = await self._db().execute("DELETE FROM history WHERE id = ?", (history_id,))
            else:
                cursor = await self._db().execute("DELETE FROM history WHERE download_id = ?", (download_id,))
            await self._db().commit()
            return cursor.rowcount > 0

    async def retry(self, history: dict[str, Any]) -> dict[str, Any]:
        """A failed/canceled history row becomes a new queue row (new id, source ``retry``), atomically."""
        new_id = new_download_id()
        async with self._lock:
            db = self._db()
            try:
                await db.execute(
                    "INSERT INTO queue (download_id, model_id, model_version_id, model_name, version_name,"
                    " thumbnail_url, source, file_params, status, priority, added_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'retry', ?, 'queued', 0, ?)",
                    (new_id, history["model_id"], history["model_version_id"], history["model_name"],
                     history["version_name"], history["thumbnail_url"], history["file_params"], self._clock()),
                )
                await db.execute("DELETE FROM history WHERE id = ?", (history["id"],))
                await db.commit()
            except BaseException:
                await db.rollback()
                raise
        row = await self.get_queue(new_id)
        assert row is not None
        return row

    async def retryable_history(self) -> list[dict[str, Any]]:
        rows = await self._all(
            "SELECT * FROM history WHERE status IN ('failed', 'canceled') ORDER BY completed_at ASC, id ASC")
        return [self._history_dict(r) for r in rows]

    # -- version memory --------------------------------------------------------------------------------
    async def remember_version(self, model_type: str, version_id: int, *, model_id: int | None = None,
                               file_path: str | None = None, source: str = "download",
                               downloaded: bool = True) -> None:
        """Record (or update) one version; ``downloaded=False`` keeps the row but marks it deleted."""
        async with self._lock:
            await self._db().execute(
                "INSERT INTO downloaded_versions (model_type, version_id, model_id, file_path, deleted, source,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(model_type, version_id) DO UPDATE SET"
                " model_id = COALESCE(excluded.model_id, model_id),"
                " file_path = COALESCE(excluded.file_path, file_path),"
                " deleted = excluded.deleted,"
                " source = CASE WHEN excluded.deleted = 0 THEN excluded.source ELSE source END,"
                " updated_at = excluded.updated_at",
                (model_type, version_id, model_id, file_path, 0 if downloaded else 1, source, self._clock()),
            )
            await self._db().commit()

    async def mark_version_deleted(self, version_id: int, model_type: str | None = None) -> int:
        async with self._lock:
            if model_type:
                cursor = await self._db().execute(
                    "UPDATE downloaded_versions SET deleted = 1, updated_at = ? WHERE version_id = ? AND model_type = ?",
                    (self._clock(), version_id, model_type))
            else:
                cursor = await self._db().execute(
                    "UPDATE downloaded_versions SET deleted = 1, updated_at = ? WHERE version_id = ?",
                    (self._clock(), version_id))
            await self._db().commit()
            return cursor.rowcount

    @staticmethod
    def _memory(row: sqlite3.Row) -> VersionMemory:
        return VersionMemory(row["model_type"], row["version_id"], row["model_id"], row["file_path"],
                             not row["deleted"], row["source"])

    async def version_memory(self, version_id: int, model_type: str | None = None) -> VersionMemory | None:
        """The memory of a version (a downloaded entry preferred over a deleted one)."""
        if model_type:
            rows = await self._all("SELECT * FROM downloaded_versions WHERE version_id = ? AND model_type = ?",
                                   (version_id, model_type))
        else:
            rows = await self._all(
                "SELECT * FROM downloaded_versions WHERE version_id = ? ORDER BY deleted ASC, updated_at DESC",
                (version_id,))
        return self._memory(rows[0]) if rows else None

    async def model_memory(self, model_id: int) -> list[VersionMemory]:
        rows = await self._all(
            "SELECT * FROM downloaded_versions WHERE model_id = ? ORDER BY updated_at ASC, version_id ASC",
            (model_id,))
        return [self._memory(r) for r in rows]

    async def downloaded_version_ids(self, version_ids: Iterable[int]) -> set[int]:
        ids = list(dict.fromkeys(int(v) for v in version_ids))
        if not ids:
            return set()
        found: set[int] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = await self._all(
                f"SELECT DISTINCT version_id FROM downloaded_versions WHERE deleted = 0 AND version_id IN ({marks})",
                chunk)
            found.update(r["version_id"] for r in rows)
        return found
