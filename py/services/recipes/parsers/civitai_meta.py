"""The ``meta`` object of Civitai's image API (and the same JSON found as image text).

Civitai mixes several generations of fields: ``resources`` (name + hash), ``civitaiResources`` (version ids),
``additionalResources`` (AIR names), ``hashes``, ``Lora_N`` keys and a nested ComfyUI ``comfy`` JSON string.
Each source adds what it knows; later sources fill ids and hashes into LoRAs already found when they match.
"""
from __future__ import annotations

from typing import Any

from ._util import (
    add_unique,
    as_float,
    as_str,
    candidate_texts,
    file_stem,
    hash_entry,
    hashes_from,
    load_json,
    match_key,
    normalise_gen_params,
)
from .a1111 import apply_civitai_resources, parse_air
from .comfy_graph import read_prompt_graph
from .comfyui import workflow_to_prompt
from .errors import NoGenerationMetadata
from .model import ParsedGeneration, ResourceRef

__all__ = ["parse_civitai_meta", "parse_civitai_meta_text", "SOURCE_FORMAT", "META_KEYS"]

SOURCE_FORMAT = "civitai-meta"
# Keys whose presence marks a dict as Civitai generation meta.
META_KEYS = frozenset(
    {"prompt", "negativePrompt", "cfgScale", "steps", "sampler", "seed", "Size", "resources", "civitaiResources",
     "additionalResources", "hashes", "Model", "Model hash", "comfy"}
)
_PARAMS = {
    "prompt": "prompt",
    "negativePrompt": "negative_prompt",
    "cfgScale": "cfg_scale",
    "steps": "steps",
    "sampler": "sampler",
    "scheduler": "scheduler",
    "Schedule type": "scheduler",
    "seed": "seed",
    "Size": "size",
    "clipSkip": "clip_skip",
    "Clip skip": "clip_skip",
    "denoise": "denoising_strength",
    "Denoising strength": "denoising_strength",
    "width": "width",
    "height": "height",
}
_LORA_TYPES = {"lora", "lycoris", "locon", "loha", "dora"}


def _lora_hashes(meta: dict[str, Any]) -> tuple[dict[str, str], str | None]:
    hashes = meta.get("hashes")
    by_name: dict[str, str] = {}
    model_hash = None
    if isinstance(hashes, dict):
        for key, value in hashes.items():
            if not isinstance(key, str) or not isinstance(value, str):
                continue
            prefix, sep, name = key.partition(":")
            if sep and prefix.lower() == "lora" and name.strip():
                by_name.setdefault(match_key(name), value)
            elif not sep and key.lower() == "model":
                model_hash = value
    return by_name, model_hash


def _resources(meta: dict[str, Any], by_name: dict[str, str]) -> tuple[list[ResourceRef], ResourceRef | None]:
    loras: list[ResourceRef] = []
    checkpoint = None
    resources = meta.get("resources")
    for resource in resources if isinstance(resources, list) else []:
        if not isinstance(resource, dict):
            continue
        name = as_str(resource.get("name"))
        rtype = as_str(resource.get("type")) or "lora"
        hashes = hashes_from(resource.get("hash"))
        if rtype.lower() in ("model", "checkpoint"):
            if checkpoint is None and (name or hashes):
                checkpoint = ResourceRef(kind="checkpoint", name=name or "", file_name=file_stem(name), hashes=hashes)
            continue
        if rtype.lower() not in _LORA_TYPES or not name or not name.strip():
            continue
        if not hashes and match_key(name) in by_name:
            hashes = hashes_from(by_name[match_key(name)])
        weight = as_float(resource.get("weight"))
        loras.append(
            ResourceRef(kind="lora", name=name.strip(), file_name=file_stem(name),
                        strength_model=1.0 if weight is None else weight, hashes=hashes)
        )
    return loras, checkpoint


def _additional(meta: dict[str, Any]) -> list[ResourceRef]:
    loras: list[ResourceRef] = []
    extra = meta.get("additionalResources")
    for resource in extra if isinstance(extra, list) else []:
        if not isinstance(resource, dict):
            continue
        name = as_str(resource.get("name"))
        air = parse_air(name) or {}
        rtype = (as_str(resource.get("type")) or air.get("type") or "lora").lower()
        if rtype not in _LORA_TYPES or not name or not name.strip():
            continue
        strength = as_float(resource.get("strength"))
        clip = as_float(resource.get("strengthClip"))
        lora = ResourceRef(kind="lora", name=name.strip(), strength_model=1.0 if strength is None else strength,
                           strength_clip=clip, model_id=air.get("model_id"),
                           model_version_id=air.get("model_version_id"))
        if not air:
            lora.file_name = file_stem(name)
        loras.append(lora)
    return loras


def _lora_n(meta: dict[str, Any]) -> list[ResourceRef]:
    loras: list[ResourceRef] = []
    for index in range(100):
        name = as_str(meta.get(f"Lora_{index} Model name"))
        if name is None:
            break
        if not name.strip():
            continue
        model = as_float(meta.get(f"Lora_{index} Strength model"))
        clip = as_float(meta.get(f"Lora_{index} Strength clip"))
        loras.append(ResourceRef(kind="lora", name=name.strip(), file_name=file_stem(name),
                                 strength_model=1.0 if model is None else model, strength_clip=clip,
                                 hashes=hashes_from(meta.get(f"Lora_{index} Model hash"))))
    return loras


def _comfy(meta: dict[str, Any]) -> ParsedGeneration | None:
    comfy = meta.get("comfy")
    data = load_json(comfy) if isinstance(comfy, str) else comfy
    if not isinstance(data, dict):
        return None
    prompt = data.get("prompt")
    prompt = load_json(prompt) if isinstance(prompt, str) else prompt
    if isinstance(prompt, dict):
        result = read_prompt_graph(prompt)
        if result.has_content():
            return result
    workflow = data.get("workflow")
    workflow = load_json(workflow) if isinstance(workflow, str) else workflow
    if isinstance(workflow, dict):
        result = read_prompt_graph(workflow_to_prompt(workflow))
        if result.has_content():
            return result
    return None


def _is_meta_key(key: Any) -> bool:
    return isinstance(key, str) and (key in META_KEYS or key.startswith("Lora_"))


def _unwrap(meta: Any) -> Any:
    """Accept a whole image record (``{"id": ..., "meta": {...}}``) as well as the bare meta object."""
    if isinstance(meta, dict) and isinstance(meta.get("meta"), dict) and "prompt" not in meta:
        return meta["meta"]
    return meta


def parse_civitai_meta(meta: dict) -> ParsedGeneration:
    """Parse Civitai image meta; raises NoGenerationMetadata when the object carries none of its fields."""
    meta = _unwrap(meta)
    if not isinstance(meta, dict) or not any(_is_meta_key(key) for key in meta):
        raise NoGenerationMetadata("no Civitai generation metadata")
    params = {target: meta[key] for key, target in _PARAMS.items() if key in meta}
    result = ParsedGeneration(source_format=SOURCE_FORMAT)
    by_name, model_hash = _lora_hashes(meta)
    loras, checkpoint = _resources(meta, by_name)
    result.loras = loras
    add_unique(result.loras, _lora_n(meta))
    add_unique(result.loras, _additional(meta))
    model_name = as_str(meta.get("Model"))
    checkpoint_hashes = hashes_from(meta.get("Model hash"), model_hash)
    if checkpoint is None and (model_name or checkpoint_hashes):
        checkpoint = ResourceRef(kind="checkpoint", name=(model_name or "").strip(), file_name=file_stem(model_name))
    if checkpoint is not None:
        for kind, value in checkpoint_hashes.items():
            checkpoint.hashes.setdefault(kind, value)
    result.checkpoint = checkpoint
    for lora in result.loras:
        value = by_name.get(match_key(lora.name))
        entry = hash_entry(value) if value else None
        if entry:
            lora.hashes.setdefault(*entry)
    apply_civitai_resources(result, meta.get("civitaiResources"))
    comfy = _comfy(meta)
    if comfy is not None:
        if not result.loras:
            result.loras = comfy.loras
        if result.checkpoint is None:
            result.checkpoint = comfy.checkpoint
        for key, value in comfy.gen_params.items():
            params.setdefault(key, value)
        result.raw["comfy"] = True
    result.gen_params = normalise_gen_params(params)
    base_model = as_str(meta.get("baseModel"))
    result.base_model = base_model.strip() if base_model and base_model.strip() else None
    return result


def parse_civitai_meta_text(text: dict[str, str]) -> ParsedGeneration | None:
    """A text field holding Civitai meta JSON (as saved by downloaders and browser extensions)."""
    for candidate in candidate_texts(text):
        if not candidate.lstrip().startswith("{"):
            continue
        data = load_json(candidate)
        try:
            result = parse_civitai_meta(data)
        except NoGenerationMetadata:
            continue
        if result.has_content():
            return result
    return None
