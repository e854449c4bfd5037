"""Shared fixtures: a fresh app context per test on tmp_path (settings, data dir, library roots)."""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable

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
    """Wait until every background job (startup validation, hashing) has finished."""
    for _ in range(2000):
        jobs = context.jobs.list_jobs()
        if all(job.status in ("completed", "failed", "cancelled") for job in jobs) and all(
            s._background is None or s._background.done() for s in context.services.values()
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
