"""Input conventions of ComfyUI-Lora-Manager's nodes, so its saved workflows run here unchanged.

Why a module of its own: that project's node types (``"Lora Loader (LoraManager)"`` ...) declare inputs in ways
ComfyUI's plain ``INPUT_TYPES`` dicts cannot express, and several nodes share them:

- *flexible optional inputs*: any input name is accepted (its frontend adds ``clip``, ``lora_stack``,
  ``prev_lora`` ... sockets itself), so ``"optional"`` is a dict that answers ``in`` for every name;
- *numbered inputs* (``trigger_words1``, ``trigger_words2`` ..., ``lora_stack1`` ...) grown by the frontend;
- the ``LORAS`` widget value: a list of ``{"name", "strength", "clipStrength", "active", ...}``, which ComfyUI's
  frontend sends wrapped as ``{"__value__": [...]}`` (a bare list would read as a link);
- the ``AUTOCOMPLETE_TEXT_*`` widget types, which save a hidden metadata value before the text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from .resolve import NodeInputError
from .stacker import LoraRequest, check_strength

__all__ = ["AnyType", "ANY", "FlexibleInputs", "NumberedInputs", "unwrap_widget", "LoraEntry", "lora_entries",
           "requests_from_entries", "autocomplete_text", "anchor_trigger_text", "anchor_syntax", "ANCHOR_CATEGORY",
           "LORAS_INPUT"]

ANCHOR_CATEGORY = "Lora Manager"
LORAS_INPUT = ("LORAS", {})


class AnyType(str):
    """ComfyUI's wildcard socket type: equal to every type when ComfyUI checks a link (``!=`` is never true)."""

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = str.__hash__


ANY = AnyType("*")


class FlexibleInputs(dict):
    """Optional inputs that accept any name: the declared ones are real entries (listed in ``object_info``, so
    the frontend draws their sockets), any other name is an input of type ``*``."""

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __missing__(self, key: str) -> tuple[Any, ...]:
        return (ANY,)


class NumberedInputs(dict):
    """Optional inputs plus every name matching ``pattern`` (the numbered sockets a frontend adds on connect)."""

    def __init__(self, entries: dict[str, Any], pattern: str, spec: tuple[Any, ...]) -> None:
        super().__init__(entries)
        self._pattern = re.compile(pattern)
        self._spec = spec

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or (isinstance(key, str) and bool(self._pattern.fullmatch(key)))

    def __missing__(self, key: str) -> tuple[Any, ...]:
        if isinstance(key, str) and self._pattern.fullmatch(key):
            return self._spec
        raise KeyError(key)

    def matches(self, key: str) -> bool:
        return bool(self._pattern.fullmatch(key))


def unwrap_widget(value: Any) -> Any:
    """A widget value as sent: ComfyUI's frontend wraps list values as ``{"__value__": [...]}``."""
    if isinstance(value, dict) and "__value__" in value:
        return value["__value__"]
    return value


def autocomplete_text(kind: str, placeholder: str, tooltip: str) -> tuple[str, dict[str, Any]]:
    """The text input of that project's loaders (``kind`` "LORAS") or prompt nodes (``kind`` "PROMPT").

    Prompt nodes accept a linked STRING too (``"AUTOCOMPLETE_TEXT_PROMPT,STRING"``), as there.
    """
    if kind == "PROMPT":
        return ("AUTOCOMPLETE_TEXT_PROMPT,STRING", {"widgetType": "AUTOCOMPLETE_TEXT_PROMPT",
                                                    "placeholder": placeholder, "tooltip": tooltip})
    return ("AUTOCOMPLETE_TEXT_LORAS", {"placeholder": placeholder, "tooltip": tooltip})


@dataclass(frozen=True)
class LoraEntry:
    """One row of a ``LORAS`` widget."""

    name: str
    strength: float
    clip_strength: float
    active: bool
    locked: bool = False

    def as_widget(self) -> dict[str, Any]:
        return {"name": self.name, "strength": self.strength, "clipStrength": self.clip_strength,
                "active": self.active, "expanded": False, "locked": self.locked}


def _number(value: Any, what: str, name: str) -> float:
    if isinstance(value, str):  # widget rows saved as text
        try:
            value = float(value.strip())
        except ValueError:
            raise NodeInputError(f"LoRA '{name}': {what} strength must be a number, got {value!r}") from None
    return check_strength(value, what, name)


def lora_entries(value: Any) -> list[LoraEntry]:
    """The rows of a ``LORAS`` widget value (list, ``{"__value__": list}``, JSON text or None)."""
    value = unwrap_widget(value)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        import json

        try:
            value = json.loads(value)
        except ValueError as exc:
            raise NodeInputError(f"The loras widget value is not valid JSON: {exc}") from exc
        value = unwrap_widget(value)
    if not isinstance(value, (list, tuple)):
        raise NodeInputError(f"The loras widget value must be a list of LoRAs, got {type(value).__name__}")
    entries: list[LoraEntry] = []
    for index, row in enumerate(value):
        if not isinstance(row, dict):
            raise NodeInputError(f"LoRA row {index + 1} is not an object: {row!r}")
        name = row.get("name")
        if not isinstance(name, str) or not name.strip():
            continue  # an empty row, as the widget leaves while one is being added
        name = name.strip()
        strength = _number(row.get("strength", 1.0), "model", name)
        clip = row.get("clipStrength")
        clip_strength = strength if clip is None else _number(clip, "clip", name)
        entries.append(LoraEntry(name, strength, clip_strength, bool(row.get("active", False)),
                                 bool(row.get("locked", False))))
    return entries


def requests_from_entries(entries: Iterable[LoraEntry]) -> list[LoraRequest]:
    """The switched-on rows as LoRA requests (that project applies only rows with ``active`` true)."""
    return [LoraRequest(e.name, e.strength, e.clip_strength, "widget") for e in entries if e.active]


def anchor_trigger_text(word_lists: Iterable[Iterable[Any]]) -> str:
    """Trigger words as that project's loaders emit them: every trained word is a group of its own (``",, "``),
    which its TriggerWord Toggle shows one chip per word; a word already emitted is not repeated."""
    seen: set[str] = set()
    out: list[str] = []
    for words in word_lists:
        for word in words:
            if isinstance(word, str) and word.strip() and word.strip().casefold() not in seen:
                seen.add(word.strip().casefold())
                out.append(word.strip())
    return ",, ".join(out)


def anchor_syntax(items: Iterable[tuple[str, float, float]]) -> str:
    """``<lora:name:m>`` per LoRA, ``<lora:name:m:c>`` when the clip strength differs (by more than 0.001)."""
    from ..services.recipes.lora_syntax import format_strength

    tags = []
    for name, model, clip in items:
        if abs(model - clip) > 0.001:
            tags.append(f"<lora:{name}:{format_strength(model)}:{format_strength(clip)}>")
        else:
            tags.append(f"<lora:{name}:{format_strength(model)}>")
    return " ".join(tags)
