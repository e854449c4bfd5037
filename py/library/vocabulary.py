"""The words of the library's file and display names, with the slots holding each: fuzzy search's index.

Why: a fuzzy search compares the query's words with the library's distinct words (not with every record), then
takes the slots of the close ones from this table, so no Python pass runs per record. Similarity is rapidfuzz's
normalised Indel ratio; a word of length ``m`` can reach the cutoff against one of length ``n`` only when
``|m - n| <= (1 - cutoff) * (m + n)``, so only those length buckets are compared, and where that bound leaves
no room for an edit (same length, short words) a set lookup replaces the comparison.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
from rapidfuzz import fuzz, process

FUZZY_CUTOFF = 85  # similarity in percent (rapidfuzz's normalised Indel ratio, as difflib's ratio)
_SLACK = 1e-9


class Vocabulary:
    """Distinct words -> the slots whose file or display name holds them (built once per index version)."""

    def __init__(self, slots_of: dict[str, list[int]]) -> None:
        self.slots_of = slots_of
        self._by_length: dict[int, list[str]] | None = None
        self._arrays: dict[str, np.ndarray] = {}

    @classmethod
    def of(cls, tokens_by_slot: Iterable[tuple[int, Iterable[str]]]) -> "Vocabulary":
        slots_of: dict[str, list[int]] = {}
        for slot, tokens in tokens_by_slot:
            for token in tokens:
                slots_of.setdefault(token, []).append(slot)
        return cls(slots_of)

    def add(self, slot: int, tokens: Iterable[str]) -> None:
        """A record's words join the table (an edit or a new file: the table is kept, not rebuilt)."""
        for token in tokens:
            found = self.slots_of.get(token)
            if found is None:
                self.slots_of[token] = [slot]
                if self._by_length is not None and len(token) >= 2:
                    self._by_length.setdefault(len(token), []).append(token)
            else:
                found.append(slot)
            self._arrays.pop(token, None)

    def discard(self, slot: int, tokens: Iterable[str]) -> None:
        """A record's words leave the table (before an edit replaces it, or when it is removed)."""
        for token in tokens:
            found = self.slots_of.get(token)
            if found is None:
                continue
            try:
                found.remove(slot)  # one pass over the list (a common word's list holds a fifth of the library)
            except ValueError:  # the word is not under this slot
                continue
            self._arrays.pop(token, None)
            if not found:
                del self.slots_of[token]
                bucket = self._by_length.get(len(token)) if self._by_length is not None else None
                if bucket is not None and token in bucket:
                    bucket.remove(token)

    def similar(self, word: str, cutoff: float = FUZZY_CUTOFF) -> frozenset[str]:
        """The library's words of two or more characters whose similarity to ``word`` is >= ``cutoff``."""
        if self._by_length is None:
            buckets: dict[int, list[str]] = {}
            for token in self.slots_of:
                if len(token) >= 2:
                    buckets.setdefault(len(token), []).append(token)
            self._by_length = buckets
        allowed = (100 - cutoff) / 100  # the share of the two lengths that edits may cost
        size = len(word)
        found: set[str] = set()
        for length, bucket in self._by_length.items():
            budget = allowed * (size + length) + _SLACK
            if abs(size - length) > budget:
                continue
            if length == size and budget < 2:  # a same-length edit costs 2: only the word itself
                if word in self.slots_of and length >= 2:
                    found.add(word)
                continue
            found.update(choice for choice, _score, _i in process.extract(
                word, bucket, scorer=fuzz.ratio, score_cutoff=cutoff, limit=None))
        return frozenset(found)

    def slots(self, words: Iterable[str]) -> np.ndarray:
        """Every slot holding one of ``words`` as a whole word (a slot may repeat)."""
        arrays = [self._array(w) for w in words if w in self.slots_of]
        if not arrays:
            return np.zeros(0, dtype=np.int64)
        return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)

    def _array(self, word: str) -> np.ndarray:
        """A word's slots as an array, made on first use (most words are never looked up)."""
        found = self._arrays.get(word)
        if found is None:
            found = self._arrays[word] = np.array(self.slots_of[word], dtype=np.int64)
        return found
