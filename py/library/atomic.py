"""Atomic file writes: temp file in the same folder, fsync, ``os.replace``.

Why: a crash, a full disk or a permission error must never leave a half-written sidecar, settings file or
recipe behind; readers see either the old bytes or the new ones.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` in one step; the temp file is removed on any failure.

    ``durable=False`` skips the fsync: only for files that hold nothing a crash could lose (a sidecar created
    from what the model file itself says is rebuilt by the next scan).
    """
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str, *, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def atomic_write_json(path: str | os.PathLike[str], value: Any, *, indent: int | None = 2) -> None:
    """Serialise first (so a value that cannot be encoded never touches the disk), then write atomically."""
    atomic_write_text(path, json.dumps(value, ensure_ascii=False, indent=indent) + "\n")
