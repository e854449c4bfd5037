"""Small coercion helpers shared by the parsers; every one accepts arbitrary input and never raises."""
from __future__ import annotations

import json
import math
import re
from typing import Any, Iterable

from .model import GEN_PARAM_KEYS, ResourceRef

MODEL_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft", ".onnx")

# Keys of the image text dict that may hold a tool's free-form parameters, most likely first.
TEXT_KEYS = ("parameters", "exif_user_comment", "comment", "Comment", "exif_image_description", "Description")

_HEX_RE = re.compile(r"[0-9a-f]+")
_NUM_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_SIZE_RE = re.compile(r"\s*(\d{1,6})\s*[xX×]\s*(\d{1,6})\s*")
_HASH_KINDS = {64: "sha256", 12: "autov3", 10: "autov2", 8: "autov1"}


def as_float(value: Any) -> float | None:
    """A finite float from a number or numeric string; bools and anything else give None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            result = float(value)
        except OverflowError:
            return None
    elif isinstance(value, str) and _NUM_RE.fullmatch(value.strip()):
        try:
            result = float(value.strip())
        except (ValueError, OverflowError):  # pragma: no cover - regex admits only float literals
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def as_int(value: Any) -> int | None:
    """An int from an int, an integral float or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,40}\s*", value):
        return int(value)
    number = as_float(value)
    if number is None or number != int(number):
        return None
    return int(number)


def as_str(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def as_id(value: Any) -> int | None:
    """A positive Civitai id (model or version) or None."""
    number = as_int(value)
    return number if number is not None and number > 0 else None


def file_stem(name: Any) -> str | None:
    """Basename of a Windows or posix path, without a known model-file extension."""
    if not isinstance(name, str):
        return None
    base = re.split(r"[\\/]", name.strip())[-1].strip()
    lowered = base.lower()
    for ext in MODEL_EXTENSIONS:
        if lowered.endswith(ext) and len(base) > len(ext):
            base = base[: -len(ext)]
            break
    return base or None


def match_key(name: Any) -> str:
    """Comparable form of a resource name: stem, lowercase, letters and digits only.

    Why so loose: A1111 drops ``:`` and ``,`` from names, and Civitai display names ("Detail Tweaker") differ
    from file names ("detail_tweaker") only in punctuation and case.
    """
    stem = file_stem(name) or ""
    return re.sub(r"[\W_]+", "", stem.lower())


def hash_entry(value: Any, kind: str | None = None) -> tuple[str, str] | None:
    """``(kind, lowercase hex)`` for a hash string; the kind is inferred from the length when not given."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if not text or len(text) > 128 or not _HEX_RE.fullmatch(text):
        return None
    return (kind or _HASH_KINDS.get(len(text), "short"), text)


def hashes_from(*values: Any) -> dict[str, str]:
    result: dict[str, str] = {}
    for value in values:
        entry = hash_entry(value)
        if entry and entry[0] not in result:
            result[entry[0]] = entry[1]
    return result


def load_json(text: Any) -> Any:
    """``json.loads`` that returns None on anything invalid, including absurd nesting."""
    if not isinstance(text, (str, bytes, bytearray)):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError, TypeError):
        return None


def parse_size(value: Any) -> tuple[int, int] | None:
    if isinstance(value, str):
        match = _SIZE_RE.fullmatch(value)
        if match:
            return int(match.group(1)), int(match.group(2))
    return None


def normalise_gen_params(params: dict[str, Any]) -> dict[str, Any]:
    """Keep only GEN_PARAM_KEYS with sensible types; derive ``size`` <-> ``width``/``height``."""
    out: dict[str, Any] = {}
    for key in ("prompt", "negative_prompt", "sampler", "scheduler"):
        text = as_str(params.get(key))
        if text is not None:
            out[key] = text
    for key in ("steps", "seed", "clip_skip", "width", "height"):
        number = as_int(params.get(key))
        if number is not None:
            out[key] = number
    for key in ("cfg_scale", "denoising_strength"):
        number = as_float(params.get(key))
        if number is not None:
            out[key] = number
    size = parse_size(params.get("size"))
    if size:
        out["size"] = f"{size[0]}x{size[1]}"
        out.setdefault("width", size[0])
        out.setdefault("height", size[1])
    elif "width" in out and "height" in out:
        out["size"] = f"{out['width']}x{out['height']}"
    return {key: out[key] for key in GEN_PARAM_KEYS if key in out}


def add_unique(loras: list[ResourceRef], extra: Iterable[ResourceRef]) -> None:
    """Append LoRAs whose file name is not already present (prompt tags repeating a loader, for example)."""
    seen = {match_key(lora.file_name or lora.name) for lora in loras}
    for lora in extra:
        key = match_key(lora.file_name or lora.name)
        if key and key in seen:
            continue
        seen.add(key)
        loras.append(lora)


def candidate_texts(text: dict[str, str]) -> list[str]:
    """The free-form text values worth trying, in TEXT_KEYS order, without duplicates."""
    if not isinstance(text, dict):
        return []
    found: list[str] = []
    for key in TEXT_KEYS:
        value = text.get(key)
        if isinstance(value, str) and value.strip() and value not in found:
            found.append(value)
    return found
