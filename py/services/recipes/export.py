"""Share and export recipes: one image with the recipe embedded, or a zip of many that imports back.

Zip layout: ``manifest.json`` plus, per recipe, ``recipes/<id>.recipe.json`` and ``recipes/<id><ext>`` (the
image re-embedded with the current recipe). Reading is bounded (member count and sizes) so a hostile archive
cannot exhaust memory. Blocking: call from worker threads.
"""
from __future__ import annotations

import io
import json
import logging
import os
import re
import zipfile
from dataclasses import dataclass
from typing import Any

from .images import reembed
from .parsers import ImageReadError
from .records import MEDIA_EXTENSIONS, RECIPE_SUFFIX, VIDEO_EXTENSIONS, RecipeEntry

logger = logging.getLogger(__name__)

FORMAT = "lora-manager-recipes"
MAX_MEMBERS = 20_000
MAX_MEMBER_BYTES = 256 * 1024 * 1024
MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024
_SAFE_NAME = re.compile(r"[^\w\- .]+", re.UNICODE)


class ExportError(ValueError):
    """An archive or image that cannot be read back; the message is for the user."""


@dataclass
class ArchivedRecipe:
    recipe: dict[str, Any]
    media: bytes
    extension: str


def export_filename(entry: RecipeEntry, extension: str) -> str:
    title = _SAFE_NAME.sub("_", entry.title).strip(" ._")[:80] or entry.id
    return f"{title}{extension}"


def share_image(entry: RecipeEntry) -> tuple[bytes, str]:
    """(bytes, extension) of the recipe image with the current recipe embedded; videos as they are."""
    if not entry.image_path or not os.path.isfile(entry.image_path):
        raise FileNotFoundError("The recipe image is missing")
    with open(entry.image_path, "rb") as handle:
        data = handle.read()
    ext = os.path.splitext(entry.image_path)[1].lower()
    if ext in VIDEO_EXTENSIONS:
        return data, ext
    try:
        return reembed(data, entry.data), ".webp"
    except ImageReadError:
        logger.warning("Recipe image %s unreadable; shared as it is", entry.image_path)
        return data, ext


def build_zip(entries: list[RecipeEntry]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps({"format": FORMAT, "version": 1, "count": len(entries),
                                                      "ids": [e.id for e in entries]}))
        for entry in entries:
            try:
                media, ext = share_image(entry)
            except FileNotFoundError:
                media, ext = b"", ""
            data = dict(entry.data)
            if media:
                archive.writestr(f"recipes/{entry.id}{ext}", media, compress_type=zipfile.ZIP_STORED)
                data["file_path"] = f"{entry.id}{ext}"
            archive.writestr(f"recipes/{entry.id}{RECIPE_SUFFIX}", json.dumps(data, ensure_ascii=False, indent=2))
    return buffer.getvalue()


def is_zip(data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04"


def read_zip(data: bytes) -> tuple[list[ArchivedRecipe], list[str]]:
    """The recipes in an export archive and the problems met; raises ExportError for a bad archive."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ExportError(f"Not a readable zip archive: {exc}") from exc
    problems: list[str] = []
    out: list[ArchivedRecipe] = []
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ExportError(f"The archive holds too many files ({len(infos)})")
        if sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
            raise ExportError("The archive is too large to import")
        by_name = {info.filename: info for info in infos if not info.is_dir()}
        media_by_stem: dict[str, zipfile.ZipInfo] = {}
        for name, info in by_name.items():
            stem, ext = os.path.splitext(os.path.basename(name))
            if ext.lower() in MEDIA_EXTENSIONS:
                media_by_stem[os.path.join(os.path.dirname(name), stem)] = info
        for name, info in sorted(by_name.items()):
            if not name.endswith(RECIPE_SUFFIX):
                continue
            try:
                if info.file_size > MAX_MEMBER_BYTES:
                    raise ExportError("file too large")
                recipe = json.loads(archive.read(info).decode("utf-8"))
                if not isinstance(recipe, dict):
                    raise ExportError("not a JSON object")
                key = name[: -len(RECIPE_SUFFIX)]
                media_info = media_by_stem.get(key)
                if media_info is None:
                    raise ExportError("its image is missing from the archive")
                if media_info.file_size > MAX_MEMBER_BYTES:
                    raise ExportError("image too large")
                media = archive.read(media_info)
            except (ExportError, ValueError, UnicodeDecodeError, zipfile.BadZipFile, OSError) as exc:
                problems.append(f"{name}: {exc}")
                continue
            out.append(ArchivedRecipe(recipe, media, os.path.splitext(media_info.filename)[1].lower()))
    return out, problems
