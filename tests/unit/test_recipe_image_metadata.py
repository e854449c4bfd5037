from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from lora_manager.py.services.recipes.parsers.errors import ImageReadError
from lora_manager.py.services.recipes.parsers.image_metadata import decode_user_comment, extract_image_metadata
from support.recipe_images import (
    EXIF_MAKE,
    EXIF_MODEL,
    ascii_comment,
    exif_image,
    png_bytes,
    unicode_comment,
)


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def insert_before_iend(png: bytes, extra: bytes) -> bytes:
    index = png.rindex(b"IEND") - 4
    return png[:index] + extra + png[index:]


def test_png_text_itxt_ztxt():
    data = png_bytes({"parameters": "Steps: 20"}, itxt={"prompt": "ünïcode ✓"}, ztxt={"workflow": "{}"},
                     size=(7, 5))
    meta = extract_image_metadata(data)
    assert (meta.format, meta.width, meta.height) == ("png", 7, 5)
    assert meta.text == {"parameters": "Steps: 20", "prompt": "ünïcode ✓", "workflow": "{}"}


def test_png_text_after_image_data_is_found():
    data = insert_before_iend(png_bytes(), chunk(b"tEXt", b"parameters\x00late chunk"))
    assert extract_image_metadata(data).text == {"parameters": "late chunk"}


def test_png_utf8_in_latin1_chunk_is_repaired():
    data = png_bytes({"parameters": "café ✓".encode("utf-8")})  # type: ignore[dict-item]
    assert extract_image_metadata(data).text["parameters"] == "café ✓"


def test_png_genuine_latin1_is_kept():
    data = png_bytes({"parameters": "caf\xe9"})
    assert extract_image_metadata(data).text["parameters"] == "caf\xe9"


def test_truncated_png_keeps_text_written_before_pixels():
    full = png_bytes({"prompt": "{\"1\": {}}"}, size=(64, 64))
    idat = full.index(b"IDAT")
    meta = extract_image_metadata(full[: idat + 10])
    assert meta.text == {"prompt": "{\"1\": {}}"}


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
@pytest.mark.parametrize("byteorder", ["big", "little"])
def test_exif_unicode_user_comment(fmt, byteorder):
    text = "a cat ✓, Steps: 20"
    meta = extract_image_metadata(exif_image(fmt, user_comment=unicode_comment(text, byteorder=byteorder)))
    assert meta.format == fmt.lower()
    assert meta.text["exif_user_comment"] == text


def test_exif_ascii_comment_description_xmp_and_jpeg_comment():
    data = exif_image(
        "JPEG",
        user_comment=ascii_comment("hello"),
        description="a description",
        xmp=b"<x:xmpmeta>meta</x:xmpmeta>",
        comment=b"jpeg com",
    )
    text = extract_image_metadata(data).text
    assert text["exif_user_comment"] == "hello"
    assert text["exif_image_description"] == "a description"
    assert text["xmp"] == "<x:xmpmeta>meta</x:xmpmeta>"
    assert text["comment"] == "jpeg com"


def test_comfyui_webp_exif_prompt_and_workflow():
    data = exif_image("WEBP", ifd0={EXIF_MODEL: 'prompt:{"3": {}}', EXIF_MAKE: 'workflow:{"nodes": []}'})
    text = extract_image_metadata(data).text
    assert text["prompt"] == '{"3": {}}'
    assert text["workflow"] == '{"nodes": []}'


def test_image_without_metadata_has_empty_text():
    buf = io.BytesIO()
    Image.new("L", (3, 3)).save(buf, "GIF")
    meta = extract_image_metadata(buf.getvalue())
    assert (meta.format, meta.text) == ("gif", {})


@pytest.mark.filterwarnings("ignore:Corrupt EXIF")
def test_corrupt_exif_block_does_not_reject_the_image():
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "JPEG", exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f garbage")
    meta = extract_image_metadata(buf.getvalue())
    assert meta.format == "jpeg"
    assert "exif_user_comment" not in meta.text


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty"),
        (b"\x00\x01 not an image at all", "not a recognised image format"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", ""),
    ],
)
def test_unreadable_bytes_raise_image_read_error(data, reason):
    with pytest.raises(ImageReadError) as info:
        extract_image_metadata(data)
    assert reason in info.value.reason


def test_non_bytes_input_is_rejected():
    with pytest.raises(ImageReadError):
        extract_image_metadata("not bytes")  # type: ignore[arg-type]


def test_decompression_bomb_is_refused():
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    with pytest.raises(ImageReadError) as info:
        extract_image_metadata(data)
    assert "too large" in info.value.reason


@pytest.mark.parametrize(
    "raw, expected",
    [
        (b"UNICODE\x00" + "hi ✓".encode("utf-16-be"), "hi ✓"),
        (b"UNICODE\x00" + "hi".encode("utf-16-le"), "hi"),
        (b"UNICODE\x00\xff\xfe" + "bom".encode("utf-16-le"), "bom"),
        (b"UNICODE\x00\xfe\xff" + "bom".encode("utf-16-be"), "bom"),
        (b"UNICODE\x00\x00a\x00", "a"),
        (b"UNICODE\x00" + "utf-8 ✓".encode(), "utf-8 ✓"),
        (b"UNICODE\x00" + "テスト".encode("utf-16-be"), "テスト"),
        (b"ASCII\x00\x00\x00plain\x00", "plain"),
        (b"\x00" * 8 + "undefined ✓".encode(), "undefined ✓"),
        (b"JIS\x00\x00\x00\x00\x00" + "テスト".encode("shift_jis"), "テスト"),
        (b"no prefix at all", "no prefix at all"),
        (b"\xff\xfe latin", "\xff\xfe latin"),
        ("already text\x00", "already text"),
        (12345, ""),
    ],
)
def test_decode_user_comment(raw, expected):
    assert decode_user_comment(raw) == expected


def test_huge_png_is_not_decoded_for_trailing_chunks():
    buf = io.BytesIO()
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "early")
    Image.new("1", (4097, 4096)).save(buf, "PNG", pnginfo=info)
    data = insert_before_iend(buf.getvalue(), chunk(b"tEXt", b"late\x00ignored"))
    meta = extract_image_metadata(data)
    assert (meta.width, meta.height) == (4097, 4096)
    assert meta.text == {"parameters": "early"}
