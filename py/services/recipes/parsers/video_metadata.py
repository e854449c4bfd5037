"""Read the text an MP4/MOV file carries in its metadata boxes (where ComfyUI's video savers put the workflow).

Why: ComfyUI's core Save Video writes each metadata key (``prompt``, ``workflow``) as an ``mdta`` item
(``moov/udta/meta`` with ``keys`` + ``ilst``); VideoHelperSuite's Video Combine writes a ``comment`` (``©cmt``).
The boxes are walked with every size checked against its parent, a bounded depth and a bounded number of boxes,
so a hostile file can only fail to parse, never make the walk run away.
"""
from __future__ import annotations

import json
import struct
from typing import Iterator

MAX_DEPTH = 8
MAX_BOXES = 10_000
MAX_VALUE_BYTES = 16 * 1024 * 1024
_CONTAINERS = {b"moov", b"udta", b"meta", b"ilst", b"trak", b"mdia", b"minf"}
_NAMED_ITEMS = {b"\xa9cmt": "comment", b"\xa9des": "description", b"desc": "description", b"ldes": "comment"}


class Budget:
    """How many more boxes or elements a walk may read: a hostile file with millions of tiny ones stops early."""

    def __init__(self, limit: int = MAX_BOXES) -> None:
        self.left = limit

    def spend(self) -> bool:
        self.left -= 1
        return self.left >= 0


def _boxes(data: bytes, start: int, end: int, budget: Budget) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box in ``data[start:end]``; stops at the first bad size."""
    offset = start
    while offset + 8 <= end and budget.spend():
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        header = 8
        if size == 1 and offset + 16 <= end:
            size, header = struct.unpack(">Q", data[offset + 8:offset + 16])[0], 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            return
        yield kind, offset + header, offset + size
        offset += size


def _meta_payload_start(data: bytes, start: int, end: int) -> int:
    """ISO ``meta`` is a full box (4 bytes of version and flags); QuickTime's is not: tell by what follows."""
    if end - start >= 8 and data[start + 4:start + 8] in (b"hdlr", b"keys", b"ilst"):
        return start  # a child box begins at once
    return start + 4


def _keys(data: bytes, start: int, end: int) -> list[str]:
    names: list[str] = []
    if end - start < 8:
        return names
    count = struct.unpack(">I", data[start + 4:start + 8])[0]
    offset = start + 8
    for _ in range(min(count, MAX_BOXES)):
        if offset + 8 > end:
            break
        size = struct.unpack(">I", data[offset:offset + 4])[0]
        if size < 8 or offset + size > end:
            break
        names.append(data[offset + 8:offset + size].decode("utf-8", "replace"))
        offset += size
    return names


def _item_text(data: bytes, start: int, end: int, budget: Budget) -> str | None:
    for kind, body, stop in _boxes(data, start, end, budget):
        if kind == b"data" and stop - body >= 8 and stop - body - 8 <= MAX_VALUE_BYTES:
            value_type = struct.unpack(">I", data[body:body + 4])[0] & 0xFFFFFF
            if value_type in (1, 0):  # UTF-8 (0: implicit, written by some muxers for text)
                return data[body + 8:stop].decode("utf-8", "replace")
    return None


def mp4_text(data: bytes) -> dict[str, str]:
    """Every text metadata item of an MP4/MOV file by key (``prompt``, ``workflow``, ``comment``...)."""
    text: dict[str, str] = {}
    budget = Budget()

    def walk(start: int, end: int, depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        for kind, body, stop in _boxes(data, start, end, budget):
            if kind == b"meta":
                _read_meta(body, stop, depth)
            elif kind in _CONTAINERS:
                walk(body, stop, depth + 1)

    def _read_meta(start: int, end: int, depth: int) -> None:
        start = _meta_payload_start(data, start, end)
        names: list[str] = []
        items: list[tuple[bytes, int, int]] = []
        for kind, body, stop in _boxes(data, start, end, budget):
            if kind == b"keys":
                names = _keys(data, body, stop)
            elif kind == b"ilst":
                items = list(_boxes(data, body, stop, budget))
        for kind, body, stop in items:
            value = _item_text(data, body, stop, budget)
            if value is None:
                continue
            index = struct.unpack(">I", kind)[0]
            if 1 <= index <= len(names):
                key = names[index - 1].rsplit(".", 1)[-1] if names[index - 1].startswith("com.") else names[index - 1]
            else:
                key = _NAMED_ITEMS.get(kind, "")
            if key and key not in text:
                text[key] = value

    walk(0, len(data), 0)
    lift_comment(text)
    return text


def lift_comment(text: dict[str, str]) -> None:
    """VideoHelperSuite puts ``{"prompt": ..., "workflow": ...}`` as JSON into the comment."""
    comment = text.get("comment", "")
    if not comment.lstrip().startswith("{"):
        return
    try:
        value = json.loads(comment)
    except ValueError:
        return
    if isinstance(value, dict):
        for key in ("prompt", "workflow"):
            if key in value and key not in text:
                item = value[key]
                text[key] = item if isinstance(item, str) else json.dumps(item)
