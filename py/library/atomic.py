"""Atomic file writes: temp file in the same folder, fsync, ``os.replace``.

Why: a crash, a full disk or a permission error must never leave a half-written sidecar, settings file or
recipe behind; readers see either the old bytes or the new ones. The result has the mode a plain write would
give: an existing file keeps its mode, a new one gets the process umask (0644 under the usual 022), as
ComfyUI's own outputs do; ``private`` files (settings, secrets) are 0600. Temp names are bounded, so a name
that fits the folder never fails for its temp file, and marked, so a crash's leftovers are recognised.
"""
from __future__ import annotations

import json
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

TEMP_SUFFIX = ".lm-tmp"
PARTIAL_MARK = ".lm-partial-"  # a cross-filesystem copy in progress (see ``fileops``)
_TEMP_NAME_CHARS = 60
LEFTOVER_AGE_SECONDS = 3600  # an older temp file is no write in progress: its process is gone
PRIVATE_MODE = 0o600


def _read_umask() -> int:
    """The process umask (set once at start by the user's shell or service manager)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)  # no /proc: read it by setting it back at once
    os.umask(current)
    return current


UMASK = _read_umask()


def is_leftover_temp(name: str) -> bool:
    """A temp or partial file this project writes (always hidden)."""
    return name.startswith(".") and (name.endswith(TEMP_SUFFIX) or PARTIAL_MARK in name)


def remove_leftover(path: str, now: float | None = None) -> bool:
    """Remove one leftover temp file when it is old enough that no write can still be filling it."""
    try:
        if (time.time() if now is None else now) - os.lstat(path).st_mtime < LEFTOVER_AGE_SECONDS:
            return False
        os.unlink(path)
        return True
    except OSError:
        return False


def _mode_for(target: Path, private: bool) -> int:
    if private:
        return PRIVATE_MODE
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return 0o666 & ~UMASK


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = True,
                       private: bool = False) -> None:
    """Replace ``path`` with ``data`` in one step; the temp file is removed on any failure.

    ``durable=False`` skips the fsync: only for files that hold nothing a crash could lose (a sidecar created
    from what the model file itself says is rebuilt by the next scan).
    """
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name[:_TEMP_NAME_CHARS]}.", suffix=TEMP_SUFFIX,
                                    dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), _mode_for(target, private))
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str, *, durable: bool = True,
                      private: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable, private=private)


def atomic_write_json(path: str | os.PathLike[str], value: Any, *, indent: int | None = 2,
                      private: bool = False) -> None:
    """Serialise first (so a value that cannot be encoded never touches the disk), then write atomically."""
    atomic_write_text(path, json.dumps(value, ensure_ascii=False, indent=indent) + "\n", private=private)
