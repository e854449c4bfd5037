"""Library statistics as pure SQL queries over the index: the statistics page reads them in one request.

Why SQL: at 10k models the database aggregates in one pass each, without walking the in-memory projection.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import aiosqlite

TOP_N = 10  # most/least used entries shown
TAG_CLOUD_SIZE = 50


@dataclass
class LibraryStats:
    """What the statistics page shows; every list is ordered largest first unless named otherwise."""

    totals: dict[str, int] = field(default_factory=dict)
    per_type: list[dict[str, Any]] = field(default_factory=list)
    per_base_model: list[dict[str, Any]] = field(default_factory=list)
    disk_per_folder: list[dict[str, Any]] = field(default_factory=list)
    most_used: list[dict[str, Any]] = field(default_factory=list)
    least_used: list[dict[str, Any]] = field(default_factory=list)
    tag_cloud: list[dict[str, Any]] = field(default_factory=list)
    growth_by_month: list[dict[str, Any]] = field(default_factory=list)
    problems: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_PER_TYPE = ("SELECT model_type, count(*), coalesce(sum(size), 0) FROM models WHERE exclude = 0 "
             "GROUP BY model_type ORDER BY count(*) DESC, model_type")
_PER_BASE = ("SELECT base_model, count(*), coalesce(sum(size), 0) FROM models WHERE exclude = 0 "
             "GROUP BY base_model ORDER BY count(*) DESC, base_model")
_PER_FOLDER = ("SELECT model_type, folder, count(*), coalesce(sum(size), 0) FROM models WHERE exclude = 0 "
               "GROUP BY model_type, folder ORDER BY sum(size) DESC, model_type, folder LIMIT 50")
_USED = ("SELECT model_type, file_name, file_path, usage_count FROM models WHERE exclude = 0 "
         "ORDER BY usage_count {direction}, name_key, file_path LIMIT ?")
_TAGS = ("SELECT lower(j.value) AS tag, count(*) FROM models, json_each(models.tags) AS j "
         "WHERE models.exclude = 0 AND json_valid(models.tags) GROUP BY tag ORDER BY count(*) DESC, tag LIMIT ?")
_GROWTH = ("SELECT strftime('%Y-%m', mtime_ns / 1000000000, 'unixepoch') AS month, count(*), "
           "coalesce(sum(size), 0) FROM models WHERE exclude = 0 GROUP BY month ORDER BY month")
_PROBLEMS = ("SELECT coalesce(sum(status = 'invalid'), 0), coalesce(sum(preview_path = ''), 0), "
             "coalesce(sum(model_type = 'checkpoint' AND hash_status != 'done'), 0), "
             "coalesce(sum(sidecar_status = 'corrupt'), 0), count(*), coalesce(sum(size), 0), "
             "(SELECT count(*) FROM models WHERE exclude = 1) FROM models WHERE exclude = 0")


async def _rows(conn: aiosqlite.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    async with conn.execute(sql, params) as cursor:
        return list(await cursor.fetchall())


async def library_stats(conn: aiosqlite.Connection) -> LibraryStats:
    """Every figure of the statistics page; excluded models count only in ``totals.excluded``."""
    stats = LibraryStats()
    stats.per_type = [{"model_type": t, "count": n, "size": s} for t, n, s in await _rows(conn, _PER_TYPE)]
    stats.per_base_model = [{"base_model": b, "count": n, "size": s} for b, n, s in await _rows(conn, _PER_BASE)]
    stats.disk_per_folder = [{"model_type": t, "folder": f, "count": n, "size": s}
                             for t, f, n, s in await _rows(conn, _PER_FOLDER)]
    used = [{"model_type": t, "file_name": f, "file_path": p, "usage_count": u}
            for t, f, p, u in await _rows(conn, _USED.format(direction="DESC"), (TOP_N,))]
    stats.most_used = [u for u in used if u["usage_count"] > 0]
    stats.least_used = [{"model_type": t, "file_name": f, "file_path": p, "usage_count": u}
                        for t, f, p, u in await _rows(conn, _USED.format(direction="ASC"), (TOP_N,))]
    stats.tag_cloud = [{"tag": t, "count": n} for t, n in await _rows(conn, _TAGS, (TAG_CLOUD_SIZE,))]
    stats.growth_by_month = [{"month": m, "count": n, "size": s} for m, n, s in await _rows(conn, _GROWTH)]
    invalid, no_preview, unhashed, corrupt, total, size, excluded = (await _rows(conn, _PROBLEMS))[0]
    stats.problems = {"invalid_files": invalid, "missing_previews": no_preview,
                      "unhashed_checkpoints": unhashed, "corrupt_sidecars": corrupt}
    stats.totals = {"models": total, "size": size, "excluded": excluded}
    return stats
