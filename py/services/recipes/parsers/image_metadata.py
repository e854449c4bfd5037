"""Read the text an image carries (PNG text chunks, EXIF comments, XMP; a video's MP4 metadata items or
Matroska tags) without trusting the bytes.

Why separate: every parser works on a plain ``dict[str, str]``; only this module touches Pillow, so corrupt or
hostile files fail here, once, with ``ImageReadError``.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from ....library.media import ImageRejected, opened_image, sniff_media
from .errors import ImageReadError
from .matroska_metadata import matroska_text
from .video_metadata import mp4_text

logger = logging.getLogger(__name__)

EXIF_IFD_POINTER = 0x8769
TAG_USER_COMMENT = 0x9286
TAG_IMAGE_DESCRIPTION = 0x010E
TAG_MAKE = 0x010F
TAG_MODEL = 0x0110
# PNG text chunks after the pixel data are only read (by decoding the image) up to this size (4096 x 4096).
MAX_DECODE_PIXELS = 4096 * 4096

# ComfyUI's WebP saver writes "prompt:{json}" into EXIF Model and "workflow:{json}" into Make.
_COMFY_EXIF_RE = re.compile(r"^\s*(prompt|workflow)\s*:\s*(?=[{\[])", re.DOTALL)


@dataclass
class ImageMetadata:
    format: str
    width: int
    height: int
    text: dict[str, str] = field(default_factory=dict)


def decode_user_comment(value: Any) -> str:
    """Decode an EXIF UserComment: 8-byte charset prefix, then the text (UTF-16 of either byte order)."""
    if isinstance(value, str):
        return value.rstrip("\x00")
    if not isinstance(value, (bytes, bytearray)):
        return ""
    raw = bytes(value)
    prefix, body = raw[:8], raw[8:]
    if prefix == b"UNICODE\x00":
        return _decode_utf16(body).rstrip("\x00")
    if prefix == b"ASCII\x00\x00\x00" or prefix == b"\x00" * 8:
        return _decode_utf8(body).rstrip("\x00")
    if prefix == b"JIS\x00\x00\x00\x00\x00":
        return body.decode("shift_jis", errors="replace").rstrip("\x00")
    return _decode_utf8(raw).rstrip("\x00")


def _decode_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _decode_utf16(data: bytes) -> str:
    if data[:2] == b"\xff\xfe":
        return data[2:].decode("utf-16-le", errors="replace")
    if data[:2] == b"\xfe\xff":
        return data[2:].decode("utf-16-be", errors="replace")
    if data and 0 not in data:
        # No zero byte at all: not mostly-ASCII UTF-16; some writers label UTF-8 text as UNICODE.
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    if len(data) % 2:
        data = data + b"\x00"
    # Mostly-ASCII text has its zero bytes first in big-endian and second in little-endian.
    zeros_even = data[0::2].count(0)
    zeros_odd = data[1::2].count(0)
    encoding = "utf-16-le" if zeros_odd > zeros_even else "utf-16-be"
    return data.decode(encoding, errors="replace")


def _text_value(value: Any) -> str | None:
    if isinstance(value, (bytes, bytearray)):
        return _decode_utf8(bytes(value)).rstrip("\x00")
    if isinstance(value, str):
        return value.rstrip("\x00")
    return None


def _fix_latin1(value: str) -> str:
    """tEXt is Latin-1 by spec, but many tools write UTF-8 bytes there; undo the double decoding."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _png_text(img: Image.Image) -> dict[str, str]:
    """All text chunks; Pillow's ``.text`` decodes the pixels to reach chunks written after them."""
    before_pixels = {key: value for key, value in img.info.items() if isinstance(value, str)}
    if img.width * img.height > MAX_DECODE_PIXELS:
        chunks = before_pixels  # not worth decoding a huge image for the rare trailing chunk
    else:
        try:
            chunks = dict(img.text)  # type: ignore[attr-defined]
        except Exception as exc:  # truncated or corrupt pixel data: keep the chunks read before IDAT
            logger.debug("PNG text after pixel data unreadable: %s", exc)
            chunks = before_pixels
    text: dict[str, str] = {}
    for key, value in chunks.items():
        if not isinstance(key, str) or not isinstance(value, str):
            continue
        is_itxt = type(value) is not str  # Pillow's iTXt subclass is already UTF-8
        text[key] = str(value) if is_itxt else _fix_latin1(value)
    return text


def _exif_text(img: Image.Image) -> dict[str, str]:
    text: dict[str, str] = {}
    try:
        exif = img.getexif()
        ifd0 = {tag: exif.get(tag) for tag in (TAG_IMAGE_DESCRIPTION, TAG_MAKE, TAG_MODEL)}
        sub = exif.get_ifd(EXIF_IFD_POINTER)
        comment = sub.get(TAG_USER_COMMENT) if isinstance(sub, dict) else None
    except Exception as exc:  # a broken EXIF block is no reason to reject the image
        logger.debug("EXIF unreadable: %s", exc)
        return text
    if comment is not None:
        decoded = decode_user_comment(comment)
        if decoded.strip():
            text["exif_user_comment"] = decoded
    description = _text_value(ifd0.get(TAG_IMAGE_DESCRIPTION))
    if description and description.strip():
        text["exif_image_description"] = description
    for tag in (TAG_MODEL, TAG_MAKE, TAG_IMAGE_DESCRIPTION):
        value = _text_value(ifd0.get(tag))
        match = _COMFY_EXIF_RE.match(value) if value else None
        if value and match and match.group(1) not in text:
            text[match.group(1)] = value[match.end():]
    return text


def extract_image_metadata(data: bytes) -> ImageMetadata:
    """Format, size and every text field of an image; raises ImageReadError for anything unreadable."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageReadError("image data must be bytes")
    if len(data) == 0:
        raise ImageReadError("empty image data")
    kind = sniff_media(data)
    if kind == ".mp4":  # ComfyUI's video savers: the workflow is in the metadata boxes
        return ImageMetadata(format="mp4", width=0, height=0, text=mp4_text(bytes(data)))
    if kind == ".webm":  # ... or in the Matroska tags
        return ImageMetadata(format="webm", width=0, height=0, text=matroska_text(bytes(data)))
    try:
        with opened_image(data) as img:
            fmt = (img.format or "unknown").lower()
            width, height = img.size
            text: dict[str, str] = _png_text(img) if fmt == "png" else {}
            text.update({k: v for k, v in _exif_text(img).items() if k not in text})
            comment = _text_value(img.info.get("comment"))
            if comment and comment.strip() and "comment" not in text:
                text["comment"] = comment
            xmp = _text_value(img.info.get("xmp")) or text.get("XML:com.adobe.xmp")
            if xmp and "xmp" not in text:
                text["xmp"] = xmp
    except ImageRejected as exc:
        raise ImageReadError(str(exc)) from None
    return ImageMetadata(format=fmt, width=int(width), height=int(height), text=text)
