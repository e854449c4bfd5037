"""This project's own recipe embedded in an image: ``Recipe metadata: {json}`` (or a ``recipe`` text key).

ComfyUI-Lora-Manager appends the marker to whatever text the image already carried (PNG ``parameters`` or the
EXIF UserComment), so the marker may follow A1111 text; ``split_recipe_marker`` separates the two.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from ._util import as_float, as_id, as_str, candidate_texts, file_stem, hashes_from, load_json, normalise_gen_params
from .model import ParsedGeneration, ResourceRef

logger = logging.getLogger(__name__)

__all__ = ["RECIPE_MARKER", "SOURCE_FORMAT", "parse_recipe_json", "recipe_from_dict", "recipe_metadata_text",
           "split_recipe_marker"]

RECIPE_MARKER = "Recipe metadata: "
SOURCE_FORMAT = "lora-manager-recipe"
_DECODER = json.JSONDecoder()


def split_recipe_marker(text: str) -> tuple[str, dict[str, Any] | None]:
    """(text without the marker and its JSON, the decoded JSON object or None)."""
    if not isinstance(text, str):
        return "", None
    start = text.find(RECIPE_MARKER)
    if start < 0:
        return text, None
    json_start = start + len(RECIPE_MARKER)
    try:
        value, end = _DECODER.raw_decode(text, json_start)
    except (ValueError, RecursionError):
        return text, None
    if not isinstance(value, dict):
        return text, None
    before = text[:start].rstrip(" \t")
    if before.endswith(","):
        before = before[:-1]
    rest = (before.rstrip() + text[end:]).strip()
    return rest, value


def _lora(entry: dict[str, Any]) -> ResourceRef | None:
    file_name = as_str(entry.get("file_name"))
    model_name = as_str(entry.get("modelName"))
    name = (file_name or model_name or "").strip()
    if not name:
        return None
    strength = as_float(entry.get("strength"))
    clip = as_float(entry.get("clipStrength"))
    return ResourceRef(
        kind="lora",
        name=name,
        file_name=file_stem(file_name) if file_name else None,
        strength_model=1.0 if strength is None else strength,
        strength_clip=clip,
        hashes=hashes_from(entry.get("hash")),
        model_id=as_id(entry.get("modelId")),
        model_version_id=as_id(entry.get("modelVersionId")),
        version_name=as_str(entry.get("modelVersionName")) or None,
        model_name=model_name or None,
    )


def _checkpoint(entry: Any) -> ResourceRef | None:
    if not isinstance(entry, dict):
        return None
    file_name = as_str(entry.get("file_name"))
    model_name = as_str(entry.get("modelName")) or as_str(entry.get("name"))
    name = (file_name or model_name or "").strip()
    hashes = hashes_from(entry.get("hash"))
    version_id = as_id(entry.get("modelVersionId")) or as_id(entry.get("id"))
    if not name and not hashes and version_id is None:
        return None
    return ResourceRef(
        kind="checkpoint",
        name=name,
        file_name=file_stem(file_name) if file_name else None,
        hashes=hashes,
        model_id=as_id(entry.get("modelId")),
        model_version_id=version_id,
        version_name=as_str(entry.get("modelVersionName")) or as_str(entry.get("version")) or None,
        model_name=model_name or None,
    )


def recipe_from_dict(recipe: dict[str, Any]) -> ParsedGeneration | None:
    """Map a recipe JSON object onto ParsedGeneration; None when it is not recipe-shaped."""
    if not isinstance(recipe, dict) or not any(key in recipe for key in ("loras", "gen_params", "checkpoint")):
        return None
    loras_raw = recipe.get("loras")
    loras = [
        lora
        for entry in (loras_raw if isinstance(loras_raw, list) else [])
        if isinstance(entry, dict) and not entry.get("exclude") and (lora := _lora(entry)) is not None
    ]
    gen_raw = recipe.get("gen_params")
    checkpoint = _checkpoint(recipe.get("checkpoint"))
    base_model = as_str(recipe.get("base_model")) or None
    if not base_model and isinstance(recipe.get("checkpoint"), dict):
        base_model = as_str(recipe["checkpoint"].get("baseModel")) or None
    raw: dict[str, Any] = {}
    if as_str(recipe.get("title")):
        raw["title"] = recipe["title"]
    tags = recipe.get("tags")
    if isinstance(tags, list):
        raw["tags"] = [tag for tag in tags if isinstance(tag, str)]
    return ParsedGeneration(
        source_format=SOURCE_FORMAT,
        loras=loras,
        checkpoint=checkpoint,
        gen_params=normalise_gen_params(gen_raw) if isinstance(gen_raw, dict) else {},
        base_model=base_model,
        raw=raw,
    )


def parse_recipe_json(text: dict[str, str]) -> ParsedGeneration | None:
    """Find the embedded recipe in an image's text fields: a ``recipe`` key, or the marker in any text."""
    if not isinstance(text, dict):
        return None
    direct = load_json(text.get("recipe"))
    if isinstance(direct, dict):
        result = recipe_from_dict(direct)
        if result is not None:
            return result
    own = text.get("recipe")
    for value in ([own] if isinstance(own, str) else []) + candidate_texts(text):
        _, recipe = split_recipe_marker(value)
        result = recipe_from_dict(recipe) if recipe is not None else None
        if result is not None:
            return result
    return None


def _lower(value: Any) -> str:
    return value.lower() if isinstance(value, str) else ""


def _strength(value: Any) -> float:
    number = as_float(value)
    return 1.0 if number is None else number


def recipe_metadata_text(recipe: dict[str, Any]) -> str:
    """``Recipe metadata: {json}`` for embedding, in the exact shape ComfyUI-Lora-Manager writes and reads.

    LoRAs the user excluded from the recipe are left out (the embedded shape has no ``exclude`` flag).

    Raises TypeError/ValueError when the recipe holds values JSON cannot encode.
    """
    loras = [
        {
            "file_name": lora.get("file_name", ""),
            "hash": _lower(lora.get("hash")),
            "strength": _strength(lora.get("strength")),
            "modelVersionId": lora.get("modelVersionId", 0),
            "modelName": lora.get("modelName", ""),
            "modelVersionName": lora.get("modelVersionName", ""),
        }
        for lora in recipe.get("loras") or []
        if isinstance(lora, dict) and not lora.get("exclude")
    ]
    metadata: dict[str, Any] = {
        "title": recipe.get("title", ""),
        "base_model": recipe.get("base_model", ""),
        "loras": loras,
        "gen_params": recipe.get("gen_params", {}),
        "tags": recipe.get("tags", []),
    }
    checkpoint = recipe.get("checkpoint")
    if isinstance(checkpoint, dict) and checkpoint:
        metadata["checkpoint"] = {
            "type": checkpoint.get("type", "checkpoint"),
            "modelId": checkpoint.get("modelId", 0),
            "modelVersionId": checkpoint.get("modelVersionId") or checkpoint.get("id", 0),
            "modelName": checkpoint.get("modelName", checkpoint.get("name", "")),
            "modelVersionName": checkpoint.get("modelVersionName", checkpoint.get("version", "")),
            "hash": _lower(checkpoint.get("hash")),
            "file_name": checkpoint.get("file_name", ""),
            "baseModel": checkpoint.get("baseModel", ""),
        }
    return RECIPE_MARKER + json.dumps(metadata)
