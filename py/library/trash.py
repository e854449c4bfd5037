"""The undoable trash: ``<root>/.lm-trash/<batch_id>/`` holds deleted artifacts and a ``manifest.json``.

Why: a delete is the one operation users regret. Files go to a hidden folder on the same root (a rename, not a
copy), keeping their path relative to the root so a batch can be restored exactly; the scanner skips hidden
folders, so trashed models vanish from listings. Batches older than the retention time are purged.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from .artifacts import ModelArtifacts, Move
from .atomic import atomic_write_json
from .paths import is_within, lexical

logger = logging.getLogger(__name__)

TRASH_DIR = ".lm-trash"
MANIFEST = "manifest.json"
FILES_DIR = "files"
_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class InvalidBatchId(ValueError):
    pass


class UnsafeManifest(ValueError):
    """A manifest that names a file outside its own root or trash folder: data, never followed."""


def check_batch_id(batch_id: object) -> str:
    if not isinstance(batch_id, str) or not _BATCH_ID.match(batch_id):
        raise InvalidBatchId("Invalid batch_id: expected the id returned by delete")
    return batch_id


def batch_dir(root: str | os.PathLike[str], batch_id: str) -> Path:
    return Path(root) / TRASH_DIR / check_batch_id(batch_id)


@dataclass
class TrashEntry:
    """One model in a batch: its original model path and every artifact's (original, trashed) pair."""

    model: str
    files: list[Move] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "files": [[m.src, m.dst] for m in self.files]}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TrashEntry":
        return cls(str(raw["model"]), [Move(str(s), str(d)) for s, d in raw.get("files", [])])


@dataclass
class Manifest:
    batch_id: str
    root: str
    model_type: str
    created_at: float = field(default_factory=time.time)
    entries: list[TrashEntry] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return batch_dir(self.root, self.batch_id)

    @property
    def moves(self) -> list[Move]:
        return [m for entry in self.entries for m in entry.files]

    def to_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "root": self.root, "model_type": self.model_type,
                "created_at": self.created_at, "entries": [e.to_dict() for e in self.entries]}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Manifest":
        return cls(batch_id=str(raw["batch_id"]), root=str(raw["root"]), model_type=str(raw["model_type"]),
                   created_at=float(raw.get("created_at", 0.0)),
                   entries=[TrashEntry.from_dict(e) for e in raw.get("entries", [])])

    def add(self, artifacts: ModelArtifacts) -> TrashEntry:
        """Plan the trashing of one model: each artifact keeps its path relative to the root."""
        target = self.folder / FILES_DIR
        entry = TrashEntry(artifacts.model)
        for path in artifacts.files:
            rel = os.path.relpath(path, self.root)
            entry.files.append(Move(path, str(target / rel)))
        self.entries.append(entry)
        return entry

    def write(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.folder / MANIFEST, self.to_dict())


def read_manifest(folder: Path) -> Manifest | None:
    try:
        return Manifest.from_dict(json.loads((folder / MANIFEST).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("Unreadable trash manifest in %s: %s", folder, exc)
        return None


def find_batch(roots: Iterable[str | os.PathLike[str]], batch_id: str) -> list[Manifest]:
    """Every manifest of ``batch_id`` under the given roots (a bulk delete may span several roots), each
    checked against the root it was found in (raises ``UnsafeManifest``)."""
    check_batch_id(batch_id)
    found = []
    seen: set[str] = set()
    for root in roots:
        folder = batch_dir(root, batch_id)
        key = os.path.realpath(folder)
        if key in seen:
            continue
        seen.add(key)
        manifest = read_manifest(folder)
        if manifest is not None:
            found.append(confined_manifest(manifest, root, batch_id))
    return found


def confined_manifest(manifest: Manifest, root: str | os.PathLike[str], batch_id: str) -> Manifest:
    """``manifest`` as found in ``root``'s trash, refused unless every file it names is a visible place inside
    that root and its trashed copy is exactly the same relative place under ``.lm-trash/<batch>/files/``.

    Why: a manifest is a file on disk that anything may have written; followed blindly, an undo would move
    any file of the machine anywhere. The manifest's own ``root`` is ignored: the folder it was found in counts.
    """
    base = lexical(root)
    files = base / TRASH_DIR / batch_id / FILES_DIR
    if manifest.batch_id != batch_id:
        raise UnsafeManifest(f"The manifest in batch {batch_id} names another batch")
    entries: list[TrashEntry] = []
    for entry in manifest.entries:
        checked = [Move(str(original), str(trashed)) for original, trashed in
                   (_checked_pair(move, base, files) for move in entry.files)]
        if lexical(entry.model) not in {Path(m.src) for m in checked}:
            raise UnsafeManifest(f"The manifest's model {entry.model} is not among its files")
        entries.append(TrashEntry(str(lexical(entry.model)), checked))
    return Manifest(batch_id, str(base), manifest.model_type, manifest.created_at, entries)


def _checked_pair(move: Move, base: Path, files: Path) -> tuple[Path, Path]:
    for text in (move.src, move.dst):
        if ".." in text.replace("\\", "/").split("/") or not os.path.isabs(text):
            raise UnsafeManifest(f"The manifest names a path that is not a plain absolute path: {text}")
    original, trashed = lexical(move.src), lexical(move.dst)
    if not is_within(original, base) or original == base:
        raise UnsafeManifest(f"The manifest names a file outside its root: {move.src}")
    rel = original.relative_to(base)
    if any(part.startswith(".") for part in rel.parts):
        raise UnsafeManifest(f"The manifest names a hidden place: {move.src}")
    if trashed != files / rel:
        raise UnsafeManifest(f"The manifest's trashed copy is not in its batch folder: {move.dst}")
    return original, trashed


def _batch_folders(roots: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[str | os.PathLike[str], Path]]:
    """Each (root, batch folder) of the roots' trash folders, a folder reached twice given once."""
    seen: set[str] = set()
    for root in roots:
        try:
            children = sorted((Path(root) / TRASH_DIR).iterdir())
        except OSError:
            continue
        for folder in children:
            key = os.path.realpath(folder)
            if key not in seen and folder.is_dir():
                seen.add(key)
                yield root, folder


def list_batches(roots: Iterable[str | os.PathLike[str]]) -> list[Manifest]:
    """Every readable, safe batch in the roots' trash folders, newest first (one that fails the manifest
    check is logged and left for a human)."""
    found: list[Manifest] = []
    for root, folder in _batch_folders(roots):
        manifest = read_manifest(folder) if _BATCH_ID.match(folder.name) else None
        if manifest is None:
            continue
        try:
            found.append(confined_manifest(manifest, root, folder.name))
        except UnsafeManifest as exc:
            logger.warning("Trash batch %s is not listed: %s", folder, exc)
    return sorted(found, key=lambda m: (-m.created_at, m.batch_id))


def expired_batches(roots: Iterable[str | os.PathLike[str]], retention_days: int, now: float | None = None
                    ) -> list[Path]:
    """Batch folders older than the retention time. A batch without a readable manifest is kept (it may be
    being written, or need a human)."""
    limit = (time.time() if now is None else now) - retention_days * 86400
    found = []
    for _root, folder in _batch_folders(roots):
        manifest = read_manifest(folder)
        if manifest is not None and manifest.created_at < limit:
            found.append(folder)
    return found


def purge(folders: Iterable[Path]) -> list[Path]:
    removed = []
    for folder in folders:
        try:
            shutil.rmtree(folder)
            removed.append(folder)
        except OSError as exc:
            logger.warning("Could not empty trash batch %s: %s", folder, exc)
    for folder in removed:
        try:
            folder.parent.rmdir()  # the .lm-trash folder itself, when it is now empty
        except OSError:
            pass
    return removed
