"""Read the text tags a WebM/Matroska file carries (where ComfyUI's video savers put the workflow).

Why: VideoHelperSuite's Video Combine hands ffmpeg ``-metadata comment={"prompt": ..., "workflow": ...}`` and
ComfyUI's WebM savers write ``prompt``/``workflow`` container metadata; the Matroska muxer stores each as a
``Segment/Tags/Tag/SimpleTag`` with a ``TagName`` and a ``TagString``. The EBML walk checks every element size
against its parent, bounds depth and element count, and skips media clusters by size, so a hostile file can only
fail to parse, never make the walk run away.
"""
from __future__ import annotations

from typing import Iterator

from .video_metadata import Budget, lift_comment

MAX_DEPTH = 6
MAX_ELEMENTS = 20_000
MAX_VALUE_BYTES = 16 * 1024 * 1024

EBML_HEADER = 0x1A45DFA3
SEGMENT = 0x18538067
SEEK_HEAD = 0x114D9B74
SEEK = 0x4DBB
SEEK_ID = 0x53AB
SEEK_POSITION = 0x53AC
TAGS = 0x1254C367
TAG = 0x7373
SIMPLE_TAG = 0x67C8
TAG_NAME = 0x45A3
TAG_STRING = 0x4487

_UNKNOWN = -1


def _vint(data: bytes, offset: int, end: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """(value, length) of the EBML variable-length integer at ``offset``; None when malformed."""
    if offset >= end:
        return None
    first = data[offset]
    if first == 0:
        return None
    length = 9 - first.bit_length()
    if offset + length > end or (keep_marker and length > 4):
        return None
    value = int.from_bytes(data[offset:offset + length], "big")
    if keep_marker:
        return value, length
    value &= (1 << (7 * length)) - 1
    if value == (1 << (7 * length)) - 1:
        return _UNKNOWN, length  # "unknown size": the element runs to the end of its parent
    return value, length


def _elements(data: bytes, start: int, end: int, budget: Budget) -> Iterator[tuple[int, int, int]]:
    """(id, payload start, payload end) of each element in ``data[start:end]``; stops at the first bad one."""
    offset = start
    while offset < end and budget.spend():
        element_id = _vint(data, offset, end, keep_marker=True)
        if element_id is None:
            return
        size = _vint(data, offset + element_id[1], end, keep_marker=False)
        if size is None:
            return
        body = offset + element_id[1] + size[1]
        stop = end if size[0] == _UNKNOWN else body + size[0]
        if stop > end:
            return
        yield element_id[0], body, stop
        offset = stop


def _utf8(data: bytes, start: int, end: int) -> str | None:
    if end - start > MAX_VALUE_BYTES:
        return None
    return data[start:end].decode("utf-8", "replace").rstrip("\x00")


def _read_simple_tags(data: bytes, start: int, end: int, depth: int, budget: Budget,
                      text: dict[str, str]) -> None:
    name: str | None = None
    value: str | None = None
    for kind, body, stop in _elements(data, start, end, budget):
        if kind == TAG_NAME:
            name = _utf8(data, body, stop)
        elif kind == TAG_STRING:
            value = _utf8(data, body, stop)
        elif kind == SIMPLE_TAG and depth < MAX_DEPTH:
            _read_simple_tags(data, body, stop, depth + 1, budget, text)
    if name and value is not None:
        text.setdefault(name.strip().lower(), value)


def _read_tags(data: bytes, start: int, end: int, budget: Budget, text: dict[str, str]) -> None:
    for kind, body, stop in _elements(data, start, end, budget):
        if kind != TAG:
            continue
        for inner, inner_body, inner_stop in _elements(data, body, stop, budget):
            if inner == SIMPLE_TAG:
                _read_simple_tags(data, inner_body, inner_stop, 1, budget, text)


def _seek_positions(data: bytes, start: int, end: int, budget: Budget) -> list[int]:
    """Offsets (from the segment's payload) of the Tags elements a SeekHead points at."""
    positions: list[int] = []
    for kind, body, stop in _elements(data, start, end, budget):
        if kind != SEEK:
            continue
        target = position = None
        for inner, inner_body, inner_stop in _elements(data, body, stop, budget):
            if inner == SEEK_ID and inner_stop - inner_body <= 4:
                target = int.from_bytes(data[inner_body:inner_stop], "big")
            elif inner == SEEK_POSITION and inner_stop - inner_body <= 8:
                position = int.from_bytes(data[inner_body:inner_stop], "big")
        if target == TAGS and position is not None:
            positions.append(position)
    return positions


def matroska_text(data: bytes) -> dict[str, str]:
    """Every text tag of a WebM/Matroska file by lower-cased name (``prompt``, ``workflow``, ``comment``...).

    The segment's top-level elements are read in order (clusters skipped by their size); Tags written after a
    cluster of unknown size are reached through the SeekHead, as players do.
    """
    text: dict[str, str] = {}
    budget = Budget(MAX_ELEMENTS)
    for kind, body, stop in _elements(data, 0, len(data), budget):
        if kind != SEGMENT:
            continue
        seen: set[int] = set()
        seeks: list[int] = []
        for inner, inner_body, inner_stop in _elements(data, body, stop, budget):
            if inner == TAGS:
                seen.add(inner_body)
                _read_tags(data, inner_body, inner_stop, budget, text)
            elif inner == SEEK_HEAD:
                seeks.extend(_seek_positions(data, inner_body, inner_stop, budget))
        for position in seeks:
            for inner, inner_body, inner_stop in _elements(data, body + position, stop, budget):
                if inner == TAGS and inner_body not in seen:
                    seen.add(inner_body)
                    _read_tags(data, inner_body, inner_stop, budget, text)
                break  # only the element the seek entry names
        break  # one segment is all a WebM holds
    lift_comment(text)
    return text
