"""The ONLY path-safety helper: every path that comes from a request goes through ``confine``.

Why: a request may carry ``..``, absolute paths, symlinks that lead out, or a root's name as a prefix of a
sibling (``/models/lora`` vs ``/models/lora-old``). Containment is separator-aware and decided one of two ways:

- on real paths (the default), for folders this project fills itself (recipes, example images): a symlink that
  leads out is refused;
- ``through_links=True``, for model roots: users link model folders from other disks into a root, and the
  scanner follows those links, so a path is inside a root when its normalised absolute form is (or its real
  form is inside the root's real form). ``..`` segments are refused outright in this mode, since ``link/..``
  means the link's parent to the system but the root to a lexical check. Only the user can place a link in a
  root: no API creates one.
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
    path: Path  # the real path (or, through links, the normalised absolute path)
    root: Path  # the root that contains it, in the same form

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


def lexical(path: str | os.PathLike[str]) -> Path:
    """The normalised absolute form of a path, symlinks left as they are."""
    return Path(os.path.normpath(os.path.abspath(os.path.expanduser(os.fspath(path)))))


def confine(raw: str | os.PathLike[str], roots: Iterable[str | os.PathLike[str]], *,
            through_links: bool = False) -> ConfinedPath:
    """Resolve ``raw`` (absolute, or relative to the first root) and require it inside one of ``roots``."""
    text = os.fspath(raw)
    if not isinstance(text, str) or not text.strip():
        raise PathNotAllowed("A path is required")
    if "\x00" in text:
        raise PathNotAllowed("The path contains a NUL character")
    roots = list(roots)
    if not roots:
        raise PathNotAllowed("No library roots are configured")
    if through_links:
        found = _confine_through_links(text, roots)
        if found is not None:
            return found
        raise PathNotAllowed(f"Path is outside the library roots: {text}")
    real_roots = [real(r) for r in roots]
    resolved = real(_anchored(text, real_roots[0]))
    # The most specific root wins, so nested roots report the inner one.
    for root in sorted(real_roots, key=lambda r: len(str(r)), reverse=True):
        if is_within(resolved, root):
            return ConfinedPath(resolved, root)
    raise PathNotAllowed(f"Path is outside the library roots: {text}")


def _anchored(text: str, first_root: Path) -> Path:
    """A request's path as absolute: relative paths are taken from the first root."""
    candidate = Path(os.path.expanduser(text))
    return candidate if candidate.is_absolute() else first_root / candidate


def to_api_path(path: str | os.PathLike[str]) -> str:
    """Paths in JSON use '/' separators, as ComfyUI-Lora-Manager's clients expect."""
    return os.fspath(path).replace("\\", "/")


def _confine_through_links(text: str, roots: list[str | os.PathLike[str]]) -> ConfinedPath | None:
    if ".." in text.replace("\\", "/").split("/"):
        raise PathNotAllowed(f"The path must not contain '..': {text}")
    lexical_roots = [lexical(r) for r in roots]
    path = lexical(_anchored(text, lexical_roots[0]))
    by_length = sorted(zip(lexical_roots, roots), key=lambda pair: len(str(pair[0])), reverse=True)
    for root, _ in by_length:
        if is_within(path, root):
            return ConfinedPath(path, root)
    resolved = real(path)  # the real spelling of a path inside a root reached through a link
    for root, given in by_length:
        real_root = real(given)
        if is_within(resolved, real_root):
            rel = os.path.relpath(resolved, real_root)
            return ConfinedPath(root if rel == "." else root / rel, root)
    return None
