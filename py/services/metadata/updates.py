"""Update checks: which local models have a newer version on Civitai, remembered in ``updates.sqlite``.

Why: checking is slow (one request per 100 models) and users ignore some updates on purpose, so the newest
versions seen and the ignore choices are kept on disk, per model type and Civitai model id, and the
"update available" answer is a pure function of that entry and the local version ids.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from ...library.aside import SQLITE_COMPANIONS, set_aside
from ...library.sqlite_setup import close_quietly_sync, prepare_sync

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS model_updates (
    model_type TEXT NOT NULL,
    model_id INTEGER NOT NULL,
    model_name TEXT NOT NULL DEFAULT '',
    versions_json TEXT NOT NULL DEFAULT '[]',
    checked_at REAL,
    not_found INTEGER NOT NULL DEFAULT 0,
    ignored INTEGER NOT NULL DEFAULT 0,
    ignored_versions TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (model_type, model_id)
)
"""


@dataclass
class UpdateEntry:
    """What the last check saw for one Civitai model, plus the user's ignore choices."""

    model_type: str
    model_id: int
    model_name: str = ""
    versions: list[dict[str, Any]] = field(default_factory=list)  # newest first: {id, name, published_at}
    checked_at: float | None = None
    not_found: bool = False
    ignored: bool = False
    ignored_versions: list[int] = field(default_factory=list)

    @property
    def latest(self) -> dict[str, Any] | None:
        return self.versions[0] if self.versions else None

    def to_dict(self) -> dict[str, Any]:
        latest = self.latest
        return {
            "model_id": self.model_id,
            "model_name": self.model_name,
            "checked": self.checked_at is not None,
            "checked_at": self.checked_at,
            "not_found": self.not_found,
            "ignored": self.ignored,
            "ignored_versions": sorted(self.ignored_versions),
            "latest_version": dict(latest) if latest else None,
            "versions": [dict(v) for v in self.versions],
        }


def versions_from_model(model: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Published versions of a Civitai model answer, newest first (Civitai's order is kept)."""
    out: list[dict[str, Any]] = []
    listed = model.get("modelVersions")
    for version in listed if isinstance(listed, list) else []:
        if not isinstance(version, dict):
            continue
        vid = version.get("id")
        if not isinstance(vid, int) or isinstance(vid, bool):
            continue
        if version.get("status") not in (None, "Published"):
            continue
        name = version.get("name")
        out.append({
            "id": vid,
            "name": name if isinstance(name, str) else "",
            "published_at": version.get("publishedAt") if isinstance(version.get("publishedAt"), str) else None,
            "base_model": version.get("baseModel") if isinstance(version.get("baseModel"), str) else None,
        })
    return out


def newer_versions(entry: UpdateEntry | None, local_version_ids: Iterable[int]) -> list[dict[str, Any]]:
    """Versions newer than the newest local one, minus ignored ones; none for an ignored model.

    "Newer" follows Civitai's list order; when no local version is listed any more (deleted), a higher id
    than every local one counts as newer.
    """
    if entry is None or entry.ignored or entry.not_found or not entry.versions:
        return []
    local = {int(v) for v in local_version_ids if v is not None}
    if not local:
        return []
    positions = [i for i, v in enumerate(entry.versions) if v["id"] in local]
    if positions:
        candidates = entry.versions[: min(positions)]
    else:
        newest = max(local)
        candidates = [v for v in entry.versions if v["id"] > newest]
    ignored = set(entry.ignored_versions)
    return [dict(v) for v in candidates if v["id"] not in ignored]


class UpdateStore:
    """``updates.sqlite``: one row per (model type, Civitai model id), mirrored in memory.

    Methods are synchronous (call them from a worker thread); reads of the memory copy are cheap and safe
    from the event loop. A damaged file is set aside and started afresh: it is only a cache of checks.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._entries: dict[tuple[str, int], UpdateEntry] = {}
        self.healed_from: Path | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._connect()
        except sqlite3.DatabaseError as exc:
            self._close_quietly()
            self.healed_from = set_aside(self.path, str(exc), companions=SQLITE_COMPANIONS)
            self._connect()

    def _connect(self) -> None:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            prepare_sync(conn, [SCHEMA], "update-check store")
            rows = conn.execute(
                "SELECT model_type, model_id, model_name, versions_json, checked_at, not_found, ignored, "
                "ignored_versions FROM model_updates"
            ).fetchall()
        except BaseException:
            conn.close()
            raise
        entries: dict[tuple[str, int], UpdateEntry] = {}
        for row in rows:
            try:
                entry = UpdateEntry(
                    model_type=str(row[0]), model_id=int(row[1]), model_name=str(row[2] or ""),
                    versions=[v for v in json.loads(row[3] or "[]") if isinstance(v, dict) and isinstance(v.get("id"), int)],
                    checked_at=row[4], not_found=bool(row[5]), ignored=bool(row[6]),
                    ignored_versions=[int(v) for v in json.loads(row[7] or "[]") if isinstance(v, int)],
                )
            except (TypeError, ValueError) as exc:
                logger.warning("Skipping unreadable update-check row %r: %s", row[:2], exc)
                continue
            entries[(entry.model_type, entry.model_id)] = entry
        with self._lock:
            self._conn = conn
            self._entries = entries

    def _close_quietly(self) -> None:
        conn, self._conn = self._conn, None
        close_quietly_sync(conn)

    def close(self) -> None:
        with self._lock:
            self._close_quietly()

    # -- reads (memory) --------------------------------------------------------------------------
    def get(self, model_type: str, model_id: int) -> UpdateEntry | None:
        return self._entries.get((model_type, int(model_id)))

    def entries(self, model_type: str) -> dict[int, UpdateEntry]:
        return {mid: e for (mtype, mid), e in list(self._entries.items()) if mtype == model_type}

    # -- writes (disk first, then memory) -----------------------------------------------------------
    def save(self, entries: Iterable[UpdateEntry]) -> None:
        rows = [
            (e.model_type, e.model_id, e.model_name, json.dumps(e.versions, ensure_ascii=False), e.checked_at,
             int(e.not_found), int(e.ignored), json.dumps(sorted(set(e.ignored_versions))))
            for e in entries
        ]
        if not rows:
            return
        with self._lock:
            conn = self._require()
            conn.execute("BEGIN")
            try:
                conn.executemany(
                    "INSERT OR REPLACE INTO model_updates (model_type, model_id, model_name, versions_json, "
                    "checked_at, not_found, ignored, ignored_versions) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            for row in rows:
                entry = self._entry_from_row(row)
                self._entries[(entry.model_type, entry.model_id)] = entry

    @staticmethod
    def _entry_from_row(row: tuple[Any, ...]) -> UpdateEntry:
        return UpdateEntry(row[0], row[1], row[2], json.loads(row[3]), row[4], bool(row[5]), bool(row[6]),
                           json.loads(row[7]))

    def record_check(self, model_type: str, models: Mapping[int, Mapping[str, Any]], missing: Iterable[int],
                     now: float) -> list[UpdateEntry]:
        """Store what a check saw; ignore choices are kept."""
        out: list[UpdateEntry] = []
        for model_id, model in models.items():
            old = self.get(model_type, model_id)
            name = model.get("name")
            out.append(UpdateEntry(
                model_type, model_id, name if isinstance(name, str) else "", versions_from_model(model), now, False,
                old.ignored if old else False, list(old.ignored_versions) if old else [],
            ))
        for model_id in missing:
            old = self.get(model_type, model_id)
            out.append(UpdateEntry(
                model_type, model_id, old.model_name if old else "", [], now, True,
                old.ignored if old else False, list(old.ignored_versions) if old else [],
            ))
        self.save(out)
        return out

    def set_ignored(self, model_type: str, model_id: int, *, version_id: int | None = None,
                    ignore: bool = True) -> UpdateEntry:
        """Ignore (or stop ignoring) a whole model, or one of its versions."""
        with self._lock:
            old = self.get(model_type, model_id) or UpdateEntry(model_type, int(model_id))
            entry = UpdateEntry(old.model_type, old.model_id, old.model_name, list(old.versions), old.checked_at,
                                old.not_found, old.ignored, list(old.ignored_versions))
            if version_id is None:
                entry.ignored = ignore
            elif ignore:
                entry.ignored_versions = sorted(set(entry.ignored_versions) | {int(version_id)})
            else:
                entry.ignored_versions = [v for v in entry.ignored_versions if v != int(version_id)]
            self.save([entry])
            return self._entries[(model_type, int(model_id))]

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("update-check store is not open")
        return self._conn
