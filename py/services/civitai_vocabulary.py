"""Civitai's fixed vocabularies: the base-model names (with UI categories) and the model tags used as priority
tags, in the shapes ComfyUI-Lora-Manager's UI asks for.

Why a fixed list: ComfyUI-Lora-Manager ships the same list and only merges Civitai's ``/api/v1/enums`` into it
when that call succeeds; answering from the list keeps these routes instant and offline. Pure data and pure
functions: nothing here touches the network or the disk.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..settings import MODEL_TYPES

BASE_MODEL_CATEGORIES: dict[str, tuple[str, ...]] = {
    "Stable Diffusion 1.x": ("SD 1.4", "SD 1.5", "SD 1.5 LCM", "SD 1.5 Hyper"),
    "Stable Diffusion 2.x": ("SD 2.0", "SD 2.1"),
    "Stable Diffusion 3.x": ("SD 3", "SD 3.5", "SD 3.5 Medium", "SD 3.5 Large", "SD 3.5 Large Turbo"),
    "SDXL": ("SDXL 1.0", "SDXL Lightning", "SDXL Hyper"),
    "Flux Models": ("Flux.1 D", "Flux.1 S", "Flux.1 Krea", "Flux.1 Kontext", "Flux.2 D", "Flux.2 Klein 9B",
                    "Flux.2 Klein 9B-base", "Flux.2 Klein 4B", "Flux.2 Klein 4B-base"),
    "Video Models": ("SVD", "LTXV", "LTXV2", "LTXV 2.3", "CogVideoX", "HappyHorse", "Mochi", "Hunyuan Video",
                     "Wan Video", "Wan Video 1.3B t2v", "Wan Video 14B t2v", "Wan Video 14B i2v 480p",
                     "Wan Video 14B i2v 720p", "Wan Video 2.2 TI2V-5B", "Wan Video 2.2 T2V-A14B",
                     "Wan Video 2.2 I2V-A14B", "Wan Video 2.5 T2V", "Wan Video 2.5 I2V", "Wan Image 2.7",
                     "Wan Video 2.7"),
    "Other Models": ("ACE Audio", "Illustrious", "Pony", "Pony V7", "Boogu", "HiDream", "HiDream-O1",
                     "Ideogram 4.0", "Qwen", "Qwen 2", "AuraFlow", "Chroma", "Grok", "Lens", "MAI", "ZImageTurbo",
                     "ZImageBase", "PixArt a", "PixArt E", "Hunyuan 1", "Lumina", "Kolors", "NoobAI", "Anima",
                     "Ernie", "Ernie Turbo", "Nucleus", "Krea 2", "Upscaler"),
}
BASE_MODELS: tuple[str, ...] = tuple(sorted({name for names in BASE_MODEL_CATEGORIES.values() for name in names}))

# Civitai's model tags in the order the anchor uses them for folder organisation (its default priority tags).
CIVITAI_MODEL_TAGS: tuple[str, ...] = (
    "character", "concept", "clothing", "realistic", "anime", "toon", "furry", "style", "poses", "background",
    "tool", "vehicle", "buildings", "objects", "assets", "animal", "action",
)
DEFAULT_PRIORITY_TAGS = ", ".join(CIVITAI_MODEL_TAGS)


def base_models_payload() -> dict[str, Any]:
    """``GET /api/lm/base-models``'s ``data``: the anchor's shape for its built-in list (``source: fallback``,
    the word it uses when it answers without Civitai's enums)."""
    return {
        "models": list(BASE_MODELS),
        "source": "fallback",
        "last_updated": None,
        "hardcoded_count": len(BASE_MODELS),
        "remote_count": 0,
        "merged_count": len(BASE_MODELS),
    }


def base_model_categories() -> dict[str, list[str]]:
    return {category: list(names) for category, names in BASE_MODEL_CATEGORIES.items()}


def canonical_priority_tags(config: str) -> list[str]:
    """The canonical tags of a priority string (``"character(char|chara), style, concept"``): entries are split
    on commas and new lines, ``(a|b)`` aliases dropped, case-insensitive duplicates skipped, order kept."""
    tags: list[str] = []
    seen: set[str] = set()
    for line in config.split("\n"):
        for entry in line.split(","):
            entry = entry.strip()
            if not entry:
                continue
            if "(" in entry and entry.endswith(")"):
                entry = entry.split("(", 1)[0].strip()
            else:
                entry = entry.replace("(", "").replace(")", "").strip()
            if entry and entry.casefold() not in seen:
                seen.add(entry.casefold())
                tags.append(entry)
    return tags


def priority_tag_suggestions(configured: Any) -> dict[str, list[str]]:
    """Per model type, the canonical priority tags of the user's ``priority_tags`` setting (a mapping of
    type -> string, as ComfyUI-Lora-Manager stores it) or of the default Civitai tag order."""
    config: Mapping[str, Any] = configured if isinstance(configured, Mapping) else {}
    out: dict[str, list[str]] = {}
    for key, value in config.items():
        if isinstance(key, str) and isinstance(value, str):
            out[key] = canonical_priority_tags(value)
    for model_type in MODEL_TYPES:
        out.setdefault(model_type, canonical_priority_tags(DEFAULT_PRIORITY_TAGS))
    return out
