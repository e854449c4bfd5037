"""Recipe images: re-encode to WebP with the recipe embedded, and read an embedded recipe back.

Why: a recipe image must carry its recipe, so the image alone (shared, exported, copied) imports again. The
recipe goes into the EXIF UserComment as ``Recipe metadata: {json}``, as ComfyUI-Lora-Manager writes it.
Blocking (Pillow): call these from worker threads.
"""
from __future__ import annotations

import io
import logging
from typing import Any

from PIL import Image, ImageOps

from ...library.media import ImageRejected, opened_image

from .parsers import ImageReadError, recipe_metadata_text
from .parsers.recipe_json import split_recipe_marker

logger = logging.getLogger(__name__)

MAX_SIDE = 1024
WEBP_QUALITY = 85
EXIF_IFD = 0x8769
USER_COMMENT = 0x9286


def user_comment(text: str) -> bytes:
    """EXIF UserComment bytes: the UNICODE charset prefix, then UTF-16 big-endian."""
    return b"UNICODE\x00" + text.encode("utf-16-be")


def encode_recipe_webp(data: bytes, recipe: dict[str, Any] | None, *, max_side: int = MAX_SIDE) -> bytes:
    """A resized WebP of ``data`` with ``recipe`` embedded; raises ImageReadError for unreadable images."""
    try:
        with opened_image(data) as img:
            img.seek(0)
            frame = ImageOps.exif_transpose(img)
            frame = frame.convert("RGBA" if "A" in frame.getbands() else "RGB")
    except ImageRejected as exc:
        raise ImageReadError(str(exc)) from None
    if max(frame.size) > max_side:
        frame.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return embed_webp(frame, recipe)


def embed_webp(frame: Image.Image, recipe: dict[str, Any] | None) -> bytes:
    exif = Image.Exif()
    if recipe is not None:
        exif.get_ifd(EXIF_IFD)[USER_COMMENT] = user_comment(recipe_metadata_text(recipe))
    buffer = io.BytesIO()
    frame.save(buffer, "WEBP", quality=WEBP_QUALITY, method=4, exif=exif.tobytes())
    return buffer.getvalue()


def reembed(data: bytes, recipe: dict[str, Any]) -> bytes:
    """The same picture with the current recipe embedded (no further resizing); used by export."""
    return encode_recipe_webp(data, recipe, max_side=1 << 30)


def embedded_recipe(text: dict[str, str]) -> dict[str, Any] | None:
    """The raw embedded recipe JSON in an image's text fields, when there is one (lossless, unlike parsing)."""
    for key, value in text.items():
        if not isinstance(value, str):
            continue
        if key == "recipe":
            _, found = split_recipe_marker("Recipe metadata: " + value.strip())
            if found is not None:
                return found
        if "Recipe metadata:" in value:
            _, found = split_recipe_marker(value)
            if found is not None:
                return found
    return None

