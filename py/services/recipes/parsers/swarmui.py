"""SwarmUI metadata: a JSON ``{"sui_image_params": {...}, "sui_models": [...]}`` in the parameters text."""
from __future__ import annotations

from typing import Any

from ._util import (
    as_float,
    as_int,
    as_str,
    candidate_texts,
    file_stem,
    hashes_from,
    load_json,
    match_key,
    normalise_gen_params,
)
from .model import ParsedGeneration, ResourceRef

__all__ = ["parse_swarmui", "parse_swarmui_params", "SOURCE_FORMAT"]

SOURCE_FORMAT = "swarmui"


def _model_hashes(models: Any) -> dict[tuple[str, str], dict[str, str]]:
    """(param, name key) -> hashes from ``sui_models`` records."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    for record in models if isinstance(models, list) else []:
        if not isinstance(record, dict):
            continue
        name, param = as_str(record.get("name")), as_str(record.get("param"))
        hashes = hashes_from(record.get("hash"))
        if name and hashes:
            found.setdefault(((param or "").lower(), match_key(name)), hashes)
    return found


def _list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value.strip():
        return [part.strip() for part in value.split(",")]
    return []


def parse_swarmui_params(data: dict[str, Any]) -> ParsedGeneration | None:
    """Map a decoded SwarmUI metadata object; None when it has no ``sui_image_params`` object."""
    if not isinstance(data, dict) or not isinstance(data.get("sui_image_params"), dict):
        return None
    params: dict[str, Any] = data["sui_image_params"]
    models = data.get("sui_models", params.get("sui_models"))
    hashes = _model_hashes(models)
    clip_layer = as_int(params.get("clipstopatlayer"))
    gen: dict[str, Any] = {
        "prompt": params.get("prompt"),
        "negative_prompt": params.get("negativeprompt"),
        "seed": params.get("seed"),
        "steps": params.get("steps"),
        "cfg_scale": params.get("cfgscale"),
        "width": params.get("width"),
        "height": params.get("height"),
        "sampler": params.get("sampler"),
        "scheduler": params.get("scheduler"),
        "clip_skip": abs(clip_layer) if clip_layer else None,
    }
    result = ParsedGeneration(source_format=SOURCE_FORMAT, gen_params=normalise_gen_params(gen))
    weights = _list(params.get("loraweights"))
    clip_weights = _list(params.get("loratencweights"))
    for index, name in enumerate(_list(params.get("loras"))):
        if not isinstance(name, str) or not name.strip():
            continue
        weight = as_float(weights[index]) if index < len(weights) else None
        clip = as_float(clip_weights[index]) if index < len(clip_weights) else None
        result.loras.append(
            ResourceRef(
                kind="lora",
                name=name.strip(),
                file_name=file_stem(name),
                strength_model=1.0 if weight is None else weight,
                strength_clip=clip,
                hashes=dict(hashes.get(("loras", match_key(name)), {})),
            )
        )
    model = as_str(params.get("model"))
    if model and model.strip():
        result.checkpoint = ResourceRef(
            kind="checkpoint",
            name=model.strip(),
            file_name=file_stem(model),
            hashes=dict(hashes.get(("model", match_key(model)), {})),
        )
    version = as_str(params.get("swarm_version"))
    if version:
        result.raw["version"] = version
    return result


def parse_swarmui(text: dict[str, str]) -> ParsedGeneration | None:
    for candidate in candidate_texts(text):
        if "sui_image_params" not in candidate:
            continue
        result = parse_swarmui_params(load_json(candidate))
        if result is not None:
            return result
    return None
