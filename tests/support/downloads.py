"""Helpers for download tests: the real app pointed at the fake Civitai, and waiting on download state."""
from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Callable

from support.fake_civitai import FakeCivitai, FakeVersion

VOLATILE_DOWNLOAD_KEYS = {"bytes_per_second", "last_checked_at"}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def download_client(make_client: Callable[..., Any], env: Any, fake: FakeCivitai, monkeypatch: Any,
                          *, chunk_size: int | None = None, **settings: Any) -> Any:
    """The real app, with Civitai at the fake's address (and any extra settings written first).

    A small ``chunk_size`` makes received bytes reach the ``.part`` at once (for skip/restart tests)."""
    monkeypatch.setenv("LORA_MANAGER_CIVITAI_BASE_URL", fake.base_url)
    if chunk_size is not None:
        from lora_manager.py.services.downloads import manager

        monkeypatch.setattr(manager, "CHUNK_SIZE", chunk_size)
    if settings:
        env.write_settings(**settings)
    return await make_client(env)


def manager_of(client: Any) -> Any:
    return client.lm_context.components["downloads"]


def add_lora(fake: FakeCivitai, name: str = "Pixel Style", *, n_bytes: int = 4096, tags: tuple[str, ...] = ("style",),
             base_model: str = "SDXL 1.0", type: str = "LORA", creator: str = "tester",
             versions: int = 1) -> FakeVersion:
    """A model with ``versions`` versions; returns the newest one."""
    specs = [{"base_model": base_model, "files": [{"n_bytes": n_bytes}]} for _ in range(versions)]
    model = fake.add_model(name, tags=tags, type=type, creator=creator, versions=specs)
    return model.versions[0]


async def wait_until(check: Callable[[], Any], timeout: float = 10.0, step: float = 0.02) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


async def history_row(client: Any, download_id: str) -> dict | None:
    response = await client.get("/api/lm/downloads/history", params={"limit": "500"})
    body = await response.json()
    return next((item for item in body["items"] if item["download_id"] == download_id), None)


async def wait_history(client: Any, download_id: str, timeout: float = 10.0) -> dict:
    return await wait_until(lambda: history_row(client, download_id), timeout)


async def progress(client: Any, download_id: str) -> tuple[int, dict]:
    response = await client.get(f"/api/lm/download-progress/{download_id}")
    return response.status, await response.json()


async def wait_bytes(client: Any, download_id: str, minimum: int = 1, timeout: float = 10.0) -> dict:
    async def check() -> dict | None:
        status, body = await progress(client, download_id)
        if status == 200 and isinstance(body.get("bytes_downloaded"), int) and body["bytes_downloaded"] >= minimum:
            return body
        return None

    return await wait_until(check, timeout)


def stable(value: Any, base_url: str | None = None) -> Any:
    """Replace values that change between runs (speeds, generated UUIDs, the fake's port) for snapshots."""
    if isinstance(value, dict):
        return {k: ("<volatile>" if k in VOLATILE_DOWNLOAD_KEYS and v not in (None, "", 0, 0.0)
                    else stable(v, base_url)) for k, v in value.items()}
    if isinstance(value, list):
        return [stable(v, base_url) for v in value]
    if isinstance(value, str):
        value = _UUID.sub("<uuid>", value)
        if base_url:
            value = value.replace(base_url, "<civitai>")
    return value


def frames_of(messages: list[str]) -> list[dict]:
    return [json.loads(m) for m in messages]
