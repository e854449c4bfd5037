"""PersistentRecipeCache: the recipes of one folder in SQLite (WAL) with an FTS5 index for search.

Why: the ``*.recipe.json`` files are the truth, but reading 10k of them at every start is slow; the cache
holds each recipe's JSON with the stat it was read at, so startup is one SELECT and only changed files are
read again. A damaged cache file is set aside and rebuilt from the JSON files.

Synchronous and thread-safe (one connection behind a lock): call it from worker threads.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ...library.aside import SQLITE_COMPANIONS, set_aside
from ...library.sqlite_setup import close_quietly_sync, prepare_sync

from .records import SEARCH_FIELDS, RecipeEntry, words

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS recipes (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    json_path TEXT NOT NULL,
    image_path TEXT NOT NULL,
    folder TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS recipes_fts USING fts5(
    title, tags, lora_name, lora_model, prompt, content='', tokenize='unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
_ROW_COLUMNS = "id, json_path, image_path, folder, mtime_ns, size, data"
_LOAD_COLUMNS = "rowid, " + _ROW_COLUMNS


@dataclass
class CachedRow:
    id: str
    json_path: str
    image_path: str
    folder: str
    mtime_ns: int
    size: int
    data: dict[str, Any]
    rowid: int = 0

    def to_entry(self) -> RecipeEntry:
        return RecipeEntry(self.id, self.json_path, self.image_path, self.folder, self.data, self.mtime_ns,
                           self.size, self.rowid)


def fts_query(text: str) -> str | None:
    """An FTS5 expression: every word as a prefix, all words required. None when there is no word."""
    terms = words(text)
    if not terms:
        return None
    return " AND ".join('"' + term.replace('"', '""') + '"*' for term in terms)


class PersistentRecipeCache:
    """SQLite file of the recipe cache. ``open`` heals a corrupt file; ``complete`` says whether a full sweep
    of the recipes folder has filled it (until then search runs in memory)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.healed_from: Path | None = None
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    # -- lifecycle ---------------------------------------------------------------------------------
    def open(self, recipes_dir: str) -> None:
        """Open (or create) the cache for ``recipes_dir``; a cache of another folder is emptied."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            try:
                self._connect()
            except sqlite3.DatabaseError as exc:
                self._close_quietly()
                self.healed_from = set_aside(self.path, str(exc), companions=SQLITE_COMPANIONS)
                self._connect()
            if self.get_meta("recipes_dir") != recipes_dir:
                self._clear_locked()
                self.set_meta("recipes_dir", recipes_dir)

    def _connect(self) -> None:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=5.0)
        self._conn = conn
        prepare_sync(conn, [SCHEMA], "recipe cache")
        conn.execute("SELECT count(*) FROM recipes").fetchone()
        conn.execute("SELECT count(*) FROM recipes_fts").fetchone()

    def heal(self, reason: str) -> None:
        """Set the current file aside and start an empty cache (a read found damage after opening)."""
        with self._lock:
            recipes_dir = None
            try:
                recipes_dir = self.get_meta("recipes_dir")
            except sqlite3.DatabaseError:
                pass
            self._close_quietly()
            self.healed_from = set_aside(self.path, reason, companions=SQLITE_COMPANIONS)
            self._connect()
            if recipes_dir is not None:
                self.set_meta("recipes_dir", recipes_dir)

    def _close_quietly(self) -> None:
        conn, self._conn = self._conn, None
        close_quietly_sync(conn)

    def close(self) -> None:
        with self._lock:
            self._close_quietly()

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("recipe cache is not open")
        return self._conn

    # -- meta --------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._require().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._require().execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @property
    def complete(self) -> bool:
        return self.get_meta("complete") == "1"

    def mark_complete(self, value: bool) -> None:
        self.set_meta("complete", "1" if value else "0")

    # -- rows --------------------------------------------------------------------------------------
    def load(self) -> list[CachedRow]:
        """Every cached recipe; one undecodable row is dropped (and re-read from its file by the next sweep)."""
        with self._lock:
            rows = self._require().execute(f"SELECT {_LOAD_COLUMNS} FROM recipes").fetchall()
        out: list[CachedRow] = []
        for rowid, rid, json_path, image_path, folder, mtime_ns, size, text in rows:
            try:
                data = json.loads(text)
            except (TypeError, ValueError):
                logger.warning("Dropping unreadable cache row %s", rid)
                continue
            if isinstance(data, dict):
                out.append(CachedRow(rid, json_path, image_path, folder, mtime_ns, size, data, rowid))
        return out

    def upsert(self, entries: Iterable[RecipeEntry]) -> None:
        """Insert or replace rows and their search text in one transaction."""
        batch = list(entries)
        if not batch:
            return
        with self._lock:
            conn = self._require()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for entry in batch:
                    self._delete_one(conn, entry.id)
                    cursor = conn.execute(
                        f"INSERT INTO recipes ({_ROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (entry.id, entry.json_path, entry.image_path, entry.folder, entry.mtime_ns, entry.size,
                         json.dumps(entry.data, ensure_ascii=False)),
                    )
                    conn.execute(
                        "INSERT INTO recipes_fts (rowid, title, tags, lora_name, lora_model, prompt) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (cursor.lastrowid, *(entry.search.get(name, "") for name in SEARCH_FIELDS)),
                    )
                    entry.rowid = int(cursor.lastrowid or 0)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @staticmethod
    def _delete_one(conn: sqlite3.Connection, recipe_id: str) -> None:
        row = conn.execute(
            "SELECT rowid, data FROM recipes WHERE id = ?", (recipe_id,)
        ).fetchone()
        if row is None:
            return
        rowid, text = row
        try:
            data = json.loads(text)
            old = RecipeEntry(recipe_id, "", "", "", data if isinstance(data, dict) else {})
            values = [old.search.get(name, "") for name in SEARCH_FIELDS]
            # contentless FTS5: a delete repeats the indexed values of the row
            conn.execute(
                "INSERT INTO recipes_fts (recipes_fts, rowid, title, tags, lora_name, lora_model, prompt) "
                "VALUES ('delete', ?, ?, ?, ?, ?, ?)", (rowid, *values))
        except (TypeError, ValueError):
            logger.warning("Cache row %s unreadable; its search entry is left to the next rebuild", recipe_id)
        conn.execute("DELETE FROM recipes WHERE rowid = ?", (rowid,))

    def delete(self, ids: Iterable[str]) -> None:
        keys = list(ids)
        if not keys:
            return
        with self._lock:
            conn = self._require()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for recipe_id in keys:
                    self._delete_one(conn, recipe_id)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _clear_locked(self) -> None:
        conn = self._require()
        conn.execute("DELETE FROM recipes")
        conn.execute("INSERT INTO recipes_fts (recipes_fts) VALUES ('delete-all')")
        conn.execute("DELETE FROM meta WHERE key = 'complete'")

    def clear(self) -> None:
        with self._lock:
            self._clear_locked()

    def search(self, text: str, fields: Iterable[str]) -> set[int] | None:
        """Row ids of recipes where every word of ``text`` prefixes a word of one of ``fields``; None: no words."""
        expression = fts_query(text)
        chosen = [name for name in SEARCH_FIELDS if name in set(fields)]
        if expression is None or not chosen:
            return None
        match = "{" + " ".join(chosen) + "} : (" + expression + ")"
        with self._lock:
            rows = self._require().execute("SELECT rowid FROM recipes_fts WHERE recipes_fts MATCH ?",
                                           (match,)).fetchall()
        return {row[0] for row in rows}

    def count(self) -> int:
        with self._lock:
            return int(self._require().execute("SELECT count(*) FROM recipes").fetchone()[0])
