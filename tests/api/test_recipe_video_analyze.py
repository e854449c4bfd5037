"""analyze-image on videos as ComfyUI saves them: the workflow is read from the MP4's metadata boxes.

The MP4s are built here box by box, as ComfyUI's core Save Video writes them (``moov/udta/meta`` with an
``mdta`` handler, ``keys`` and ``ilst``, one item per key) and as VideoHelperSuite's Video Combine does (a
``©cmt`` comment holding ``{"prompt": ..., "workflow": ...}``).
"""
from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lora_manager.py.services.recipes.parsers.video_metadata import mp4_text
from support.lifecycle_helpers import digests
from support.recipe_images import analyze_upload, lightning_library_client, lightning_lora_prompt


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def data_box(text: str) -> bytes:
    return box(b"data", struct.pack(">II", 1, 0) + text.encode("utf-8"))


def ftyp() -> bytes:
    return box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")


def core_save_video(metadata: dict[str, object]) -> bytes:
    """moov/udta/meta (full box) -> hdlr mdta, keys, ilst: the layout of ffmpeg's ``use_metadata_tags``."""
    names = list(metadata)
    keys = struct.pack(">II", 0, len(names)) + b"".join(
        struct.pack(">I4s", 8 + len(n), b"mdta") + n.encode() for n in names)
    items = b"".join(box(struct.pack(">I", i + 1), data_box(json.dumps(metadata[n]))) for i, n in enumerate(names))
    hdlr = box(b"hdlr", b"\0" * 8 + b"mdta" + b"\0" * 13)
    meta = box(b"meta", b"\0\0\0\0" + hdlr + box(b"keys", keys) + box(b"ilst", items))
    return ftyp() + box(b"moov", box(b"mvhd", b"\0" * 100) + box(b"udta", meta)) + box(b"mdat", b"\0" * 64)


def vhs_video_combine(prompt: dict, workflow: dict | None = None) -> bytes:
    comment = json.dumps({"prompt": json.dumps(prompt), **({"workflow": workflow} if workflow else {})})
    hdlr = box(b"hdlr", b"\0" * 8 + b"mdir" + b"appl" + b"\0" * 9)
    meta = box(b"meta", b"\0\0\0\0" + hdlr + box(b"ilst", box(b"\xa9cmt", data_box(comment))))
    return ftyp() + box(b"mdat", b"\0" * 64) + box(b"moov", box(b"udta", meta))


lora_prompt = lightning_lora_prompt


@pytest.fixture
async def vclient(lib_env, make_client):
    return await lightning_library_client(lib_env, make_client)


async def analyze(client, data: bytes, filename: str):
    return await analyze_upload(client, data, filename, "video/mp4")


@pytest.mark.parametrize("writer", ["core", "vhs"])
async def test_a_video_reports_the_loras_of_its_workflow(vclient, writer, snapshot):
    data = core_save_video({"prompt": lora_prompt()}) if writer == "core" else vhs_video_combine(lora_prompt())
    status, body = await analyze(vclient, data, "clip.mp4")
    assert status == 200, body
    assert [(l["file_name"], l["weight"], l["existsLocally"]) for l in body["loras"]] == [
        ("Qwen-Image-Lightning-8steps-V1.0", 0.8, True)]
    body.pop("image_base64", None)
    assert body == snapshot


async def test_a_video_without_a_workflow_is_422(vclient):
    recipes = vclient.env.data_dir / "recipes"
    before = digests(recipes)
    status, body = await analyze(vclient, core_save_video({"title": "holiday"}), "plain.mp4")
    assert status == 422 and body["success"] is False
    assert digests(recipes) == before  # analysing saves nothing: no recipe, no stray video
    assert (await (await vclient.get("/api/lm/recipes")).json())["items"] == []


@pytest.mark.parametrize("damage", ["truncated", "huge_size", "zero_size_child", "deep"])
def test_damaged_boxes_never_raise(damage):
    good = core_save_video({"prompt": lora_prompt()})
    if damage == "truncated":
        data = good[: len(good) // 2]
    elif damage == "huge_size":
        data = ftyp() + struct.pack(">I4s", 0xFFFFFFF0, b"moov") + b"\0" * 32
    elif damage == "zero_size_child":
        data = ftyp() + box(b"moov", struct.pack(">I4s", 0, b"udta"))
    else:
        inner = b""
        for _ in range(200):
            inner = box(b"udta", inner)
        data = ftyp() + box(b"moov", inner)
    assert isinstance(mp4_text(data), dict)


@settings(max_examples=200, deadline=None)
@given(tail=st.binary(max_size=400))
def test_any_bytes_after_an_mp4_header_read_as_text_or_nothing(tail):
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in mp4_text(ftyp() + tail).items())
