"""Filter, sort, search and page the projection: pure functions, no I/O.

Why: the list route is the hottest path; everything here runs on precomputed keys (sort orders kept by the
projection, casefolded search text) so a request on 100k models is a single pass at most.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np
from rapidfuzz import fuzz, process

from .columns import TEXT_OF, ColumnIndex
from .records import ModelRecord
from .vocabulary import FUZZY_CUTOFF, Vocabulary

if TYPE_CHECKING:
    from .index import ModelProjection

MAX_PAGE_SIZE = 500
SORT_FIELDS = ("name", "date", "size", "usage", "random")


@dataclass(frozen=True)
class ListQuery:
    page: int = 1
    page_size: int = 20
    sort_by: str = "name"
    descending: bool = False
    random_seed: str = ""
    folder: str | None = None
    recursive: bool = True
    folder_include: tuple[str, ...] = ()
    folder_exclude: tuple[str, ...] = ()
    search: str = ""
    fuzzy: bool = False
    search_filename: bool = True
    search_modelname: bool = True
    search_tags: bool = False
    search_creator: bool = False
    base_models: tuple[str, ...] = ()
    sub_types: tuple[str, ...] = ()
    tag_include: tuple[str, ...] = ()
    tag_exclude: tuple[str, ...] = ()
    tag_logic: str = "any"
    favorites_only: bool = False
    update_available_only: bool = False
    first_letter: str = ""
    hashes: tuple[str, ...] = ()
    include_excluded: bool = False
    civitai_model_id: int | None = None
    below_nsfw_level: int | None = None  # only previews rated under this level (``show_only_sfw``: under R)


class QueryCache:
    """The filtered, ordered matches of the last few queries, valid for one projection version.

    Why: paging or scrolling through one filtered view repeats the same query; each further page is then a slice.
    Any change to the projection (its version) empties the cache.
    """

    def __init__(self, size: int = 8):
        self.size = size
        self.version = -1
        self._entries: dict[ListQuery, np.ndarray] = {}

    def get(self, version: int, query: ListQuery) -> np.ndarray | None:
        if version != self.version:
            self.version = version
            self._entries.clear()
            return None
        key = replace(query, page=1, page_size=1)
        found = self._entries.pop(key, None)
        if found is not None:
            self._entries[key] = found  # most recently used last
        return found

    def put(self, version: int, query: ListQuery, matches: np.ndarray) -> None:
        if version != self.version:
            self.version = version
            self._entries.clear()
        self._entries[replace(query, page=1, page_size=1)] = matches
        while len(self._entries) > self.size:
            self._entries.pop(next(iter(self._entries)))


@dataclass
class QueryResult:
    items: list[ModelRecord]
    total: int
    page: int
    page_size: int
    total_pages: int = field(init=False)

    def __post_init__(self) -> None:
        self.total_pages = math.ceil(self.total / self.page_size) if self.page_size else 0


def page_bounds(query: ListQuery) -> tuple[int, int]:
    """The page number and size a query is answered with (size clamped to ``MAX_PAGE_SIZE``)."""
    return max(1, query.page), max(1, min(query.page_size, MAX_PAGE_SIZE))


def is_unfiltered(query: ListQuery) -> bool:
    """A plain listing in a maintained order (name, date, size): no filter, search or hash."""
    plain = replace(query, page=1, page_size=ListQuery.page_size, descending=False,
                    include_excluded=False, recursive=ListQuery.recursive)
    if not query.search.strip():  # the search options mean nothing without a search
        plain = replace(plain, search="", fuzzy=False, search_filename=True, search_modelname=True,
                        search_tags=False, search_creator=False)
    return query.sort_by in ("name", "date", "size") and replace(plain, sort_by="name") == ListQuery()


def parse_sort(value: str | None) -> tuple[str, bool, str]:
    """``name``, ``date:desc``, ``random:42`` -> (field, descending, seed). Unknown fields sort by name."""
    text = (value or "name").strip()
    field_name, _, rest = text.partition(":")
    field_name = field_name.strip().lower() or "name"
    if field_name == "random":
        return "random", False, rest
    descending = rest.strip().lower() == "desc" if rest else field_name in ("date", "size", "usage")
    if field_name not in SORT_FIELDS:
        field_name = "name"
    return field_name, descending, ""


def _similar(word: str, candidates: Iterable[str]) -> bool:
    """Any candidate of two or more characters with similarity >= ``FUZZY_CUTOFF``."""
    return process.extractOne(word, [c for c in candidates if len(c) >= 2], scorer=fuzz.ratio,
                              score_cutoff=FUZZY_CUTOFF) is not None


def near_words(query: ListQuery, vocabulary: Vocabulary) -> dict[str, frozenset[str]] | None:
    """For a fuzzy search of the default fields: each query word's close words in the library."""
    needle = query.search.strip().casefold()
    if not needle or not _default_fields(query):
        return None
    return {word: vocabulary.similar(word) for word in needle.split()}


def fuzzy_mask(columns: ColumnIndex, close: dict[str, frozenset[str]]) -> np.ndarray:
    """Exactly the slots ``fuzzy_predicate`` accepts on the default fields, without a Python pass per record:
    for every word, the word occurs in the text or one of its close words is a whole word of it."""
    vocabulary = columns.vocabulary()
    mask: np.ndarray | None = None
    for word, near in close.items():
        slots = np.concatenate([columns.search_slots(word, ("default",), None), vocabulary.slots(near)])
        mask = _and(mask, columns.mask_of_slots(slots))
    return mask if mask is not None else np.zeros(columns.capacity, dtype=bool)


def fuzzy_predicate(query: ListQuery) -> Callable[[ModelRecord], bool] | None:
    """Fuzzy search, record by record: each word is in a searched text, or close to one of its words.

    The default fields (file and display names) take the indexed path instead (``near_words`` and
    ``fuzzy_mask``), which finds the same records; this one serves the other field choices."""
    needle = query.search.strip().casefold()
    if not needle:
        return None
    getters = [TEXT_OF[name] for name in _chosen_fields(query)]
    if not getters:
        return lambda r: False
    default_fields = _default_fields(query)
    words = needle.split()

    def fuzzy(record: ModelRecord) -> bool:
        texts = [get(record) for get in getters]
        for word in words:
            if any(word in text for text in texts):
                continue
            tokens = record.fuzzy_tokens() if default_fields else [
                tok for text in texts for tok in text.replace("_", " ").replace("-", " ").split()]
            if not _similar(word, tokens):
                return False
        return True

    return fuzzy


def _default_fields(query: ListQuery) -> bool:
    return query.search_filename and query.search_modelname and not (query.search_tags or query.search_creator)


def _chosen_fields(query: ListQuery) -> tuple[str, ...]:
    chosen = (("file", query.search_filename), ("name", query.search_modelname), ("tags", query.search_tags),
              ("creator", query.search_creator))
    return tuple(name for name, wanted in chosen if wanted)


def _search_fields(query: ListQuery) -> tuple[str, ...]:
    return ("default",) if _default_fields(query) else _chosen_fields(query)


def _and(mask: np.ndarray | None, other: np.ndarray) -> np.ndarray:
    return other if mask is None else mask & other


def filter_mask(columns: ColumnIndex, query: ListQuery, *, any_excluded: bool = True) -> np.ndarray | None:
    """The query's filters as one boolean mask over slots; ``None`` when nothing is filtered.

    Fuzzy search is not part of the mask (it needs per-record similarity); ``run_query`` applies it after.
    """
    mask: np.ndarray | None = None
    if not query.include_excluded and any_excluded:
        mask = ~columns.excluded
    if query.favorites_only:
        mask = _and(mask, columns.favorite)
    if query.update_available_only:
        mask = _and(mask, columns.update_available)
    if query.civitai_model_id is not None:
        mask = _and(mask, columns.model_id == query.civitai_model_id)
    if query.below_nsfw_level is not None:
        mask = _and(mask, columns.nsfw < query.below_nsfw_level)
    if query.base_models:
        bases = frozenset(query.base_models)
        mask = _and(mask, np.isin(columns.base, columns.base_codes.codes_where(bases.__contains__)))
    if query.sub_types:
        subs = frozenset(s.lower() for s in query.sub_types)
        mask = _and(mask, np.isin(columns.sub, columns.sub_codes.codes_where(subs.__contains__)))
    if query.first_letter:
        letter = query.first_letter.upper() if query.first_letter.isascii() else query.first_letter
        mask = _and(mask, np.isin(columns.letter, columns.letter_codes.codes_where(letter.__eq__)))
    if query.folder is not None:
        folder = query.folder.strip("/").casefold()
        if folder or not query.recursive:
            codes = columns.folder_codes_under((folder,), recursive=query.recursive and bool(folder))
            mask = _and(mask, np.isin(columns.folder, codes))
    if query.folder_include:
        includes = tuple(f.strip("/").casefold() for f in query.folder_include)
        mask = _and(mask, np.isin(columns.folder, columns.folder_codes_under(includes)))
    if query.folder_exclude:
        excludes = tuple(f.strip("/").casefold() for f in query.folder_exclude)
        mask = _and(mask, ~np.isin(columns.folder, columns.folder_codes_under(excludes)))
    if query.tag_include:
        wanted = [t.casefold() for t in query.tag_include]
        mask = _and(mask, columns.tag_mask(wanted, every=query.tag_logic == "all"))
    if query.tag_exclude:
        mask = _and(mask, ~columns.tag_mask([t.casefold() for t in query.tag_exclude], every=False))
    needle = query.search.strip().casefold()
    if needle and not query.fuzzy:
        fields = _search_fields(query)
        if not fields:
            return np.zeros(columns.capacity, dtype=bool)
        candidates = None
        if mask is not None:
            picked = np.flatnonzero(mask)
            candidates = picked if len(picked) * 4 < len(columns.records) else None
        mask = _and(mask, columns.mask_of_slots(columns.search_slots(needle, fields, candidates)))
    return mask


def run_query(projection: "ModelProjection", query: ListQuery, *, cache: QueryCache | None = None) -> QueryResult:
    """Filter then page. A hash filter bypasses every other filter (API contract).

    Without filters a page is a slice of a maintained order; with filters, the mask selects slots from the
    order array of the requested sort, and the page maps back to records.
    """
    page, size = page_bounds(query)
    start = (page - 1) * size
    if query.hashes:
        found = {r.file_path: r for h in dict.fromkeys(query.hashes) for r in projection.by_sha256(h)}
        matches = sorted(found.values(), key=lambda r: (r.name_key, r.file_path))
        return QueryResult(matches[start:start + size], len(matches), page, size)
    columns = projection.columns
    cached = cache.get(projection.version, query) if cache is not None else None
    fuzzy = None
    close = None
    if query.fuzzy and cached is None:
        close = near_words(query, columns.vocabulary()) if _default_fields(query) else None
        fuzzy = None if close else fuzzy_predicate(query)
    if cached is None:
        mask = filter_mask(columns, query, any_excluded=projection.excluded > 0)
        if close:
            mask = _and(mask, fuzzy_mask(columns, close))
        if mask is None and fuzzy is None and query.sort_by in ("name", "date", "size"):
            base = projection.ordered(query.sort_by)
            total = len(base)
            if not query.descending:
                return QueryResult(list(base[start:start + size]), total, page, size)
            end = max(0, total - start)
            return QueryResult(list(reversed(base[max(0, end - size):end])), total, page, size)
        order = projection.order(query.sort_by, query.random_seed)
        if query.descending and query.sort_by != "random":
            order = order[::-1]
        cached = order if mask is None else order[mask[order]]
        if fuzzy is not None:
            records = columns.records
            cached = np.array([s for s in cached.tolist() if fuzzy(records[s])], dtype=np.int64)
        if cache is not None:
            cache.put(projection.version, query, cached)
    records = columns.records
    return QueryResult([records[s] for s in cached[start:start + size].tolist()], len(cached), page, size)


def collect_matches(run: Callable[[ListQuery], QueryResult], query: ListQuery, limit: int
                    ) -> tuple[list[ModelRecord], int]:
    """The first ``limit`` records a filter matches, in its sort order, page after page, and the total.

    Why: "select all" in bulk mode must cover the whole filter, not the loaded cards; pages are capped at
    ``MAX_PAGE_SIZE``, so the whole answer is taken page by page (no await between pages: one consistent view).
    """
    records: list[ModelRecord] = []
    page = 1
    while True:
        result = run(replace(query, page=page, page_size=MAX_PAGE_SIZE))
        records.extend(result.items[:max(0, limit - len(records))])
        if len(records) >= limit or page * MAX_PAGE_SIZE >= result.total or not result.items:
            return records, result.total
        page += 1


def count_values(records: Iterable[ModelRecord], getter: Callable[[ModelRecord], Iterable[str]]) -> list[tuple[str, int]]:
    """Counts of values (base models, tags), most common first, then by name."""
    counts: dict[str, int] = {}
    for record in records:
        for value in getter(record):
            if value:
                counts[value] = counts.get(value, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].casefold()))
