"""Stat sweep: one ``os.scandir`` per folder finds models and their sidecars, previews and .civitai.info.

Why: a library of 50k files on a NAS must be validated with stats alone; only files whose
``(size, mtime_ns, inode)`` or sidecar stat changed are read again. Folders are swept in parallel threads.
Symlinks are followed with loop protection, a file reached twice is listed once, unreadable folders are
reported and skipped.
"""
from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .atomic import is_leftover_temp, remove_leftover
from .kinds import EXTRA_KINDS, MODEL_SUFFIXES

logger = logging.getLogger(__name__)

MODEL_EXTENSIONS: dict[str, frozenset[str]] = {
    "lora": frozenset({".safetensors", ".pt", ".ckpt"}),
    "checkpoint": frozenset({".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin", ".gguf"}),
    "embedding": frozenset({".safetensors", ".pt", ".bin"}),
    **{kind: frozenset(MODEL_SUFFIXES) for kind in EXTRA_KINDS},  # VAEs, upscalers...: whatever ComfyUI loads
}
PREVIEW_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".mp4", ".webm")
SIDECAR_SUFFIX = ".metadata.json"
CIVITAI_INFO_SUFFIX = ".civitai.info"


@dataclass(slots=True)
class FileStat:
    """What one sweep learned of one model file and its companions, by stat alone."""

    path: str
    root: str
    folder: str
    stem: str
    extension: str
    size: int
    mtime_ns: int
    inode: int
    device: int = 0
    sidecar_path: str = ""
    sidecar_mtime_ns: int = 0
    sidecar_size: int = 0
    preview_path: str = ""
    civitai_info_path: str = ""


@dataclass
class SweepResult:
    files: list[FileStat] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    folders: int = 0
    cancelled: bool = False


def _posix(path: str) -> str:
    return path.replace("\\", "/")


def _folder_entries(directory: str) -> tuple[dict[str, os.DirEntry[str]], list[os.DirEntry[str]]]:
    files: dict[str, os.DirEntry[str]] = {}
    subdirs: list[os.DirEntry[str]] = []
    with os.scandir(directory) as it:
        for entry in it:
            name = entry.name
            if name.startswith("."):
                if is_leftover_temp(name) and remove_leftover(entry.path):
                    logger.info("Removed %s, left by an interrupted write", entry.path)
                continue  # hidden folders hold trash and journals; hidden files are never models
            try:
                if entry.is_dir(follow_symlinks=True):
                    subdirs.append(entry)
                elif entry.is_file(follow_symlinks=True):
                    files[name.lower()] = entry
            except OSError:
                continue
    return files, subdirs


def scan_folder(directory: str, root: str, extensions: frozenset[str]) -> tuple[list[FileStat], list[str], list[str]]:
    """One folder: (model stats, sub-folders to visit, problems). Pairs companions by lowercase name."""
    problems: list[str] = []
    try:
        files, subdirs = _folder_entries(directory)
    except OSError as exc:
        return [], [], [f"Cannot read folder {_posix(directory)}: {exc.strerror or exc}"]
    rel = os.path.relpath(directory, root)
    folder = "" if rel == "." else _posix(rel)
    found: list[FileStat] = []
    for lower, entry in files.items():
        stem_lower, ext = os.path.splitext(lower)
        if ext not in extensions or lower.endswith(SIDECAR_SUFFIX):
            continue
        try:
            st = entry.stat(follow_symlinks=True)
        except OSError as exc:
            problems.append(f"Cannot read {_posix(entry.path)}: {exc.strerror or exc}")
            continue
        stem = entry.name[: len(entry.name) - len(ext)]
        stat = FileStat(
            path=_posix(os.path.abspath(entry.path)), root=_posix(root), folder=folder, stem=stem,
            extension=ext, size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino,
            device=st.st_dev,
        )
        sidecar = files.get(stem_lower + SIDECAR_SUFFIX)
        if sidecar is not None:
            try:
                sst = sidecar.stat(follow_symlinks=True)
                stat.sidecar_path = _posix(os.path.abspath(sidecar.path))
                stat.sidecar_mtime_ns = sst.st_mtime_ns
                stat.sidecar_size = sst.st_size
            except OSError:
                pass
        for preview_ext in PREVIEW_EXTENSIONS:
            preview = files.get(f"{stem_lower}.preview{preview_ext}") or files.get(stem_lower + preview_ext)
            if preview is not None:
                stat.preview_path = _posix(os.path.abspath(preview.path))
                break
        info = files.get(stem_lower + CIVITAI_INFO_SUFFIX)
        if info is not None:
            stat.civitai_info_path = _posix(os.path.abspath(info.path))
        found.append(stat)
    return found, [e.path for e in subdirs], problems


def sweep_roots(
    roots: Iterable[str | os.PathLike[str]],
    extensions: frozenset[str],
    *,
    workers: int = 8,
    cancel: threading.Event | None = None,
    on_folder: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Visit every folder under every root, ``workers`` folders at a time; never raises for one bad folder."""
    result = SweepResult()
    visited_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    pending: list[tuple[str, str]] = []
    for root in roots:
        root_text = os.path.abspath(os.fspath(root))
        if not os.path.isdir(root_text):
            result.problems.append(f"Library root does not exist or is not a folder: {_posix(root_text)}")
            continue
        pending.append((root_text, root_text))
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="lm-sweep") as pool:
        while pending:
            if cancel is not None and cancel.is_set():
                result.cancelled = True
                break
            batch: list[tuple[str, str]] = []
            for directory, root in pending:
                try:
                    st = os.stat(directory)
                except OSError as exc:
                    result.problems.append(f"Cannot read folder {_posix(directory)}: {exc.strerror or exc}")
                    continue
                key = (st.st_dev, st.st_ino)
                if key in visited_dirs:
                    continue  # a symlink loop or a second link to a folder already swept
                visited_dirs.add(key)
                batch.append((directory, root))
            pending = []
            futures = [pool.submit(scan_folder, d, r, extensions) for d, r in batch]
            for (directory, root), future in zip(batch, futures):
                stats, subdirs, problems = future.result()
                result.folders += 1
                result.problems.extend(problems)
                for stat in sorted(stats, key=lambda s: s.path):
                    file_key = (stat.device, stat.inode)
                    if file_key in seen_files:
                        continue
                    seen_files.add(file_key)
                    result.files.append(stat)
                pending.extend((sub, root) for sub in sorted(subdirs))
                if on_folder is not None:
                    on_folder(result.folders, len(result.files))
    for problem in result.problems:
        logger.warning("%s", problem)
    return result


def stat_one(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> FileStat | None:
    """Stat one model file and its companions by name (after a move, rename or download); None if gone."""
    path_text = os.path.abspath(os.fspath(path))
    root_text = os.path.abspath(os.fspath(root))
    try:
        st = os.stat(path_text)
    except OSError:
        return None
    directory, name = os.path.split(path_text)
    stem, ext = os.path.splitext(name)
    rel = os.path.relpath(directory, root_text)
    stat = FileStat(path=_posix(path_text), root=_posix(root_text), folder="" if rel == "." else _posix(rel),
                    stem=stem, extension=ext.lower(), size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino,
                    device=st.st_dev)
    base = os.path.join(directory, stem)
    try:
        sst = os.stat(base + SIDECAR_SUFFIX)
        stat.sidecar_path = _posix(base + SIDECAR_SUFFIX)
        stat.sidecar_mtime_ns, stat.sidecar_size = sst.st_mtime_ns, sst.st_size
    except OSError:
        pass
    for preview_ext in PREVIEW_EXTENSIONS:
        for candidate in (f"{base}.preview{preview_ext}", base + preview_ext):
            if os.path.isfile(candidate):
                stat.preview_path = _posix(candidate)
                break
        if stat.preview_path:
            break
    if os.path.isfile(base + CIVITAI_INFO_SUFFIX):
        stat.civitai_info_path = _posix(base + CIVITAI_INFO_SUFFIX)
    return stat


def stat_changed(stat: FileStat, size: int, mtime_ns: int, inode: int, sidecar_mtime_ns: int, sidecar_size: int,
                 preview_path: str) -> bool:
    """Whether a file must be read again: its own stat, its sidecar's, or its preview changed."""
    return (
        stat.size != size
        or stat.mtime_ns != mtime_ns
        or stat.inode != inode
        or stat.sidecar_mtime_ns != sidecar_mtime_ns
        or stat.sidecar_size != sidecar_size
        or stat.preview_path != preview_path
    )


def root_of(path: Path, roots: Iterable[Path]) -> Path | None:
    for root in roots:
        try:
            path.relative_to(root)
            return root
        except ValueError:
            continue
    return None
