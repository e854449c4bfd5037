"""The rules of ``confine`` one by one, each with the message a user sees: empty and NUL paths, no roots, links
leading out (refused on real paths, followed for model roots), ``..`` spelled with backslashes, and a path given
in the real spelling of a linked root, which is answered in the root's own spelling."""
from __future__ import annotations

from pathlib import Path

import pytest

from lora_manager.py.library.paths import PathNotAllowed, confine, is_within


@pytest.mark.parametrize("raw", ["", "   ", "\t\n"])
@pytest.mark.parametrize("through_links", [False, True])
def test_an_empty_or_blank_path_is_refused(tmp_path, raw, through_links):
    with pytest.raises(PathNotAllowed) as refused:
        confine(raw, [tmp_path], through_links=through_links)
    assert str(refused.value) == "A path is required"


@pytest.mark.parametrize("through_links", [False, True])
def test_a_nul_character_is_refused_before_the_disk_is_asked(tmp_path, through_links):
    with pytest.raises(PathNotAllowed) as refused:
        confine(f"{tmp_path}/a\x00b.safetensors", [tmp_path], through_links=through_links)
    assert str(refused.value) == "The path contains a NUL character"


def test_no_roots_is_a_clear_refusal(tmp_path):
    with pytest.raises(PathNotAllowed) as refused:
        confine(tmp_path / "a.safetensors", [])
    assert str(refused.value) == "No library roots are configured"


def test_a_relative_path_is_never_within_an_absolute_root():
    assert is_within(Path("loras/a.safetensors"), Path("/models/loras")) is False


@pytest.fixture
def linked(tmp_path: Path) -> tuple[Path, Path, Path]:
    """root/outside -> a folder beside the root holding one file."""
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    (elsewhere / "a.safetensors").write_bytes(b"x")
    (root / "outside").symlink_to(elsewhere, target_is_directory=True)
    return tmp_path, root, elsewhere


def test_by_default_a_link_that_leads_out_is_refused(linked):
    _, root, _ = linked
    with pytest.raises(PathNotAllowed, match="outside the library roots"):
        confine(root / "outside" / "a.safetensors", [root])
    found = confine(root / "outside" / "a.safetensors", [root], through_links=True)
    assert (found.path, found.root) == (root / "outside" / "a.safetensors", root)


def test_dot_dot_written_with_backslashes_is_refused_for_model_roots(linked):
    _, root, _ = linked
    with pytest.raises(PathNotAllowed) as refused:
        confine("outside\\..\\..\\a.safetensors", [root], through_links=True)
    assert str(refused.value) == "The path must not contain '..': outside\\..\\..\\a.safetensors"


def test_the_real_spelling_of_a_linked_root_answers_in_the_roots_spelling(tmp_path):
    real_root = tmp_path / "disk2" / "loras"
    (real_root / "styles").mkdir(parents=True)
    (real_root / "styles" / "a.safetensors").write_bytes(b"x")
    root = tmp_path / "loras"
    root.symlink_to(real_root, target_is_directory=True)
    found = confine(real_root / "styles" / "a.safetensors", [root], through_links=True)
    assert (found.path, found.root, found.relative) == (root / "styles" / "a.safetensors", root, "styles/a.safetensors")
    itself = confine(real_root, [root], through_links=True)
    assert (itself.path, itself.root, itself.relative) == (root, root, "")
