"""Open an embedded SQLite file the same way everywhere: WAL, an integrity check, schema migrations.

Why: the index, the download queue, the recipe cache and the other stores must all detect damage the same
way (then the caller sets the file aside with ``aside.set_aside`` and starts afresh) and refuse a schema newer
than the program.
"""
from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any, Sequence

import aiosqlite

from .aside import SQLITE_COMPANIONS, set_aside

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


async def close_quietly(conn: aiosqlite.Connection | None) -> None:
    """Close a connection that may be broken already: closing never raises."""
    if conn is None:
        return
    try:
        await conn.close()
    except Exception:  # noqa: BLE001 - closing a broken connection
        pass


def close_quietly_sync(conn: sqlite3.Connection | None) -> None:
    """``close_quietly`` for the stores that use ``sqlite3`` from their own threads."""
    if conn is None:
        return
    try:
        conn.close()
    except sqlite3.Error:
        pass


async def open_database(path: Path, migrations: Sequence[str], label: str, *,
                        row_factory: Any = None) -> tuple[aiosqlite.Connection, Path | None]:
    """Open (creating) a store; a damaged file is set aside and a fresh one made. Returns (connection, aside)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return await _connect(path, migrations, label, row_factory), None
    except sqlite3.DatabaseError as exc:
        aside = await asyncio.to_thread(set_aside, path, str(exc), companions=SQLITE_COMPANIONS)
        return await _connect(path, migrations, label, row_factory), aside


def _daemon_connection(path: Path) -> aiosqlite.Connection:
    """An aiosqlite connection whose worker thread is a daemon.

    Why: inside ComfyUI nothing closes our stores when Ctrl+C ends its event loop, and a non-daemon worker
    thread then keeps the interpreter waiting forever. Every commit is durable (WAL), so a thread ended by the
    interpreter's exit loses nothing; stores are still closed on shutdown where the host lets us.
    """
    conn = aiosqlite.connect(path)
    thread = getattr(conn, "_thread", None)  # not started until the connection is awaited
    if isinstance(thread, threading.Thread) and not thread.is_alive():
        thread.daemon = True
    return conn


async def _connect(path: Path, migrations: Sequence[str], label: str, row_factory: Any) -> aiosqlite.Connection:
    conn = await _daemon_connection(path)
    try:
        if row_factory is not None:
            conn.row_factory = row_factory
        await prepare(conn, migrations, label)
    except BaseException:
        await close_quietly(conn)
        raise
    return conn
