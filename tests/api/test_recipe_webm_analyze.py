"""analyze-image on WebM videos as ComfyUI's savers write them: the workflow is read from the Matroska tags.

The files are built here element by element: VideoHelperSuite's Video Combine (ffmpeg's ``-metadata comment=``
holding ``{"prompt": ..., "workflow": ...}``, Tags before the clusters) and a muxer that writes ``PROMPT`` and
``WORKFLOW`` tags after a live (unknown-size) cluster, found through the SeekHead as players find them.
"""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lora_manager.py.services.recipes.parsers import matroska_metadata as mkv
from lora_manager.py.services.recipes.parsers.matroska_metadata import matroska_text
from support.lifecycle_helpers import digests
from support.recipe_images import analyze_upload, lightning_library_client, lightning_lora_prompt

UNKNOWN_SIZE = b"\x01\xff\xff\xff\xff\xff\xff\xff"


def size_vint(n: int) -> bytes:
    """The shortest EBML length for ``n`` (all-ones values are reserved for "unknown")."""
    for length in range(1, 9):
        if n < (1 << (7 * length)) - 1:
            return ((1 << (7 * length)) | n).to_bytes(length, "big")
    raise ValueError(n)


def el(element_id: int, payload: bytes) -> bytes:
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big") + size_vint(len(payload)) + payload


def simple_tag(name: str, value: str, *children: bytes) -> bytes:
    return el(mkv.SIMPLE_TAG, el(mkv.TAG_NAME, name.encode()) + el(mkv.TAG_STRING, value.encode()) + b"".join(children))


def tags(*simple_tags: bytes) -> bytes:
    targets = el(0x63C0, el(0x68CA, b"\x32"))  # Targets / TargetTypeValue 50: the whole file
    return el(mkv.TAGS, el(mkv.TAG, targets + b"".join(simple_tags)))


def ebml_header() -> bytes:
    return el(mkv.EBML_HEADER, el(0x4282, b"webm") + el(0x4287, b"\x04") + el(0x4285, b"\x02"))


def info_and_tracks() -> bytes:
    info = el(0x1549A966, el(0x2AD7B1, b"\x0f\x42\x40") + el(0x4D80, b"Lavf61.7.100"))
    track = el(0xAE, el(0xD7, b"\x01") + el(0x83, b"\x01") + el(0x86, b"V_VP9"))
    return info + el(0x1654AE6B, track)


def cluster() -> bytes:
    return el(0x1F43B675, el(0xE7, b"\x00") + el(0xA3, b"\x81\x00\x00\x80" + b"\x00" * 64))


def vhs_video_combine(prompt: dict, workflow: dict | None = None) -> bytes:
    comment = json.dumps({"prompt": json.dumps(prompt), **({"workflow": workflow} if workflow else {})})
    segment = info_and_tracks() + tags(simple_tag("ENCODER", "Lavf61.7.100"), simple_tag("COMMENT", comment)) + cluster()
    return ebml_header() + el(mkv.SEGMENT, segment)


def live_muxer_with_trailing_tags(metadata: dict[str, object]) -> bytes:
    """Segment and cluster of unknown size (a live write); the Tags come last and only the SeekHead finds them."""
    head = info_and_tracks()
    live_cluster = (0x1F43B675).to_bytes(4, "big") + UNKNOWN_SIZE + el(0xE7, b"\x00") + el(0xA3, b"\x81" + b"\0" * 40)
    trailing = tags(*(simple_tag(name.upper(), json.dumps(value)) for name, value in metadata.items()))

    def seek_head(position: int) -> bytes:
        seek = el(mkv.SEEK, el(mkv.SEEK_ID, mkv.TAGS.to_bytes(4, "big")) + el(mkv.SEEK_POSITION, position.to_bytes(8, "big")))
        return el(mkv.SEEK_HEAD, seek)

    position = len(seek_head(0)) + len(head) + len(live_cluster)
    segment = seek_head(position) + head + live_cluster + trailing
    return ebml_header() + (mkv.SEGMENT).to_bytes(4, "big") + UNKNOWN_SIZE + segment


lora_prompt = lightning_lora_prompt


@pytest.fixture
async def vclient(lib_env, make_client):
    return await lightning_library_client(lib_env, make_client)


async def analyze(client, data: bytes, filename: str):
    return await analyze_upload(client, data, filename, "video/webm")


@pytest.mark.parametrize("writer", ["vhs", "live"])
async def test_a_webm_reports_the_loras_of_its_workflow(vclient, writer, snapshot):
    data = vhs_video_combine(lora_prompt()) if writer == "vhs" else live_muxer_with_trailing_tags({"prompt": lora_prompt()})
    status, body = await analyze(vclient, data, "clip.webm")
    assert status == 200, body
    assert body["is_video"] is True
    assert [(l["file_name"], l["weight"], l["existsLocally"]) for l in body["loras"]] == [
        ("Qwen-Image-Lightning-8steps-V1.0", 0.8, True)]
    body.pop("image_base64", None)
    assert body == snapshot


async def test_a_webm_without_a_workflow_is_422(vclient, snapshot):
    plain = ebml_header() + el(mkv.SEGMENT, info_and_tracks() + tags(simple_tag("TITLE", "holiday")) + cluster())
    status, body = await analyze(vclient, plain, "plain.webm")
    assert status == 422 and body["success"] is False and body["error"]
    assert body == snapshot


def test_the_workflow_and_prompt_tags_are_read_by_name_whatever_their_case():
    workflow = {"nodes": [], "links": []}
    text = matroska_text(live_muxer_with_trailing_tags({"prompt": {"1": {}}, "Workflow": workflow}))
    assert json.loads(text["prompt"]) == {"1": {}}
    assert json.loads(text["workflow"]) == workflow


def test_nested_simple_tags_are_read():
    data = ebml_header() + el(mkv.SEGMENT, tags(simple_tag("COLLECTION", "x", simple_tag("COMMENT", "inner"))))
    assert matroska_text(data) == {"collection": "x", "comment": "inner"}


@pytest.mark.parametrize("damage", ["truncated", "huge_size", "bad_id", "deep", "seek_past_end"])
def test_damaged_elements_never_raise(damage):
    good = vhs_video_combine(lora_prompt())
    if damage == "truncated":
        data = good[: len(good) // 2]
    elif damage == "huge_size":
        data = ebml_header() + (mkv.SEGMENT).to_bytes(4, "big") + b"\x08\xff\xff\xff\xff\xff\xff\xf0" + b"\0" * 32
    elif damage == "bad_id":
        data = ebml_header() + b"\x00\x00\x00\x00" + good
    elif damage == "deep":
        inner = simple_tag("COMMENT", "bottom")
        for _ in range(300):
            inner = el(mkv.SIMPLE_TAG, inner)
        data = ebml_header() + el(mkv.SEGMENT, el(mkv.TAGS, el(mkv.TAG, inner)))
    else:
        seek = el(mkv.SEEK, el(mkv.SEEK_ID, mkv.TAGS.to_bytes(4, "big")) + el(mkv.SEEK_POSITION, (10**12).to_bytes(8, "big")))
        data = ebml_header() + el(mkv.SEGMENT, el(mkv.SEEK_HEAD, seek))
    text = matroska_text(data)
    assert isinstance(text, dict)
    if damage == "truncated":
        assert "prompt" not in text  # the tags sat in the lost half: nothing made up


async def test_a_truncated_webm_is_a_clear_422_not_a_crash(vclient):
    good = vhs_video_combine(lora_prompt())
    recipes = vclient.env.data_dir / "recipes"
    before = digests(recipes)
    status, body = await analyze(vclient, good[:40], "cut.webm")
    assert status == 422 and body["success"] is False and "metadata" in body["error"].lower()
    assert digests(recipes) == before  # analysing saves nothing: no recipe, no stray video
    assert (await (await vclient.get("/api/lm/recipes")).json())["items"] == []


@settings(max_examples=200, deadline=None)
@given(tail=st.binary(max_size=400))
def test_any_bytes_after_an_ebml_header_read_as_text_or_nothing(tail):
    result = matroska_text(ebml_header() + tail)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.items())


@settings(max_examples=100, deadline=None)
@given(name=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
                    max_size=30).filter(lambda s: s.strip()),
       value=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=200))
def test_any_tag_written_is_read_back(name, value):
    data = ebml_header() + el(mkv.SEGMENT, info_and_tracks() + tags(simple_tag(name, value)) + cluster())
    assert matroska_text(data).get(name.strip().lower()) == value
