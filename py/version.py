"""The server's version as the browser extension reads it: ``"<major.minor.patch>-<build>"``.

Why: the LM Civitai extension compares the numeric part against 1.1.4 and shows the build id; the build id is
the short git commit when the package is a git checkout, else ``stable``. Read from files, never by running git.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

VERSION = "1.3.0"


@dataclass(frozen=True)
class VersionInfo:
    version: str
    build: str
    has_git: bool

    @property
    def full(self) -> str:
        return f"{self.version}-{self.build}"


def _git_head(root: Path) -> str | None:
    git_dir = root / ".git"
    if git_dir.is_file():  # a worktree or submodule: "gitdir: <path>"
        text = git_dir.read_text(encoding="utf-8", errors="replace").strip()
        if not text.startswith("gitdir:"):
            return None
        git_dir = (root / text.split(":", 1)[1].strip()).resolve()
    head_file = git_dir / "HEAD"
    if not head_file.is_file():
        return None
    head = head_file.read_text(encoding="utf-8", errors="replace").strip()
    if head.startswith("ref:"):
        ref = head.split(":", 1)[1].strip()
        ref_file = git_dir / ref
        if ref_file.is_file():
            return ref_file.read_text(encoding="utf-8", errors="replace").strip() or None
        packed = git_dir / "packed-refs"
        if packed.is_file():
            for line in packed.read_text(encoding="utf-8", errors="replace").splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0]
        return None
    return head or None


def read_version_info(root: Path) -> VersionInfo:
    try:
        commit = _git_head(root)
    except OSError:
        commit = None
    if commit and all(c in "0123456789abcdef" for c in commit.lower()) and len(commit) >= 7:
        return VersionInfo(VERSION, commit[:7], True)
    return VersionInfo(VERSION, "stable", False)
