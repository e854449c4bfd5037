"""Bounded reader (and a tiny writer) for the safetensors header.

Why: everything a library manager needs to know about a model without loading it (metadata, tensor names,
shapes, where the tensor bytes start) lives in the JSON header at the front of the file. Reading only that
header keeps a scan of thousands of multi-gigabyte files cheap, and a hard size cap keeps a hostile or
corrupt file from making us allocate gigabytes.

File layout: 8-byte little-endian unsigned N, N bytes of UTF-8 JSON, then the tensor bytes at ``8 + N``.
"""
from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

DEFAULT_MAX_HEADER_BYTES = 100 * 1024 * 1024
SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
METADATA_KEY = "__metadata__"

# Bits per element; sub-byte types are packed, so sizes are computed in bits.
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "I64": 64,
    "U64": 64,
    "F64": 64,
    "C64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}


class InvalidModelFile(Exception):
    """The file is not a readable safetensors model; ``reason`` is written for users."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    begin: int  # relative to the start of the tensor data (``data_offset``)
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


@dataclass
class SafetensorsHeader:
    header_length: int  # N
    data_offset: int  # 8 + N: where the tensor bytes (and AutoV3) start
    metadata: dict[str, str]
    tensors: dict[str, TensorInfo]
    file_size: int


def is_safetensors_name(name: str | os.PathLike[str]) -> bool:
    return str(name).lower().endswith(SAFETENSORS_SUFFIXES)


def read_header(
    path: str | os.PathLike[str], *, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
) -> SafetensorsHeader:
    """Read and validate the header of ``path`` without touching the tensor bytes.

    Raises ``InvalidModelFile`` for content problems; OS errors (missing file, permission) pass through.
    """
    with open(path, "rb") as handle:
        file_size = os.fstat(handle.fileno()).st_size
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise InvalidModelFile(
                f"file is only {len(prefix)} bytes long; a safetensors file starts with an 8-byte header length"
            )
        (header_length,) = struct.unpack("<Q", prefix)
        if header_length == 0:
            raise InvalidModelFile("header length is 0; not a safetensors file")
        if header_length > max_header_bytes:
            raise InvalidModelFile(
                f"header of {header_length} bytes exceeds the {max_header_bytes}-byte limit; "
                "the file is corrupt or not a safetensors file"
            )
        available = file_size - 8
        if header_length > available:
            raise InvalidModelFile(
                f"truncated: the header needs {header_length} bytes but only {max(available, 0)} follow "
                "the length prefix"
            )
        raw = _read_exactly(handle, header_length)
    if len(raw) < header_length:
        raise InvalidModelFile(f"truncated: the file ended after {len(raw)} of {header_length} header bytes")
    return parse_header_bytes(raw, file_size=file_size)


def read_metadata(path: str | os.PathLike[str], **kwargs: Any) -> dict[str, str]:
    """Convenience: only the ``__metadata__`` block."""
    return read_header(path, **kwargs).metadata


def parse_header_bytes(raw: bytes, *, file_size: int) -> SafetensorsHeader:
    """Validate the JSON header ``raw`` (the N bytes after the length prefix) of a file of ``file_size``."""
    header_length = len(raw)
    data_offset = 8 + header_length
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidModelFile(f"header is not valid UTF-8 (byte {exc.start})") from None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidModelFile(f"header is not valid JSON: {_short(exc)}") from None
    if not isinstance(document, dict):
        raise InvalidModelFile(f"header is a JSON {type(document).__name__}, expected an object")

    metadata = _parse_metadata(document.get(METADATA_KEY))
    data_size = file_size - data_offset
    tensors: dict[str, TensorInfo] = {}
    for name, entry in document.items():
        if name == METADATA_KEY:
            continue
        info = _parse_tensor(name, entry)
        if info.end > data_size:
            raise InvalidModelFile(
                f"truncated: tensor '{_clip(name)}' ends at byte {data_offset + info.end} "
                f"but the file has only {file_size} bytes"
            )
        tensors[name] = info
    return SafetensorsHeader(
        header_length=header_length,
        data_offset=data_offset,
        metadata=metadata,
        tensors=tensors,
        file_size=file_size,
    )


def _parse_metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidModelFile(f"'{METADATA_KEY}' is a JSON {type(value).__name__}, expected an object")
    return {str(key): item if isinstance(item, str) else _stringify(item) for key, item in value.items()}


def _stringify(value: Any) -> str:
    # Non-string values violate the format but appear in the wild; keep them readable.
    return str(value)


def _parse_tensor(name: str, entry: Any) -> TensorInfo:
    """One tensor entry; a LoRA header holds hundreds, so the common valid case takes a fast path of plain
    type checks (JSON yields exact ``int``/``list``/``dict``) and only a doubtful entry is explained in full."""
    if type(entry) is dict:
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if type(dtype) is str and dtype and type(shape) is list and type(offsets) is list and len(offsets) == 2:
            begin, end = offsets
            if (type(begin) is int and type(end) is int and 0 <= begin <= end
                    and all(type(dim) is int and dim >= 0 for dim in shape)):
                bits = DTYPE_BITS.get(dtype)
                if bits is None or math.prod(shape) * bits == 8 * (end - begin):
                    return TensorInfo(dtype=dtype, shape=tuple(shape), begin=begin, end=end)
    return _explain_tensor(name, entry)


def _explain_tensor(name: str, entry: Any) -> TensorInfo:
    where = f"tensor '{_clip(name)}'"
    if not isinstance(entry, dict):
        raise InvalidModelFile(f"{where} is malformed: expected an object")
    dtype = entry.get("dtype")
    shape = entry.get("shape")
    offsets = entry.get("data_offsets")
    if not isinstance(dtype, str) or not dtype:
        raise InvalidModelFile(f"{where} is malformed: missing or invalid 'dtype'")
    if not isinstance(shape, list) or not all(_is_count(dim) for dim in shape):
        raise InvalidModelFile(f"{where} is malformed: 'shape' must be a list of non-negative integers")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_count(item) for item in offsets)
        or offsets[0] > offsets[1]
    ):
        raise InvalidModelFile(f"{where} is malformed: 'data_offsets' must be [begin, end] with begin <= end")
    begin, end = offsets
    bits = DTYPE_BITS.get(dtype)
    if bits is not None:
        total_bits = math.prod(shape) * bits
        if total_bits % 8 != 0 or total_bits // 8 != end - begin:
            raise InvalidModelFile(
                f"{where} is malformed: {dtype}{list(shape)} needs {total_bits / 8:g} bytes "
                f"but its data_offsets span {end - begin}"
            )
    return TensorInfo(dtype=dtype, shape=tuple(shape), begin=begin, end=end)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _read_exactly(handle: Any, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = handle.read(min(remaining, 16 * 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(exc: BaseException) -> str:
    return _clip(str(exc) or type(exc).__name__, 200)


# --------------------------------------------------------------------------------------------- writer


def write_safetensors_header(
    path: str | os.PathLike[str],
    tensors: Mapping[str, tuple[str, Sequence[int]]],
    metadata: Mapping[str, Any] | None = None,
    fill_data: bool = True,
) -> SafetensorsHeader:
    """Write a valid safetensors file whose tensors are all zero bytes.

    Used by tests, the demo-library generator and benchmarks. ``fill_data=False`` produces a sparse file of
    the right size (extended with ``truncate``) so a fake 6 GB checkpoint costs almost no disk. Tensors are laid out
    contiguously in the given order; the header is padded with spaces to a multiple of 8 like the reference
    implementation does.
    """
    document: dict[str, Any] = {}
    if metadata is not None:
        document[METADATA_KEY] = dict(metadata)
    offset = 0
    for name, (dtype, shape) in tensors.items():
        bits = DTYPE_BITS.get(dtype)
        if bits is None:
            raise ValueError(f"unknown dtype {dtype!r}")
        total_bits = math.prod(shape) * bits
        if total_bits % 8:
            raise ValueError(f"{dtype}{list(shape)} does not fill whole bytes")
        size = total_bits // 8
        document[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    target = Path(path)
    with open(target, "wb") as handle:
        handle.write(struct.pack("<Q", len(raw)))
        handle.write(raw)
        if offset:
            if fill_data:
                block = bytes(min(offset, 1024 * 1024))
                remaining = offset
                while remaining:
                    step = min(remaining, len(block))
                    handle.write(block[:step])
                    remaining -= step
            else:
                handle.truncate(8 + len(raw) + offset)
    return parse_header_bytes(raw, file_size=8 + len(raw) + offset)
