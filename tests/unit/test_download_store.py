"""The download store on a real SQLite file: queue → history moves, version memory, healing."""
from __future__ import annotations

import asyncio
import sqlite3

from lora_manager.py.services.downloads.store import DownloadStore


async def _store(tmp_path, closer) -> DownloadStore:
    """An open store, closed by ``closer`` whatever the test's outcome."""
    store = closer(DownloadStore(tmp_path / "db" / "downloads.sqlite"))
    await store.open()
    return store


async def test_concurrent_completes_move_each_row_exactly_once(tmp_path, closer):
    store = await _store(tmp_path, closer)
    for n in range(20):
        await store.add_queue({"download_id": f"d{n}", "model_id": n})
    results = await asyncio.gather(*(store.complete(f"d{n % 20}", status="completed") for n in range(40)))
    assert sum(r is not None for r in results) == 20
    items, total = await store.list_history(limit=500)
    assert total == 20 and sorted(i["download_id"] for i in items) == sorted(f"d{n}" for n in range(20))
    assert await store.list_queue() == []
    await store.close()


async def test_version_memory_keeps_deleted_versions(tmp_path, closer):
    store = await _store(tmp_path, closer)
    await store.remember_version("lora", 11, model_id=1, file_path="/a.safetensors")
    await store.remember_version("checkpoint", 12, model_id=1, source="manual")
    assert (await store.version_memory(11)).downloaded is True
    assert await store.mark_version_deleted(11) == 1
    memory = await store.version_memory(11)
    assert (memory.downloaded, memory.file_path, memory.source) == (False, "/a.safetensors", "download")
    await store.remember_version("lora", 11, downloaded=True, source="manual")
    assert (await store.version_memory(11, "lora")).source == "manual"
    assert await store.mark_version_deleted(12, "checkpoint") == 1
    assert await store.downloaded_version_ids([11, 12, 13]) == {11}
    assert [m.version_id for m in await store.model_memory(1)] == [11, 12]
    assert await store.downloaded_version_ids([]) == set()
    await store.close()


async def test_a_store_from_a_newer_program_is_set_aside(tmp_path, closer):
    path = tmp_path / "db" / "downloads.sqlite"
    path.parent.mkdir()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=99")
    store = closer(DownloadStore(path))
    await store.open()
    assert store.healed_from is not None and store.healed_from.exists()
    assert (await store.add_queue({"download_id": "x"}))["status"] == "queued"
    await store.close()
    await store.close()


async def test_update_refuses_unknown_columns(tmp_path, closer):
    store = await _store(tmp_path, closer)
    await store.add_queue({"download_id": "x"})
    try:
        await store.update_queue("x", nonsense=1)
    except ValueError as exc:
        assert "nonsense" in str(exc)
    else:
        raise AssertionError("unknown column accepted")
    assert await store.update_queue("x") is True
    assert await store.update_queue("missing") is False
    await store.close()
