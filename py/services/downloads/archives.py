"""Unpack a downloaded zip that holds model files (Civitai's "Archive" files), safely.

Why: some LoRAs are only offered zipped. A zip is a list of names and sizes chosen by whoever made it: a
member named ``../../x`` or ``/etc/x`` (zip-slip), a symlink, or a few KB that inflate to terabytes (a zip bomb)
would write outside the library or fill the disk. So: every member name must be a plain relative path (no
absolute path, drive, ``..``, backslash or NUL), no member is a symlink, the member count and the declared total
are capped, the compression ratio is bounded, and each member is copied while counting, so bytes beyond the
size it declared stop the extraction. Only model files are extracted (flattened into the target folder, never
overwriting); each goes to a ``.part`` first and is moved in only when every member has arrived, then the zip
is removed. Any failure removes what this extraction wrote and keeps the zip. Synchronous: run in a thread.
"""
from __future__ import annotations

import hashlib
import logging
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable

from .part_file import part_path_for, place_without_overwrite

logger = logging.getLogger(__name__)

ZIP_SUFFIX = ".zip"
_BLOCK = 1024 * 1024
GiB = 1024**3


class ArchiveError(ValueError):
    """A zip that cannot be unpacked safely; the message says why (the zip is kept)."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 1000  # entries in the zip, of any kind
    max_total_bytes: int = 64 * GiB  # the declared size of the model files extracted
    max_ratio: float = 200.0  # uncompressed / compressed, for members above ``ratio_floor`` bytes
    ratio_floor: int = 1024 * 1024


@dataclass(frozen=True)
class Extracted:
    path: Path
    sha256: str
    size: int
    member: str


def is_archive_name(name: object) -> bool:
    """A download whose file name says zip is unpacked after it is verified."""
    return str(name or "").strip().lower().endswith(ZIP_SUFFIX)


def member_path(name: str) -> PurePosixPath:
    """A member's name as a relative path that stays inside the folder it is extracted to; raises
    ``ArchiveError`` for an absolute path, a drive, a ``..`` step, a backslash or NUL, or an empty name."""
    if not name or "\x00" in name or "\\" in name:
        raise ArchiveError(f"The archive has a member with an unsafe name: {name[:200]!r}")
    path = PurePosixPath(name)
    parts = [p for p in path.parts if p not in ("", ".")]
    if path.is_absolute() or not parts or any(p == ".." for p in parts) or ":" in parts[0]:
        raise ArchiveError(f"The archive has a member with an unsafe name: {name[:200]!r}")
    return PurePosixPath(*parts)


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def plan_members(infos: Iterable[zipfile.ZipInfo], suffixes: Iterable[str], limits: ArchiveLimits
                 ) -> list[tuple[zipfile.ZipInfo, str]]:
    """The model members to extract, with the file name each gets; refuses the whole archive when any member
    is unsafe (name, symlink, ratio) or the limits are passed. Pure: reads only the zip's directory."""
    infos = list(infos)
    wanted = {s.lower() for s in suffixes}
    if len(infos) > limits.max_members:
        raise ArchiveError(f"The archive has {len(infos)} members; at most {limits.max_members} are unpacked")
    chosen: list[tuple[zipfile.ZipInfo, str]] = []
    names: set[str] = set()
    total = 0
    for info in infos:
        path = member_path(info.filename)
        if _is_symlink(info):
            raise ArchiveError(f"The archive member {info.filename[:200]!r} is a symbolic link")
        if info.is_dir() or path.suffix.lower() not in wanted or path.name.startswith("."):
            continue
        if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise ArchiveError(f"The archive member {path.name} is compressed {info.file_size // max(info.compress_size, 1)}"
                               f" times; refusing it as a possible zip bomb")
        key = path.name.lower()
        if key in names:
            raise ArchiveError(f"The archive holds two model files named {path.name}")
        names.add(key)
        total += info.file_size
        if total > limits.max_total_bytes:
            raise ArchiveError(f"The archive's model files add up to more than {limits.max_total_bytes} bytes")
        chosen.append((info, path.name))
    if not chosen:
        raise ArchiveError("The archive holds no model files (" + ", ".join(sorted(wanted)) + ")")
    return chosen


def _copy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, part: Path) -> tuple[str, int]:
    """Copy one member to ``part`` (never written before), counting: more bytes than declared is an error."""
    hasher = hashlib.sha256()
    size = 0
    with archive.open(info) as source, open(part, "xb") as out:
        while True:
            block = source.read(_BLOCK)
            if not block:
                break
            size += len(block)
            if size > info.file_size:
                raise ArchiveError(f"The archive member {info.filename[:200]!r} holds more than the "
                                   f"{info.file_size} bytes it declares")
            hasher.update(block)
            out.write(block)
        out.flush()
        os.fsync(out.fileno())
    if size != info.file_size:
        raise ArchiveError(f"The archive member {info.filename[:200]!r} holds {size} bytes, not the "
                           f"{info.file_size} it declares")
    return hasher.hexdigest(), size


def extract_models(zip_path: Path, folder: Path, suffixes: Iterable[str], *, limits: ArchiveLimits = ArchiveLimits(),
                   keep_archive: bool = False) -> list[Extracted]:
    """Unpack the model members of ``zip_path`` into ``folder``; removes the zip once all have landed (unless
    ``keep_archive``). On any error what was written is removed, the zip is kept, ``ArchiveError`` is raised."""
    written: list[Path] = []
    landed: list[Extracted] = []
    try:
        with zipfile.ZipFile(zip_path) as archive:
            chosen = plan_members(archive.infolist(), suffixes, limits)
            targets = [folder / name for _, name in chosen]
            for target in targets:
                if os.path.lexists(target):
                    raise ArchiveError(f"A file already exists at {target}; it was not overwritten")
            staged: list[tuple[Path, Path, str, int, str]] = []
            for (info, _), target in zip(chosen, targets):
                part = part_path_for(target)
                if os.path.lexists(part):
                    raise ArchiveError(f"A partial file is in the way at {part}")
                written.append(part)
                sha256, size = _copy_member(archive, info, part)
                staged.append((part, target, sha256, size, info.filename))
        for part, target, sha256, size, member in staged:
            place_without_overwrite(part, target)
            written.remove(part)
            written.append(target)
            landed.append(Extracted(target, sha256, size, member))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, RuntimeError) as exc:
        _remove(written)
        raise ArchiveError(f"The archive {zip_path.name} is damaged or not a usable zip ({exc}); it was kept") \
            from None
    except FileExistsError as exc:
        _remove(written)
        raise ArchiveError(f"A file already exists at {exc}; it was not overwritten") from None
    except BaseException:
        _remove(written)
        raise
    if not keep_archive:
        try:
            os.unlink(zip_path)
        except OSError as exc:
            logger.warning("Could not remove the unpacked archive %s: %s", zip_path, exc)
    logger.info("Unpacked %d model file(s) from %s", len(landed), zip_path.name)
    return landed


def _remove(paths: list[Path]) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass
