"""Bounded reader for the GGUF (v2/v3) header: metadata key/values and tensor infos, never tensor data.

Why: quantised diffusion models, UNets and text encoders (ComfyUI-GGUF) ship as ``.gguf``; their identity
(architecture, quantisation, tensor shapes, VRAM need) is in the header. The header is read from a capped
prefix of the file and every count, length and dimension is checked against hard limits before use, so a
hostile or truncated file yields ``InvalidGGUF`` with a reason for users, never a crash or a huge allocation.

Layout: b"GGUF", u32 version, u64 tensor_count, u64 kv_count, kv_count x (string key, u32 type, value),
tensor_count x (string name, u32 n_dims, n_dims x u64 dim, u32 ggml_type, u64 offset). Little-endian.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_MAX_HEADER_BYTES = 64 * 1024 * 1024
MAX_TENSORS = 100_000
MAX_KV = 100_000
MAX_STRING_BYTES = 1024 * 1024
MAX_ARRAY_ITEMS = 4_000_000
MAX_DIMS = 4  # GGML_MAX_DIMS

# GGML tensor type id -> (name, block size in elements, bytes per block).
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 30: ("BF16", 1, 2),
}

# GGUF metadata value type id -> struct format for scalars (8 = string, 9 = array handled apart).
_SCALARS: dict[int, str] = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
                            10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


class InvalidGGUF(Exception):
    """The file is not a readable GGUF model; ``reason`` is written for users."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class GGUFTensor:
    name: str
    shape: tuple[int, ...]
    ggml_type: str
    offset: int

    @property
    def nbytes(self) -> int:
        """Bytes of this tensor on disk (and roughly in VRAM), from its block layout."""
        _, block, per_block = next(v for v in GGML_TYPES.values() if v[0] == self.ggml_type)
        return math.ceil(math.prod(self.shape) / block) * per_block


@dataclass(frozen=True)
class GGUFHeader:
    version: int
    metadata: dict[str, Any] = field(default_factory=dict)
    tensors: tuple[GGUFTensor, ...] = ()

    @property
    def tensor_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    @property
    def quantisation(self) -> str:
        """The most common tensor type by bytes (e.g. ``Q4_K``), or ``""`` without tensors."""
        by_type: dict[str, int] = {}
        for t in self.tensors:
            by_type[t.ggml_type] = by_type.get(t.ggml_type, 0) + t.nbytes
        return max(by_type, key=lambda k: by_type[k]) if by_type else ""


class _Cursor:
    """Reads little-endian values from a byte buffer; running past its end is a truncated file."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise InvalidGGUF("GGUF header is truncated or larger than the read limit")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        if n > MAX_STRING_BYTES:
            raise InvalidGGUF(f"GGUF string of {n} bytes exceeds the limit")
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidGGUF("GGUF string is not UTF-8") from exc

    def value(self, vtype: int, depth: int = 0) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY and depth == 0:
            item_type, count = self.unpack("<I"), self.unpack("<Q")
            if count > MAX_ARRAY_ITEMS or count > len(self.data) - self.pos:
                raise InvalidGGUF(f"GGUF array of {count} items exceeds the limit")
            return [self.value(item_type, depth + 1) for _ in range(count)]
        raise InvalidGGUF(f"GGUF value type {vtype} is unknown or nested too deep")


def parse_gguf_header(data: bytes) -> GGUFHeader:
    """Parse a GGUF header from the file's first bytes (pure; raises ``InvalidGGUF``)."""
    cur = _Cursor(data)
    if cur.take(4) != MAGIC:
        raise InvalidGGUF("not a GGUF file (magic missing)")
    version = cur.unpack("<I")
    if version not in SUPPORTED_VERSIONS:
        raise InvalidGGUF(f"GGUF version {version} is not supported (2 or 3)")
    n_tensors, n_kv = cur.unpack("<Q"), cur.unpack("<Q")
    if n_tensors > MAX_TENSORS or n_kv > MAX_KV:
        raise InvalidGGUF(f"GGUF declares {n_tensors} tensors and {n_kv} keys, over the limit")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = cur.string()
        metadata[key] = cur.value(cur.unpack("<I"))
    tensors = []
    for _ in range(n_tensors):
        name = cur.string()
        n_dims = cur.unpack("<I")
        if n_dims > MAX_DIMS:
            raise InvalidGGUF(f"GGUF tensor {name!r} has {n_dims} dimensions (at most {MAX_DIMS})")
        shape = tuple(cur.unpack("<Q") for _ in range(n_dims))
        type_id = cur.unpack("<I")
        if type_id not in GGML_TYPES:
            raise InvalidGGUF(f"GGUF tensor {name!r} has unknown type {type_id}")
        tensors.append(GGUFTensor(name, shape, GGML_TYPES[type_id][0], cur.unpack("<Q")))
    return GGUFHeader(version=version, metadata=metadata, tensors=tuple(tensors))


def read_gguf_header(path: Path, max_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> GGUFHeader:
    """Read at most ``max_bytes`` of ``path`` and parse its GGUF header."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes)
    except OSError as exc:
        raise InvalidGGUF(f"cannot read file: {exc.strerror or exc}") from exc
    return parse_gguf_header(data)
