"""Images and videos from outside: one pixel limit, one byte sniffer, one WebP encoder.

Why: previews, example images, recipe images and analysed uploads all decode bytes someone else chose. A
100-megapixel PNG of a few kilobytes must be refused before it is decoded, by the same limit everywhere, and
a file is what its bytes say (a ".mp4" name or a ``video/mp4`` header proves nothing), so stored files get
the extension of what they really are. Blocking (Pillow): call from worker threads.
"""
from __future__ import annotations

import io
import struct
from contextlib import contextmanager
from typing import Iterator

from PIL import Image, UnidentifiedImageError

MAX_IMAGE_PIXELS = 64 * 1024 * 1024  # 8192 x 8192: larger than any generated image, far below memory trouble
WEBP_QUALITY = 85
IMAGE_KINDS = (".jpg", ".png", ".gif", ".webp")
VIDEO_KINDS = (".mp4", ".webm")
_STILL_IMAGE_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"jxl ")
_MP4_LEADING_BOXES = (b"free", b"skip", b"wide", b"mdat", b"moov")


class ImageRejected(ValueError):
    """Bytes that are not a usable image (unreadable, corrupt, or over the pixel limit); ``str`` says why."""


@contextmanager
def opened_image(data: bytes, *, max_pixels: int | None = None) -> Iterator[Image.Image]:
    """The image of ``data``, its size checked against the pixel limit (``MAX_IMAGE_PIXELS`` unless given)
    before anything is decoded."""
    max_pixels = MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    try:
        image = Image.open(io.BytesIO(bytes(data)))
    except Image.DecompressionBombError as exc:
        raise ImageRejected(f"image too large: {exc}") from None
    except UnidentifiedImageError:
        raise ImageRejected("not a recognised image format") from None
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types (SyntaxError, struct.error, ...)
        raise ImageRejected(f"corrupt image: {exc}") from None
    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise ImageRejected(f"image too large: {width}x{height} pixels (at most {max_pixels} are read)")
        try:
            yield image
        except ImageRejected:
            raise
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, struct.error) as exc:
            raise ImageRejected(f"corrupt image: {exc}") from None


def to_webp(data: bytes, *, max_side: int | None = None, max_width: int | None = None,
            quality: int = WEBP_QUALITY, method: int = 4) -> bytes:
    """A still image as WebP (first frame), shrunk to ``max_side`` (both sides) or ``max_width``."""
    with opened_image(data) as image:
        image.load()
        frame = image.convert("RGBA" if _has_alpha(image) else "RGB")
    if max_side is not None and max(frame.size) > max_side:
        frame.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    if max_width is not None and frame.width > max_width:
        height = max(1, round(frame.height * max_width / frame.width))
        frame = frame.resize((max_width, height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    frame.save(out, format="WEBP", quality=quality, method=method)
    return out.getvalue()


def _has_alpha(image: Image.Image) -> bool:
    return "A" in image.getbands() or image.mode in ("P", "PA", "LA") and "transparency" in image.info


def sniff_media(data: bytes) -> str | None:
    """The media kind of ``data`` from its bytes alone: ``.jpg .png .gif .webp .mp4 .webm``, or None."""
    head = bytes(data[:64])
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
    if _is_mp4(head):
        return ".mp4"
    return None


def _is_mp4(head: bytes) -> bool:
    """An ISO base media file: an ``ftyp`` box of a video brand, possibly after a leading free/wide box."""
    offset = 0
    for _ in range(2):
        if len(head) < offset + 12:
            return False
        size = int.from_bytes(head[offset:offset + 4], "big")
        box = head[offset + 4:offset + 8]
        if box == b"ftyp":
            return size >= 16 and head[offset + 8:offset + 12] not in _STILL_IMAGE_BRANDS
        if box not in _MP4_LEADING_BOXES or size < 8:
            return False
        if box in (b"mdat", b"moov"):
            return True
        offset += size
    return False
