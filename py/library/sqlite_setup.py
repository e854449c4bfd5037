"""Open an embedded SQLite file the same way everywhere: WAL, an integrity check, schema migrations.

Why: the index, the download queue, the recipe cache and the other stores must all detect damage the same
way (then the caller sets the file aside with ``aside.set_aside`` and starts afresh) and refuse a schema newer
than the program.
"""
from __future__ import annotations

import sqlite3
from typing import Sequence

import aiosqlite

PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=5000")
HEALABLE = (sqlite3.DatabaseError,)


class DatabaseCorrupt(sqlite3.DatabaseError):
    """The file opened but failed the integrity check, or has a schema newer than this program."""


def _verdict(check: tuple | None, version: int, migrations: Sequence[str], label: str) -> None:
    if not check or check[0] != "ok":
        raise DatabaseCorrupt(f"integrity check failed: {check[0] if check else 'no answer'}")
    if version > len(migrations):
        raise DatabaseCorrupt(f"{label} schema {version} is newer than this program ({len(migrations)})")


async def prepare(conn: aiosqlite.Connection, migrations: Sequence[str], label: str) -> None:
    """WAL + integrity check + migrations ``migrations[version:]`` (each script bumps ``user_version``)."""
    for pragma in PRAGMAS:
        await conn.execute(pragma)
    async with conn.execute("PRAGMA quick_check") as cursor:
        check = await cursor.fetchone()
    async with conn.execute("PRAGMA user_version") as cursor:
        version = (await cursor.fetchone())[0]
    _verdict(check, version, migrations, label)
    for number in range(version, len(migrations)):
        await conn.executescript(migrations[number])
        await conn.execute(f"PRAGMA user_version={number + 1}")
    await conn.commit()


def prepare_sync(conn: sqlite3.Connection, migrations: Sequence[str], label: str) -> None:
    """The same for a plain ``sqlite3`` connection used from worker threads."""
    for pragma in PRAGMAS:
        conn.execute(pragma)
    check = conn.execute("PRAGMA quick_check").fetchone()
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    _verdict(check, version, migrations, label)
    for number in range(version, len(migrations)):
        conn.executescript(migrations[number])
        conn.execute(f"PRAGMA user_version={number + 1}")
    conn.commit()
