"""Early start: listings answer from the index database while the projection loads; other requests wait.

The library is indexed once by a normal start, then a second start with ``early=True`` reads it back.
"""
from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from lora_manager.py.app import build_app
from lora_manager.py.library.query import ListQuery
from lora_manager.py.routes import middleware
from support.fixtures import wait_idle
from support.library import lm_sidecar, write_lora
from support.snap import scrub


def _write_library(env) -> None:
    for i in range(30):
        sidecar = lm_sidecar(f"Model {i}", exclude=i % 10 == 3, favorite=i % 4 == 0, tags=["t"] if i % 2 else [])
        write_lora(env.loras, f"group_{i % 3}/model_{i}.safetensors", family="sd15", sidecar=sidecar)


async def _indexed_env(lib_env, closer):
    """The library indexed by a normal start that has ended (closed by ``closer`` should it fail)."""
    _write_library(lib_env)
    context = closer(await asyncio.to_thread(lib_env.context))
    await context.start()
    await wait_idle(context)
    await context.close()
    return lib_env


async def test_early_pages_equal_the_loaded_projection(lib_env, closer):
    env = await _indexed_env(lib_env, closer)
    context = closer(await asyncio.to_thread(env.context))
    await context.start(early=True)
    service = context.service("lora")
    queries = [ListQuery(page_size=7), ListQuery(page=3, page_size=7, descending=True),
               ListQuery(page_size=50, sort_by="date", descending=True), ListQuery(page_size=9, sort_by="size"),
               ListQuery(page_size=50, include_excluded=True)]
    try:
        assert not service.ready.is_set()  # the projection loads in a task that has not run yet
        # each check of ``ready`` runs in the first step of its task, before the load can finish
        early = await asyncio.gather(*(service.early_list(q) for q in queries))
        await service.ready.wait()
        for query, result in zip(queries, early):
            assert result is not None
            loaded = service.list_models(query)
            assert [r.file_path for r in result.items] == [r.file_path for r in loaded.items]
            assert (result.total, result.total_pages) == (loaded.total, loaded.total_pages)
        assert await service.early_list(queries[0]) is None  # once loaded, the projection answers
    finally:
        await context.close()


async def test_filtered_queries_wait_for_the_projection(lib_env, closer):
    env = await _indexed_env(lib_env, closer)
    context = closer(await asyncio.to_thread(env.context))
    await context.start(early=True)
    service = context.service("lora")
    try:
        for query in (ListQuery(favorites_only=True), ListQuery(search="model"), ListQuery(sort_by="usage"),
                      ListQuery(folder="group_1"), ListQuery(sort_by="random", random_seed="3")):
            assert await service.early_list(query) is None
        # options that mean nothing without a search do not make a listing filtered
        assert await service.early_list(replace(ListQuery(), search_tags=True, fuzzy=True)) is not None
    finally:
        await context.close()


async def test_rows_without_a_stored_name_key_wait_for_the_projection(lib_env, closer):
    env = await _indexed_env(lib_env, closer)
    context = closer(await asyncio.to_thread(env.context))
    closer.on_close(context.database.close)  # opened here on its own, before the context starts
    await context.database.open()
    await context.database.conn.execute("UPDATE models SET name_key = '' WHERE file_path LIKE '%model_5.%'")
    await context.database.conn.commit()
    await context.database.close()
    await context.start(early=True)
    service = context.service("lora")
    try:
        assert await service.early_list(ListQuery()) is None
        assert await service.early_list(ListQuery(sort_by="date")) is not None
    finally:
        await context.close()


async def test_listing_over_http_is_the_same_during_and_after_an_early_start(lib_env, aiohttp_client, snapshot,
                                                                            closer):
    env = await _indexed_env(lib_env, closer)
    context = closer(await asyncio.to_thread(env.context))
    client = await aiohttp_client(build_app(context, early=True))
    first = await client.get("/api/lm/loras/list", params={"page_size": "5", "sort_by": "name"})
    body = await first.json()
    assert first.status == 200
    # another route waits for the whole start instead of failing
    folders = await client.get("/api/lm/loras/folders")
    assert folders.status == 200
    assert context.fully_started.is_set()
    again = await client.get("/api/lm/loras/list", params={"page_size": "5", "sort_by": "name"})
    later = await again.json()
    body.pop("scan_in_progress"), later.pop("scan_in_progress")  # the background validation may be running
    assert body == later
    assert body["total"] == 27
    assert scrub(body, env.tmp) == snapshot


class _StartsLater:
    """A component whose start finishes only when released: it holds the app in its starting phase."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def start(self) -> None:
        await self.release.wait()

    async def close(self) -> None:
        pass


async def test_requests_wait_for_the_start_and_time_out_with_a_clear_error(lib_env, aiohttp_client, monkeypatch,
                                                                           snapshot, closer):
    env = await _indexed_env(lib_env, closer)
    context = closer(await asyncio.to_thread(env.context))
    late = _StartsLater()
    context.components["starts_later"] = late
    client = await aiohttp_client(build_app(context, early=True))
    monkeypatch.setattr(middleware, "STARTUP_WAIT_SECONDS", 0.05)
    listing = await client.get("/api/lm/loras/list")  # served: the projection is ready, the gate is not needed
    assert listing.status == 200
    waiting = await client.get("/api/lm/loras/folders")
    assert waiting.status == 503
    error = await waiting.json()
    assert error == {"success": False, "error": "The library is still loading; try again in a moment"}
    assert error == snapshot
    monkeypatch.setattr(middleware, "STARTUP_WAIT_SECONDS", 5.0)
    pending = asyncio.ensure_future(client.get("/api/lm/loras/folders"))
    await asyncio.sleep(0.05)
    assert not pending.done()
    late.release.set()
    answered = await pending
    assert answered.status == 200


@pytest.mark.parametrize("early", [True, False])
async def test_close_during_an_early_start_stops_cleanly(lib_env, early, closer):
    env = await _indexed_env(lib_env, closer)
    context = closer(await asyncio.to_thread(env.context))
    late = _StartsLater()
    context.components["starts_later"] = late
    if early:
        await context.start(early=True)
        await context.service("lora").ready.wait()
        assert not context.fully_started.is_set()
        await context.close()
        assert not context.fully_started.is_set()
    else:
        late.release.set()
        await context.start()
        assert context.fully_started.is_set()
        await context.close()
        assert not context.fully_started.is_set()


async def test_identity_reports_are_read_from_the_index_after_a_warm_start(lib_env, aiohttp_client, closer):
    env = await _indexed_env(lib_env, closer)
    context = closer(await asyncio.to_thread(env.context))
    client = await aiohttp_client(build_app(context))
    path = env.loras / "group_1" / "model_1.safetensors"
    record = context.service("lora").index.get(str(path).replace("\\", "/"))
    assert record is not None and record.identity_json == ""  # the warm start left the report in the index
    resp = await client.get("/api/lm/loras/info", params={"file_path": str(path)})
    body = await resp.json()
    assert resp.status == 200 and body["identity"]["network_type"] == "LoRA"
    assert body["identity"]["network_type_source"]
