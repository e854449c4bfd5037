"""The files that accompany a downloaded model: its WebP preview and its sidecar; and removing them again.

Why: a download is only useful once the library shows it with a picture and its Civitai metadata, in the
sidecar format ComfyUI-Lora-Manager reads. Everything here is synchronous and runs in worker threads.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Mapping

from ...library import media
from ...library.atomic import atomic_write_bytes
from ...library.paths import to_api_path
from ...library.scanner import PREVIEW_EXTENSIONS
from ...library.sidecar import SidecarError, apply_updates, read_sidecar, sidecar_path_for, write_sidecar
from ..metadata.civarchive_client import SOURCE as CIVARCHIVE
from ..metadata.civitai_client import version_to_civitai_block

logger = logging.getLogger(__name__)

PREVIEW_MAX_WIDTH = 512
COMPANION_SUFFIXES = (".metadata.json", ".civitai.info", ".metadata.json.bak")


def first_image(version: Mapping[str, Any]) -> dict | None:
    """The version's first image (a still image preferred over a video), or None."""
    images = [i for i in version.get("images") or [] if isinstance(i, dict) and i.get("url")]
    for image in images:
        if str(image.get("type") or "image") == "image":
            return image
    return None


def to_webp(data: bytes, max_width: int = PREVIEW_MAX_WIDTH) -> bytes:
    """An image re-encoded as WebP, at most ``max_width`` wide (aspect kept). Raises ``ValueError`` for
    bytes that are not a usable image (unreadable or over the pixel limit)."""
    try:
        return media.to_webp(data, max_width=max_width)
    except media.ImageRejected as exc:
        raise ValueError(f"not a readable image: {exc}") from exc


def preview_path_for(model_path: Path) -> Path:
    return model_path.with_name(model_path.stem + ".webp")


def write_preview(model_path: Path, webp: bytes) -> Path | None:
    """Write ``<stem>.webp`` unless a preview of that name already exists (never overwritten)."""
    path = preview_path_for(model_path)
    if path.exists():
        return path
    atomic_write_bytes(path, webp)
    return path


def build_sidecar(model_path: Path, *, model_type: str, version: Mapping[str, Any], model: Mapping[str, Any] | None,
                  sha256: str, preview: Path | None, preview_nsfw_level: int = 0,
                  source: str = "civitai") -> dict[str, Any]:
    """The sidecar of a freshly downloaded model, with the fields ComfyUI-Lora-Manager writes.

    ``source="civarchive"``: the metadata came from CivArchive because Civitai no longer has the model; the
    sidecar says so (``metadata_source``, ``civitai.source``, ``civitai_deleted``) so a refresh knows why."""
    model = model or {}
    st = os.stat(model_path)
    block = version_to_civitai_block(version, model)
    archived = source == CIVARCHIVE
    if archived:
        block["source"] = CIVARCHIVE
    model_info = block.get("model") or {}
    tags = model.get("tags") if isinstance(model.get("tags"), list) else model_info.get("tags") or []
    civitai_type = str(model.get("type") or model_info.get("type") or "").lower()
    data: dict[str, Any] = {
        "file_name": model_path.stem,
        "model_name": str(model.get("name") or model_info.get("name") or model_path.stem),
        "file_path": to_api_path(str(model_path)),
        "size": st.st_size,
        "modified": st.st_mtime,
        "sha256": sha256.lower(),
        "base_model": str(version.get("baseModel") or "Unknown"),
        "preview_url": to_api_path(str(preview)) if preview else "",
        "preview_nsfw_level": int(preview_nsfw_level or 0),
        "notes": "",
        "from_civitai": True,
        "civitai": block,
        "tags": [t for t in tags if isinstance(t, str)],
        "modelDescription": str(model.get("description") or model_info.get("description") or ""),
        "civitai_deleted": archived,
        "favorite": False,
        "exclude": False,
        "metadata_source": CIVARCHIVE if archived else "civitai_api",
        "last_checked_at": time.time(),
    }
    if model_type == "lora":
        data["usage_tips"] = "{}"
        if civitai_type in ("locon", "dora"):
            data["sub_type"] = civitai_type
    else:
        data["sub_type"] = "checkpoint" if model_type == "checkpoint" else "embedding"
    return data


def save_sidecar(model_path: Path, data: Mapping[str, Any]) -> Path:
    """Write the sidecar; an existing one keeps its unknown fields and every user-edited field."""
    path = sidecar_path_for(model_path)
    try:
        existing = read_sidecar(path)
    except (FileNotFoundError, SidecarError):
        existing = {}
    edited = existing.get("user_edited_fields") if isinstance(existing.get("user_edited_fields"), list) else []
    updates = {k: v for k, v in data.items() if k not in edited}
    if "civitai" in updates and isinstance(updates["civitai"], dict):
        protected = [f.split(".", 1)[1] for f in edited if isinstance(f, str) and f.startswith("civitai.")]
        updates["civitai"] = {k: v for k, v in updates["civitai"].items() if k not in protected}
    write_sidecar(path, apply_updates(existing, updates))
    return path


def companions(model_path: Path) -> list[Path]:
    """The files that belong to a model: sidecars, ``.civitai.info`` and previews, from one directory listing."""
    stem = model_path.stem
    wanted = {stem + s for s in COMPANION_SUFFIXES}
    for ext in PREVIEW_EXTENSIONS:
        wanted.add(stem + ext)
        wanted.add(stem + ".preview" + ext)
    try:
        with os.scandir(model_path.parent) as entries:
            return sorted(Path(e.path) for e in entries if e.name in wanted and e.is_file(follow_symlinks=False))
    except FileNotFoundError:
        return []


def delete_model_files(model_path: Path) -> list[str]:
    """Remove a model and its companions; returns the removed paths ('/' separators). Missing files are skipped."""
    removed: list[str] = []
    for path in [model_path, *companions(model_path)]:
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        removed.append(to_api_path(str(path)))
    return removed
