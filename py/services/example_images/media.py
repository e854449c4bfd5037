"""What a downloaded example file is (from its bytes) and its optional WebP re-encoding.

Why: Civitai URLs do not always say what they serve (``.jpeg`` names for videos, no extension at all), and the
stored name must carry the right extension for previews and players. The bytes alone decide (a URL or a
content type that says "video" proves nothing): see ``library/media.py``.
"""
from __future__ import annotations

from ...library.media import ImageRejected, opened_image
from .paths import IMAGE_EXTENSIONS, MEDIA_EXTENSIONS

WEBP_QUALITY = 85


def is_still_extension(extension: str) -> bool:
    return extension.lower() in IMAGE_EXTENSIONS


def optimize(data: bytes, extension: str) -> tuple[bytes, str]:
    """Still images as WebP; videos and animations as they are. ``ValueError`` when a still image cannot
    be decoded (the bytes claim to be an image but are not a usable one)."""
    ext = extension.lower()
    if ext not in MEDIA_EXTENSIONS:
        raise ValueError(f"unsupported media extension {extension!r}")
    if not is_still_extension(ext):
        return data, ext
    import io

    try:
        with opened_image(data) as image:
            if getattr(image, "is_animated", False):
                return data, ext
            image.load()
            if image.mode not in ("RGB", "RGBA"):
                image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
            out = io.BytesIO()
            image.save(out, format="WEBP", quality=WEBP_QUALITY)
    except ImageRejected as exc:
        raise ValueError(f"the image could not be decoded: {exc}") from exc
    return out.getvalue(), ".webp"
