"""Recipe store faults: corrupt cache, corrupt recipe files, disk full, permission denied, concurrent writers."""
from __future__ import annotations

import asyncio
import errno
import json
import os
from pathlib import Path

import pytest

from lora_manager.py.library import atomic
from lora_manager.py.services.recipes.images import encode_recipe_webp
from lora_manager.py.services.recipes.store import RecipeNotFound, RecipeStore, RecipeStoreError

from support.recipes import lm_recipe, plain_png, write_recipe


def make_store(tmp_path: Path) -> RecipeStore:
    """A store on tmp_path; tests pass it through ``closer`` so it is closed whatever the outcome."""
    return RecipeStore(tmp_path / "recipes", tmp_path / "cache" / "recipes.sqlite")


async def test_corrupt_cache_file_is_set_aside_and_rebuilt(tmp_path, closer):
    write_recipe(tmp_path / "recipes", "r1")
    store = closer(make_store(tmp_path))
    await store.open()
    await store.sweep()
    await store.close()
    cache_file = tmp_path / "cache" / "recipes.sqlite"
    cache_file.write_bytes(b"this is not a database" * 100)
    healed = closer(make_store(tmp_path))
    assert await healed.open() == 0
    assert healed.cache.healed_from is not None and healed.cache.healed_from.exists()
    assert not healed.index_ready
    await healed.sweep()
    assert list(healed.entries) == ["r1"] and healed.index_ready
    await healed.close()


async def test_damaged_rows_are_healed_on_load(tmp_path, closer):
    write_recipe(tmp_path / "recipes", "r1")
    store = closer(make_store(tmp_path))
    await store.open()
    await store.sweep()
    await store.close()
    conn = sqlite3_connect(tmp_path / "cache" / "recipes.sqlite")
    conn.execute("UPDATE recipes SET data = '{not json'")
    conn.commit()
    conn.close()
    again = closer(make_store(tmp_path))
    assert await again.open() == 0  # the bad row is dropped, never served
    await again.sweep()
    assert list(again.entries) == ["r1"]


def sqlite3_connect(path):
    import sqlite3

    return sqlite3.connect(path)


async def test_corrupt_recipe_json_is_rebuilt_from_its_image(tmp_path, closer):
    root = tmp_path / "recipes"
    recipe = lm_recipe("r1", root / "r1.webp", title="Embedded title")
    root.mkdir(parents=True)
    (root / "r1.webp").write_bytes(encode_recipe_webp(plain_png(), recipe))
    (root / "r1.recipe.json").write_text('{"id": "r1", "title": "trunc', encoding="utf-8")
    store = closer(make_store(tmp_path))
    await store.open()
    summary = await store.sweep()
    assert summary.healed == 1
    entry = store.get("r1")
    assert entry.title == "Embedded title" and entry.data["loras"][0]["file_name"] == "detail_tweaker"
    assert json.loads((root / "r1.recipe.json").read_text())["title"] == "Embedded title"
    assert [p.name for p in root.iterdir() if ".corrupt-" in p.name]  # the bad bytes are kept aside


async def test_corrupt_recipe_without_embedded_recipe_is_skipped(tmp_path, closer):
    root = tmp_path / "recipes"
    write_recipe(root, "good")
    write_recipe(root, "bad")
    (root / "bad.recipe.json").write_text("[1, 2", encoding="utf-8")
    (root / "list.recipe.json").write_text("[1, 2]", encoding="utf-8")
    store = closer(make_store(tmp_path))
    await store.open()
    summary = await store.sweep()
    assert list(store.entries) == ["good"]
    assert len(summary.problems) == 2
    assert (root / "bad.recipe.json").read_text() == "[1, 2"  # untouched: nothing lost


async def test_disk_full_leaves_nothing_behind(tmp_path, monkeypatch, closer):
    store = closer(make_store(tmp_path))
    await store.open()
    real = atomic.atomic_write_text

    def full(path, text, **kwargs):
        if str(path).endswith(".recipe.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, text, **kwargs)

    monkeypatch.setattr(atomic, "atomic_write_text", full)
    with pytest.raises(RecipeStoreError) as info:
        await store.add(lm_recipe("x", ""), b"image-bytes", ".webp")
    assert "disk is full" in info.value.message
    assert [p for p in (tmp_path / "recipes").rglob("*") if p.is_file()] == []
    assert store.entries == {} and store.cache.count() == 0


async def test_update_write_failure_keeps_old_recipe(tmp_path, monkeypatch, closer):
    write_recipe(tmp_path / "recipes", "r1")
    store = closer(make_store(tmp_path))
    await store.open()
    await store.sweep()
    before = (tmp_path / "recipes" / "r1.recipe.json").read_text()

    def denied(path, text, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(atomic, "atomic_write_text", denied)
    with pytest.raises(RecipeStoreError) as info:
        await store.update("r1", {"title": "never"})
    assert "Permission denied" in info.value.message
    assert (tmp_path / "recipes" / "r1.recipe.json").read_text() == before
    assert store.get("r1").title == "Recipe r1"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
async def test_unreadable_recipe_is_reported(tmp_path, closer):
    write_recipe(tmp_path / "recipes", "r1")
    (tmp_path / "recipes" / "r1.recipe.json").chmod(0)
    store = closer(make_store(tmp_path))
    await store.open()
    summary = await store.sweep()
    assert store.entries == {} and summary.problems


async def test_parallel_saves_updates_deletes_and_reads(tmp_path, closer):
    store = closer(make_store(tmp_path))
    await store.open()
    await store.sweep()
    image = encode_recipe_webp(plain_png(), None)
    entries = await asyncio.gather(*(store.add(lm_recipe(f"p{i}", "", title=f"Parallel {i}"), image, ".webp")
                                     for i in range(20)))
    ids = [e.id for e in entries]

    async def edit(i: int) -> None:
        await store.update(ids[i], {"title": f"Edited {i}", "tags": [f"t{i}"]})

    async def reader() -> None:
        for _ in range(20):
            await store.search_ids("parallel", ["title"])
            store.ordered("name")
            await asyncio.sleep(0)

    await asyncio.gather(*(edit(i) for i in range(10)), store.delete(ids[15:]), reader(), store.sweep(),
                         *(edit(i) for i in range(5, 12)))
    assert len(store.entries) == 15
    with pytest.raises(RecipeNotFound):
        await store.update(ids[19], {"title": "gone"})
    await store.close()
    # The cache and the files agree after all of it: a fresh start sees exactly the same recipes.
    fresh = closer(make_store(tmp_path))
    await fresh.open()
    cached = {i: e.title for i, e in fresh.entries.items()}
    summary = await fresh.sweep()
    assert (summary.added, summary.updated, summary.removed) == (0, 0, 0)
    assert cached == {i: e.title for i, e in fresh.entries.items()}
    on_disk = {json.loads(p.read_text())["id"]: json.loads(p.read_text())["title"]
               for p in (tmp_path / "recipes").glob("*.recipe.json")}
    assert on_disk == cached
    assert sorted(await fresh.search_ids("edited", ["title"])) == sorted(ids[i] for i in range(12))


async def test_cache_damaged_while_running_is_refilled_from_memory(tmp_path, monkeypatch, closer):
    import sqlite3

    write_recipe(tmp_path / "recipes", "r1")
    store = closer(make_store(tmp_path))
    await store.open()
    await store.sweep()
    real_upsert = store.cache.upsert
    failures = []

    def malformed_once(entries):
        if not failures:
            failures.append(1)
            raise sqlite3.DatabaseError("database disk image is malformed")
        return real_upsert(entries)

    monkeypatch.setattr(store.cache, "upsert", malformed_once)
    image = encode_recipe_webp(plain_png(), None)
    entry = await store.add(lm_recipe("new", "", title="Added while damaged"), image, ".webp")
    assert store.cache.healed_from is not None
    await store.close()
    warm = closer(make_store(tmp_path))
    assert await warm.open() == 2 and warm.index_ready
    assert await warm.search_ids("damaged", ["title"]) == {entry.id}
