"""Where a downloaded model goes: the type's root plus the download path template, every segment sanitised.

Why: template values come from Civitai (model names, tags, creator names) and may hold separators, ``..``,
Windows reserved names or control characters; each one is made a harmless single folder name, and the result
is confined to the library roots before anything is written.
"""
from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import Any, Iterable, Mapping

from ...library.paths import ConfinedPath, PathNotAllowed, confine
from ...library.scanner import MODEL_EXTENSIONS

_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
MAX_SEGMENT = 120

CIVITAI_TYPES = {
    "lora": "lora", "locon": "lora", "dora": "lora", "lycoris": "lora", "loha": "lora", "lokr": "lora",
    "checkpoint": "checkpoint",
    "textualinversion": "embedding", "embedding": "embedding",
}


def library_type_for(civitai_type: Any) -> str | None:
    """lora | checkpoint | embedding for a Civitai model type (case-insensitive), else None."""
    if not isinstance(civitai_type, str):
        return None
    return CIVITAI_TYPES.get(civitai_type.strip().lower())


def sanitize_segment(text: Any) -> str:
    """One folder or file name: no separators, no control characters, no ``.``/``..`` or leading dot (hidden
    folders are the trash's and are never scanned), no reserved names."""
    value = unicodedata.normalize("NFC", str(text or ""))
    value = _UNSAFE.sub("_", value).strip().rstrip(". ").lstrip(".")  # a leading dot would hide it
    if value in ("", ".", ".."):
        return ""
    stem = value.split(".", 1)[0].upper()
    if stem in _RESERVED:
        value = "_" + value
    if len(value) > MAX_SEGMENT:
        value = value[:MAX_SEGMENT].rstrip(". ")
    return value


def safe_file_name(name: Any, fallback: str = "model.safetensors") -> str:
    """A file name from Civitai, reduced to its last path component and sanitised."""
    raw = str(name or "").replace("\\", "/").rsplit("/", 1)[-1]
    return sanitize_segment(raw) or fallback


def template_fields(version: Mapping[str, Any], model: Mapping[str, Any] | None) -> dict[str, str]:
    model = model or {}
    summary = version.get("model") if isinstance(version.get("model"), Mapping) else {}
    tags = model.get("tags") if isinstance(model.get("tags"), list) else []
    first_tag = next((t for t in tags if isinstance(t, str) and t.strip()), "")
    creator = model.get("creator") if isinstance(model.get("creator"), Mapping) else {}
    return {
        "base_model": str(version.get("baseModel") or "Unknown"),
        "first_tag": first_tag or "no tags",
        "author": str(creator.get("username") or "Anonymous"),
        "model_name": str(model.get("name") or summary.get("name") or ""),
        "version_name": str(version.get("name") or ""),
    }


def expand_template(template: str, fields: Mapping[str, str]) -> list[str]:
    """The folder segments a template gives: split at ``/`` first, then fill and sanitise each segment, so a
    value can never add a level; empty segments vanish; unknown placeholders stay literal (sanitised)."""
    segments: list[str] = []
    for raw in str(template or "").replace("\\", "/").split("/"):
        filled = _PLACEHOLDER.sub(lambda m: str(fields.get(m.group(1), m.group(0))), raw)
        clean = sanitize_segment(filled)
        if clean:
            segments.append(clean)
    return segments


def target_folder(roots: Iterable[Path], *, template: str | None, fields: Mapping[str, str],
                  model_root: str | None = None, relative_path: str | None = None) -> ConfinedPath:
    """The folder to download into: ``model_root`` (if inside a root) or the first root, plus either the
    template's segments or a sanitised ``relative_path``; confined to the roots (raises ``PathNotAllowed``)."""
    roots = list(roots)
    if not roots:
        raise PathNotAllowed("No library folder is configured for this model type")
    base = (confine(model_root, roots, through_links=True) if model_root
            else confine(roots[0], roots, through_links=True)).path
    if relative_path is not None:
        raw_segments = [s.strip() for s in str(relative_path).replace("\\", "/").split("/")]
        if any(s.startswith(".") for s in raw_segments):
            raise PathNotAllowed(f"Downloads never go into hidden folders or up a level: {relative_path}")
        segments = [clean for clean in map(sanitize_segment, raw_segments) if clean]
    else:
        segments = expand_template(template or "", fields)
    folder = confine(base.joinpath(*segments), roots, through_links=True)
    if any(part.startswith(".") for part in folder.relative.split("/")):
        raise PathNotAllowed("Downloads never go into hidden folders (the trash is one)")
    return folder


def model_file_name(name: Any, model_type: str) -> str:
    """The sanitised file name of a download, which must carry a model extension the type can hold (a
    remote answer naming ``x.metadata.json`` or ``x.exe`` is refused, not written into the library)."""
    clean = safe_file_name(name)
    extension = os.path.splitext(clean)[1].lower()
    if extension not in MODEL_EXTENSIONS.get(model_type, frozenset()):
        allowed = ", ".join(sorted(MODEL_EXTENSIONS.get(model_type, frozenset())))
        raise PathNotAllowed(f"The file {clean} is not a {model_type} model file (expected {allowed})")
    return clean
