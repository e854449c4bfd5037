"""Filter, sort and page recipes: pure functions over the store's entries (API-COMPAT §3 ``GET /api/lm/recipes``).

``fuzzy`` is not supported for recipes: search is a prefix match of every word (as the FTS index answers it).
``opened`` sorts by the last change of the recipe (opening a recipe is not recorded: reads never write).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from .records import SEARCH_FIELDS, RecipeEntry

SORT_KEYS: dict[str, Callable[[RecipeEntry], tuple]] = {
    "date": lambda e: (e.created, e.id),
    "name": lambda e: (e.title_key, e.id),
    "loras_count": lambda e: (e.loras_count, e.created, e.id),
    "modified": lambda e: (e.modified, e.id),
}
SORT_ALIASES = {"opened": "modified", "created": "date", "title": "name"}
DEFAULT_DESCENDING = {"date": True, "name": False, "loras_count": True, "modified": True, "random": False}


class QueryError(ValueError):
    """A parameter a user can fix; the message says which."""


@dataclass
class RecipeQuery:
    page: int = 1
    page_size: int = 20
    sort_by: str = "date"
    descending: bool = True
    seed: str = ""
    search: str = ""
    search_fields: frozenset[str] = frozenset(SEARCH_FIELDS)
    folder: str | None = None
    recursive: bool = True
    base_models: tuple[str, ...] = ()
    favorite: bool = False
    tag_include: tuple[str, ...] = ()
    tag_exclude: tuple[str, ...] = ()
    lora_hash: str = ""
    checkpoint_hash: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class QueryPage:
    items: list[RecipeEntry]
    total: int
    page: int
    page_size: int

    @property
    def total_pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size)) if self.total else 0


def parse_sort(text: str | None) -> tuple[str, bool, str]:
    """``name``, ``date:asc``, ``random:42`` -> (key, descending, seed); unknown keys are a QueryError."""
    raw = (text or "date").strip() or "date"
    key, _, suffix = raw.partition(":")
    key = SORT_ALIASES.get(key.strip().lower(), key.strip().lower())
    suffix = suffix.strip()
    if key == "random":
        return "random", False, suffix or "0"
    if key not in SORT_KEYS:
        raise QueryError(f"Invalid value for sort_by: {raw} (use name, date, loras_count, opened or random)")
    if suffix.lower() in ("asc", "desc"):
        return key, suffix.lower() == "desc", ""
    if suffix:
        raise QueryError(f"Invalid sort direction in sort_by: {raw} (use :asc or :desc)")
    return key, DEFAULT_DESCENDING[key], ""


def sort_entries(entries: Iterable[RecipeEntry], key: str) -> list[RecipeEntry]:
    return sorted(entries, key=SORT_KEYS[key])


def _random_key(seed: str) -> Callable[[RecipeEntry], bytes]:
    return lambda e: hashlib.blake2b(f"{seed}\x00{e.id}".encode(), digest_size=8).digest()


def _in_folder(entry: RecipeEntry, folder: str, recursive: bool) -> bool:
    if not folder:
        return True if recursive else entry.folder == ""
    key = entry.folder_key
    if key == folder:
        return True
    return recursive and key.startswith(folder + "/")


def run_query(ordered: Sequence[RecipeEntry], query: RecipeQuery, search_rows: set[int] | None,
              memory_search: Callable[[RecipeEntry], bool] | None = None) -> QueryPage:
    """One page of ``ordered`` (ascending by the query's sort key) after the filters.

    ``lora_hash``/``checkpoint_hash`` bypass every other filter. ``search_rows`` (cache row ids) comes from the
    FTS index;
    ``memory_search`` is the fallback used while the index is building.
    """
    if query.lora_hash or query.checkpoint_hash:
        wanted_lora = query.lora_hash.lower()
        wanted_ckpt = query.checkpoint_hash.lower()
        matches = [e for e in ordered
                   if (wanted_lora and wanted_lora in e.lora_hashes) or (wanted_ckpt and e.checkpoint_hash == wanted_ckpt)]
    else:
        folder = (query.folder or "").strip("/").casefold()
        bases = {b.casefold() for b in query.base_models}
        include = {t.casefold() for t in query.tag_include}
        exclude = {t.casefold() for t in query.tag_exclude}
        matches = []
        if search_rows is not None:
            ordered = [e for e in ordered if e.rowid in search_rows]
        for entry in ordered:
            if folder or not query.recursive:
                if not _in_folder(entry, folder, query.recursive):
                    continue
            if bases and entry.base_model.casefold() not in bases:
                continue
            if query.favorite and not entry.favorite:
                continue
            if include and not (entry.tags_lower & include):
                continue
            if exclude and entry.tags_lower & exclude:
                continue
            if memory_search is not None and not memory_search(entry):
                continue
            matches.append(entry)
    if query.sort_by == "random":
        matches.sort(key=_random_key(query.seed))
    elif query.descending:
        matches.reverse()
    start = (query.page - 1) * query.page_size
    return QueryPage(matches[start:start + query.page_size], len(matches), query.page, query.page_size)
