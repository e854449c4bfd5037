"""Automatic1111 / Forge ``parameters`` text, including the variants Civitai writes.

Layout: prompt lines, an optional ``Negative prompt:`` section, then one settings line of ``Key: value`` pairs.
Values may be quoted (``"a: 1, b: 2"``) or raw JSON (``Hashes: {...}``, ``Civitai resources: [...]``), so the
settings line is tokenised with quote and bracket matching instead of a naive split on commas.
The prompt is kept as written (``<lora:...>`` tags included: they are A1111 prompt syntax); the tags also
become LoRA entries.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any

from ..lora_syntax import parse_lora_syntax
from ._util import (
    add_unique,
    as_float,
    as_id,
    as_str,
    candidate_texts,
    file_stem,
    hash_entry,
    hashes_from,
    match_key,
    normalise_gen_params,
)
from .model import ParsedGeneration, ResourceRef
from .recipe_json import split_recipe_marker

logger = logging.getLogger(__name__)

__all__ = [
    "parse_a1111_text",
    "parse_a1111",
    "parse_a1111_civitai",
    "parse_a1111_lora_n",
    "parse_settings_line",
    "parse_air",
    "FORMAT_A1111",
    "FORMAT_A1111_CIVITAI",
    "FORMAT_A1111_LORA_N",
]

FORMAT_A1111 = "a1111"
FORMAT_A1111_CIVITAI = "a1111-civitai"
FORMAT_A1111_LORA_N = "a1111-comfyui-civitai"

_KEY_RE = re.compile(r"([A-Za-z][\w \-/.+()]{0,79}?):\s*")
_STEPS_LINE_RE = re.compile(r"^\s*Steps:\s*\d")
_LORA_N_RE = re.compile(r"^Lora_(\d{1,3}) (Model name|Model hash|Strength model|Strength clip)$")
_AIR_RE = re.compile(
    r"urn:air:(?P<base>[^:]+):(?P<type>[^:]+):(?P<source>[^:]+):(?P<model>\d+)(?:@(?P<version>\d+))?"
)
_LORA_TYPES = {"lora", "lycoris", "locon", "loha", "dora"}
_SETTING_KEYS = {
    "Steps": "steps",
    "Sampler": "sampler",
    "Schedule type": "scheduler",
    "CFG scale": "cfg_scale",
    "Seed": "seed",
    "Size": "size",
    "Clip skip": "clip_skip",
    "Denoising strength": "denoising_strength",
}


# -- settings line -----------------------------------------------------------------------------------------


def _scan_string(line: str, start: int) -> int:
    """Index just past the closing quote of the string opening at ``start`` (or the line end)."""
    i = start + 1
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == '"':
            return i + 1
        i += 1
    return len(line)


def _scan_json(line: str, start: int) -> int:
    """Index just past the bracket matching the one at ``start``, honouring JSON strings."""
    depth = 0
    i = start
    while i < len(line):
        char = line[i]
        if char == '"':
            i = _scan_string(line, i)
            continue
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(line)


def _decode(raw: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw


def parse_settings_line(line: str) -> dict[str, Any]:
    """``Key: value`` pairs of a settings line; quoted values are unquoted, JSON values decoded."""
    settings: dict[str, Any] = {}
    i, end = 0, len(line)
    while i < end:
        while i < end and line[i] in " \t,":
            i += 1
        match = _KEY_RE.match(line, i)
        if not match:
            comma = line.find(",", i)
            i = end if comma < 0 else comma + 1
            continue
        key = match.group(1).strip()
        j = match.end()
        if j < end and line[j] == '"':
            stop = _scan_string(line, j)
            raw = line[j:stop]
            value: Any = _decode(raw)
            if not isinstance(value, str) or value == raw:
                value = raw[1:-1] if len(raw) >= 2 and raw.endswith('"') else raw[1:]
        elif j < end and line[j] in "{[":
            stop = _scan_json(line, j)
            value = _decode(line[j:stop])
        else:
            comma = line.find(",", j)
            stop = end if comma < 0 else comma
            value = line[j:stop].strip()
        settings.setdefault(key, value)
        comma = line.find(",", stop)
        i = end if comma < 0 else comma + 1
    return settings


# -- text layout ---------------------------------------------------------------------------------------------


def _split_sections(text: str) -> tuple[str, str | None, str | None]:
    """(prompt, negative prompt or None, settings line or None)."""
    lines = text.strip().split("\n")
    settings_index = None
    for index in range(len(lines) - 1, -1, -1):
        if _STEPS_LINE_RE.match(lines[index]):
            settings_index = index
            break
    settings = lines[settings_index].strip() if settings_index is not None else None
    body = lines[:settings_index] if settings_index is not None else lines
    prompt_lines: list[str] = []
    negative_lines: list[str] | None = None
    for line in body:
        stripped = line.strip()
        if negative_lines is None and stripped.startswith("Negative prompt:"):
            negative_lines = [stripped[len("Negative prompt:"):].strip()]
        elif negative_lines is not None:
            negative_lines.append(line)
        else:
            prompt_lines.append(line)
    negative = "\n".join(negative_lines).strip() if negative_lines is not None else None
    return "\n".join(prompt_lines).strip(), negative, settings


# -- resources -----------------------------------------------------------------------------------------------


def parse_air(value: Any) -> dict[str, Any] | None:
    """Civitai AIR ``urn:air:sdxl:lora:civitai:123@456`` -> ecosystem, type, model id, version id."""
    if not isinstance(value, str):
        return None
    match = _AIR_RE.search(value)
    if not match:
        return None
    return {
        "ecosystem": match.group("base"),
        "type": match.group("type").lower(),
        "model_id": as_id(match.group("model")),
        "model_version_id": as_id(match.group("version")),
    }


def _lora(name: str, model: float = 1.0, clip: float | None = None) -> ResourceRef:
    return ResourceRef(kind="lora", name=name, file_name=file_stem(name), strength_model=model, strength_clip=clip)


def _named_hashes(settings: dict[str, Any]) -> tuple[dict[str, str], str | None]:
    """LoRA name -> hash from ``Lora hashes`` and ``Hashes``, plus the checkpoint hash from ``Hashes``."""
    by_name: dict[str, str] = {}
    lora_hashes = settings.get("Lora hashes")
    if isinstance(lora_hashes, str):
        for part in lora_hashes.split(","):
            name, sep, value = part.rpartition(":")
            if sep and name.strip() and value.strip():
                by_name.setdefault(name.strip(), value.strip())
    model_hash = None
    hashes = settings.get("Hashes")
    if isinstance(hashes, dict):
        for key, value in hashes.items():
            if not isinstance(key, str) or not isinstance(value, str) or not value.strip():
                continue
            prefix, sep, name = key.partition(":")
            if sep and prefix.lower() == "lora" and name.strip():
                by_name.setdefault(name.strip(), value.strip())
            elif not sep and key.lower() == "model":
                model_hash = value.strip()
    return by_name, model_hash


def _attach_hashes(loras: list[ResourceRef], by_name: dict[str, str]) -> None:
    pending = {match_key(name): (name, value) for name, value in by_name.items()}
    for lora in loras:
        found = pending.pop(match_key(lora.name), None)
        if found is None and lora.file_name:
            found = pending.pop(match_key(lora.file_name), None)
        entry = hash_entry(found[1]) if found else None
        if entry:
            lora.hashes.setdefault(*entry)
    for name, value in pending.values():
        lora = _lora(name)
        entry = hash_entry(value)
        if entry:
            lora.hashes[entry[0]] = entry[1]
        loras.append(lora)


def _lora_n(settings: dict[str, Any]) -> list[ResourceRef]:
    slots: dict[int, dict[str, Any]] = {}
    for key, value in settings.items():
        match = _LORA_N_RE.match(key)
        if match:
            slots.setdefault(int(match.group(1)), {})[match.group(2)] = value
    loras: list[ResourceRef] = []
    for index in sorted(slots):
        slot = slots[index]
        name = as_str(slot.get("Model name"))
        if not name or not name.strip():
            continue
        model = as_float(slot.get("Strength model"))
        clip = as_float(slot.get("Strength clip"))
        lora = _lora(name.strip(), 1.0 if model is None else model, clip)
        lora.hashes.update(hashes_from(slot.get("Model hash")))
        loras.append(lora)
    return loras


def _resource_fields(resource: dict[str, Any]) -> dict[str, Any]:
    air = parse_air(resource.get("air")) or {}
    rtype = resource.get("type") if isinstance(resource.get("type"), str) else air.get("type", "")
    return {
        "type": (rtype or "").lower(),
        "model_id": as_id(resource.get("modelId")) or air.get("model_id"),
        "model_version_id": as_id(resource.get("modelVersionId")) or air.get("model_version_id"),
        "model_name": as_str(resource.get("modelName")),
        "version_name": as_str(resource.get("modelVersionName")) or as_str(resource.get("versionName")),
        "weight": as_float(resource.get("weight")),
        "hash": resource.get("hash"),
    }


def apply_civitai_resources(result: ParsedGeneration, resources: Any) -> None:
    """Merge Civitai resource records (version ids, names) into the LoRAs and checkpoint already found."""
    if not isinstance(resources, list):
        return
    lora_records: list[dict[str, Any]] = []
    for resource in resources:
        if not isinstance(resource, dict):
            continue
        fields = _resource_fields(resource)
        if fields["type"] == "checkpoint":
            checkpoint = result.checkpoint or ResourceRef(kind="checkpoint", name=fields["model_name"] or "")
            _fill_ids(checkpoint, fields)
            result.checkpoint = checkpoint
        elif fields["type"] in _LORA_TYPES:
            lora_records.append(fields)
    unmatched_loras = list(result.loras)
    unmatched_records: list[dict[str, Any]] = []
    for fields in lora_records:
        key = match_key(fields["model_name"]) if fields["model_name"] else ""
        target = next((lora for lora in unmatched_loras if key and match_key(lora.name) == key), None)
        if target is None:
            unmatched_records.append(fields)
            continue
        unmatched_loras.remove(target)
        _fill_ids(target, fields)
    if unmatched_records and len(unmatched_records) == len(unmatched_loras):
        for lora, fields in zip(unmatched_loras, unmatched_records):
            _fill_ids(lora, fields)
        return
    for fields in unmatched_records:
        name = fields["model_name"] or f"civitai:{fields['model_version_id'] or 'unknown'}"
        weight = fields["weight"]
        lora = ResourceRef(kind="lora", name=name, strength_model=1.0 if weight is None else weight)
        _fill_ids(lora, fields)
        result.loras.append(lora)


def _fill_ids(ref: ResourceRef, fields: dict[str, Any]) -> None:
    ref.model_id = ref.model_id or fields["model_id"]
    ref.model_version_id = ref.model_version_id or fields["model_version_id"]
    ref.version_name = ref.version_name or fields["version_name"]
    ref.model_name = ref.model_name or fields["model_name"]
    if not ref.name and fields["model_name"]:
        ref.name = fields["model_name"]
    for kind, value in hashes_from(fields["hash"]).items():
        ref.hashes.setdefault(kind, value)


# -- entry points --------------------------------------------------------------------------------------------


def parse_a1111_text(text: str) -> ParsedGeneration | None:
    """Parse one ``parameters`` string; None when it has neither a settings line nor a negative prompt."""
    if not isinstance(text, str) or not text.strip():
        return None
    text, _ = split_recipe_marker(text)
    prompt, negative, settings_line = _split_sections(text)
    if settings_line is None and negative is None:
        return None
    settings = parse_settings_line(settings_line) if settings_line else {}
    params: dict[str, Any] = {"prompt": prompt}
    if negative is not None:
        params["negative_prompt"] = negative
    for key, target in _SETTING_KEYS.items():
        if key in settings:
            params[target] = settings[key]
    lora_n = _lora_n(settings)
    if lora_n:
        source = FORMAT_A1111_LORA_N
    else:
        source = FORMAT_A1111_CIVITAI if "Civitai resources" in settings else FORMAT_A1111
    result = ParsedGeneration(source_format=source, gen_params=normalise_gen_params(params))
    result.loras = lora_n
    add_unique(result.loras, [_lora(e.name, e.model_strength, e.clip_strength) for e in parse_lora_syntax(prompt)])
    by_name, model_hash = _named_hashes(settings)
    _attach_hashes(result.loras, by_name)
    model_name = as_str(settings.get("Model"))
    checkpoint_hashes = hashes_from(settings.get("Model hash"), model_hash)
    if model_name or checkpoint_hashes:
        name = (model_name or "").strip()
        result.checkpoint = ResourceRef(
            kind="checkpoint", name=name, file_name=file_stem(name), hashes=checkpoint_hashes
        )
    apply_civitai_resources(result, settings.get("Civitai resources"))
    version = as_str(settings.get("Version"))
    if version:
        result.raw["version"] = version
    return result


def _first(text: dict[str, str], wanted: str | None) -> ParsedGeneration | None:
    for candidate in candidate_texts(text):
        result = parse_a1111_text(candidate)
        if result is not None and (wanted is None or result.source_format == wanted):
            return result
    return None


def parse_a1111_lora_n(text: dict[str, str]) -> ParsedGeneration | None:
    """Civitai's re-export of ComfyUI images: ``Lora_0 Model name: ..., Lora_0 Model hash: ...``."""
    return _first(text, FORMAT_A1111_LORA_N)


def parse_a1111_civitai(text: dict[str, str]) -> ParsedGeneration | None:
    """A1111 text carrying ``Civitai resources: [...]`` (images generated on Civitai)."""
    return _first(text, FORMAT_A1111_CIVITAI)


def parse_a1111(text: dict[str, str]) -> ParsedGeneration | None:
    """Any A1111-style parameters text."""
    return _first(text, None)
