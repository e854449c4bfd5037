"""Shared fixtures: a fresh app context per test on tmp_path (settings, data dir, library roots)."""
from __future__ import annotations

import asyncio
import gc
import inspect
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator, TypeVar

import pytest
from aiohttp import web

from lora_manager.py.app import AppContext, build_app, create_context
from lora_manager.py.settings import resolve_runtime_paths


@dataclass
class LibraryEnv:
    """Folders of one test library: its roots and the data dir holding settings and the index."""

    tmp: Path
    data_dir: Path
    loras: Path
    checkpoints: Path
    embeddings: Path

    @property
    def settings_path(self) -> Path:
        return self.data_dir / "settings.json"

    def write_settings(self, **extra: Any) -> None:
        doc = {"version": 1, "libraries": {"default": {"roots": {
            "lora": [str(self.loras)], "checkpoint": [str(self.checkpoints)], "embedding": [str(self.embeddings)]}}}}
        doc.update(extra)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.settings_path.write_text(json.dumps(doc), encoding="utf-8")

    def context(self) -> AppContext:
        return create_context(resolve_runtime_paths(None, str(self.data_dir), environ={}))


T = TypeVar("T")


class Closer:
    """What a test opened (stores, databases, contexts, servers), closed last-opened first when the test ends,
    whether it passed or not: a failing assertion never leaves a connection's thread keeping pytest alive.

    ``closer(thing)`` registers ``thing.close`` and returns ``thing``; ``closer.on_close(fn)`` registers any
    callable (sync or async). Closing twice must be harmless: tests may close early to reopen.
    """

    def __init__(self) -> None:
        self._closers: list[Callable[[], Any]] = []

    def __call__(self, thing: T) -> T:
        self._closers.append(thing.close)  # type: ignore[attr-defined]
        return thing

    def on_close(self, fn: Callable[[], Any]) -> None:
        self._closers.append(fn)

    async def close_all(self) -> None:
        failures: list[BaseException] = []
        while self._closers:
            fn = self._closers.pop()
            try:
                result = fn()
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:  # noqa: BLE001 - close the rest, then report the first failure
                failures.append(exc)
        if failures:
            raise failures[0]


@pytest.fixture
async def closer() -> AsyncIterator[Closer]:
    opened = Closer()
    try:
        yield opened
    finally:
        await opened.close_all()


def _database_threads() -> set[threading.Thread]:
    """Worker threads of open aiosqlite connections (not daemons: one left open keeps the process alive)."""
    import aiosqlite.core

    worker = aiosqlite.core._connection_worker_thread
    return {t for t in threading.enumerate() if t.is_alive() and getattr(t, "_target", None) is worker}


def _stop_database_threads(threads: set[threading.Thread]) -> None:
    """Stop the connections behind leaked worker threads, so the run can still end."""
    import aiosqlite

    for conn in [o for o in gc.get_objects() if isinstance(o, aiosqlite.Connection)]:
        if conn._thread in threads:
            def close_and_stop(conn: Any = conn) -> Any:
                if conn._connection is not None:
                    conn._connection.close()
                    conn._connection = None
                return aiosqlite.core._STOP_RUNNING_SENTINEL

            conn._running = False
            conn._tx.put_nowait((None, close_and_stop))
    for thread in threads:
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _no_database_left_open(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test closes what it opens (see ``closer``): a connection still open after the test's fixtures are
    torn down fails the test by name, and is stopped so that the run is not left hanging."""
    before = _database_threads()
    yield
    leaked = _database_threads() - before
    for thread in leaked:
        thread.join(timeout=1)  # a close already under way ends its thread a moment later
    leaked = {t for t in leaked if t.is_alive()}
    if leaked:
        _stop_database_threads(leaked)
        pytest.fail(f"{request.node.nodeid} left {len(leaked)} database connection(s) open: "
                    "close them in a fixture (see support.fixtures.closer)", pytrace=False)


@pytest.fixture(autouse=True)
def _no_anchor_settings_from_home(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read ComfyUI-Lora-Manager's settings from the real home folder (a first run would import
    them); tests of that import point ``LORA_MANAGER_ANCHOR_CONFIG_DIR`` at tmp_path."""
    monkeypatch.setenv("LORA_MANAGER_ANCHOR_CONFIG_DIR", "")


@pytest.fixture
def lib_env(tmp_path: Path) -> LibraryEnv:
    env = LibraryEnv(tmp_path, tmp_path / "data", tmp_path / "loras", tmp_path / "checkpoints", tmp_path / "embeddings")
    for folder in (env.loras, env.checkpoints, env.embeddings):
        folder.mkdir(parents=True)
    env.write_settings()
    return env


async def wait_idle(context: AppContext) -> None:
    """Wait until every background job (startup validation, hashing) has finished.

    A service that loads its projection in the background starts its validation only once loaded: until then
    no job is listed, so "no job running" alone would let a test race the validation it meant to wait for."""
    for _ in range(2000):
        jobs = context.jobs.list_jobs()
        services = list(context.services.values())
        loaded = all(getattr(s, "_loading", None) is None or s._loading.done() for s in services)
        if loaded and all(job.status in ("completed", "failed", "cancelled") for job in jobs) and all(
            s._background is None or s._background.done() for s in services
        ):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("background jobs did not finish")


@pytest.fixture
def make_client(aiohttp_client: Callable[..., Any]) -> Callable[..., Any]:
    """Build the real app on a LibraryEnv and return a test client once startup validation is done."""

    async def factory(env: LibraryEnv, *, idle: bool = True) -> Any:
        context = await asyncio.to_thread(env.context)
        app = build_app(context)
        client = await aiohttp_client(app)
        client.lm_context = context
        if idle:
            await wait_idle(context)
        return client

    return factory


@pytest.fixture
async def client(lib_env: LibraryEnv, make_client: Callable[..., Any]) -> AsyncIterator[Any]:
    yield await make_client(lib_env)


def app_context(app: web.Application) -> AppContext:
    from lora_manager.py.app import CONTEXT_KEY

    return app[CONTEXT_KEY]
