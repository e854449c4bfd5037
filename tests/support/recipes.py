"""Builders for recipe folders in ComfyUI-Lora-Manager's format and images that carry generation metadata."""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

SHA_A = "a" * 64
SHA_B = "b" * 64

A1111_TEXT = ("masterpiece, 1girl <lora:detail_tweaker:0.7>\nNegative prompt: blurry\n"
              "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x768, Model hash: 0123456789, "
              "Model: dreamshaper_8, Lora hashes: \"detail_tweaker: {short}\"")


def png_with_text(text: dict[str, str] | None = None, size: tuple[int, int] = (32, 24),
                  color: tuple[int, int, int] = (10, 120, 200)) -> bytes:
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def a1111_png(short_hash: str = "aaaaaaaaaaaa", size: tuple[int, int] = (32, 24)) -> bytes:
    return png_with_text({"parameters": A1111_TEXT.format(short=short_hash)}, size=size)


def plain_png(size: tuple[int, int] = (16, 16)) -> bytes:
    return png_with_text(None, size=size)


def lm_recipe(recipe_id: str, image_path: Path | str, **fields: Any) -> dict[str, Any]:
    """A recipe JSON as ComfyUI-Lora-Manager writes it."""
    data: dict[str, Any] = {
        "id": recipe_id,
        "file_path": str(image_path),
        "title": f"Recipe {recipe_id}",
        "modified": 1700000100.0,
        "created_date": 1700000000.0,
        "base_model": "SD 1.5",
        "loras": [{"file_name": "detail_tweaker", "hash": SHA_A, "strength": 0.7, "modelVersionId": 1000,
                   "modelName": "Detail Tweaker", "modelVersionName": "v1.0", "isDeleted": False, "exclude": False}],
        "gen_params": {"prompt": "masterpiece, 1girl", "negative_prompt": "blurry", "steps": 20, "seed": 42,
                       "sampler": "Euler a", "cfg_scale": 7.0, "size": "512x768"},
        "tags": ["portrait"],
        "fingerprint": f"{SHA_A}:0.7",
        "an_unknown_field": {"kept": True},
    }
    data.update(fields)
    return data


def write_recipe(folder: Path, recipe_id: str, *, image: bytes | None = None, ext: str = ".webp",
                 **fields: Any) -> Path:
    """``folder/<id>.recipe.json`` plus its image; returns the JSON path."""
    folder.mkdir(parents=True, exist_ok=True)
    image_path = folder / f"{recipe_id}{ext}"
    if image is None:
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, "WEBP")
        image = buffer.getvalue()
    image_path.write_bytes(image)
    json_path = folder / f"{recipe_id}.recipe.json"
    json_path.write_text(json.dumps(lm_recipe(recipe_id, image_path, **fields)), encoding="utf-8")
    return json_path
