"""``<lora:name:strength>`` and ``<lora:name:model_strength:clip_strength>`` prompt syntax.

Why one module: the same syntax is read from A1111 prompts, ComfyUI text inputs and this project's loader
node, and written back when a recipe is copied; parsing and formatting must agree exactly.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["LoraSyntaxEntry", "parse_lora_syntax", "format_lora_syntax", "strip_lora_syntax", "format_strength"]

# One tag: ``<lora:`` then anything but angle brackets, then ``>``; whitespace tolerated around ``lora`` and ``:``.
_TAG_RE = re.compile(r"<\s*lora\s*:([^<>]*)>", re.IGNORECASE)
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class LoraSyntaxEntry:
    """One parsed tag; ``span`` is the ``[start, end)`` slice of the tag in the source text."""

    name: str
    model_strength: float
    clip_strength: float
    span: tuple[int, int]


def _number(field: str) -> float | None:
    text = field.strip()
    if not _NUMBER_RE.fullmatch(text):
        return None
    try:
        value = float(text)
    except (ValueError, OverflowError):  # pragma: no cover - the regex only admits float literals
        return None
    return value if math.isfinite(value) else None


def _parse_body(body: str) -> tuple[str, float, float] | None:
    """Split ``name[:model[:clip]]``; a name may hold ``:`` only when the trailing fields are numbers."""
    parts = body.split(":")
    if len(parts) == 1:
        name, model, clip = parts[0], 1.0, 1.0
    elif len(parts) >= 3 and (m := _number(parts[-2])) is not None and (c := _number(parts[-1])) is not None:
        name, model, clip = ":".join(parts[:-2]), m, c
    else:
        last = _number(parts[-1])
        if last is None:
            return None
        name, model, clip = ":".join(parts[:-1]), last, last
    name = name.strip()
    if not name:
        return None
    return name, model, clip


def parse_lora_syntax(text: str) -> list[LoraSyntaxEntry]:
    """Every well-formed tag in ``text``, in order. Malformed tags (bad numbers, empty names) are skipped."""
    if not isinstance(text, str) or "<" not in text:
        return []
    entries: list[LoraSyntaxEntry] = []
    for match in _TAG_RE.finditer(text):
        parsed = _parse_body(match.group(1))
        if parsed is None:
            continue
        name, model, clip = parsed
        entries.append(LoraSyntaxEntry(name, model, clip, (match.start(), match.end())))
    return entries


def format_strength(value: float) -> str:
    """Shortest text that reads back as the same float, without a trailing ``.0``."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def format_lora_syntax(entry: LoraSyntaxEntry) -> str:
    """Normalised tag: the clip strength is written only when it differs from the model strength."""
    model = format_strength(entry.model_strength)
    if entry.clip_strength == entry.model_strength:
        return f"<lora:{entry.name}:{model}>"
    return f"<lora:{entry.name}:{model}:{format_strength(entry.clip_strength)}>"


_SPACES_RE = re.compile(r"[ \t]{2,}")
_COMMAS_RE = re.compile(r"[ \t]*,(?:[ \t]*,)+")
_SPACE_COMMA_RE = re.compile(r"[ \t]+,")


def strip_lora_syntax(text: str) -> str:
    """Remove every ``<lora:...>`` tag (well-formed or not) and tidy the separators left behind."""
    if not isinstance(text, str):
        return ""
    if "<" not in text:
        return text
    stripped = _TAG_RE.sub("", text)
    if stripped == text:
        return text
    # Removing a tag can join its neighbours into a new one ("<lo<lora:a:1>ra:b:1>"); repeat until stable.
    while True:
        again = _TAG_RE.sub("", stripped)
        if again == stripped:
            break
        stripped = again
    stripped = _COMMAS_RE.sub(",", stripped)
    stripped = _SPACE_COMMA_RE.sub(",", stripped)
    stripped = _SPACES_RE.sub(" ", stripped)
    lines = [line.strip(" \t") for line in stripped.split("\n")]
    return "\n".join(lines).strip(" \t\n,")
