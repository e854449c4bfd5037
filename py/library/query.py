"""Filter, sort, search and page the projection: pure functions, no I/O.

Why: the list route is the hottest path; everything here runs on precomputed keys (sort orders kept by the
projection, casefolded search text) so a request on 100k models is a single pass at most.
"""
from __future__ import annotations

import difflib
import math
import random
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Sequence

from .records import ModelRecord

NO_TAGS = "__no_tags__"
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


class QueryCache:
    """The filtered, ordered matches of the last few queries, valid for one projection version.

    Why: paging or scrolling through one filtered view repeats the same query; each further page is then a slice.
    Any change to the projection (its version) empties the cache.
    """

    def __init__(self, size: int = 8):
        self.size = size
        self.version = -1
        self._entries: dict[ListQuery, list[ModelRecord]] = {}

    def get(self, version: int, query: ListQuery) -> list[ModelRecord] | None:
        if version != self.version:
            self.version = version
            self._entries.clear()
            return None
        key = replace(query, page=1, page_size=1)
        found = self._entries.pop(key, None)
        if found is not None:
            self._entries[key] = found  # most recently used last
        return found

    def put(self, version: int, query: ListQuery, matches: list[ModelRecord]) -> None:
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
    """Any candidate with similarity >= 0.85; the length bound rejects most before difflib runs."""
    n = len(word)
    for candidate in candidates:
        m = len(candidate)
        if m < 2 or 2 * min(n, m) < 0.85 * (n + m):
            continue
        matcher = difflib.SequenceMatcher(None, word, candidate)
        if matcher.real_quick_ratio() >= 0.85 and matcher.quick_ratio() >= 0.85 and matcher.ratio() >= 0.85:
            return True
    return False


def search_predicate(query: ListQuery) -> Callable[[ModelRecord], bool] | None:
    needle = query.search.strip().casefold()
    if not needle:
        return None
    getters: list[Callable[[ModelRecord], str]] = []
    if query.search_filename:
        getters.append(lambda r: r.search_file)
    if query.search_modelname:
        getters.append(lambda r: r.search_name)
    if query.search_tags:
        getters.append(lambda r: r.search_tags)
    if query.search_creator:
        getters.append(lambda r: r.search_creator)
    if not getters:
        return lambda r: False
    default_fields = query.search_filename and query.search_modelname and not (query.search_tags or
                                                                               query.search_creator)
    if not query.fuzzy:
        if default_fields:
            return lambda r: needle in r.search_default
        return lambda r: any(needle in get(r) for get in getters)
    words = needle.split()

    def fuzzy(record: ModelRecord) -> bool:
        texts = [get(record) for get in getters]
        for word in words:
            if any(word in text for text in texts):
                continue
            tokens = record.search_tokens if default_fields else [
                tok for text in texts for tok in text.replace("_", " ").replace("-", " ").split()]
            if not _similar(word, tokens):
                return False
        return True

    return fuzzy


Step = Callable[[Sequence[ModelRecord]], list[ModelRecord]]


def _generic(predicate: Callable[[ModelRecord], bool]) -> Step:
    return lambda records: [r for r in records if predicate(r)]


def build_steps(query: ListQuery, *, any_excluded: bool = True) -> list[Step]:
    """The filters as passes over a list, cheapest and most selective first.

    The common filters are written as inline comprehensions (no function call per record): one pass over
    100k records then costs a few milliseconds.
    """
    steps: list[Step] = []
    if not query.include_excluded and any_excluded:
        steps.append(lambda rs: [r for r in rs if not r.exclude])
    if query.favorites_only:
        steps.append(lambda rs: [r for r in rs if r.favorite])
    if query.update_available_only:
        steps.append(lambda rs: [r for r in rs if r.update_available])
    if query.civitai_model_id is not None:
        model_id = query.civitai_model_id
        steps.append(lambda rs: [r for r in rs if r.civitai_model_id == model_id])
    if query.base_models:
        bases = frozenset(query.base_models)
        steps.append(lambda rs: [r for r in rs if r.base_model in bases])
    if query.sub_types:
        subs = frozenset(s.lower() for s in query.sub_types)
        steps.append(_generic(lambda r: (r.sub_type or r.model_type) in subs))
    if query.first_letter:
        letter = query.first_letter.upper() if query.first_letter.isascii() else query.first_letter
        steps.append(lambda rs: [r for r in rs if r.letter == letter])
    if query.folder is not None:
        folder = query.folder.strip("/").casefold()
        if not folder:
            if not query.recursive:
                steps.append(lambda rs: [r for r in rs if not r.folder_key])
        elif query.recursive:
            prefix = folder + "/"
            steps.append(lambda rs: [r for r in rs if r.folder_key == folder or r.folder_key.startswith(prefix)])
        else:
            steps.append(lambda rs: [r for r in rs if r.folder_key == folder])
    if query.folder_include:
        includes = tuple(f.strip("/").casefold() for f in query.folder_include)
        steps.append(_generic(lambda r: any(_in_folder(r.folder_key, f) for f in includes)))
    if query.folder_exclude:
        excludes = tuple(f.strip("/").casefold() for f in query.folder_exclude)
        steps.append(_generic(lambda r: not any(_in_folder(r.folder_key, f) for f in excludes)))
    if query.tag_include:
        wanted = frozenset(t.casefold() for t in query.tag_include)
        want_untagged = NO_TAGS in wanted
        wanted_real = wanted - {NO_TAGS}
        if query.tag_logic == "all":
            steps.append(_generic(lambda r: (not want_untagged or not r.tags_lower) and wanted_real <= r.tags_lower))
        else:
            steps.append(_generic(lambda r: bool(wanted_real & r.tags_lower) or (want_untagged and not r.tags_lower)))
    if query.tag_exclude:
        unwanted = frozenset(t.casefold() for t in query.tag_exclude)
        drop_untagged = NO_TAGS in unwanted
        steps.append(_generic(lambda r: not (unwanted & r.tags_lower) and not (drop_untagged and not r.tags_lower)))
    needle = query.search.strip().casefold()
    default_fields = query.search_filename and query.search_modelname and not (query.search_tags or
                                                                               query.search_creator)
    if needle and default_fields and not query.fuzzy:
        steps.append(lambda rs: [r for r in rs if needle in r.search_default])
    else:
        search = search_predicate(query)
        if search is not None:
            steps.append(_generic(search))
    return steps


def _in_folder(folder_key: str, prefix: str) -> bool:
    return not prefix or folder_key == prefix or folder_key.startswith(prefix + "/")


def ordered_records(ordered: Callable[[str], Sequence[ModelRecord]], all_records: Callable[[], Iterable[ModelRecord]],
                    query: ListQuery) -> Sequence[ModelRecord] | list[ModelRecord]:
    """All records in the requested order (ascending sequences are read reversed for :desc)."""
    if query.sort_by in ("name", "date", "size"):
        base = ordered(query.sort_by)
        return list(reversed(base)) if query.descending else base
    records = list(all_records())
    if query.sort_by == "usage":
        records.sort(key=lambda r: (r.usage_count, r.name_key), reverse=query.descending)
        return records
    records.sort(key=lambda r: r.file_path)
    random.Random(query.random_seed or "0").shuffle(records)
    return records


def run_query(ordered: Callable[[str], Sequence[ModelRecord]], all_records: Callable[[], Iterable[ModelRecord]],
              query: ListQuery, *, any_excluded: bool = True, cache: QueryCache | None = None,
              version: int = 0) -> QueryResult:
    """Filter then page. A hash filter bypasses every other filter (API contract).

    Without filters a page is a slice of a maintained order; with filters, each predicate is one tight pass.
    """
    page = max(1, query.page)
    size = max(1, min(query.page_size, MAX_PAGE_SIZE))
    if query.hashes:
        wanted = frozenset(h.lower() for h in query.hashes)
        matches = [r for r in ordered("name") if r.sha256 in wanted]
        start = (page - 1) * size
        return QueryResult(matches[start:start + size], len(matches), page, size)
    steps = build_steps(query, any_excluded=any_excluded)
    start = (page - 1) * size
    if not steps and query.sort_by in ("name", "date", "size"):
        base = ordered(query.sort_by)
        total = len(base)
        if not query.descending:
            return QueryResult(list(base[start:start + size]), total, page, size)
        end = max(0, total - start)
        return QueryResult(list(reversed(base[max(0, end - size):end])), total, page, size)
    cached = cache.get(version, query) if cache is not None else None
    if cached is None:
        matches: Sequence[ModelRecord] = ordered_records(ordered, all_records, query)
        for step in steps:
            matches = step(matches)
        cached = list(matches) if not isinstance(matches, list) else matches
        if cache is not None:
            cache.put(version, query, cached)
    return QueryResult(cached[start:start + size], len(cached), page, size)


def count_values(records: Iterable[ModelRecord], getter: Callable[[ModelRecord], Iterable[str]]) -> list[tuple[str, int]]:
    """Counts of values (base models, tags), most common first, then by name."""
    counts: dict[str, int] = {}
    for record in records:
        for value in getter(record):
            if value:
                counts[value] = counts.get(value, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].casefold()))
