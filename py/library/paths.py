"""The ONLY path-safety helper: every path that comes from a request goes through ``confine``.

Why: a request may carry ``..``, absolute paths, symlinks that lead out, or a root's name as a prefix of a
sibling (``/models/lora`` vs ``/models/lora-old``). Containment is decided on real paths, separator-aware.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable


class PathNotAllowed(ValueError):
    """A path outside every configured root (or otherwise unusable); the message is for the user."""


@dataclass(frozen=True)
class ConfinedPath:
    path: Path  # the real (resolved) path
    root: Path  # the real root that contains it

    @property
    def relative(self) -> str:
        """Forward-slash path relative to its root ('' for the root itself)."""
        rel = os.path.relpath(self.path, self.root)
        return "" if rel == "." else rel.replace(os.sep, "/")


def real(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def is_within(path: Path, root: Path) -> bool:
    """Separator-aware containment of two already-real paths."""
    try:
        return os.path.commonpath([str(path), str(root)]) == str(root)
    except ValueError:  # different drives on Windows
        return False


def confine(raw: str | os.PathLike[str], roots: Iterable[str | os.PathLike[str]]) -> ConfinedPath:
    """Resolve ``raw`` (absolute, or relative to the first root) and require it inside one of ``roots``."""
    text = os.fspath(raw)
    if not isinstance(text, str) or not text.strip():
        raise PathNotAllowed("A path is required")
    if "\x00" in text:
        raise PathNotAllowed("The path contains a NUL character")
    real_roots = [real(r) for r in roots]
    if not real_roots:
        raise PathNotAllowed("No library roots are configured")
    candidate = Path(os.path.expanduser(text))
    if not candidate.is_absolute():
        candidate = real_roots[0] / candidate
    resolved = real(candidate)
    # The most specific root wins, so nested roots report the inner one.
    for root in sorted(real_roots, key=lambda r: len(str(r)), reverse=True):
        if is_within(resolved, root):
            return ConfinedPath(resolved, root)
    raise PathNotAllowed(f"Path is outside the library roots: {text}")


def to_api_path(path: str | os.PathLike[str]) -> str:
    """Paths in JSON use '/' separators, as ComfyUI-Lora-Manager's clients expect."""
    return os.fspath(path).replace("\\", "/")
