"""A user's metadata edit, validated before anything is written: types, ranges and sizes.

Why: one edit lands in the sidecar (the shared truth, read by every page and by ComfyUI-Lora-Manager) and in
the index. A number beyond SQLite's 64-bit range, a 50 MB note or a list nested a thousand deep must be refused
with a clear message, never written: written, it breaks listings for every later request. Keys we do not
know are the user's own and are kept, within the same bounds.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .sidecar import MAX_STORED_INT

USER_EDITED_KEY = "user_edited_fields"
# Fields the user owns: metadata refreshes from Civitai never overwrite them once edited.
USER_FIELDS = ("model_name", "notes", "tags", "usage_tips", "base_model", "preview_nsfw_level", "favorite")
# Fields only LoRA Manager writes: they describe the file itself.
SYSTEM_FIELDS = ("file_path", "file_name", "sha256", "size", "modified", USER_EDITED_KEY)

MAX_INT = MAX_STORED_INT
MAX_NAME = 512
MAX_NOTES = 64 * 1024
MAX_TAG = 128
MAX_TAGS = 200
MAX_WORD = 512
MAX_WORDS = 200
MAX_SHORT_TEXT = 4096
MAX_NSFW_LEVEL = 1024
MAX_EDIT_BYTES = 1024 * 1024  # the whole edit as JSON
MAX_DEPTH = 32


class InvalidEdit(ValueError):
    """An edit that is refused as a whole; the message names the field and the rule."""


@dataclass
class MetadataEdit:
    """A validated edit: sidecar keys to merge, index record fields to set, user-owned field names."""

    updates: dict[str, Any]
    record: dict[str, Any] = field(default_factory=dict)
    user_fields: frozenset[str] = frozenset()


def metadata_edit(body: Mapping[str, Any], *, file_name: str) -> MetadataEdit:
    """Validate a ``save-metadata`` body (without ``file_path``); ``file_name`` names the model if the display
    name is cleared."""
    if not body:
        raise InvalidEdit("Nothing to save: send the fields to change beside file_path")
    for key in body:
        if key in SYSTEM_FIELDS:
            raise InvalidEdit(f"{key} is set by LoRA Manager from the file itself and cannot be edited")
        check_json_value(body[key], key)
    size = len(json.dumps(body, ensure_ascii=False))
    if size > MAX_EDIT_BYTES:
        raise InvalidEdit(f"The edit is too large ({size} bytes, at most {MAX_EDIT_BYTES})")
    record: dict[str, Any] = {}
    if "model_name" in body:
        name = _text(body, "model_name", MAX_NAME)
        record["model_name"] = name.strip() or file_name
    if "notes" in body:
        record["notes"] = _text(body, "notes", MAX_NOTES)
    if "favorite" in body:
        record["favorite"] = _flag(body, "favorite")
    if "skip_metadata_refresh" in body:
        record["skip_metadata_refresh"] = _flag(body, "skip_metadata_refresh")
    if "exclude" in body:
        record["exclude"] = _flag(body, "exclude")
    if "tags" in body:
        record["tags"] = _words(body["tags"], "tags", MAX_TAGS, MAX_TAG)
    if "base_model" in body:
        record["base_model"] = _text(body, "base_model", MAX_NAME).strip() or "Unknown"
        record["base_model_source"] = "user"
    if "usage_tips" in body:
        record["usage_tips"] = _usage_tips(body["usage_tips"])
    if "preview_nsfw_level" in body:
        record["preview_nsfw_level"] = _number(body, "preview_nsfw_level", 0, MAX_NSFW_LEVEL)
    if "preview_url" in body:
        _text(body, "preview_url", MAX_SHORT_TEXT)
    civitai = body.get("civitai")
    if "civitai" in body:
        if not isinstance(civitai, dict):
            raise InvalidEdit("Invalid value for civitai: expected an object")
        if "trainedWords" in civitai:
            record["trigger_words"] = _words(civitai["trainedWords"], "civitai.trainedWords", MAX_WORDS, MAX_WORD)
        for key in ("id", "modelId"):
            if key in civitai and civitai[key] is not None:
                _number(civitai, key, 1, MAX_INT, label=f"civitai.{key}")
    updates = dict(body)
    for key in ("tags",):
        if key in record:
            updates[key] = record[key]
    if isinstance(civitai, dict) and "trigger_words" in record:
        updates["civitai"] = {**civitai, "trainedWords": record["trigger_words"]}
    return MetadataEdit(updates, record, user_edited_names(body))


def user_edited_names(updates: Mapping[str, Any]) -> frozenset[str]:
    """Which user-owned fields an edit touches (``civitai.trainedWords`` counts as one)."""
    names = {key for key in updates if key in USER_FIELDS}
    civitai = updates.get("civitai")
    if isinstance(civitai, dict) and "trainedWords" in civitai:
        names.add("civitai.trainedWords")
    return frozenset(names)


def with_user_fields(raw: Mapping[str, Any], updates: dict[str, Any], names: frozenset[str]) -> dict[str, Any]:
    """``updates`` plus the sidecar's ``user_edited_fields`` grown by ``names`` (kept sorted, never shrunk)."""
    if not names:
        return updates
    known = raw.get(USER_EDITED_KEY) if isinstance(raw.get(USER_EDITED_KEY), list) else []
    return {**updates, USER_EDITED_KEY: sorted(set(map(str, known)) | names)}


def clean_tags(values: Iterable[str], existing: Iterable[str] = ()) -> list[str]:
    """``existing`` then ``values``, stripped, case-insensitively unique, in order."""
    merged: list[str] = []
    seen: set[str] = set()
    for tag in [*existing, *values]:
        clean = tag.strip()
        if clean and clean.casefold() not in seen:
            merged.append(clean)
            seen.add(clean.casefold())
    return merged


def check_tags(values: Any, label: str = "tags") -> list[str]:
    return _words(values, label, MAX_TAGS, MAX_TAG)


def check_json_value(value: Any, label: str) -> None:
    """Any JSON value the sidecar and the index can hold: integers within 64 bits, finite numbers, bounded
    nesting (iterative, so a hostile depth cannot exhaust the stack)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidEdit(f"Invalid value for {label}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        if isinstance(item, int):
            if not -MAX_INT <= item <= MAX_INT:
                raise InvalidEdit(f"Invalid value for {label}: the number {str(item)[:30]}... is out of range")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidEdit(f"Invalid value for {label}: numbers must be finite")
        elif isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        else:
            raise InvalidEdit(f"Invalid value for {label}: not a JSON value")


def _text(body: Mapping[str, Any], key: str, limit: int) -> str:
    value = body[key]
    if not isinstance(value, str):
        raise InvalidEdit(f"Invalid value for {key}: expected a string")
    if len(value) > limit:
        raise InvalidEdit(f"Invalid value for {key}: at most {limit} characters ({len(value)} given)")
    return value


def _flag(body: Mapping[str, Any], key: str) -> bool:
    value = body[key]
    if not isinstance(value, bool):
        raise InvalidEdit(f"Invalid value for {key}: expected true or false")
    return value


def _number(body: Mapping[str, Any], key: str, low: int, high: int, *, label: str | None = None) -> int:
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidEdit(f"Invalid value for {label or key}: expected a whole number from {low} to {high}")
    return value


def _words(value: Any, label: str, max_items: int, max_len: int) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidEdit(f"Invalid value for {label}: expected a list of strings")
    if len(value) > max_items:
        raise InvalidEdit(f"Invalid value for {label}: at most {max_items} entries ({len(value)} given)")
    long = next((v for v in value if len(v) > max_len), None)
    if long is not None:
        raise InvalidEdit(f"Invalid value for {label}: each entry at most {max_len} characters")
    return clean_tags(value)


def _usage_tips(value: Any) -> str:
    """Usage tips as the JSON text the listing carries (an object or its JSON text)."""
    if isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, str):
        text = value
    else:
        raise InvalidEdit("Invalid value for usage_tips: expected an object or its JSON text")
    if len(text) > MAX_SHORT_TEXT:
        raise InvalidEdit(f"Invalid value for usage_tips: at most {MAX_SHORT_TEXT} characters")
    return text
