"""Writes real GGUF v2/v3 headers (key/values, tensor infos, zeroed tensor data) for tests."""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, Sequence

from lora_manager.py.library.gguf import GGML_TYPES

_TYPE_IDS = {name: tid for tid, (name, _, _) in GGML_TYPES.items()}


def _string(s: str) -> bytes:
    raw = s.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _value(v: Any) -> bytes:
    if isinstance(v, bool):
        return struct.pack("<I?", 7, v)
    if isinstance(v, int):
        return struct.pack("<Iq", 11, v)
    if isinstance(v, float):
        return struct.pack("<Id", 12, v)
    if isinstance(v, str):
        return struct.pack("<I", 8) + _string(v)
    if isinstance(v, list):  # lists of strings only, as tokenizer vocabularies are
        return struct.pack("<IIQ", 9, 8, len(v)) + b"".join(_string(x) for x in v)
    raise TypeError(type(v))


def gguf_bytes(metadata: dict[str, Any], tensors: Sequence[tuple[str, tuple[int, ...], str]],
               version: int = 3) -> bytes:
    """A GGUF header for ``tensors`` given as (name, shape, ggml type name); offsets are packed."""
    out = [b"GGUF", struct.pack("<IQQ", version, len(tensors), len(metadata))]
    out += [_string(k) + _value(v) for k, v in metadata.items()]
    offset = 0
    for name, shape, tname in tensors:
        out.append(_string(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape))
        out.append(struct.pack("<IQ", _TYPE_IDS[tname], offset))
        offset += 32
    return b"".join(out)


def write_gguf(path: Path, metadata: dict[str, Any], tensors: Sequence[tuple[str, tuple[int, ...], str]],
               version: int = 3) -> Path:
    path.write_bytes(gguf_bytes(metadata, tensors, version) + b"\0" * 64)
    return path
