"""``<stem>.metadata.json`` sidecars, compatible with ComfyUI-Lora-Manager; ``.civitai.info`` import.

Why: the sidecar is the shared truth about a model (the index is only a cache of it), written by that project,
by us, and by hand. So reading is null-tolerant (``SidecarRecord`` never raises on odd types), writing is
atomic, and a read-modify-write keeps every field we do not know exactly as it was.
"""
from __future__ import annotations

import copy
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .aside import set_aside
from .atomic import atomic_write_text

SIDECAR_SUFFIX = ".metadata.json"
CIVITAI_INFO_SUFFIX = ".civitai.info"
MAX_SIDECAR_BYTES = 64 * 1024 * 1024  # real sidecars are kilobytes; anything this big is not one


class SidecarError(Exception):
    """A sidecar cannot be used as it is; ``reason`` is written for users. Nothing was changed on disk."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sidecar_path_for(model_path: str | os.PathLike[str]) -> Path:
    """``/dir/name.safetensors`` -> ``/dir/name.metadata.json`` (only the last extension is dropped)."""
    path = Path(model_path)
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def civitai_info_path_for(model_path: str | os.PathLike[str]) -> Path:
    path = Path(model_path)
    return path.with_name(path.stem + CIVITAI_INFO_SUFFIX)


def read_sidecar(path: str | os.PathLike[str], *, max_bytes: int = MAX_SIDECAR_BYTES) -> dict[str, Any]:
    """Parse a sidecar (or any JSON-object file such as ``.civitai.info``).

    Raises ``SidecarError`` for a file over ``max_bytes``, bytes that are not UTF-8, invalid JSON or a JSON
    value that is not an object; ``FileNotFoundError`` and other OS errors pass through. Never deletes or
    renames anything.
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise SidecarError(f"{Path(path).name}: {size} bytes is over the {max_bytes}-byte limit for a sidecar")
        raw = handle.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SidecarError(f"{Path(path).name}: not UTF-8 text (bad byte at offset {exc.start})") from None
    if not text.strip():
        raise SidecarError(f"{Path(path).name}: file is empty")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SidecarError(f"{Path(path).name}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise SidecarError(f"{Path(path).name}: invalid JSON: {exc or type(exc).__name__}") from None
    if not isinstance(value, dict):
        raise SidecarError(f"{Path(path).name}: expected a JSON object, found {_json_type(value)}")
    return value


def write_sidecar(path: str | os.PathLike[str], data: Mapping[str, Any], *, durable: bool = True) -> None:
    """Write atomically (indent 2, non-ASCII kept as is); ``durable=False`` skips the fsync (see atomic.py).

    A value JSON cannot encode raises ``SidecarError`` before the disk is touched; OS errors (permission,
    disk full) pass through and leave the old file intact.
    """
    if not isinstance(data, Mapping):
        raise SidecarError(f"sidecar data must be an object, not {type(data).__name__}")
    try:
        text = json.dumps(dict(data), ensure_ascii=False, indent=2) + "\n"
    except (TypeError, ValueError, RecursionError) as exc:
        raise SidecarError(f"{Path(path).name}: cannot be saved as JSON: {exc}") from None
    atomic_write_text(path, _escape_lone_surrogates(text), durable=durable)


_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _escape_lone_surrogates(text: str) -> str:
    """JSON read from disk may hold an escaped half of a surrogate pair ("\\ud83d"); UTF-8 cannot encode it
    raw, so it is written back as the same escape (it can only occur inside a JSON string)."""
    if not _LONE_SURROGATE.search(text):
        return text
    return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def apply_updates(raw: Mapping[str, Any], updates: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: ``updates`` replace top-level keys, except ``civitai`` which is merged one level deep
    (``{"civitai": {"trainedWords": [...]}}`` keeps the rest of the block). Neither input is modified."""
    result = copy.deepcopy(dict(raw))
    for key, value in updates.items():
        value = copy.deepcopy(value)
        current = result.get(key)
        if key == "civitai" and isinstance(value, dict) and isinstance(current, dict):
            merged = dict(current)
            merged.update(value)
            result[key] = merged
        else:
            result[key] = value
    return result


# ------------------------------------------------------------------------------------------ typed view


@dataclass
class SidecarRecord:
    """A typed, null-tolerant view of a sidecar: wrong types become defaults, never exceptions."""

    model_name: str | None = None
    file_name: str | None = None
    file_path: str | None = None
    base_model: str | None = None
    tags: list[str] = field(default_factory=list)
    trigger_words: list[str] = field(default_factory=list)
    favorite: bool = False
    exclude: bool = False
    notes: str = ""
    usage_tips: dict[str, Any] = field(default_factory=dict)
    preview_url: str | None = None
    preview_nsfw_level: int = 0
    sha256: str | None = None
    from_civitai: bool = False
    civitai: dict[str, Any] = field(default_factory=dict)
    civitai_model_id: int | None = None
    civitai_version_id: int | None = None
    civitai_version_name: str | None = None
    civitai_deleted: bool = False
    creator: str | None = None
    description: str | None = None
    skip_metadata_refresh: bool = False
    hash_status: str | None = None
    metadata_source: str | None = None
    sub_type: str | None = None
    size: int | None = None
    modified: float | None = None
    last_checked_at: float | None = None
    hf_url: str = ""  # the Hugging Face repository a file came from (ComfyUI-Lora-Manager's key)

    @classmethod
    def from_dict(cls, raw: Any) -> "SidecarRecord":
        if not isinstance(raw, Mapping):
            return cls()
        civitai = raw.get("civitai")
        civitai = civitai if isinstance(civitai, dict) else {}
        model = civitai.get("model")
        model = model if isinstance(model, dict) else {}
        creator = civitai.get("creator")
        creator = creator if isinstance(creator, dict) else {}
        sha256 = _as_str(raw.get("sha256"))
        return cls(
            model_name=_as_str(raw.get("model_name")),
            file_name=_as_str(raw.get("file_name")),
            file_path=_as_str(raw.get("file_path")),
            base_model=_as_str(raw.get("base_model")),
            tags=_as_str_list(raw.get("tags")),
            trigger_words=_as_str_list(civitai.get("trainedWords")),
            favorite=_as_bool(raw.get("favorite")),
            exclude=_as_bool(raw.get("exclude")),
            notes=_as_str(raw.get("notes")) or "",
            usage_tips=_as_usage_tips(raw.get("usage_tips")),
            preview_url=_as_str(raw.get("preview_url")),
            preview_nsfw_level=_as_int(raw.get("preview_nsfw_level")) or 0,
            sha256=sha256.strip().lower() if sha256 else None,
            from_civitai=_as_bool(raw.get("from_civitai")),
            civitai=civitai,
            civitai_model_id=_as_int(civitai.get("modelId")),
            civitai_version_id=_as_int(civitai.get("id")),
            civitai_version_name=_as_str(civitai.get("name")),
            civitai_deleted=_as_bool(raw.get("civitai_deleted")),
            creator=_as_str(creator.get("username")),
            description=_as_str(raw.get("modelDescription")) or _as_str(model.get("description")),
            skip_metadata_refresh=_as_bool(raw.get("skip_metadata_refresh")),
            hash_status=_as_str(raw.get("hash_status")),
            metadata_source=_as_str(raw.get("metadata_source")),
            sub_type=_as_str(raw.get("sub_type")) or _as_str(raw.get("model_type")),
            size=_as_int(raw.get("size")),
            modified=_as_float(raw.get("modified")),
            last_checked_at=_as_float(raw.get("last_checked_at")),
            hf_url=_as_hf_url(raw.get("hf_url")),
        )


MAX_HF_URL = 2048


def _as_hf_url(value: Any) -> str:
    """An http(s) address of sane length, else nothing: the list shows it as a link."""
    if not isinstance(value, str) or len(value) > MAX_HF_URL:
        return ""
    return value if value.startswith(("https://", "http://")) else ""


def _as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return False


MAX_STORED_INT = 2**63 - 1  # SQLite's INTEGER: a larger number in a sidecar is read as absent


def _as_int(value: Any) -> int | None:
    number: int | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value == int(value):
        number = int(value)
    elif isinstance(value, str) and len(value) < 40 and value.strip().removeprefix("-").isdecimal():
        number = int(value.strip())
    if number is None or not -MAX_STORED_INT <= number <= MAX_STORED_INT:
        return None
    return number


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return None
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None


def _as_str_list(value: Any) -> list[str]:
    """A list of non-empty stripped strings; a comma-separated string is accepted too."""
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        return []
    result: list[str] = []
    for item in items:
        if isinstance(item, str) and item.strip():
            result.append(item.strip())
    return result


def _as_usage_tips(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


# ------------------------------------------------------------------------------------------ .civitai.info


def civitai_info_to_sidecar(info: Mapping[str, Any], model_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Sidecar fields from an A1111 Civitai Helper ``<stem>.civitai.info`` (a Civitai model-version object).

    Only fields the info actually provides are returned, so ``apply_updates(existing, result)`` never blanks
    what a sidecar already knows.
    """
    path = Path(model_path)
    block = copy.deepcopy(dict(info)) if isinstance(info, Mapping) else {}
    model = block.get("model")
    model = model if isinstance(model, dict) else {}
    result: dict[str, Any] = {
        "file_name": path.stem,
        "file_path": path.absolute().as_posix(),
        "model_name": _as_str(model.get("name")) or path.stem,
        "civitai": block,
        "from_civitai": True,
    }
    base_model = _as_str(block.get("baseModel"))
    if base_model:
        result["base_model"] = base_model
    tags = _as_str_list(model.get("tags"))
    if tags:
        result["tags"] = tags
    description = _as_str(model.get("description"))
    if description is not None:
        result["modelDescription"] = description
    sha256 = _primary_sha256(block.get("files"), path.name)
    if sha256:
        result["sha256"] = sha256
    return result


def _primary_sha256(files: Any, file_name: str) -> str | None:
    """SHA256 of the primary file; else of the file with our name; else of the only file."""
    if not isinstance(files, list):
        return None
    entries = [entry for entry in files if isinstance(entry, dict)]
    chosen = (
        next((entry for entry in entries if entry.get("primary") is True), None)
        or next((entry for entry in entries if entry.get("name") == file_name), None)
        or (entries[0] if len(entries) == 1 else None)
    )
    if chosen is None:
        return None
    hashes = chosen.get("hashes")
    value = hashes.get("SHA256") if isinstance(hashes, dict) else None
    if isinstance(value, str) and value.strip():
        return value.strip().lower()
    return None


def read_sidecar_for_edit(path: Path) -> tuple[dict[str, Any], str]:
    """A sidecar's contents before a change, or ``{}``: a file that cannot be parsed is set aside first (never
    overwritten) and its new name returned."""
    try:
        return read_sidecar(path), ""
    except FileNotFoundError:
        return {}, ""
    except SidecarError as exc:
        return {}, set_aside(path, exc.reason).name
