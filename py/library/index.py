"""ModelIndex: one SQLite database per library (WAL, through aiosqlite) plus an in-memory projection.

Why: startup serves listings straight from the database (warm start) and every add, change or removal touches
one row and one projection entry: O(log N), never a rebuild of the whole list.
"""
from __future__ import annotations

import asyncio
import hashlib
import heapq
import json
import logging
import sqlite3
from dataclasses import fields
from operator import attrgetter
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import aiosqlite
import numpy as np
from sortedcontainers import SortedKeyList

from .columns import ColumnIndex
from .gc_tuning import FREEZE_MIN_OBJECTS, bulk_allocation, freeze_long_lived
from .records import STORED_FIELDS, ModelRecord, parse_identity
from .sqlite_setup import close_quietly, open_database
from .stats import LibraryStats, library_stats

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 5  # == len(MIGRATIONS)
_FIELD_TYPES = {f.name: f.type for f in fields(ModelRecord)}
_LIST_FIELDS = frozenset({"tags", "trigger_words"})
_BOOL_FIELDS = frozenset(n for n, t in _FIELD_TYPES.items() if t in ("bool", bool))
_ROW_FIELDS = (*STORED_FIELDS, "name_key")
_COLUMNS = ", ".join(_ROW_FIELDS)
_PATH_COLUMN = _ROW_FIELDS.index("file_path")
# What a listing needs: the identity report (the largest column) stays in the index until asked for.
_LIST_COLUMNS = ", ".join("'' AS identity_json" if name == "identity_json" else name for name in _ROW_FIELDS)
# An empty identity_json means "not loaded": the stored report is kept.
_UPSERT = (f"INSERT INTO models ({_COLUMNS}) VALUES ({', '.join('?' for _ in _ROW_FIELDS)}) "
           "ON CONFLICT(file_path) DO UPDATE SET "
           + ", ".join("identity_json = CASE WHEN excluded.identity_json = '' THEN models.identity_json "
                       "ELSE excluded.identity_json END" if name == "identity_json" else f"{name} = excluded.{name}"
                       for name in _ROW_FIELDS if name != "file_path"))


def _column_sql(name: str) -> str:
    kind = str(_FIELD_TYPES[name])
    if name == "file_path":
        return "file_path TEXT PRIMARY KEY"
    if kind in ("int", "bool") or kind.startswith("int |"):
        return f"{name} INTEGER"
    return f"{name} TEXT"


_ADDED_LATER = ("network_type", "file_format", "precision", "hf_url")  # stored fields that a later migration adds as columns
_V1_FIELDS = tuple(n for n in STORED_FIELDS if n not in _ADDED_LATER)

MIGRATIONS: list[str] = [
    # 1: the models table, one column per stored field of ModelRecord at version 1.
    "CREATE TABLE IF NOT EXISTS models ("
    + ", ".join(_column_sql(n) for n in _V1_FIELDS)
    + ");\nCREATE INDEX IF NOT EXISTS models_type ON models(model_type);\n"
    "CREATE INDEX IF NOT EXISTS models_sha ON models(sha256);\n"
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);",
    # 2: the natural sort key, computed at ingest, so a warm start does not compute it again.
    "ALTER TABLE models ADD COLUMN name_key TEXT NOT NULL DEFAULT '';",
    # 3: the network type beside the identity report, so listings need not load the report.
    "ALTER TABLE models ADD COLUMN network_type TEXT NOT NULL DEFAULT '';\n"
    "UPDATE models SET network_type = coalesce(json_extract(identity_json, '$.network_type'), '') "
    "WHERE json_valid(identity_json);",
    # 4: the storage format and precision of the kinds beyond lora/checkpoint/embedding, for their listings.
    "ALTER TABLE models ADD COLUMN file_format TEXT NOT NULL DEFAULT '';\n"
    "ALTER TABLE models ADD COLUMN precision TEXT NOT NULL DEFAULT '';",
    # 5: the Hugging Face repository of a file, for its list item (sidecar ``hf_url``).
    "ALTER TABLE models ADD COLUMN hf_url TEXT NOT NULL DEFAULT '';",
]


def record_to_row(record: ModelRecord) -> tuple[Any, ...]:
    row = []
    for name in _ROW_FIELDS:
        value = getattr(record, name)
        if name in _LIST_FIELDS:
            value = json.dumps(value, ensure_ascii=False)
        elif name in _BOOL_FIELDS:
            value = int(value)
        row.append(value)
    return tuple(row)


_TAGS_POS = STORED_FIELDS.index("tags")
_TRIGGER_POS = STORED_FIELDS.index("trigger_words")
_BOOL_POS = tuple(STORED_FIELDS.index(n) for n in STORED_FIELDS if n in _BOOL_FIELDS)


def row_to_record(row: Sequence[Any]) -> ModelRecord:
    values = list(row)
    for pos in (_TAGS_POS, _TRIGGER_POS):
        text = values[pos]
        values[pos] = json.loads(text) if text and text != "[]" else []
    for pos in _BOOL_POS:
        values[pos] = bool(values[pos])
    name_key = values.pop()
    return ModelRecord(*values, name_key=name_key or "")


def rows_to_records(rows: Iterable[Sequence[Any]]) -> list[ModelRecord]:
    """Decode index rows; one bad row is skipped with a warning and never breaks the listing."""
    records: list[ModelRecord] = []
    for row in rows:
        try:
            records.append(row_to_record(row))
        except (TypeError, ValueError) as exc:
            logger.warning("Skipping unreadable index row %r: %s", row[0] if row else None, exc)
    return records


class LibraryDatabase:
    """The SQLite file of one library. A corrupt or unreadable file is set aside and rebuilt from disk."""

    def __init__(self, path: Path):
        self.path = path
        self.conn: aiosqlite.Connection | None = None
        self.healed_from: Path | None = None
        # One write transaction at a time on the shared connection: a commit (or a rollback after a refused
        # row) must end only its own statements, never another request's half-written change.
        self._writing = asyncio.Lock()

    async def open(self) -> None:
        self.conn, self.healed_from = await open_database(self.path, MIGRATIONS, "index")

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        await close_quietly(conn)

    def _require(self) -> aiosqlite.Connection:
        if self.conn is None:
            raise RuntimeError("library database is not open")
        return self.conn

    async def stats(self) -> LibraryStats:
        """The statistics page's aggregates, computed by SQL on this index (see library/stats.py)."""
        return await library_stats(self._require())

    async def load_records(self, model_type: str, chunk: int = 5000) -> list[ModelRecord]:
        """Rows decoded in chunks in a worker thread: the peak memory of a warm start stays near the records'."""
        conn = self._require()
        records: list[ModelRecord] = []
        async with conn.execute(f"SELECT {_LIST_COLUMNS} FROM models WHERE model_type = ?", (model_type,)) as cursor:
            while rows := await cursor.fetchmany(chunk):
                records.extend(await asyncio.to_thread(rows_to_records, rows))
        return records

    async def page_rows(self, model_type: str, sort_by: str, descending: bool, limit: int, offset: int,
                        include_excluded: bool) -> tuple[list[ModelRecord], int] | None:
        """One page of an unfiltered listing straight from SQLite, in the projection's order.

        Why: at 100k models the projection takes seconds to load; this answers the first listing meanwhile.
        ``None`` when rows written before the stored name key existed would sort wrongly.
        """
        column = _SQL_SORT[sort_by]
        direction = "DESC" if descending else "ASC"
        where = "model_type = ?" + ("" if include_excluded else " AND exclude = 0")
        conn = self._require()
        if sort_by == "name":
            async with conn.execute(f"SELECT 1 FROM models WHERE {where} AND name_key = '' LIMIT 1",
                                    (model_type,)) as cursor:
                if await cursor.fetchone():
                    return None
        async with conn.execute(f"SELECT count(*) FROM models WHERE {where}", (model_type,)) as cursor:
            total = int((await cursor.fetchone())[0])
        async with conn.execute(
            f"SELECT {_LIST_COLUMNS} FROM models WHERE {where} ORDER BY {column} {direction}, file_path {direction} "
            "LIMIT ? OFFSET ?", (model_type, limit, offset)) as cursor:
            rows = list(await cursor.fetchall())
        return rows_to_records(rows), total

    async def upsert(self, records: Iterable[ModelRecord]) -> list[str]:
        """Write the rows; returns the paths of rows SQLite refused (each logged), so one bad row never fails
        a whole batch."""
        rows = [record_to_row(r) for r in records]
        if not rows:
            return []
        conn = self._require()
        async with self._writing:
            try:
                await conn.executemany(_UPSERT, rows)
            except (OverflowError, sqlite3.InterfaceError, sqlite3.IntegrityError, ValueError):
                await conn.rollback()
                return await self._upsert_one_by_one(rows)
            await conn.commit()
        return []

    async def _upsert_one_by_one(self, rows: list[tuple[Any, ...]]) -> list[str]:
        conn = self._require()
        refused: list[str] = []
        for row in rows:
            try:
                await conn.execute(_UPSERT, row)
            except (OverflowError, sqlite3.InterfaceError, sqlite3.IntegrityError, ValueError) as exc:
                logger.warning("Index row for %s refused and skipped: %s", row[_PATH_COLUMN], exc)
                refused.append(str(row[_PATH_COLUMN]))
        await conn.commit()
        return refused

    async def identity_json(self, file_path: str) -> str:
        conn = self._require()
        async with conn.execute("SELECT identity_json FROM models WHERE file_path = ?", (file_path,)) as cursor:
            row = await cursor.fetchone()
        return row[0] if row and row[0] else "{}"

    async def delete(self, paths: Iterable[str]) -> None:
        keys = [(p,) for p in paths]
        if not keys:
            return
        conn = self._require()
        async with self._writing:
            await conn.executemany("DELETE FROM models WHERE file_path = ?", keys)
            await conn.commit()

    async def clear(self, model_type: str) -> None:
        conn = self._require()
        async with self._writing:
            await conn.execute("DELETE FROM models WHERE model_type = ?", (model_type,))
            await conn.commit()


_SQL_SORT = {"name": "name_key", "date": "mtime_ns", "size": "size"}  # the columns of SORT_KEYS, same order

SORT_KEYS: dict[str, Callable[[ModelRecord], Any]] = {
    "name": lambda r: (r.name_key, r.file_path),
    "date": lambda r: (r.mtime_ns, r.file_path),
    "size": lambda r: (r.size, r.file_path),
}


def interruptible_sorted(values: Iterable[ModelRecord], key: Callable[[ModelRecord], Any],
                         chunk: int = 4096) -> list[ModelRecord]:
    """Sort in small C-level runs merged in Python, so a thread building 100k orders never holds the GIL
    (and so the event loop) for more than a few milliseconds at a time."""
    items = list(values)
    if len(items) <= chunk:
        return sorted(items, key=key)
    runs = [sorted(items[i:i + chunk], key=key) for i in range(0, len(items), chunk)]
    return list(heapq.merge(*runs, key=key))


class ModelProjection:
    """The in-memory view queries run on: records by path, one sorted list per sort key, and the column
    arrays that filters run on (``columns``), all kept in step by ``put`` and ``remove``."""

    def __init__(self, records: Iterable[ModelRecord] = ()):
        self._by_path: dict[str, ModelRecord] = {}
        self._sorted = {name: SortedKeyList(key=key) for name, key in SORT_KEYS.items()}
        self.version = 0
        self.excluded = 0
        self._by_sha: dict[str, set[str]] = {}
        self._by_version: dict[int, set[str]] = {}
        self.columns = ColumnIndex()
        self._orders: dict[tuple[str, str], np.ndarray] = {}
        self._orders_version = -1
        self.replace_all(records)

    def replace_all(self, records: Iterable[ModelRecord]) -> None:
        self._by_path = {r.file_path: r for r in records}
        self.excluded = sum(1 for r in self._by_path.values() if r.exclude)
        self._by_sha = {}
        self._by_version = {}
        for record in self._by_path.values():
            self._link(record)
        for name, key in SORT_KEYS.items():
            self._sorted[name] = SortedKeyList(interruptible_sorted(self._by_path.values(), key), key=key)
        self.columns.load(self._by_path.values())
        self.version += 1

    def _link(self, record: ModelRecord) -> None:
        if record.sha256:
            self._by_sha.setdefault(record.sha256, set()).add(record.file_path)
        if record.civitai_version_id is not None:
            self._by_version.setdefault(record.civitai_version_id, set()).add(record.file_path)

    def _unlink(self, record: ModelRecord) -> None:
        for table, key in ((self._by_sha, record.sha256), (self._by_version, record.civitai_version_id)):
            if key:
                paths = table.get(key)
                if paths is not None:
                    paths.discard(record.file_path)
                    if not paths:
                        del table[key]

    def by_sha256(self, sha256: str) -> list[ModelRecord]:
        return [self._by_path[p] for p in sorted(self._by_sha.get(sha256.lower(), ()))]

    def by_version_id(self, version_id: int) -> list[ModelRecord]:
        return [self._by_path[p] for p in sorted(self._by_version.get(version_id, ()))]

    def __len__(self) -> int:
        return len(self._by_path)

    def __contains__(self, path: str) -> bool:
        return path in self._by_path

    def get(self, path: str) -> ModelRecord | None:
        return self._by_path.get(path)

    def values(self) -> Iterator[ModelRecord]:
        return iter(list(self._by_path.values()))

    def put(self, record: ModelRecord) -> None:
        old = self._by_path.get(record.file_path)
        if old is not None:
            self.excluded -= old.exclude
            self._unlink(old)
            for sorted_list in self._sorted.values():
                sorted_list.remove(old)
        self.excluded += record.exclude
        self._link(record)
        self._by_path[record.file_path] = record
        for sorted_list in self._sorted.values():
            sorted_list.add(record)
        self.columns.put(record)
        self.version += 1

    def remove(self, path: str) -> ModelRecord | None:
        old = self._by_path.pop(path, None)
        if old is not None:
            self.excluded -= old.exclude
            self._unlink(old)
            for sorted_list in self._sorted.values():
                sorted_list.remove(old)
            self.columns.remove(path)
            self.version += 1
        return old

    def ordered(self, sort_key: str) -> Sequence[ModelRecord]:
        """Records in ascending order of a maintained sort key."""
        return self._sorted[sort_key]

    def order(self, sort_by: str, seed: str = "") -> np.ndarray:
        """Slots of every record in ascending order of ``sort_by`` (name, date, size, usage, random),
        built once per projection version and sort (a 100k-model order costs ~10 ms to build)."""
        if self._orders_version != self.version:
            self._orders = {}
            self._orders_version = self.version
        key = (sort_by, seed if sort_by == "random" else "")
        found = self._orders.get(key)
        if found is None:
            found = self._orders[key] = self._build_order(sort_by, seed)
        return found

    def _build_order(self, sort_by: str, seed: str) -> np.ndarray:
        if sort_by in self._sorted:
            records = self._sorted[sort_by]
            return np.fromiter(map(_SLOT, records), dtype=np.int64, count=len(records))
        if sort_by == "usage":  # most used last; ties in name order
            by_name = self.order("name")
            return by_name[np.argsort(self.columns.usage[by_name], kind="stable")]
        # random: a seeded shuffle of the name order, so every page of one seed reads the same order
        digest = hashlib.sha256((seed or "0").encode("utf-8", "surrogatepass")).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "big")).permutation(self.order("name"))

    def warm_orders(self) -> None:
        """Build the common orders ahead of the first filtered request (after a load)."""
        for name in SORT_KEYS:
            self.order(name)


_SLOT = attrgetter("slot")


def _loaded_projection(records: list[ModelRecord]) -> ModelProjection:
    projection = ModelProjection(records)
    projection.warm_orders()
    return projection


class ModelIndex:
    """One model type's slice of a library database, with its projection. All writes are per row."""

    def __init__(self, database: LibraryDatabase, model_type: str):
        self.database = database
        self.model_type = model_type
        self.projection = ModelProjection()

    async def load_in_thread(self) -> int:
        """Warm start: decoding rows and building the sorted orders happen in a worker thread."""
        with bulk_allocation(freeze=False):
            records = await self.database.load_records(self.model_type)
            self.projection = await asyncio.to_thread(_loaded_projection, records)
        if len(records) >= FREEZE_MIN_OBJECTS:
            freeze_long_lived()
        return len(self.projection)

    async def put(self, record: ModelRecord) -> None:
        if await self.database.upsert([record]):
            raise ValueError(f"The index cannot hold the record of {record.file_path}")
        self.projection.put(record)

    async def put_many(self, records: Sequence[ModelRecord]) -> list[str]:
        """Store the records; a row SQLite refuses is skipped (and returned), the rest are stored."""
        refused = set(await self.database.upsert(records))
        for record in records:
            if record.file_path not in refused:
                self.projection.put(record)
        return sorted(refused)

    async def remove(self, paths: Sequence[str]) -> None:
        await self.database.delete(paths)
        for path in paths:
            self.projection.remove(path)

    async def clear(self) -> None:
        await self.database.clear(self.model_type)
        self.projection.replace_all([])

    def get(self, path: str) -> ModelRecord | None:
        return self.projection.get(path)

    async def identity_of(self, record: ModelRecord) -> dict[str, Any]:
        """The identity report of a record, read from the index when the record was loaded without it."""
        if record.identity_json:
            return record.identity()
        return parse_identity(await self.database.identity_json(record.file_path))

    def __len__(self) -> int:
        return len(self.projection)
