"""Containment is separator-aware everywhere: ``/x/lora-old`` is not inside ``/x/lora``, for ``is_within``,
``confine`` (both modes) and the empty-folder clean-up after moves and auto-organize."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from lora_manager.py.library.fileops import remove_empty_dirs
from lora_manager.py.library.paths import PathNotAllowed, confine, is_within


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    root, sibling = tmp_path / "lora", tmp_path / "lora-old"
    (root / "sub").mkdir(parents=True)
    (sibling / "sub" / "deeper").mkdir(parents=True)
    return root, sibling


def test_is_within_is_separator_aware(roots):
    root, sibling = roots
    assert is_within(root, root)
    assert is_within(root / "sub", root)
    assert not is_within(sibling, root)
    assert not is_within(sibling / "sub", root)
    assert not is_within(root, root / "sub")
    assert not is_within(Path(str(root) + "x"), root)


@pytest.mark.parametrize("through_links", [False, True])
def test_confine_refuses_the_sibling_with_the_roots_name_as_prefix(roots, through_links):
    root, sibling = roots
    with pytest.raises(PathNotAllowed, match="outside the library roots"):
        confine(str(sibling / "sub" / "x.safetensors"), [root], through_links=through_links)
    with pytest.raises(PathNotAllowed):
        confine(str(sibling), [root], through_links=through_links)
    inside = confine(str(root / "sub" / "x.safetensors"), [root], through_links=through_links)
    assert inside.relative == "sub/x.safetensors"


@pytest.mark.parametrize("through_links", [False, True])
def test_nested_roots_answer_the_most_specific_and_siblings_stay_apart(roots, through_links):
    root, sibling = roots
    confined = confine(str(sibling / "sub" / "x.safetensors"), [root, sibling], through_links=through_links)
    assert confined.root == sibling and confined.relative == "sub/x.safetensors"
    nested = confine(str(root / "sub" / "x.safetensors"), [root, root / "sub"], through_links=through_links)
    assert nested.root == root / "sub" and nested.relative == "x.safetensors"


def test_clean_up_never_touches_a_sibling_root(roots):
    root, sibling = roots
    removed = remove_empty_dirs(str(sibling / "sub" / "deeper"), str(root))
    assert removed == []
    assert (sibling / "sub" / "deeper").is_dir()


def test_clean_up_stops_at_its_root_and_at_the_first_folder_in_use(roots):
    root, sibling = roots
    assert remove_empty_dirs(str(root / "sub"), str(root)) == [str(root / "sub")]
    assert root.is_dir()  # the root itself stays, even empty
    (sibling / "sub" / "keep.txt").write_text("x")
    removed = remove_empty_dirs(str(sibling / "sub" / "deeper"), str(sibling))
    assert removed == [str(sibling / "sub" / "deeper")]
    assert (sibling / "sub" / "keep.txt").exists()


def test_clean_up_with_a_root_spelled_with_a_trailing_separator(roots):
    root, _sibling = roots
    (root / "a" / "b").mkdir(parents=True)
    removed = remove_empty_dirs(str(root / "a" / "b"), str(root) + os.sep)
    assert removed == [str(root / "a" / "b"), str(root / "a")] and root.is_dir()


@pytest.mark.parametrize("through_links", [False, True])
def test_a_relative_path_is_read_against_the_first_root(roots, through_links):
    root, sibling = roots
    confined = confine("sub/x.safetensors", [root, sibling], through_links=through_links)
    assert confined.root == root and confined.relative == "sub/x.safetensors"
    with pytest.raises(PathNotAllowed, match="No library roots"):
        confine("sub/x.safetensors", [], through_links=through_links)
