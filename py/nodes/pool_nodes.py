"""``Lora Pool``, ``Lora Randomizer`` and ``Lora Cycler`` (LoraManager): LoRA stacks picked from a filtered pool.

The widget values are that project's config objects (``pool_config``, ``randomizer_config``,
``cycler_config``); the picks are reproducible: the randomizer draws with the seeds its widget keeps
(``execution_seed`` for the run, ``next_seed`` for what it shows next), the cycler walks the pool in file-name
order by ``current_index``. License filters cannot apply here: the library does not record licenses, so they
are ignored (logged once per run).
"""
from __future__ import annotations

import json
import logging
import os
import random
import re
from typing import Any, Iterable

from .anchor_inputs import ANCHOR_CATEGORY, LORAS_INPUT, lora_entries, unwrap_widget
from .lora_loader import library_view
from .resolve import LibraryView, NodeInputError, relative_name

logger = logging.getLogger(__name__)

__all__ = ["LoraPoolAnchor", "LoraRandomizerAnchor", "LoraCyclerAnchor", "pool_filters", "filter_pool",
           "random_loras"]

CATEGORY = f"{ANCHOR_CATEGORY}/randomizer"
NO_LORA = "No LoRA"


def default_filters() -> dict[str, Any]:
    return {"baseModels": [], "tags": {"include": [], "exclude": []}, "folders": {"include": [], "exclude": []},
            "favoritesOnly": False, "license": {"noCreditRequired": False, "allowSelling": False},
            "namePatterns": {"include": [], "exclude": [], "useRegex": False}}


def pool_filters(pool_config: Any) -> dict[str, Any]:
    """The ``filters`` of a Lora Pool widget value (the whole config or its filters), defaults filled in."""
    config = unwrap_widget(pool_config)
    if isinstance(config, str) and config.strip():
        try:
            config = json.loads(config)
        except ValueError as exc:
            raise NodeInputError(f"pool_config is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        return default_filters()
    filters = config.get("filters", config)
    merged = default_filters()
    if isinstance(filters, dict):
        merged.update({k: v for k, v in filters.items() if v is not None})
    return merged


def _strings(value: Any) -> list[str]:
    return [v.strip() for v in value if isinstance(v, str) and v.strip()] if isinstance(value, (list, tuple)) else []


def _part(filters: dict[str, Any], name: str, side: str) -> list[str]:
    section = filters.get(name)
    return _strings(section.get(side)) if isinstance(section, dict) else []


def _in_folder(folder: str, wanted: str) -> bool:
    folder, wanted = folder.strip("/").casefold(), wanted.replace("\\", "/").strip("/").casefold()
    return folder == wanted or folder.startswith(wanted + "/")


def _name_matcher(patterns: list[str], use_regex: bool):
    if not patterns:
        return None
    if use_regex:
        compiled = []
        for pattern in patterns:
            try:
                compiled.append(re.compile(pattern, re.IGNORECASE))
            except re.error as exc:
                raise NodeInputError(f"Name pattern {pattern!r} is not a valid regular expression: {exc}") from exc
        return lambda text: any(p.search(text) for p in compiled)
    folded = [p.casefold() for p in patterns]
    return lambda text: any(p in text.casefold() for p in folded)


def filter_pool(records: Iterable[Any], filters: dict[str, Any]) -> list[Any]:
    """The records a Lora Pool's filters admit, in file-name order (the cycler's order)."""
    base = set(_strings(filters.get("baseModels")))
    tags_in = {t.casefold() for t in _part(filters, "tags", "include")}
    tags_out = {t.casefold() for t in _part(filters, "tags", "exclude")}
    folders_in, folders_out = _part(filters, "folders", "include"), _part(filters, "folders", "exclude")
    names = filters.get("namePatterns") if isinstance(filters.get("namePatterns"), dict) else {}
    use_regex = bool(names.get("useRegex"))
    name_in = _name_matcher(_strings(names.get("include")), use_regex)
    name_out = _name_matcher(_strings(names.get("exclude")), use_regex)
    license_rules = filters.get("license") if isinstance(filters.get("license"), dict) else {}
    if any(license_rules.values()):
        logger.info("Lora Pool: license filters are ignored (the library does not record licenses)")
    favorites = bool(filters.get("favoritesOnly"))
    chosen = []
    for record in records:
        if record.exclude or (favorites and not record.favorite) or (base and record.base_model not in base):
            continue
        tags = {t.casefold() for t in record.tags}
        if (tags_in and not tags & tags_in) or tags & tags_out:
            continue
        if folders_in and not any(_in_folder(record.folder, f) for f in folders_in):
            continue
        if any(_in_folder(record.folder, f) for f in folders_out):
            continue
        text = f"{record.file_name} {record.model_name}"
        if (name_in and not name_in(text)) or (name_out and name_out(text)):
            continue
        chosen.append(record)
    return sorted(chosen, key=lambda r: (r.file_name.casefold(), r.file_path))


def _recommended(record: Any, key: str = "strength") -> float | None:
    try:
        tips = json.loads(record.usage_tips or "{}")
    except ValueError:
        return None
    value = tips.get(key) if isinstance(tips, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _float(config: dict[str, Any], key: str, default: float) -> float:
    try:
        return float(config.get(key, default))
    except (TypeError, ValueError):
        raise NodeInputError(f"randomizer_config.{key} must be a number, got {config.get(key)!r}") from None


def random_loras(pool: list[Any], config: dict[str, Any], locked: list[dict[str, Any]],
                 seed: Any = None) -> list[dict[str, Any]]:
    """A random pick as widget rows: the locked rows first, then new LoRAs up to the configured count."""
    rng = random.Random(seed) if seed is not None else random.Random()
    if config.get("count_mode", "range") == "fixed":
        count = int(_float(config, "count_fixed", 5))
    else:
        low, high = int(_float(config, "count_min", 3)), int(_float(config, "count_max", 7))
        count = rng.randint(min(low, high), max(low, high))
    taken = {row.get("name") for row in locked}
    candidates = [r for r in pool if r.file_name not in taken]
    picks = rng.sample(candidates, max(0, min(count - len(locked), len(candidates))))
    low_m, high_m = _float(config, "model_strength_min", 0.0), _float(config, "model_strength_max", 1.0)
    low_c, high_c = _float(config, "clip_strength_min", 0.0), _float(config, "clip_strength_max", 1.0)
    same_clip = bool(config.get("use_same_clip_strength", True))
    recommended = bool(config.get("use_recommended_strength", False))
    scale = (_float(config, "recommended_strength_scale_min", 0.5), _float(config, "recommended_strength_scale_max", 1.0))
    rows = [dict(row) for row in locked]
    for record in picks:
        strength = round(rng.uniform(low_m, high_m), 2)
        tip = _recommended(record) if recommended else None
        if tip is not None:
            strength = round(tip * rng.uniform(*scale), 2)
        clip = strength if same_clip else round(rng.uniform(low_c, high_c), 2)
        rows.append({"name": record.file_name, "strength": strength, "clipStrength": clip, "active": True,
                     "expanded": False, "locked": False})
    return rows


def _stack_from_rows(view: LibraryView, rows: Any) -> list[tuple[str, float, float]]:
    stack = []
    for entry in lora_entries(rows):
        if entry.active:
            record = view.resolve(entry.name)
            stack.append((relative_name(record).replace("/", os.sep), entry.strength, entry.clip_strength))
    return stack


def _config(value: Any, what: str) -> dict[str, Any]:
    value = unwrap_widget(value)
    if isinstance(value, str) and value.strip():
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise NodeInputError(f"{what} is not valid JSON: {exc}") from exc
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise NodeInputError(f"{what} must be an object, got {type(value).__name__}")
    return value


class LoraPoolAnchor:
    """``Lora Pool (LoraManager)``: passes on the filters its widget edits (POOL_CONFIG)."""

    CATEGORY = CATEGORY
    DESCRIPTION = "Define a LoRA pool by base model, tags, folders, favourites and name patterns."
    RETURN_TYPES = ("POOL_CONFIG",)
    RETURN_NAMES = ("POOL_CONFIG",)
    FUNCTION = "process"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"pool_config": ("LORA_POOL_CONFIG", {})}, "hidden": {"unique_id": "UNIQUE_ID"}}

    def process(self, pool_config: Any = None, unique_id: Any = None) -> tuple[dict[str, Any]]:
        return (pool_filters(pool_config),)


class LoraRandomizerAnchor:
    """``Lora Randomizer (LoraManager)``: a random LORA_STACK from a pool; locked rows always stay."""

    CATEGORY = CATEGORY
    DESCRIPTION = "A random LoRA stack from the pool (or the whole library); locked rows are kept."
    RETURN_TYPES = ("LORA_STACK",)
    RETURN_NAMES = ("LORA_STACK",)
    FUNCTION = "randomize"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"randomizer_config": ("RANDOMIZER_CONFIG", {}), "loras": LORAS_INPUT},
                "optional": {"pool_config": ("POOL_CONFIG", {})}}

    @classmethod
    def VALIDATE_INPUTS(cls, loras: Any = None) -> bool | str:
        from .anchor_loras import missing_loras_message

        return missing_loras_message(loras) or True

    def randomize(self, randomizer_config: Any = None, loras: Any = None, pool_config: Any = None) -> dict[str, Any]:
        config = _config(randomizer_config, "randomizer_config")
        rows = unwrap_widget(loras) or []
        if not isinstance(rows, list):
            rows = [e.as_widget() for e in lora_entries(loras)]
        view = library_view()
        if config.get("roll_mode", "always") == "fixed":
            execution, shown = rows, rows
        else:
            pool = filter_pool(view.records, pool_filters(pool_config))
            locked = [row for row in rows if isinstance(row, dict) and row.get("locked")]
            seed = config.get("execution_seed")
            execution = random_loras(pool, config, locked, seed) if seed is not None else rows
            shown = random_loras(pool, config, locked, config.get("next_seed"))
        return {"result": (_stack_from_rows(view, execution),), "ui": {"loras": shown, "last_used": execution}}


class LoraCyclerAnchor:
    """``Lora Cycler (LoraManager)``: one LoRA of the pool per run, in file-name order."""

    CATEGORY = CATEGORY
    DESCRIPTION = "One LoRA of the pool per run, walking the pool in file-name order."
    RETURN_TYPES = ("LORA_STACK",)
    RETURN_NAMES = ("LORA_STACK",)
    FUNCTION = "cycle"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"cycler_config": ("CYCLER_CONFIG", {})}, "optional": {"pool_config": ("POOL_CONFIG", {})}}

    def cycle(self, cycler_config: Any = None, pool_config: Any = None) -> dict[str, Any]:
        config = _config(cycler_config, "cycler_config")
        view = library_view()
        pool = filter_pool(view.records, pool_filters(pool_config))
        with_none = bool(config.get("include_no_lora", False))
        total = len(pool) + (1 if with_none else 0)
        if total == 0:
            return {"result": ([],), "ui": {"current_index": [1], "next_index": [1], "total_count": [0],
                                             "current_lora_name": [""], "current_lora_filename": [""],
                                             "error": ["No LoRAs available in pool"]}}
        wanted = config.get("execution_index")
        if wanted is None:
            wanted = config.get("current_index", 1)
        try:
            index = max(1, min(int(wanted), total))
        except (TypeError, ValueError):
            raise NodeInputError(f"cycler_config.current_index must be a number, got {wanted!r}") from None
        stack: list[tuple[str, float, float]] = []
        if with_none and index == total:
            name = NO_LORA
        else:
            record = pool[index - 1]
            name = record.file_name
            model = _float(config, "model_strength", 1.0)
            clip = _float(config, "clip_strength", 1.0)
            if config.get("use_preset_strength"):
                tip = _recommended(record)
                if tip is not None:
                    model = round(tip * _float(config, "preset_strength_scale", 1.0), 2)
            if config.get("use_same_clip_strength", True):
                clip = model
            stack = [(relative_name(record).replace("/", os.sep), model, clip)]
        following = index + 1 if index < total else 1
        next_name = NO_LORA if with_none and following == total else pool[following - 1].file_name
        return {"result": (stack,), "ui": {
            "current_index": [index], "next_index": [following], "total_count": [len(pool)],
            "current_lora_name": [name], "current_lora_filename": [name],
            "next_lora_name": [next_name], "next_lora_filename": [next_name]}}
