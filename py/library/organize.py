"""Where a model belongs by the download path template: pure functions over records.

Why: auto-organize must show every planned move before doing any (dry run), and a template value taken from
metadata (a base model with a slash, a tag with a colon) must never become a path separator or an invalid name.
"""
from __future__ import annotations

import fnmatch
import string
from dataclasses import dataclass
from typing import Iterable

from .records import ModelRecord

_BAD = set('<>:"/\\|?*')


def safe_segment(value: str) -> str:
    """One folder name from a metadata value: invalid and control characters become '_', no dots at the ends."""
    text = "".join("_" if ch in _BAD or ord(ch) < 32 else ch for ch in value).strip()
    text = text.strip(". ").strip()
    return text[:120]


def template_values(record: ModelRecord) -> dict[str, str]:
    return {
        "base_model": record.base_model or "Unknown",
        "first_tag": record.tags[0] if record.tags else "",
        "author": record.creator or "",
        "model_name": record.model_name or record.file_name,
        "version_name": record.civitai_name or "",
    }


def render_folder(template: str, record: ModelRecord) -> str:
    """The folder (relative to the model's root, '/'-separated, '' = the root) the template gives ``record``.

    Each ``/`` of the template is one level; a level whose values are all empty is dropped.
    """
    values = template_values(record)
    parts = []
    for level in (template or "").replace("\\", "/").split("/"):
        rendered = []
        for literal, field_name, _spec, _conv in string.Formatter().parse(level):
            rendered.append(literal)
            if field_name is not None:
                rendered.append(values.get(field_name, ""))
        segment = safe_segment("".join(rendered))
        if segment:
            parts.append(segment)
    return "/".join(parts)


@dataclass(frozen=True)
class PlannedMove:
    record: ModelRecord
    target_folder: str  # relative to the record's root


def plan_organize(records: Iterable[ModelRecord], template: str, exclusion_patterns: Iterable[str] = ()
                  ) -> tuple[list[PlannedMove], list[ModelRecord]]:
    """(moves, skipped): excluded models and names matching an exclusion pattern are not moved; models
    already where they belong are skipped."""
    patterns = [p for p in exclusion_patterns if p]
    moves: list[PlannedMove] = []
    skipped: list[ModelRecord] = []
    for record in records:
        name = record.file_name + record.extension
        if record.exclude or any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(record.folder, p) for p in patterns):
            skipped.append(record)
            continue
        folder = render_folder(template, record)
        if folder == record.folder:
            skipped.append(record)
        else:
            moves.append(PlannedMove(record, folder))
    return moves, skipped
