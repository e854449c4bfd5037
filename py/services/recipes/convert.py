"""Parsed generation metadata -> recipe JSON fields (the ComfyUI-Lora-Manager vocabulary).

Why: analyze, save, bulk import and image import all turn a ParsedGeneration (or an embedded recipe) into the
same recipe shape; an embedded recipe is taken as it is written, so an exported image re-imports losslessly.
"""
from __future__ import annotations

from typing import Any

from .images import embedded_recipe
from .parsers import GEN_PARAM_KEYS, NoGenerationMetadata, ParsedGeneration, ResourceRef, parse_metadata_text

HASH_PREFERENCE = ("sha256", "autov3", "autov2", "short", "autov1")


def best_hash(ref: ResourceRef) -> str:
    for kind in HASH_PREFERENCE:
        if ref.hashes.get(kind):
            return ref.hashes[kind].lower()
    return next((h.lower() for h in ref.hashes.values() if h), "")


def ordered_hashes(ref: ResourceRef) -> list[str]:
    seen = [ref.hashes[k] for k in HASH_PREFERENCE if ref.hashes.get(k)]
    seen += [h for k, h in ref.hashes.items() if k not in HASH_PREFERENCE and h]
    return seen


def ref_to_lora(ref: ResourceRef) -> dict[str, Any]:
    lora: dict[str, Any] = {
        "file_name": ref.file_name or "",
        "hash": best_hash(ref),
        "strength": ref.strength_model,
        "modelVersionId": ref.model_version_id or 0,
        "modelName": ref.model_name or (ref.name if not ref.file_name else ""),
        "modelVersionName": ref.version_name or "",
        "isDeleted": False,
        "exclude": False,
    }
    if not lora["file_name"] and not lora["modelName"]:
        lora["file_name"] = ref.name
    if ref.strength_clip is not None and ref.strength_clip != ref.strength_model:
        lora["clipStrength"] = ref.strength_clip
    return lora


def ref_to_checkpoint(ref: ResourceRef, base_model: str = "") -> dict[str, Any]:
    return {
        "type": "checkpoint",
        "modelId": ref.model_id or 0,
        "modelVersionId": ref.model_version_id or 0,
        "modelName": ref.model_name or ref.file_name or ref.name,
        "modelVersionName": ref.version_name or "",
        "hash": best_hash(ref),
        "file_name": ref.file_name or "",
        "baseModel": base_model,
    }


def parsed_to_recipe(parsed: ParsedGeneration) -> dict[str, Any]:
    """Recipe fields from a parse (title and tags only when the source is a recipe of ours)."""
    recipe: dict[str, Any] = {
        "title": str(parsed.raw.get("title") or ""),
        "base_model": parsed.base_model or "",
        "loras": [ref_to_lora(ref) for ref in parsed.loras],
        "gen_params": {k: v for k, v in parsed.gen_params.items() if k in GEN_PARAM_KEYS},
        "tags": list(parsed.raw.get("tags") or []),
    }
    if parsed.checkpoint is not None:
        recipe["checkpoint"] = ref_to_checkpoint(parsed.checkpoint, parsed.base_model or "")
    return recipe


def recipe_from_text(text: dict[str, str]) -> dict[str, Any]:
    """The recipe an image's text fields describe: the embedded recipe as written, else the best parse.

    Raises NoGenerationMetadata when there is nothing usable.
    """
    embedded = embedded_recipe(text)
    if embedded is not None:
        recipe = {key: embedded[key] for key in ("title", "base_model", "loras", "gen_params", "tags", "checkpoint")
                  if key in embedded}
        recipe.setdefault("loras", [])
        recipe.setdefault("gen_params", {})
        return recipe
    parsed = parse_metadata_text(text)
    if not parsed.has_content():
        raise NoGenerationMetadata()
    return parsed_to_recipe(parsed)
