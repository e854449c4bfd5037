"""Unpacking downloaded zips with crafted archives in tmp_path: only model files land (flattened, never
overwriting), unsafe members and zip bombs refuse the whole archive, and on every failure the zip is kept and
nothing this extraction wrote is left behind."""
from __future__ import annotations

import hashlib
import stat
import struct
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from lora_manager.py.services.downloads.archives import ArchiveError, ArchiveLimits, extract_models, \
    is_archive_name, member_path, plan_members

SUFFIXES = (".safetensors", ".pt")


def make_zip(path: Path, members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED,
             symlinks: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            if name in symlinks:
                info.create_system = 3
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, data)
    return path


def tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "loras"
    out.mkdir()
    return out


def test_nested_model_files_land_flat_and_the_zip_goes(folder):
    lora, embedding = b"L" * 3000 + bytes(range(256)), b"E" * 500
    zip_path = make_zip(folder / "pack.zip", {"Pack/v1/style.safetensors": lora, "Pack/readme.txt": b"hi",
                                              "Pack/preview.png": b"png", "extra/neg.pt": embedding,
                                              "Pack/": b"", "__MACOSX/._style.safetensors": b"junk"})
    landed = extract_models(zip_path, folder, SUFFIXES)
    assert [(e.path.name, e.size, e.member) for e in landed] == [
        ("style.safetensors", len(lora), "Pack/v1/style.safetensors"), ("neg.pt", len(embedding), "extra/neg.pt")]
    assert landed[0].sha256 == hashlib.sha256(lora).hexdigest()
    assert tree(folder) == ["neg.pt", "style.safetensors"]
    assert (folder / "style.safetensors").read_bytes() == lora


def test_keep_archive_keeps_the_zip(folder):
    zip_path = make_zip(folder / "pack.zip", {"a.safetensors": b"a" * 10})
    extract_models(zip_path, folder, SUFFIXES, keep_archive=True)
    assert tree(folder) == ["a.safetensors", "pack.zip"]


@pytest.mark.parametrize("members,symlinks,words", [
    ({"../evil.safetensors": b"x"}, (), "unsafe name"),
    ({"ok/../../evil.safetensors": b"x"}, (), "unsafe name"),
    ({"/tmp/evil.safetensors": b"x"}, (), "unsafe name"),
    ({"..\\evil.safetensors": b"x"}, (), "unsafe name"),
    ({"C:/evil.safetensors": b"x"}, (), "unsafe name"),
    ({"a.safetensors": b"x", "../readme.txt": b"y"}, (), "unsafe name"),  # one bad member refuses all
    ({"link.safetensors": b"/etc/passwd"}, ("link.safetensors",), "symbolic link"),
    ({"notes.txt": b"x", "img.png": b"y"}, (), "holds no model files"),
    ({"a/x.safetensors": b"1", "b/X.safetensors": b"2"}, (), "two model files named"),
], ids=["dotdot", "inner-dotdot", "absolute", "backslash", "drive", "mixed", "symlink", "no-models", "same-name"])
def test_unsafe_archives_are_refused_whole_and_kept(folder, members, symlinks, words):
    zip_path = make_zip(folder / "bad.zip", members, symlinks=symlinks)
    before = tree(folder.parent)
    with pytest.raises(ArchiveError, match=words):
        extract_models(zip_path, folder, SUFFIXES)
    assert tree(folder.parent) == before  # the zip is kept; nothing was written anywhere


def test_a_zip_bomb_is_refused_by_ratio(folder):
    zip_path = make_zip(folder / "bomb.zip", {"bomb.safetensors": bytes(4 * 1024 * 1024)})
    with pytest.raises(ArchiveError, match="zip bomb"):
        extract_models(zip_path, folder, SUFFIXES)
    assert tree(folder) == ["bomb.zip"]


def test_member_count_and_total_size_are_capped(folder):
    many = make_zip(folder / "many.zip", {f"f{i}.txt": b"" for i in range(12)} | {"a.safetensors": b"a"})
    with pytest.raises(ArchiveError, match="13 members; at most 10"):
        extract_models(many, folder, SUFFIXES, limits=ArchiveLimits(max_members=10))
    big = make_zip(folder / "big.zip", {"a.safetensors": b"a" * 600, "b.safetensors": b"b" * 600})
    with pytest.raises(ArchiveError, match="more than 1000 bytes"):
        extract_models(big, folder, SUFFIXES, limits=ArchiveLimits(max_total_bytes=1000))
    assert tree(folder) == ["big.zip", "many.zip"]


def _declare_size(zip_path: Path, member_index: int, size: int) -> None:
    """Rewrite the size a member declares in the central directory (what a crafted bomb lies about)."""
    data = bytearray(zip_path.read_bytes())
    offset = -1
    for _ in range(member_index + 1):
        offset = data.find(b"PK\x01\x02", offset + 1)
    data[offset + 24:offset + 28] = struct.pack("<I", size)
    zip_path.write_bytes(bytes(data))


def test_a_member_holding_more_than_it_declares_stops_the_extraction(folder):
    first = b"F" * 2000
    zip_path = make_zip(folder / "liar.zip", {"first.safetensors": first, "second.safetensors": b"S" * 5000})
    _declare_size(zip_path, 1, 100)
    with pytest.raises(ArchiveError, match="damaged or not a usable zip"):
        extract_models(zip_path, folder, SUFFIXES)
    assert tree(folder) == ["liar.zip"]  # the first member, already unpacked to its .part, is removed too


def test_garbage_is_a_clear_error_and_kept(folder):
    zip_path = folder / "broken.zip"
    zip_path.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(ArchiveError, match="damaged or not a usable zip"):
        extract_models(zip_path, folder, SUFFIXES)
    assert tree(folder) == ["broken.zip"]


def test_an_existing_file_is_never_overwritten(folder):
    (folder / "a.safetensors").write_bytes(b"mine")
    zip_path = make_zip(folder / "pack.zip", {"x/a.safetensors": b"theirs"})
    with pytest.raises(ArchiveError, match="already exists"):
        extract_models(zip_path, folder, SUFFIXES)
    assert (folder / "a.safetensors").read_bytes() == b"mine"
    assert tree(folder) == ["a.safetensors", "pack.zip"]


_name_piece = st.sampled_from(["a", "b.safetensors", "..", ".", "", "/", "\\", "C:", "x:y", "\x00", "sub", "...",
                               "%2e%2e", "~", " "])


@settings(max_examples=500, deadline=None)
@given(pieces=st.lists(_name_piece, min_size=1, max_size=8))
def test_a_member_name_is_confined_or_refused(pieces, tmp_path_factory):
    name = "".join(pieces)
    try:
        path = member_path(name)
    except ArchiveError:
        return
    assert not path.is_absolute()
    assert ".." not in path.parts and path.parts
    assert not any(c in str(path) for c in "\\\x00")
    assert ":" not in path.parts[0]
    base = Path("/srv/library/loras")
    assert (base / path).resolve().is_relative_to(base)


@settings(max_examples=200, deadline=None)
@given(names=st.lists(st.lists(_name_piece, min_size=1, max_size=6).map("".join), min_size=1, max_size=6))
def test_planned_members_are_plain_file_names(names):
    infos = [zipfile.ZipInfo(n) if n else zipfile.ZipInfo("x") for n in names]
    try:
        chosen = plan_members(infos, SUFFIXES, ArchiveLimits())
    except ArchiveError:
        return
    for _, file_name in chosen:
        assert file_name and "/" not in file_name and "\\" not in file_name and file_name not in (".", "..")
        assert file_name.endswith(SUFFIXES)


def test_archives_are_known_by_name():
    assert is_archive_name("Pack.ZIP") and is_archive_name(" a.zip ")
    assert not is_archive_name("a.safetensors") and not is_archive_name(None)
