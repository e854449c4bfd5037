"""Properties of example-image naming: no hash or file name, whatever its text, leads out of the example root."""
from __future__ import annotations

import re
import string
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lora_manager.py.library.media import sniff_media
from lora_manager.py.services.example_images import media
from lora_manager.py.services.example_images.paths import (MEDIA_EXTENSIONS, InvalidSha256, image_index, image_name,
                                                           model_folder, normalize_sha256, present_indexes)
from support.example_images_kit import use_examples
from support.fake_civitai import fake_civitai  # noqa: F401 - fixture

ROOT = Path("/srv/examples")
NAME = re.compile(r"image_\d+\.(png|jpg|jpeg|webp|gif|mp4|webm)")
HEX = st.text(alphabet="0123456789abcdefABCDEF", min_size=64, max_size=64)
TRICKY = st.sampled_from(["..", "../" * 3, "/", "\\", "\x00", "a" * 64 + "/..", "a" * 64 + "\n", " " + "a" * 64,
                          "ａ" * 64, "٠" * 64, "%2e%2e", "a" * 64 + "\x00"])
ANY_TEXT = st.one_of(HEX, TRICKY, st.text(max_size=80), st.text(alphabet=string.hexdigits + "./\\", max_size=70))


@settings(max_examples=200, deadline=None)
@given(raw=ANY_TEXT)
def test_model_folder_is_a_direct_child_named_by_the_hash(raw):
    try:
        folder = model_folder(ROOT, raw)
    except InvalidSha256:
        assert not re.fullmatch(r"[0-9a-fA-F]{64}", raw)
        return
    assert folder.parent == ROOT
    assert re.fullmatch(r"[0-9a-f]{64}", folder.name)
    assert folder.name == raw.lower() == normalize_sha256(raw)


@settings(max_examples=200, deadline=None)
@given(index=st.one_of(st.integers(), st.booleans()), extension=st.one_of(st.sampled_from(MEDIA_EXTENSIONS),
                                                                           st.text(max_size=12)))
def test_image_names_are_plain_and_round_trip(index, extension):
    try:
        name = image_name(index, extension)
    except ValueError:
        assert index is True or index is False or index < 0 or extension.lower() not in MEDIA_EXTENSIONS
        return
    assert NAME.fullmatch(name) and "/" not in name and "\\" not in name
    assert image_index(name) == index


@settings(max_examples=200, deadline=None)
@given(names=st.lists(st.one_of(st.text(max_size=20), st.builds(lambda i, e: f"image_{i}{e}",
                                                                  st.integers(0, 10**6),
                                                                  st.sampled_from(MEDIA_EXTENSIONS + (".txt", ".PNG"))))))
def test_present_indexes_only_counts_media_names(names):
    found = present_indexes(names)
    for index in found:
        assert any(image_index(n) == index for n in names)
    for name in names:
        if NAME.fullmatch(name.lower()) and name.lower() == name:
            assert image_index(name) in found


@settings(max_examples=200, deadline=None)
@given(data=st.one_of(st.binary(max_size=64), st.sampled_from([b"\x89PNG\r\n\x1a\n", b"GIF89a", b"\xff\xd8\xff"]).flatmap(
    lambda head: st.binary(max_size=40).map(lambda rest: head + rest))))
def test_sniffed_extension_is_always_a_known_media_extension(data):
    ext = sniff_media(data)
    assert ext is None or ext in MEDIA_EXTENSIONS
    if ext is not None:
        assert NAME.fullmatch(image_name(3, ext))


@pytest.fixture
async def examples_client(lib_env, fake_civitai, make_client, monkeypatch):  # noqa: F811
    root = use_examples(lib_env, fake_civitai, monkeypatch)
    secret = lib_env.tmp / "secret"
    secret.mkdir()
    (secret / "image_0.png").write_bytes(b"\x89PNG\r\n\x1a\nsecret")
    inside = root / ("a" * 64)
    inside.mkdir(parents=True)
    (inside / "image_0.png").write_bytes(b"\x89PNG\r\n\x1a\nmine")
    client = await make_client(lib_env)
    return client, root


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.one_of(ANY_TEXT.filter(lambda t: t and t not in (".", "..")), HEX))
async def test_listing_never_leaves_the_example_root(examples_client, raw):
    client, root = examples_client
    resp = await client.get("/api/lm/example-images/" + quote(raw, safe=""))
    body = await resp.json()
    if resp.status == 200:
        assert re.fullmatch(r"[0-9a-fA-F]{64}", raw)
        for entry in body["files"]:
            served = Path(entry["url"].split("path=", 1)[1].replace("%2F", "/"))
            assert served.parent == root / raw.lower()
    else:
        assert resp.status in (400, 404) and body["success"] is False


def test_optimize_keeps_videos_and_refuses_unknown_extensions():
    assert media.optimize(b"video bytes", ".mp4") == (b"video bytes", ".mp4")
    with pytest.raises(ValueError):
        media.optimize(b"x", ".exe")
    with pytest.raises(ValueError):
        model_folder("relative/root", "a" * 64)
