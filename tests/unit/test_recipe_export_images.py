"""Recipe images (WebP + embedded recipe) and export archives, including hostile and broken input."""
from __future__ import annotations

import io
import json
import sqlite3
import zipfile

import pytest
from PIL import Image

from lora_manager.py.services.recipes import export as export_module
from lora_manager.py.services.recipes.cache import PersistentRecipeCache
from lora_manager.py.services.recipes.convert import recipe_from_text
from lora_manager.py.services.recipes.export import (ExportError, build_zip, export_filename, read_zip,
                                                     share_image)
from lora_manager.py.services.recipes.images import embedded_recipe, encode_recipe_webp
from lora_manager.py.services.recipes.parsers import ImageReadError, NoGenerationMetadata, extract_image_metadata
from lora_manager.py.services.recipes.records import RecipeEntry

from support.recipes import a1111_png, lm_recipe, plain_png


def test_rgba_png_becomes_webp_with_alpha_and_recipe():
    buffer = io.BytesIO()
    Image.new("RGBA", (40, 20), (1, 2, 3, 100)).save(buffer, "PNG")
    out = encode_recipe_webp(buffer.getvalue(), lm_recipe("x", "", title="Alpha"))
    with Image.open(io.BytesIO(out)) as img:
        assert img.format == "WEBP" and img.mode == "RGBA" and img.size == (40, 20)
    assert recipe_from_text(extract_image_metadata(out).text)["title"] == "Alpha"


def test_unreadable_and_huge_images_are_refused(monkeypatch):
    with pytest.raises(ImageReadError):
        encode_recipe_webp(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, None)
    from lora_manager.py.library import media

    monkeypatch.setattr(media, "MAX_IMAGE_PIXELS", 10)
    with pytest.raises(ImageReadError, match="too large"):
        encode_recipe_webp(plain_png((8, 8)), None)


def test_embedded_recipe_from_a_recipe_key_and_from_text():
    recipe = {"title": "T", "loras": [], "gen_params": {}}
    assert embedded_recipe({"recipe": json.dumps(recipe)}) == recipe
    assert embedded_recipe({"parameters": "a, b, Recipe metadata: " + json.dumps(recipe)}) == recipe
    assert embedded_recipe({"parameters": "Recipe metadata: {broken"}) is None
    assert embedded_recipe({"x": 5}) is None  # type: ignore[dict-item]


def test_recipe_from_text_falls_back_to_parsing_and_refuses_nothing():
    parsed = recipe_from_text(extract_image_metadata(a1111_png()).text)
    assert parsed["loras"][0]["file_name"] == "detail_tweaker" and parsed["gen_params"]["seed"] == 42
    assert parsed["checkpoint"]["modelName"] == "dreamshaper_8"
    with pytest.raises(NoGenerationMetadata):
        recipe_from_text({})


def entry_with_image(tmp_path, name: str, data: bytes | None, ext: str = ".webp") -> RecipeEntry:
    image = tmp_path / f"{name}{ext}"
    if data is not None:
        image.write_bytes(data)
    return RecipeEntry(name, str(tmp_path / f"{name}.recipe.json"), str(image), "", lm_recipe(name, image,
                       title="A/B: title?"))


def test_share_and_zip_cope_with_missing_or_odd_images(tmp_path):
    missing = entry_with_image(tmp_path, "missing", None)
    with pytest.raises(FileNotFoundError):
        share_image(missing)
    odd = entry_with_image(tmp_path, "odd", b"not really an image")
    assert share_image(odd) == (b"not really an image", ".webp")
    assert export_filename(odd, ".webp") == "A_B_ title.webp"
    restored, problems = read_zip(build_zip([missing, odd]))
    assert [r.recipe["id"] for r in restored] == ["odd"]
    assert problems and "missing" in problems[0]


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_hostile_archives(monkeypatch):
    with pytest.raises(ExportError):
        read_zip(b"PK\x03\x04 not a zip")
    restored, problems = read_zip(zip_of({"a.recipe.json": b"[1]", "a.webp": b"x", "b.recipe.json": b"\xff\xfe",
                                          "b.webp": b"x"}))
    assert restored == [] and len(problems) == 2
    monkeypatch.setattr(export_module, "MAX_MEMBERS", 1)
    with pytest.raises(ExportError, match="too many"):
        read_zip(zip_of({"a": b"1", "b": b"2"}))
    monkeypatch.setattr(export_module, "MAX_MEMBERS", 100)
    monkeypatch.setattr(export_module, "MAX_TOTAL_BYTES", 1)
    with pytest.raises(ExportError, match="too large"):
        read_zip(zip_of({"a": b"12"}))
    monkeypatch.setattr(export_module, "MAX_TOTAL_BYTES", 10**9)
    monkeypatch.setattr(export_module, "MAX_MEMBER_BYTES", 3)
    restored, problems = read_zip(zip_of({"a.recipe.json": b"{}", "a.webp": b"12345",
                                          "c.recipe.json": b"{\"title\": \"long\"}", "c.webp": b"1"}))
    assert restored == [] and len(problems) == 2


def test_cache_newer_schema_and_heal(tmp_path):
    path = tmp_path / "cache.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    cache = PersistentRecipeCache(path)
    cache.open("/recipes")
    assert cache.healed_from is not None and cache.count() == 0
    first_aside = cache.healed_from
    cache.heal("found damage while reading")
    assert cache.healed_from != first_aside and cache.get_meta("recipes_dir") == "/recipes"
    entry = RecipeEntry("r1", "/x/r1.recipe.json", "", "", {"title": "One"})
    cache.upsert([entry])
    conn = sqlite3.connect(path)
    conn.execute("UPDATE recipes SET data = 'not json'")
    conn.commit()
    conn.close()
    cache.delete(["r1", "absent"])  # a row whose JSON is damaged still goes
    assert cache.count() == 0
    cache.upsert([entry])
    cache.clear()
    assert cache.count() == 0 and cache.search("one", ["title"]) == set()
    cache.close()
    with pytest.raises(RuntimeError):
        cache.count()
