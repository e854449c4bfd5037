"""What a downloaded example file is (from its bytes) and its optional WebP re-encoding.

Why: Civitai URLs do not always say what they serve (``.jpeg`` names for videos, no extension at all), and the
stored name must carry the right extension for previews and players. The bytes decide; the declared type
and the URL are only trusted for videos, whose containers vary too much to sniff exhaustively.
"""
from __future__ import annotations

import io
import os
from urllib.parse import urlsplit

from .paths import IMAGE_EXTENSIONS, MEDIA_EXTENSIONS, VIDEO_EXTENSIONS

WEBP_QUALITY = 85
_CONTENT_TYPES = {"video/mp4": ".mp4", "video/webm": ".webm"}
_NOT_VIDEO_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"jxl ")


def sniff_extension(data: bytes, content_type: str | None = None, url: str | None = None,
                    type_hint: str | None = None) -> str | None:
    """The media extension of ``data`` (one of ``MEDIA_EXTENSIONS``), or None when it is not a supported
    image or video."""
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return ".gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return ".webp"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return ".webm"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return None if head[8:12] in _NOT_VIDEO_BRANDS else ".mp4"
    if not data:
        return None
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    if declared in _CONTENT_TYPES:
        return _CONTENT_TYPES[declared]
    if declared.startswith(("text/", "application/json", "image/")):
        return None  # an error page, or an image format the bytes above did not confirm
    url_ext = _url_extension(url)
    if url_ext in VIDEO_EXTENSIONS:
        return url_ext
    if type_hint == "video" and declared.startswith("video/"):
        return ".mp4"
    return None


def _url_extension(url: str | None) -> str:
    if not url:
        return ""
    try:
        path = urlsplit(url).path
    except ValueError:
        return ""
    return os.path.splitext(path)[1].lower()


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
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if getattr(image, "is_animated", False):
                return data, ext
            image.load()
            if image.mode not in ("RGB", "RGBA"):
                image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
            out = io.BytesIO()
            image.save(out, format="WEBP", quality=WEBP_QUALITY)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"the image could not be decoded: {exc}") from exc
    return out.getvalue(), ".webp"
