"""Build small test images carrying generation metadata (PNG text chunks, EXIF comments)."""
from __future__ import annotations

import io

from PIL import Image
from PIL.PngImagePlugin import PngInfo

EXIF_IFD = 0x8769
USER_COMMENT = 0x9286
IMAGE_DESCRIPTION = 0x010E
EXIF_MAKE = 0x010F
EXIF_MODEL = 0x0110


def png_bytes(text: dict[str, str] | None = None, *, size=(16, 12), itxt: dict[str, str] | None = None,
              ztxt: dict[str, str] | None = None) -> bytes:
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    for key, value in (itxt or {}).items():
        info.add_itxt(key, value)
    for key, value in (ztxt or {}).items():
        info.add_text(key, value, zip=True)
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def unicode_comment(text: str, *, byteorder: str = "big") -> bytes:
    codec = "utf-16-be" if byteorder == "big" else "utf-16-le"
    return b"UNICODE\x00" + text.encode(codec)


def ascii_comment(text: str) -> bytes:
    return b"ASCII\x00\x00\x00" + text.encode("utf-8")


def exif_image(fmt: str, *, user_comment: bytes | None = None, description: str | None = None,
               ifd0: dict[int, str] | None = None, size=(16, 12), xmp: bytes | None = None,
               comment: bytes | None = None) -> bytes:
    """A JPEG or WebP image with the given EXIF fields."""
    exif = Image.Exif()
    if description is not None:
        exif[IMAGE_DESCRIPTION] = description
    for tag, value in (ifd0 or {}).items():
        exif[tag] = value
    if user_comment is not None:
        exif.get_ifd(EXIF_IFD)[USER_COMMENT] = user_comment
    buf = io.BytesIO()
    params: dict = {"exif": exif.tobytes()}
    if xmp is not None:
        params["xmp"] = xmp
    if comment is not None:
        params["comment"] = comment
    Image.new("RGB", size, (30, 200, 30)).save(buf, fmt, **params)
    return buf.getvalue()
