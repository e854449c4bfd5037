"""Finding models the way ComfyUI-Lora-Manager's clients name them, and the small views they ask for.

Why: that project's ComfyUI widgets (loader tooltips, Lora Info, trigger-word highlighting, autocomplete) only
know a model by the name in its ``<lora:name:...>`` syntax (file stem or ``folder/stem``) or by its path
relative to a root, never by the absolute path. One matching rule for every such route keeps their answers
consistent; these are pure functions over the records, so routes stay thin and tests need no app.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from ..library.query import ListQuery, QueryResult, page_bounds
from ..library.records import ModelRecord

# Extensions a widget may leave on a name; stripped before matching (file names are stored without them).
NAME_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".sft", ".gguf")
MAX_NAME_LENGTH = 1024
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


class BadName(ValueError):
    """A name that can never name a model of the library (empty, absolute, with ``..``, too long)."""


def clean_name(raw: Any, what: str = "name") -> str:
    """A widget's model name with '/' separators and without a model extension; ``BadName`` otherwise.

    Names are matched against the index only (nothing on disk is opened by name), but a name that climbs out
    of a root or is absolute is refused outright so the client learns it is wrong.
    """
    if raw is not None and not isinstance(raw, str):
        raise BadName(f"Invalid value for {what}: expected a string")
    if raw is None or not raw.strip():
        raise BadName(f"Missing required parameter: {what}")
    name = raw.strip().replace("\\", "/")
    if len(name) > MAX_NAME_LENGTH:
        raise BadName(f"Invalid value for {what}: longer than {MAX_NAME_LENGTH} characters")
    if "\x00" in name or any(ord(ch) < 32 for ch in name):
        raise BadName(f"Invalid value for {what}: control characters are not allowed")
    if name.startswith("/") or _DRIVE.match(name):
        raise BadName(f"Invalid value for {what}: use the file name or folder/file name inside the library, "
                      "not an absolute path")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise BadName(f"Invalid value for {what}: '..' is not allowed")
    if not parts:
        raise BadName(f"Missing required parameter: {what}")
    name = "/".join(parts)
    lowered = name.lower()
    for extension in NAME_EXTENSIONS:
        if lowered.endswith(extension) and len(name) > len(extension):
            return name[: -len(extension)]
    return name


def relative_stem(record: ModelRecord) -> str:
    """``folder/stem`` (or ``stem`` at a root): the name the anchor's LoRA syntax uses."""
    return f"{record.folder}/{record.file_name}" if record.folder else record.file_name


def find_by_name(records: Iterable[ModelRecord], name: str) -> ModelRecord | None:
    """The model a cleaned name means.

    Rule (ComfyUI-Lora-Manager's, made deterministic): a record whose ``folder/stem`` or bare stem equals the
    name wins; otherwise, for a name with folders, a record with the same stem, preferring one whose folder
    starts the name. Ties go to the smallest file path. One string comparison per record rules most out.
    """
    has_path = "/" in name
    base = name.rsplit("/", 1)[-1]
    exact: list[ModelRecord] = []
    fallback: list[tuple[int, str, ModelRecord]] = []
    for record in records:
        if record.file_name != base:
            continue
        if not has_path or relative_stem(record) == name:
            exact.append(record)
        else:
            preferred = bool(record.folder) and name.startswith(record.folder + "/")
            fallback.append((0 if preferred else 1, record.file_path, record))
    if exact:
        return min(exact, key=lambda r: r.file_path)
    if fallback:
        return min(fallback, key=lambda item: item[:2])[2]
    return None


def find_by_relative_path(records: Iterable[ModelRecord], relative_path: str) -> ModelRecord | None:
    """The model at ``folder/file.ext`` below one of the roots (what the autocomplete inserts)."""
    wanted = relative_path.replace("\\", "/").strip("/")
    segment = wanted.rsplit("/", 1)[-1]
    stem = segment.rsplit(".", 1)[0]
    suffix = "/" + wanted
    tail: list[ModelRecord] = []
    for record in records:
        if record.file_name != stem and record.file_name != segment:
            continue
        if f"{relative_stem(record)}{record.extension}" == wanted:
            return record
        if record.file_path.endswith(suffix):
            tail.append(record)
    return min(tail, key=lambda r: r.file_path) if tail else None


def folder_tree(folders: Iterable[str]) -> dict[str, Any]:
    """Relative folders as nested objects, ``{"a": {"b": {}}}`` (the root itself is not a node)."""
    tree: dict[str, Any] = {}
    for folder in folders:
        node = tree
        for part in filter(None, folder.split("/")):
            node = node.setdefault(part, {})
    return tree


def excluded_page(records: Iterable[ModelRecord], query: ListQuery) -> QueryResult:
    """One page of the excluded models: the list query's search, sort and paging (other filters do not
    apply to the excluded view, as in ComfyUI-Lora-Manager)."""
    matches = [r for r in records if r.exclude]
    needle = query.search.strip().casefold()
    if needle:
        def hit(record: ModelRecord) -> bool:
            fields = []
            if query.search_filename:
                fields.append(record.search_file)
            if query.search_modelname:
                fields.append(record.search_name)
            if query.search_tags:
                fields.append(record.search_tags)
            if query.search_creator:
                fields.append(record.search_creator)
            return any(needle in field for field in fields)

        matches = [r for r in matches if hit(r)]
    keys = {"date": lambda r: (r.mtime_ns, r.file_path), "size": lambda r: (r.size, r.file_path)}
    matches.sort(key=keys.get(query.sort_by, lambda r: (r.name_key, r.file_path)), reverse=query.descending)
    page, size = page_bounds(query)
    start = (page - 1) * size
    return QueryResult(matches[start:start + size], len(matches), page, size)
