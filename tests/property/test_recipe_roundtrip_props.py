"""Properties: export -> import round-trips a recipe; FTS search and the in-memory fallback agree; fingerprints
ignore order."""
from __future__ import annotations

import asyncio
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lora_manager.py.services.recipes.convert import recipe_from_text
from lora_manager.py.services.recipes.export import build_zip, read_zip, share_image
from lora_manager.py.services.recipes.images import encode_recipe_webp
from lora_manager.py.services.recipes.parsers import extract_image_metadata
from lora_manager.py.services.recipes.records import RecipeEntry, fingerprint, memory_match, words
from lora_manager.py.services.recipes.store import RecipeStore, normalise_recipe

from support.recipes import plain_png

text = st.text(alphabet=string.ascii_letters + string.digits + " _-,.:()éß漢", max_size=30)
hexes = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
strength = st.floats(min_value=-5, max_value=5, allow_nan=False).map(lambda x: round(x, 3))
lora = st.fixed_dictionaries({
    "file_name": text.filter(str.strip), "hash": hexes, "strength": strength,
    "modelVersionId": st.integers(0, 10**7), "modelName": text, "modelVersionName": text,
})
gen_params = st.fixed_dictionaries({}, optional={
    "prompt": text, "negative_prompt": text, "steps": st.integers(1, 150), "seed": st.integers(0, 2**53),
    "cfg_scale": st.floats(1, 30, allow_nan=False), "sampler": text})
checkpoint = st.none() | st.fixed_dictionaries({
    "type": st.just("checkpoint"), "modelId": st.integers(0, 10**6), "modelVersionId": st.integers(0, 10**6),
    "modelName": text.filter(str.strip), "modelVersionName": text, "hash": hexes, "file_name": text,
    "baseModel": text})
recipes = st.fixed_dictionaries({
    "title": text, "base_model": text, "loras": st.lists(lora, max_size=4), "gen_params": gen_params,
    "tags": st.lists(text.filter(str.strip), max_size=3), "checkpoint": checkpoint})

KEYS = ("file_name", "hash", "strength", "modelVersionId", "modelName", "modelVersionName")
IMAGE = plain_png((16, 16))


def comparable(recipe: dict) -> dict:
    data = normalise_recipe({k: v for k, v in recipe.items() if v is not None})
    return {
        "title": data["title"], "base_model": data["base_model"], "gen_params": data["gen_params"],
        "tags": data.get("tags", []), "checkpoint": data.get("checkpoint"),
        "loras": [{k: lora[k] for k in KEYS} for lora in data["loras"]],
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recipes)
def test_single_image_export_imports_the_same_recipe(recipe):
    data = normalise_recipe({k: v for k, v in recipe.items() if v is not None})
    image = encode_recipe_webp(IMAGE, data)
    back = recipe_from_text(extract_image_metadata(image).text)
    assert comparable(back) == comparable(recipe)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(recipes, min_size=1, max_size=3))
def test_zip_export_restores_every_recipe(tmp_path_factory, batch):
    folder = tmp_path_factory.mktemp("zip")
    entries = []
    for n, recipe in enumerate(batch):
        data = normalise_recipe({k: v for k, v in recipe.items() if v is not None})
        data["id"] = f"r{n}"
        image = folder / f"r{n}.webp"
        image.write_bytes(encode_recipe_webp(IMAGE, data))
        entries.append(RecipeEntry(f"r{n}", str(folder / f"r{n}.recipe.json"), str(image), "", data))
    restored, problems = read_zip(build_zip(entries))
    assert problems == []
    assert [comparable(r.recipe) for r in restored] == [comparable(r) for r in batch]
    assert all(r.extension == ".webp" and r.media for r in restored)
    media, ext = share_image(entries[0])
    assert ext == ".webp" and comparable(recipe_from_text(extract_image_metadata(media).text)) == comparable(batch[0])


@settings(max_examples=100, deadline=None)
@given(st.lists(lora, max_size=5), st.randoms())
def test_fingerprint_ignores_order(loras, rnd):
    shuffled = list(loras)
    rnd.shuffle(shuffled)
    assert fingerprint(shuffled) == fingerprint(loras)


word = st.text(alphabet="abcdefgh漢é", min_size=1, max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(word, min_size=1, max_size=4), min_size=1, max_size=6),
       st.lists(word, min_size=1, max_size=2))
def test_fts_and_memory_search_agree(tmp_path_factory, titles, query_words):
    folder = tmp_path_factory.mktemp("fts")
    store = RecipeStore(folder / "recipes", folder / "cache.sqlite")

    async def run() -> None:
        await store.open()
        try:
            for n, title in enumerate(titles):
                await store.add({"id": f"r{n}", "title": " ".join(title), "loras": []}, IMAGE, ".png")
            await store.sweep()
            query = " ".join(query_words)
            fts = await store.search_ids(query, ["title"])
            memory = {e.id for e in store.all() if memory_match(e, words(query), ["title"])}
        finally:
            await store.close()
        assert fts == memory

    asyncio.run(run())
