"""Resolve the model names users type in nodes to library records.

Why one resolver: the loader, the stacker and Save Image all turn "detail_tweaker", "style/detail_tweaker" or
"Detail Tweaker" into the same file, and an ambiguous or unknown name must fail the same clear way everywhere.
Reads only the in-memory projection (safe from ComfyUI's execution thread; never awaits, never hashes).
"""
from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..library.records import ModelRecord

logger = logging.getLogger(__name__)

__all__ = ["LibraryView", "NodeInputError", "relative_name", "snapshot_records"]

MAX_CANDIDATES = 8


class NodeInputError(ValueError):
    """A user error in a node's input; ComfyUI shows the message on the node."""


def relative_name(record: ModelRecord, *, extension: bool = True) -> str:
    """``folder/file.ext`` relative to the record's root, '/'-separated (ComfyUI's own lora_name form)."""
    name = record.file_name + (record.extension if extension else "")
    return f"{record.folder}/{name}" if record.folder else name


def snapshot_records(service: Any) -> list[ModelRecord]:
    """The service's records, read from another thread; a concurrent update is retried, never fatal."""
    for _ in range(5):
        try:
            return [r for r in service.all_records() if r.status == "ok"]
        except RuntimeError as exc:  # index not started yet, or a dict resized under iteration
            if "not started" in str(exc):
                return []
    return []


def _norm_path(text: str) -> str:
    return text.strip().replace("\\", "/").strip("/")


def _strip_ext(text: str, extensions: Iterable[str]) -> str:
    lowered = text.lower()
    for ext in extensions:
        if ext and lowered.endswith(ext.lower()) and len(text) > len(ext):
            return text[: -len(ext)]
    return text


@dataclass
class LibraryView:
    """The records of one model type, with the lookups nodes need."""

    model_type: str
    records: list[ModelRecord]
    loading: bool = False

    @classmethod
    def of(cls, context: Any, model_type: str) -> "LibraryView":
        try:
            service = context.service(model_type)
        except KeyError:
            return cls(model_type, [])
        ready = getattr(service, "ready", None)
        loading = ready is not None and not ready.is_set()
        return cls(model_type, snapshot_records(service), loading)

    def resolve(self, name: str) -> ModelRecord:
        """The one record ``name`` means: relative path, then file name, then model name (exact, then any case).

        Raises NodeInputError naming the candidates when the name is ambiguous or unknown.
        """
        wanted = _norm_path(name)
        if not wanted:
            raise NodeInputError(f"Empty {self.model_type} name")
        extensions = {r.extension for r in self.records}
        bare = _strip_ext(wanted, extensions)
        keys: list[Callable[[ModelRecord], str]] = [
            lambda r: relative_name(r, extension=False),
            lambda r: r.file_name,
            lambda r: r.model_name,
        ]
        for fold in (False, True):
            target = bare.casefold() if fold else bare
            for key in keys:
                found = [r for r in self.records if (key(r).casefold() if fold else key(r)) == target]
                if len(found) == 1:
                    return found[0]
                if len(found) > 1:
                    preferred = [r for r in found if not r.exclude]
                    if len(preferred) == 1:
                        return preferred[0]
                    names = ", ".join(sorted(relative_name(r) for r in found)[:MAX_CANDIDATES])
                    raise NodeInputError(
                        f"{self.model_type.capitalize()} name '{name}' is ambiguous: it matches {names}. "
                        "Use the folder path to choose one.")
        raise NodeInputError(self._unknown_message(name, bare))

    def _unknown_message(self, name: str, bare: str) -> str:
        if not self.records and self.loading:
            return f"{self.model_type.capitalize()} '{name}' was not found: the library is still loading, try again"
        if not self.records:
            return f"{self.model_type.capitalize()} '{name}' was not found: the library has no {self.model_type}s yet"
        pool: dict[str, ModelRecord] = {}
        for record in self.records:
            for key in (relative_name(record, extension=False), record.file_name, record.model_name):
                if key:
                    pool.setdefault(key.casefold(), record)
        close = difflib.get_close_matches(bare.casefold(), list(pool), n=MAX_CANDIDATES, cutoff=0.5)
        tail = bare.casefold().rsplit("/", 1)[-1]
        contains = [k for k in pool if tail and tail in k]
        picked = list(dict.fromkeys(relative_name(pool[k]) for k in [*close, *contains]))[:MAX_CANDIDATES]
        hint = f" Did you mean: {', '.join(picked)}?" if picked else ""
        return f"{self.model_type.capitalize()} '{name}' was not found in the library.{hint}"

    def find(self, name: str) -> ModelRecord | None:
        """Like ``resolve`` but None instead of an error (for metadata, where a miss is not fatal)."""
        try:
            return self.resolve(name)
        except NodeInputError:
            return None
