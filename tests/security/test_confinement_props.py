"""Issue 13, item 5: one confinement policy, through links for model roots, real paths for our own folders.

A model root holds a symlink to another disk (as users set up); whatever path a request spells, the answer is
either a refusal or a place inside the root's tree as the scanner sees it (the root, or the linked folder).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lora_manager.py.library.paths import PathNotAllowed, confine, is_within, real

SEGMENTS = st.sampled_from(["a", "b", "link", "..", ".", "", "c d", "x.safetensors", "~", "link2"])


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    base = tmp_path_factory.mktemp("confine")
    root, other, secret = base / "root", base / "other-disk", base / "secret"
    for folder in (root / "a" / "b", other / "a", secret):
        folder.mkdir(parents=True)
    (root / "link").symlink_to(other)
    (root / "a" / "link2").symlink_to(secret)  # a link the user made to a place they chose
    return root, other, secret


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(SEGMENTS, max_size=6), absolute=st.booleans())
def test_through_links_never_leaves_the_roots_tree(tree, parts, absolute):
    root, other, secret = tree
    raw = "/".join(parts)
    if absolute:
        raw = str(root) + "/" + raw
    try:
        confined = confine(raw or ".", [root], through_links=True)
    except PathNotAllowed:
        return
    assert ".." not in parts
    lexical_root = Path(os.path.normpath(root))
    assert is_within(confined.path, lexical_root)
    resolved = real(confined.path)
    assert any(is_within(resolved, real(p)) for p in (root, other, secret))


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(SEGMENTS, max_size=6))
def test_real_mode_refuses_every_way_out(tree, parts):
    root, _other, _secret = tree
    raw = str(root) + "/" + "/".join(parts)
    try:
        confined = confine(raw, [root])
    except PathNotAllowed:
        return
    assert is_within(confined.path, real(root))


def test_sibling_prefix_is_not_inside(tree):
    root, _other, _secret = tree
    with pytest.raises(PathNotAllowed):
        confine(str(root) + "-old/x.safetensors", [root], through_links=True)
    with pytest.raises(PathNotAllowed, match="'..'"):
        confine(str(root / "link" / ".." / ".." / "secret"), [root], through_links=True)


def test_real_spelling_of_a_path_under_a_linked_root_maps_back_to_the_root(tree):
    """A root configured as a link (``~/models`` -> ``/mnt/disk``): the disk's own spelling is inside it."""
    root, other, _secret = tree
    linked_root = root.parent / "root-link"
    if not linked_root.exists():
        linked_root.symlink_to(root)
    confined = confine(str(root / "a"), [linked_root], through_links=True)
    assert confined.path == Path(os.path.normpath(linked_root)) / "a"
    with pytest.raises(PathNotAllowed):  # the far end of a link inside a root is not itself a root
        confine(str(other / "a"), [root], through_links=True)
