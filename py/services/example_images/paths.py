"""Where example images live: ``<example_images_path>/<sha256>/image_<n>.<ext>``.

Why: the folder name comes from a request or a sidecar, so it is accepted only as exactly 64 hex digits;
nothing else ever becomes part of a path, and a folder that resolves outside the root (a symlink) is refused.
The layout is ComfyUI-Lora-Manager's, so an existing example-images folder is used as it is.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable
from urllib.parse import quote

from ...library.atomic import atomic_write_bytes
from ...library.paths import is_within, real

SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif")
VIDEO_EXTENSIONS = (".mp4", ".webm")
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS + VIDEO_EXTENSIONS
_IMAGE_NAME_RE = re.compile(r"image_(\d{1,1000})(\.[A-Za-z0-9]+)")


class InvalidSha256(ValueError):
    """Not exactly 64 hexadecimal characters; the message is for the user."""


def normalize_sha256(value: object) -> str:
    """The lowercase hash, or ``InvalidSha256`` for anything that is not exactly 64 hex digits."""
    if not isinstance(value, str) or not SHA256_RE.fullmatch(value):
        raise InvalidSha256("Invalid sha256: expected exactly 64 hexadecimal characters")
    return value.lower()


def model_folder(root: str | os.PathLike[str], sha256: object) -> Path:
    """The folder of one model's example images (it may not exist yet). The root must be absolute."""
    base = Path(root)
    if not base.is_absolute():
        raise ValueError("example_images_path must be an absolute path")
    return base / normalize_sha256(sha256)


def folder_is_confined(root: str | os.PathLike[str], folder: Path) -> bool:
    """True when ``folder`` (resolved, symlinks followed) lies inside the resolved root."""
    return is_within(real(folder), real(root))


def image_name(index: int, extension: str) -> str:
    """``image_<index><ext>``; only the known media extensions are accepted."""
    ext = extension.lower()
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"invalid image index {index!r}")
    if ext not in MEDIA_EXTENSIONS:
        raise ValueError(f"unsupported media extension {extension!r}")
    return f"image_{index}{ext}"


def image_index(name: str) -> int | None:
    """The ``n`` of an ``image_<n>.<media ext>`` file name, or None for any other name."""
    match = _IMAGE_NAME_RE.fullmatch(name)
    if match is None or match.group(2).lower() not in MEDIA_EXTENSIONS:
        return None
    return int(match.group(1))


def present_indexes(names: Iterable[str]) -> set[int]:
    """Indexes already stored in a folder listing, whatever extension they were saved with."""
    found: set[int] = set()
    for name in names:
        index = image_index(name)
        if index is not None:
            found.add(index)
    return found


def is_media_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in MEDIA_EXTENSIONS


def is_video_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


@dataclass(frozen=True)
class ExampleFile:
    """One stored example image or video."""

    name: str
    path: str  # absolute, '/' separators
    size: int
    is_video: bool

    @property
    def sort_key(self) -> tuple[int, int, str]:
        index = image_index(self.name)
        return (0, index, self.name) if index is not None else (1, 0, self.name.casefold())


def list_folder(folder: Path) -> list[ExampleFile]:
    """The media files of one model folder (one scandir), image_0, image_1, ... first; [] when absent."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    files: list[ExampleFile] = []
    for entry in entries:
        if not is_media_name(entry.name):
            continue
        try:
            if not entry.is_file():
                continue
            size = entry.stat().st_size
        except OSError:
            continue
        path = os.path.abspath(entry.path).replace("\\", "/")
        files.append(ExampleFile(entry.name, path, size, is_video_name(entry.name)))
    return sorted(files, key=lambda f: f.sort_key)


def preview_url(path: str) -> str:
    """The URL the previews route serves a stored file under (it confines the path to the example root)."""
    return "/api/lm/previews?path=" + quote(path, safe="")


class FolderOutsideRoot(OSError):
    """A model folder that resolves outside the example root (a symlink leading out); nothing is written."""


def store_new_file(root: str | os.PathLike[str], folder: Path, name: str, data: bytes) -> bool:
    """Write ``folder/name`` atomically unless a file of that name exists; False when it already existed.

    Runs in a worker thread. The folder is created on first use and must resolve inside ``root``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if not folder_is_confined(root, folder):
        raise FolderOutsideRoot(f"The example images folder {folder.name} leads outside example_images_path")
    target = folder / name
    if os.path.lexists(target):
        return False
    atomic_write_bytes(target, data)
    return True
