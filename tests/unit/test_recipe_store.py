"""RecipeStore + PersistentRecipeCache on real folders: warm start, incremental sweep, writes, undo, search."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lora_manager.py.services.recipes.cache import PersistentRecipeCache, fts_query
from lora_manager.py.services.recipes.images import encode_recipe_webp
from lora_manager.py.services.recipes.query import RecipeQuery, run_query
from lora_manager.py.services.recipes.records import memory_match, words
from lora_manager.py.services.recipes.store import RecipeNotFound, RecipeStore

from support.recipes import lm_recipe, plain_png, write_recipe


def make_store(tmp_path: Path) -> RecipeStore:
    return RecipeStore(tmp_path / "recipes", tmp_path / "cache" / "recipes.sqlite")


async def opened(tmp_path: Path, closer, sweep: bool = True) -> RecipeStore:
    """An open store (swept), closed by ``closer`` whatever the test's outcome."""
    store = closer(make_store(tmp_path))
    await store.open()
    if sweep:
        await store.sweep()
    return store


async def test_existing_folder_opens_as_it_is(tmp_path, closer):
    write_recipe(tmp_path / "recipes", "r1")
    write_recipe(tmp_path / "recipes" / "sub" / "deeper", "r2", title="Deep")
    store = await opened(tmp_path, closer)
    assert sorted(store.entries) == ["r1", "r2"]
    assert store.get("r2").folder == "sub/deeper"
    assert store.get("r1").data["an_unknown_field"] == {"kept": True}
    assert store.index_ready
    await store.close()


async def test_warm_start_serves_from_cache_before_any_file_is_read(tmp_path, closer):
    write_recipe(tmp_path / "recipes", "r1")
    store = await opened(tmp_path, closer)
    await store.close()
    # Make the file unreadable as JSON: a warm start must not read it, only the sweep does.
    (tmp_path / "recipes" / "r1.recipe.json").write_text("{broken", encoding="utf-8")
    warm = closer(make_store(tmp_path))
    assert await warm.open() == 1
    assert warm.get("r1").title == "Recipe r1" and warm.index_ready
    summary = await warm.sweep()
    assert summary.problems and "r1.recipe.json" in summary.problems[0]
    await warm.close()


async def test_sweep_adds_changes_and_removes(tmp_path, closer):
    root = tmp_path / "recipes"
    write_recipe(root, "r1")
    write_recipe(root, "r2")
    store = await opened(tmp_path, closer)
    path = root / "r1.recipe.json"
    data = json.loads(path.read_text())
    data["title"] = "Changed outside"
    path.write_text(json.dumps(data))
    os.utime(path, ns=(1, 1_800_000_000_000_000_000))
    (root / "r2.recipe.json").unlink()
    write_recipe(root, "r3")
    summary = await store.sweep()
    assert (summary.added, summary.updated, summary.removed) == (1, 1, 1)
    assert sorted(store.entries) == ["r1", "r3"]
    assert store.get("r1").title == "Changed outside"
    assert await store.search_ids("changed", ["title"]) == {"r1"}
    assert await store.search_ids("recipe", ["title"]) == {"r3"}
    await store.close()


async def test_duplicate_ids_keep_the_first(tmp_path, closer):
    root = tmp_path / "recipes"
    write_recipe(root / "a", "same")
    write_recipe(root / "b", "same")
    store = await opened(tmp_path, closer)
    assert len(store.entries) == 1


async def test_add_update_delete_undo(tmp_path, closer):
    store = await opened(tmp_path, closer)
    image = encode_recipe_webp(plain_png((64, 32)), None)
    entry = await store.add(lm_recipe("ignored", "", title="New one"), image, ".webp", folder="a/b")
    assert entry.folder == "a/b" and Path(entry.image_path).is_file() and Path(entry.json_path).is_file()
    assert entry.data["file_path"] == entry.image_path
    updated = await store.update(entry.id, {"title": "Renamed", "loras": []})
    assert updated.title == "Renamed" and updated.fingerprint == ""
    assert json.loads(Path(entry.json_path).read_text())["title"] == "Renamed"
    batch, ids = await store.delete([entry.id])
    assert ids == [entry.id] and not Path(entry.json_path).exists()
    assert store.get(entry.id) is None and await store.search_ids("renamed", ["title"]) == set()
    assert await store.undo_delete(batch) == [entry.id]
    assert store.get(entry.id).title == "Renamed"
    assert await store.search_ids("renamed", ["title"]) == {entry.id}
    with pytest.raises(RecipeNotFound):
        await store.undo_delete(batch)
    with pytest.raises(RecipeNotFound):
        await store.update("missing", {"title": "x"})
    await store.close()


async def test_undo_never_overwrites_a_file_that_came_back(tmp_path, closer):
    write_recipe(tmp_path / "recipes", "r1")
    store = await opened(tmp_path, closer)
    batch, _ = await store.delete(["r1"])
    write_recipe(tmp_path / "recipes", "r1", title="Newer")
    assert await store.undo_delete(batch) == []
    assert json.loads((tmp_path / "recipes" / "r1.recipe.json").read_text())["title"] == "Newer"


async def test_invalid_folders_are_refused(tmp_path, closer):
    store = await opened(tmp_path, closer)
    for folder in ("../out", "a/../../b", ".trash", "a\\b"):
        with pytest.raises(ValueError):
            await store.add(lm_recipe("x", ""), b"data", ".webp", folder=folder)
    with pytest.raises(ValueError):
        await store.add(lm_recipe("x", ""), b"data", ".exe")


async def test_trash_purge(tmp_path, closer):
    write_recipe(tmp_path / "recipes", "r1")
    store = await opened(tmp_path, closer)
    await store.delete(["r1"])
    assert await store.purge_trash(0) == 1
    assert list((tmp_path / "recipes" / ".trash").iterdir()) == []


async def test_cache_of_another_folder_is_emptied(tmp_path, closer):
    write_recipe(tmp_path / "recipes", "r1")
    store = await opened(tmp_path, closer)
    await store.close()
    other = closer(RecipeStore(tmp_path / "other", tmp_path / "cache" / "recipes.sqlite"))
    assert await other.open() == 0 and not other.index_ready
    await other.close()


async def test_rebuild_reads_everything_again(tmp_path, closer):
    write_recipe(tmp_path / "recipes", "r1")
    store = await opened(tmp_path, closer)
    summary = await store.rebuild()
    assert summary.added == 1 and store.index_ready


def test_fts_query_quotes_every_word():
    assert fts_query('sun "set') == '"sun"* AND "set"*'
    assert fts_query("  ,, ") is None


async def test_search_while_building_matches_fts(tmp_path, closer):
    root = tmp_path / "recipes"
    write_recipe(root, "r1", title="Golden hour portrait", tags=["warm"])
    write_recipe(root, "r2", title="Night city", tags=["neon", "urban"])
    store = await opened(tmp_path, closer)
    for text, fields in (("gold", ["title"]), ("ne", ["tags"]), ("detail", ["lora_name"]),
                         ("detail tweak", ["lora_model"]), ("1gi", ["prompt"]), ("city neon", ["title", "tags"])):
        fts = await store.search_ids(text, fields)
        memory = {e.id for e in store.all() if memory_match(e, words(text), fields)}
        assert fts == memory, text
    store._complete = False
    with pytest.raises(LookupError):
        await store.search_ids("gold", ["title"])
    page = run_query(store.ordered("name"), RecipeQuery(sort_by="name", descending=False), None,
                     lambda e: memory_match(e, ["night"], ["title"]))
    assert [e.id for e in page.items] == ["r2"]


def test_cache_rows_survive_reopen(tmp_path):
    cache = PersistentRecipeCache(tmp_path / "c.sqlite")
    cache.open("/x")
    assert cache.count() == 0 and cache.search("x", ["nope"]) is None
    cache.close()
    cache.open("/x")
    assert cache.get_meta("recipes_dir") == "/x"
    cache.close()


async def test_duplicate_id_reports_the_second_file(tmp_path, closer):
    root = tmp_path / "recipes"
    write_recipe(root / "a", "same", title="A")
    write_recipe(root / "b", "same", title="B")
    store = await opened(tmp_path, closer)
    assert store.get("same").title == "A"  # the first file found in sorted order is kept
    assert any("duplicate recipe id same" in p for p in store.problems)
    summary = await store.sweep()
    assert store.get("same").title == "A" and summary.updated == 0


async def test_odd_but_valid_recipe_files(tmp_path, monkeypatch, closer):
    root = tmp_path / "recipes"
    elsewhere = tmp_path / "images" / "pic.png"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(plain_png())
    root.mkdir()
    data = lm_recipe("", elsewhere, title=5)
    del data["id"]
    (root / "no-id.recipe.json").write_text(json.dumps(data), encoding="utf-8")
    store = await opened(tmp_path, closer)
    entry = store.get("no-id")
    assert entry is not None and entry.image_path == str(elsewhere) and entry.title == "5"
    updated = await store.update("no-id", {"tags": ["x"]})
    assert updated.data["title"] == "5" and updated.data["id"] == "no-id"
    with pytest.raises(RecipeNotFound):
        await store.undo_delete("../../etc")
    from lora_manager.py.services.recipes import store as store_module

    monkeypatch.setattr(store_module, "MAX_RECIPE_BYTES", 10)
    write_recipe(root, "big")
    summary = await store.sweep()
    assert store.get("big") is None and any("too large" in p for p in summary.problems)
