"""The name rules behind ComfyUI-Lora-Manager's widget calls, and the small vocabularies its UI reads."""
from __future__ import annotations

import pytest

from lora_manager.py.library.records import ModelRecord
from lora_manager.py.services.civitai_vocabulary import (BASE_MODEL_CATEGORIES, BASE_MODELS, canonical_priority_tags,
                                                         priority_tag_suggestions)
from lora_manager.py.services.model_lookup import (BadName, clean_name, find_by_name, find_by_relative_path,
                                                   folder_tree)


def record(rel: str) -> ModelRecord:
    folder, _, name = rel.rpartition("/")
    stem, _, ext = name.rpartition(".")
    return ModelRecord(file_path=f"/root/{rel}", model_type="lora", root="/root", folder=folder, file_name=stem,
                       extension="." + ext, size=1, mtime_ns=1)


LIBRARY = [record(p) for p in ("b/hero.safetensors", "a/hero.safetensors", "a/deep/hero.safetensors",
                               "solo.safetensors", "v1.5 style.safetensors")]


@pytest.mark.parametrize("raw,expected", [
    ("hero", "hero"), (" hero.safetensors ", "hero"), ("a\\deep\\hero.SAFETENSORS", "a/deep/hero"),
    ("./a//hero", "a/hero"), ("v1.5 style", "v1.5 style"), ("x.pt", "x"), (".safetensors", ".safetensors"),
])
def test_clean_name(raw, expected):
    assert clean_name(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "  ", "/abs", "C:/x", "c:\\x", "a/../b", "..", "x\x00", "x\ny",
                                 "y" * 1025, 5, ["a"], "./"])
def test_clean_name_refuses(raw):
    with pytest.raises(BadName):
        clean_name(raw)


@pytest.mark.parametrize("name,expected", [
    ("hero", "/root/a/deep/hero.safetensors"),  # several bare stems: the smallest path
    ("b/hero", "/root/b/hero.safetensors"),  # exact folder/stem
    ("a/deep/hero", "/root/a/deep/hero.safetensors"),
    ("a/other/hero", "/root/a/hero.safetensors"),  # same stem, its folder starts the name
    ("zzz/hero", "/root/a/deep/hero.safetensors"),  # same stem, no folder fits: the smallest path
    ("solo", "/root/solo.safetensors"), ("v1.5 style", "/root/v1.5 style.safetensors"),
    ("missing", None), ("hero/extra", None),
])
def test_find_by_name(name, expected):
    found = find_by_name(LIBRARY, name)
    assert (found.file_path if found else None) == expected


@pytest.mark.parametrize("rel,expected", [
    ("a/hero.safetensors", "/root/a/hero.safetensors"), ("deep/hero.safetensors", "/root/a/deep/hero.safetensors"),
    ("v1.5 style.safetensors", "/root/v1.5 style.safetensors"), ("hero.safetensors", "/root/a/deep/hero.safetensors"),
    ("nothere.safetensors", None), ("a/hero.ckpt", None),
])
def test_find_by_relative_path(rel, expected):
    found = find_by_relative_path(LIBRARY, rel)
    assert (found.file_path if found else None) == expected


def test_folder_tree():
    assert folder_tree(["", "a", "a/deep", "b/c/d"]) == {"a": {"deep": {}}, "b": {"c": {"d": {}}}}


def test_priority_tags():
    assert canonical_priority_tags("character(char|chara), Style\nstyle,  , (odd, concept(") == [
        "character", "Style", "odd", "concept"]
    suggestions = priority_tag_suggestions({"lora": "anime", "custom": "x", 3: "y", "checkpoint": None})
    assert suggestions["lora"] == ["anime"] and suggestions["custom"] == ["x"]
    assert suggestions["checkpoint"][:2] == ["character", "concept"] and 3 not in suggestions
    assert priority_tag_suggestions("not a mapping")["embedding"][-1] == "action"


def test_base_models_are_the_categories():
    assert set(BASE_MODELS) == {n for names in BASE_MODEL_CATEGORIES.values() for n in names}
    assert list(BASE_MODELS) == sorted(BASE_MODELS)
