"""<stem>.metadata.json read/write, the typed view, merges and .civitai.info import."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from lora_manager.py.library.sidecar import (
    SidecarError,
    SidecarRecord,
    apply_updates,
    civitai_info_path_for,
    civitai_info_to_sidecar,
    read_sidecar,
    sidecar_path_for,
    write_sidecar,
)

CIVITAI_VERSION: dict[str, Any] = {
    "id": 123456,
    "modelId": 7890,
    "name": "v2.0",
    "baseModel": "SDXL 1.0",
    "description": "<p>version notes</p>",
    "trainedWords": ["ohwx", "red scarf, winter"],
    "model": {"name": "Winter Style", "type": "LORA", "description": "<p>A style</p>", "tags": ["style", "winter", 3], "nsfw": False},
    "files": [
        {"name": "winter_style.safetensors", "sizeKB": 223.5, "type": "Model", "primary": True, "hashes": {"SHA256": "ABCDEF0123456789", "AutoV2": "ABCDEF0123"}},
        {"name": "winter_style_training.zip", "type": "Training Data", "primary": False, "hashes": {"SHA256": "FFFF"}},
    ],
    "images": [{"url": "https://image.civitai.com/x.jpeg", "nsfwLevel": 1, "width": 832, "height": 1216, "type": "image"}],
    "creator": {"username": "artist", "image": "https://image.civitai.com/a.png"},
}

FULL_SIDECAR: dict[str, Any] = {
    "file_name": "winter_style",
    "model_name": "Winter Style",
    "file_path": "/models/loras/winter_style.safetensors",
    "size": 228864,
    "modified": 1718000000.25,
    "sha256": "abcdef0123456789",
    "base_model": "SDXL 1.0",
    "preview_url": "/models/loras/winter_style.preview.png",
    "preview_nsfw_level": 1,
    "notes": "nice",
    "from_civitai": True,
    "civitai": CIVITAI_VERSION,
    "tags": ["style", "winter"],
    "modelDescription": "<p>A style</p>",
    "civitai_deleted": False,
    "favorite": True,
    "exclude": False,
    "db_checked": False,
    "skip_metadata_refresh": False,
    "metadata_source": "civitai_api",
    "last_checked_at": 1718000001.5,
    "hash_status": "completed",
    "usage_tips": "{\"strength\": 0.8, \"clip_strength\": 1.0}",
    "sub_type": "lora",
    "future_field": {"nested": [1, 2.5, None, "ünïcode ✓"], "deep": {"x": True}},
    "another_unknown": None,
}


def test_sidecar_path_drops_only_the_last_extension(tmp_path: Path) -> None:
    assert sidecar_path_for(tmp_path / "my.model.v2.safetensors") == tmp_path / "my.model.v2.metadata.json"
    assert sidecar_path_for("noext") == Path("noext.metadata.json")
    assert civitai_info_path_for(tmp_path / "a.ckpt") == tmp_path / "a.civitai.info"


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    path = tmp_path / "winter_style.metadata.json"
    write_sidecar(path, FULL_SIDECAR)
    again = read_sidecar(path)
    assert again == FULL_SIDECAR
    assert list(again) == list(FULL_SIDECAR)  # key order kept

    text = path.read_text(encoding="utf-8")
    assert "ünïcode ✓" in text  # ensure_ascii=False
    assert text.startswith('{\n  "file_name"')  # indent 2
    assert text.endswith("}\n")


def test_read_modify_write_keeps_unknown_fields_exactly(tmp_path: Path) -> None:
    path = tmp_path / "m.metadata.json"
    path.write_text(json.dumps(FULL_SIDECAR), encoding="utf-8")
    updated = apply_updates(read_sidecar(path), {"notes": "changed", "civitai": {"trainedWords": ["new"]}})
    write_sidecar(path, updated)
    after = read_sidecar(path)
    assert after["notes"] == "changed"
    assert after["civitai"]["trainedWords"] == ["new"]
    assert after["civitai"]["images"] == CIVITAI_VERSION["images"]
    for key in ("future_field", "another_unknown", "usage_tips", "modified"):
        assert after[key] == FULL_SIDECAR[key]


def test_sidecar_written_by_the_other_project_with_nulls(tmp_path: Path) -> None:
    path = tmp_path / "m.metadata.json"
    path.write_text('{"file_name": "m", "model_name": null, "civitai": null, "tags": null, "size": 1}', encoding="utf-8")
    record = SidecarRecord.from_dict(read_sidecar(path))
    assert record.model_name is None and record.tags == [] and record.civitai == {} and record.size == 1


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.metadata.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"a": 1}).encode())
    assert read_sidecar(path) == {"a": 1}


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"model_name": "x",', "invalid JSON at line 1"),
        (b"[1, 2, 3]", "expected a JSON object, found an array"),
        (b'"just text"', "found a string"),
        (b"null", "found null"),
        (b"true", "found a boolean"),
        (b"42", "found a number"),
        (b"", "file is empty"),
        (b"  \n ", "file is empty"),
        (b'{"name": "\xff\xfe"}', "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid JSON"),
    ],
)
def test_unusable_sidecars_raise_a_clear_error_and_stay_on_disk(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.metadata.json"
    path.write_bytes(content)
    with pytest.raises(SidecarError) as info:
        read_sidecar(path)
    assert message in info.value.reason
    assert info.value.reason.startswith("bad.metadata.json")
    assert path.read_bytes() == content


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.metadata.json"
    path.write_text(json.dumps({"blob": "x" * 500}), encoding="utf-8")
    with pytest.raises(SidecarError, match="over the 100-byte limit"):
        read_sidecar(path, max_bytes=100)
    assert read_sidecar(path)["blob"] == "x" * 500


def test_missing_sidecar_passes_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_sidecar(tmp_path / "nope.metadata.json")


def test_write_refuses_non_objects(tmp_path: Path) -> None:
    with pytest.raises(SidecarError, match="must be an object"):
        write_sidecar(tmp_path / "x.metadata.json", [1, 2])  # type: ignore[arg-type]
    assert not (tmp_path / "x.metadata.json").exists()


def test_lone_surrogate_escapes_survive_a_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "s.metadata.json"
    path.write_text('{"notes": "broken emoji \\ud83d here", "ok": "\\ud83d\\ude00"}', encoding="utf-8")
    data = read_sidecar(path)
    write_sidecar(path, data)
    assert read_sidecar(path) == data
    assert "\\ud83d here" in path.read_text(encoding="utf-8")


# ------------------------------------------------------------------ SidecarRecord


def test_record_from_a_full_sidecar() -> None:
    record = SidecarRecord.from_dict(FULL_SIDECAR)
    assert record.model_name == "Winter Style"
    assert record.file_name == "winter_style"
    assert record.base_model == "SDXL 1.0"
    assert record.tags == ["style", "winter"]
    assert record.trigger_words == ["ohwx", "red scarf, winter"]
    assert record.favorite is True and record.exclude is False
    assert record.notes == "nice"
    assert record.usage_tips == {"strength": 0.8, "clip_strength": 1.0}
    assert record.preview_url == "/models/loras/winter_style.preview.png"
    assert record.preview_nsfw_level == 1
    assert record.sha256 == "abcdef0123456789"
    assert record.from_civitai is True
    assert record.civitai["id"] == 123456
    assert (record.civitai_model_id, record.civitai_version_id, record.civitai_version_name) == (7890, 123456, "v2.0")
    assert record.creator == "artist"
    assert record.description == "<p>A style</p>"
    assert record.hash_status == "completed"
    assert record.metadata_source == "civitai_api"
    assert record.sub_type == "lora"
    assert (record.size, record.modified, record.last_checked_at) == (228864, 1718000000.25, 1718000001.5)


def test_record_defaults_for_an_empty_or_non_object_sidecar() -> None:
    assert SidecarRecord.from_dict({}) == SidecarRecord()
    assert SidecarRecord.from_dict(None) == SidecarRecord()
    assert SidecarRecord.from_dict([1, 2]) == SidecarRecord()
    empty = SidecarRecord()
    assert (empty.notes, empty.tags, empty.usage_tips, empty.preview_nsfw_level) == ("", [], {}, 0)


def test_record_tolerates_wrong_types() -> None:
    raw = {
        "model_name": 5,
        "base_model": ["SDXL"],
        "tags": 7,
        "favorite": "true",
        "exclude": 1,
        "notes": None,
        "usage_tips": "{not json",
        "preview_url": False,
        "preview_nsfw_level": "4",
        "sha256": "  ABC  ",
        "from_civitai": "no",
        "civitai": {"trainedWords": "a, b ,, c", "modelId": "12", "id": 3.0, "creator": "someone", "model": "x"},
        "skip_metadata_refresh": [],
        "hash_status": 1,
        "size": "big",
        "modified": "yesterday",
        "last_checked_at": float("inf"),
        "model_type": "locon",
    }
    record = SidecarRecord.from_dict(raw)
    assert record.model_name is None and record.base_model is None and record.tags == []
    assert record.favorite is True and record.exclude is True and record.from_civitai is False
    assert record.notes == "" and record.usage_tips == {} and record.preview_url is None
    assert record.preview_nsfw_level == 4
    assert record.sha256 == "abc"
    assert record.trigger_words == ["a", "b", "c"]
    assert (record.civitai_model_id, record.civitai_version_id) == (12, 3)
    assert record.creator is None and record.description is None
    assert record.skip_metadata_refresh is False and record.hash_status is None
    assert record.size is None and record.modified is None and record.last_checked_at is None
    assert record.sub_type == "locon"


@pytest.mark.parametrize(
    "value, expected",
    [
        ('{"strength": 0.6}', {"strength": 0.6}),
        ({"strength": 1}, {"strength": 1}),
        ("[1]", {}),
        ("", {}),
        (None, {}),
        (3, {}),
    ],
)
def test_usage_tips(value: Any, expected: dict[str, Any]) -> None:
    assert SidecarRecord.from_dict({"usage_tips": value}).usage_tips == expected


@pytest.mark.parametrize(
    "value, expected",
    [(True, None), (2.0, 2), (2.5, None), ("-3", -3), ("--3", None), ("²", None), (float("nan"), None), (10**30, None), (2**63 - 1, 2**63 - 1), (-(2**63), None)],
)
def test_integer_fields(value: Any, expected: int | None) -> None:
    assert SidecarRecord.from_dict({"size": value}).size == expected


def test_float_fields() -> None:
    assert SidecarRecord.from_dict({"modified": 5}).modified == 5.0
    assert SidecarRecord.from_dict({"modified": True}).modified is None
    assert SidecarRecord.from_dict({"modified": 10**400}).modified is None


def test_description_falls_back_to_the_civitai_model() -> None:
    record = SidecarRecord.from_dict({"civitai": {"model": {"description": "from civitai"}}})
    assert record.description == "from civitai"


# ------------------------------------------------------------------ apply_updates


def test_apply_updates_merges_civitai_one_level_and_copies() -> None:
    raw = copy.deepcopy(FULL_SIDECAR)
    before = copy.deepcopy(raw)
    updates = {"model_name": "Renamed", "civitai": {"trainedWords": ["x"], "model": {"name": "only this"}}, "new_key": [1]}
    result = apply_updates(raw, updates)
    assert raw == before  # input untouched
    assert result["model_name"] == "Renamed"
    assert result["new_key"] == [1]
    assert result["civitai"]["trainedWords"] == ["x"]
    assert result["civitai"]["model"] == {"name": "only this"}  # one level deep, not recursive
    assert result["civitai"]["files"] == CIVITAI_VERSION["files"]
    assert result["future_field"] == FULL_SIDECAR["future_field"]
    result["future_field"]["deep"]["x"] = False
    updates["new_key"].append(2)
    assert raw["future_field"]["deep"]["x"] is True and result["new_key"] == [1]


def test_apply_updates_replaces_a_non_object_civitai_block_and_allows_nulls() -> None:
    assert apply_updates({"civitai": None}, {"civitai": {"id": 1}}) == {"civitai": {"id": 1}}
    assert apply_updates({"civitai": {"id": 1}}, {"civitai": None}) == {"civitai": None}
    assert apply_updates({"a": 1}, {}) == {"a": 1}


# ------------------------------------------------------------------ .civitai.info import


def test_civitai_info_to_sidecar(tmp_path: Path) -> None:
    model = tmp_path / "winter_style.safetensors"
    info_path = civitai_info_path_for(model)
    info_path.write_text(json.dumps(CIVITAI_VERSION), encoding="utf-8")

    fields = civitai_info_to_sidecar(read_sidecar(info_path), model)

    assert fields["civitai"] == CIVITAI_VERSION
    assert fields["model_name"] == "Winter Style"
    assert fields["base_model"] == "SDXL 1.0"
    assert fields["tags"] == ["style", "winter"]
    assert fields["modelDescription"] == "<p>A style</p>"
    assert fields["from_civitai"] is True
    assert fields["sha256"] == "abcdef0123456789"
    assert fields["file_name"] == "winter_style"
    assert fields["file_path"] == model.absolute().as_posix()
    record = SidecarRecord.from_dict(apply_updates({"notes": "keep me"}, fields))
    assert record.trigger_words == ["ohwx", "red scarf, winter"]
    assert record.notes == "keep me"


def test_civitai_info_primary_file_fallbacks(tmp_path: Path) -> None:
    model = tmp_path / "a.safetensors"
    by_name = {"files": [{"name": "other.zip", "hashes": {"SHA256": "11"}}, {"name": "a.safetensors", "hashes": {"SHA256": "AA"}}]}
    assert civitai_info_to_sidecar(by_name, model)["sha256"] == "aa"
    only = {"files": [{"name": "renamed.safetensors", "hashes": {"SHA256": "BB "}}]}
    assert civitai_info_to_sidecar(only, model)["sha256"] == "bb"
    ambiguous = {"files": [{"name": "x", "hashes": {"SHA256": "1"}}, {"name": "y", "hashes": {"SHA256": "2"}}]}
    assert "sha256" not in civitai_info_to_sidecar(ambiguous, model)
    no_hash = {"files": [{"primary": True, "hashes": {"AutoV2": "1"}}, "junk"]}
    assert "sha256" not in civitai_info_to_sidecar(no_hash, model)
    assert "sha256" not in civitai_info_to_sidecar({"files": "nope"}, model)


def test_civitai_info_with_little_in_it(tmp_path: Path) -> None:
    fields = civitai_info_to_sidecar({"model": None, "baseModel": 5}, tmp_path / "thing.pt")
    assert fields["model_name"] == "thing"
    assert "base_model" not in fields and "tags" not in fields and "modelDescription" not in fields
    assert fields["civitai"] == {"model": None, "baseModel": 5}
    assert civitai_info_to_sidecar("nonsense", tmp_path / "x.pt")["civitai"] == {}  # type: ignore[arg-type]
