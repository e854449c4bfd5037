"""Column arrays beside the projection: a listing's filters as vectorised passes over numpy arrays.

Why: at 100k models one Python pass over the records costs 10-20 ms on a small machine, and a filtered
listing used to make one pass per filter. Here every record owns a slot; each filterable value lives in a
numpy column (categorical values as small integer codes), tags in an inverted index, search text in plain
lists. A filter is then a boolean mask over slots, built in well under a millisecond, and a sort order is an
array of slots kept per projection version.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from .records import ModelRecord
from .vocabulary import Vocabulary

NO_TAGS = "__no_tags__"
SEARCH_FIELDS = ("default", "file", "name", "tags", "creator")
TEXT_OF: dict[str, Callable[[ModelRecord], str]] = {
    "default": lambda r: r.search_default,
    "file": lambda r: r.search_file,
    "name": lambda r: r.search_name,
    "tags": lambda r: r.search_tags,
    "creator": lambda r: r.search_creator,
}
_NO_MODEL_ID = -1
# Each column's dtype and the value of an empty slot.
_COLUMN_TYPES: dict[str, tuple[type, int]] = {
    "excluded": (np.bool_, 0), "favorite": (np.bool_, 0), "update_available": (np.bool_, 0), "untagged": (np.bool_, 0),
    "base": (np.int32, 0), "folder": (np.int32, 0), "letter": (np.int32, 0), "sub": (np.int32, 0),
    "model_id": (np.int64, _NO_MODEL_ID), "usage": (np.int64, 0), "nsfw": (np.int64, 0),
}
_JOIN = "\x00"  # no file or display name holds it, so no match spans two records


class Codes:
    """Dictionary encoding of one categorical value (base model, folder, letter, sub type)."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._code_of: dict[str, int] = {}

    def code(self, value: str) -> int:
        found = self._code_of.get(value)
        if found is None:
            found = self._code_of[value] = len(self.values)
            self.values.append(value)
        return found

    def codes_where(self, keep: Callable[[str], bool]) -> np.ndarray:
        return np.array([c for c, v in enumerate(self.values) if keep(v)], dtype=np.int32)


@dataclass
class ColumnIndex:
    """Per-slot columns of one projection (the numpy arrays named in ``_COLUMN_TYPES``, plus search texts and
    a tag index). Slots of removed records are reused. A record belongs to one projection: ``put`` and
    ``load`` set its ``slot``."""

    capacity: int = 1024
    records: list[ModelRecord | None] = field(default_factory=list)
    slot_of: dict[str, int] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in SEARCH_FIELDS})
    tag_slots: dict[str, set[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._free: list[int] = []
        self._haystacks: dict[str, tuple[str, np.ndarray]] = {}
        self._vocabulary: Vocabulary | None = None  # fuzzy search's words: built on first use, then kept
        self.base_codes, self.folder_codes, self.letter_codes, self.sub_codes = Codes(), Codes(), Codes(), Codes()
        self._allocate(self.capacity)

    def _allocate(self, capacity: int) -> None:
        self.capacity = capacity
        for name, (dtype, empty) in _COLUMN_TYPES.items():
            setattr(self, name, np.full(capacity, empty, dtype=dtype))

    def _grow(self, needed: int) -> None:
        if needed <= self.capacity:
            return
        capacity = max(needed, self.capacity * 2)
        for name, (dtype, empty) in _COLUMN_TYPES.items():
            old = getattr(self, name)
            new = np.full(capacity, empty, dtype=dtype)
            new[: len(old)] = old
            setattr(self, name, new)
        self.capacity = capacity

    # -- maintenance -----------------------------------------------------------------------------
    def load(self, records: Iterable[ModelRecord]) -> None:
        """All columns at once (warm start, rebuild): one C-level pass per column."""
        items = list(records)
        n = len(items)
        self._haystacks = {}
        self._vocabulary = None
        self.records = list(items)
        self.slot_of = {r.file_path: i for i, r in enumerate(items)}
        self._free = []
        for slot, record in enumerate(items):
            record.slot = slot
        self._allocate(max(1024, n + n // 4))
        self.excluded[:n] = np.fromiter((r.exclude for r in items), dtype=bool, count=n)
        self.favorite[:n] = np.fromiter((r.favorite for r in items), dtype=bool, count=n)
        self.update_available[:n] = np.fromiter((r.update_available for r in items), dtype=bool, count=n)
        self.untagged[:n] = np.fromiter((not r.tags_lower for r in items), dtype=bool, count=n)
        for column, codes, value in (
            (self.base, self.base_codes, lambda r: r.base_model),
            (self.folder, self.folder_codes, lambda r: r.folder_key),
            (self.letter, self.letter_codes, lambda r: r.letter),
            (self.sub, self.sub_codes, lambda r: r.sub_type or r.model_type),
        ):
            code = codes.code
            column[:n] = np.fromiter((code(value(r)) for r in items), dtype=np.int32, count=n)
        self.model_id[:n] = np.fromiter(
            (_NO_MODEL_ID if r.civitai_model_id is None else r.civitai_model_id for r in items), dtype=np.int64,
            count=n)
        self.usage[:n] = np.fromiter((r.usage_count for r in items), dtype=np.int64, count=n)
        self.nsfw[:n] = np.fromiter((r.preview_nsfw_level or 0 for r in items), dtype=np.int64, count=n)
        self.texts = {name: [get(r) for r in items] for name, get in TEXT_OF.items()}
        self.tag_slots = {}
        for slot, record in enumerate(items):
            for tag in record.tags_lower:
                self.tag_slots.setdefault(tag, set()).add(slot)

    def put(self, record: ModelRecord) -> None:
        """Add or replace the record of ``record.file_path`` in place: O(1) plus its tags and words."""
        self._haystacks = {}
        slot = self.slot_of.get(record.file_path)
        old = self.records[slot] if slot is not None else None
        if old is not None and self._vocabulary is not None:
            self._vocabulary.discard(slot, old.fuzzy_tokens())
        if slot is None:
            slot = self._free.pop() if self._free else len(self.records)
            self.slot_of[record.file_path] = slot
            if slot == len(self.records):
                self._grow(slot + 1)
                self.records.append(None)
                for texts in self.texts.values():
                    texts.append("")
        else:
            self._unlink_tags(slot)
        record.slot = slot
        self.records[slot] = record
        self.excluded[slot] = record.exclude
        self.favorite[slot] = record.favorite
        self.update_available[slot] = record.update_available
        self.untagged[slot] = not record.tags_lower
        self.base[slot] = self.base_codes.code(record.base_model)
        self.folder[slot] = self.folder_codes.code(record.folder_key)
        self.letter[slot] = self.letter_codes.code(record.letter)
        self.sub[slot] = self.sub_codes.code(record.sub_type or record.model_type)
        self.model_id[slot] = _NO_MODEL_ID if record.civitai_model_id is None else record.civitai_model_id
        self.usage[slot] = record.usage_count
        self.nsfw[slot] = record.preview_nsfw_level or 0
        for name, get in TEXT_OF.items():
            self.texts[name][slot] = get(record)
        for tag in record.tags_lower:
            self.tag_slots.setdefault(tag, set()).add(slot)
        if self._vocabulary is not None:
            self._vocabulary.add(slot, record.fuzzy_tokens())

    def remove(self, path: str) -> None:
        slot = self.slot_of.pop(path, None)
        if slot is None:
            return
        self._haystacks = {}
        old = self.records[slot]
        if old is not None and self._vocabulary is not None:
            self._vocabulary.discard(slot, old.fuzzy_tokens())
        self._unlink_tags(slot)
        self.records[slot] = None
        for texts in self.texts.values():
            texts[slot] = ""
        self._free.append(slot)

    def _unlink_tags(self, slot: int) -> None:
        old = self.records[slot]
        if old is None:
            return
        for tag in old.tags_lower:
            slots = self.tag_slots.get(tag)
            if slots is not None:
                slots.discard(slot)
                if not slots:
                    del self.tag_slots[tag]

    # -- filters ---------------------------------------------------------------------------------
    def mask_of_slots(self, slots: Iterable[int]) -> np.ndarray:
        mask = np.zeros(self.capacity, dtype=bool)
        picked = slots if isinstance(slots, np.ndarray) else np.fromiter(slots, dtype=np.int64)
        if picked.size:
            mask[picked] = True
        return mask

    def tag_mask(self, tags: Iterable[str], *, every: bool) -> np.ndarray:
        """Slots carrying any (or every) of ``tags``; ``NO_TAGS`` stands for "has no tags"."""
        wanted = set(tags)
        want_untagged = NO_TAGS in wanted
        wanted.discard(NO_TAGS)
        if every:
            if not wanted:
                return self.untagged.copy() if want_untagged else np.ones(self.capacity, dtype=bool)
            if want_untagged:  # untagged and carrying tags: nothing
                return np.zeros(self.capacity, dtype=bool)
            sets = sorted((self.tag_slots.get(t, set()) for t in wanted), key=len)
            return self.mask_of_slots(set.intersection(*sets) if sets[0] else ())
        mask = self.mask_of_slots(s for t in wanted for s in self.tag_slots.get(t, ()))
        if want_untagged:
            mask |= self.untagged
        return mask

    def folder_codes_under(self, folders: Iterable[str], *, recursive: bool = True) -> np.ndarray:
        prefixes = tuple(folders)
        if recursive:
            return self.folder_codes.codes_where(lambda key: any(_in_folder(key, p) for p in prefixes))
        return self.folder_codes.codes_where(lambda key: key in prefixes)

    def search_slots(self, needle: str, fields: tuple[str, ...], candidates: np.ndarray | None) -> np.ndarray:
        """Slots whose text in any of ``fields`` contains ``needle`` (already casefolded); a slot may repeat.

        Each field's texts are also kept joined as one string (until the next change): a C-level count tells
        whether matches are few, and then their positions map to slots in one vectorised step. Many matches,
        or a few candidates from other filters, are checked text by text.
        """
        found: list[np.ndarray] = []
        for name in fields:
            texts = self.texts[name]
            if candidates is None and _JOIN not in needle:
                haystack, starts = self._haystack(name)
                if _estimated_count(haystack, needle) * 8 < len(texts):  # few matches: map their positions
                    positions = [m.start() for m in re.finditer(re.escape(needle), haystack)]
                    found.append(np.searchsorted(starts, np.array(positions, dtype=np.int64), side="right") - 1)
                    continue
            if candidates is not None:
                hits = [s for s in candidates.tolist() if needle in texts[s]]
            else:
                hits = [s for s, text in enumerate(texts) if needle in text]
            found.append(np.array(hits, dtype=np.int64))
        if not found:
            return np.zeros(0, dtype=np.int64)
        return found[0] if len(found) == 1 else np.concatenate(found)

    def vocabulary(self) -> Vocabulary:
        """The words of every file and display name with their slots (fuzzy search): built on first use, then
        kept up to date by ``put`` and ``remove``."""
        if self._vocabulary is None:
            self._vocabulary = Vocabulary.of(
                (slot, record.fuzzy_tokens()) for slot, record in enumerate(self.records) if record is not None)
        return self._vocabulary

    def _haystack(self, name: str) -> tuple[str, np.ndarray]:
        built = self._haystacks.get(name)
        if built is None:
            texts = self.texts[name]
            lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + len(_JOIN)
            starts = np.zeros(len(texts), dtype=np.int64)
            if len(texts) > 1:
                np.cumsum(lengths[:-1], out=starts[1:])
            built = self._haystacks[name] = (_JOIN.join(texts), starts)
        return built


def _estimated_count(haystack: str, needle: str, samples: int = 8, share: int = 64) -> int:
    """Matches in ``haystack``, estimated from ``samples`` evenly spread slices of 1/``share`` of it each:
    an eighth of the cost of counting them all."""
    size = len(haystack)
    if size < 1 << 16:
        return haystack.count(needle)
    step, width = size // samples, size // share + len(needle)
    return sum(haystack.count(needle, start, start + width) for start in range(0, size, step)) * share // samples


def _in_folder(folder_key: str, prefix: str) -> bool:
    return not prefix or folder_key == prefix or folder_key.startswith(prefix + "/")
