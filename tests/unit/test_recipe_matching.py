"""Library matching: sha256, AutoV3, AutoV2, short prefixes, version id, then name; missing vs unknown."""
from __future__ import annotations

import pytest

from lora_manager.py.library.index import ModelProjection
from lora_manager.py.library.records import ModelRecord
from lora_manager.py.services.recipes.matching import (IN_LIBRARY, MISSING, UNKNOWN, LibraryMatcher, clean_hash,
                                                       match_fields, match_recipe_lora, name_key)

SHA = "0123456789abcdef" * 4
V3 = "fedcba9876543210" * 4


def record(path: str, **fields) -> ModelRecord:
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return ModelRecord(file_path=path, model_type="lora", root="/lib", folder="", file_name=stem,
                       extension=".safetensors", size=1, mtime_ns=1, **fields)


class Library:
    """A model library as the matcher sees it: a real projection (the one ModelService keeps)."""

    def __init__(self, records):
        self.index = type("Index", (), {})()
        self.index.projection = ModelProjection(records)

    def find_by_sha256(self, sha):
        return self.index.projection.by_sha256(sha)

    def find_by_version_id(self, version_id):
        return self.index.projection.by_version_id(version_id)

    def all_records(self):
        return list(self.index.projection.values())


@pytest.fixture
def library():
    return Library([
        record("/lib/detail_tweaker.safetensors", sha256=SHA, autov3=V3, civitai_version_id=1000,
               model_name="Detail Tweaker XL", preview_path="/lib/detail_tweaker.png"),
        record("/lib/broken.safetensors", sha256="9" * 64, status="invalid"),
    ])


@pytest.mark.parametrize("hashes,version,names,via", [
    ([SHA.upper()], None, [], "sha256"),
    ([V3], None, [], "autov3"),
    ([V3[:12]], None, [], "autov3"),
    ([SHA[:10]], None, [], "autov2"),
    ([SHA[:12]], None, [], "short"),
    (["0x" + SHA[:16]], None, [], "short"),
    (["nothex!"], 1000, [], "version_id"),
    ([], "1000", [], "version_id"),
    ([], None, ["Detail_Tweaker.safetensors"], "name"),
    ([], None, ["detail tweaker xl"], "name"),
    ([], None, ["C:\\models\\loras\\detail-tweaker.safetensors"], "name"),
])
def test_matches_in_order(library, hashes, version, names, via):
    match = LibraryMatcher(library).match(hashes=hashes, version_id=version, names=names)
    assert match.status == IN_LIBRARY and match.via == via
    assert match.record.file_name == "detail_tweaker" and match.version_id == 1000


def test_missing_and_unknown(library):
    matcher = LibraryMatcher(library)
    assert matcher.match(hashes=["f" * 64], version_id=55, names=["other"]).status == MISSING
    assert matcher.match(hashes=["f" * 64], version_id=55).version_id == 55
    assert matcher.match(hashes=["9" * 64], names=["broken"]).status == UNKNOWN  # invalid files never match
    assert matcher.match(version_id=True).status == UNKNOWN
    assert matcher.match(names=["detail_tweaker"], by_name=False).status == UNKNOWN


def test_indexes_follow_library_changes(library):
    matcher = LibraryMatcher(library)
    assert matcher.by_name("newcomer") is None
    library.index.projection.put(record("/lib/newcomer.safetensors", sha256="c" * 64))
    assert matcher.by_name("newcomer").file_name == "newcomer"
    assert matcher.by_hash("c" * 10)[1] == "autov2"


def test_no_library_matches_nothing():
    matcher = LibraryMatcher(None)
    assert matcher.match(hashes=[SHA], version_id=1, names=["x"]).status == MISSING
    assert matcher.by_hash(SHA) == (None, "") and matcher.by_name("x") is None


def test_recipe_lora_fields(library):
    match = match_recipe_lora(LibraryMatcher(library), {"hash": SHA, "file_name": "x", "modelVersionId": 0})
    fields = match_fields(match)
    assert fields["inLibrary"] is True and fields["localPath"] == "/lib/detail_tweaker.safetensors"
    assert fields["preview_url"].startswith("/api/lm/previews?path=")
    assert match_fields(match_recipe_lora(LibraryMatcher(library), {"file_name": "zzz"}))["matchStatus"] == UNKNOWN


def test_helpers():
    assert name_key("a/b/My-LoRA_v2.safetensors") == "mylorav2"
    assert name_key(None) == ""
    assert clean_hash(" 0xABCDEF0123 ") == "abcdef0123" and clean_hash("xyz") == "" and clean_hash(5) == ""


@pytest.mark.parametrize("length", range(1, 10))
def test_a_hash_prefix_under_ten_characters_never_matches(library, length):
    """An 8- or 9-character prefix names thousands of files on Civitai: it is no evidence of identity."""
    matcher = LibraryMatcher(library)
    for digest in (SHA[:length], V3[:length], SHA[:length].upper()):
        assert matcher.by_hash(digest) == (None, "")
        assert matcher.match(hashes=[digest]).status != IN_LIBRARY


def test_autov3_short_form_and_full_form_match_only_their_own_file(library):
    matcher = LibraryMatcher(library)
    assert matcher.by_hash(V3[:12].upper())[1] == "autov3"
    assert matcher.by_hash(V3)[1] == "autov3"
    assert matcher.by_hash(V3[:11] + "0") == (None, "")
