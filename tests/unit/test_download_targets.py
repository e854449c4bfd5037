"""Download targets: template expansion, sanitising, roots and the Civitai type mapping."""
from __future__ import annotations

import pytest

from lora_manager.py.library.paths import PathNotAllowed
from lora_manager.py.services.downloads.targets import (model_file_name, expand_template, library_type_for, safe_file_name,
                                                          sanitize_segment, target_folder, template_fields)


@pytest.mark.parametrize("raw, clean", [
    ("SDXL 1.0", "SDXL 1.0"), ("a/b", "a_b"), ("..", ""), (".", ""), ("CON", "_CON"), ("nul.txt", "_nul.txt"),
    ("what?*", "what__"), ("trailing. ", "trailing"), ("tab\there", "tab_here"), (None, ""), ("x" * 200, "x" * 120),
])
def test_sanitize_segment(raw, clean):
    assert sanitize_segment(raw) == clean


def test_expand_template_fills_and_drops_empty_segments():
    fields = {"base_model": "Flux.1 D", "first_tag": "", "author": "a/b", "model_name": "M", "version_name": "v1"}
    assert expand_template("{base_model}/{first_tag}/{author}", fields) == ["Flux.1 D", "a_b"]
    assert expand_template("", fields) == []
    assert expand_template("{unknown}/x", fields) == ["{unknown}", "x"]
    assert expand_template("fixed\\{model_name}-{version_name}", fields) == ["fixed", "M-v1"]


def test_template_fields_defaults():
    fields = template_fields({"name": "v2"}, None)
    assert fields == {"base_model": "Unknown", "first_tag": "no tags", "author": "Anonymous", "model_name": "",
                      "version_name": "v2"}
    fields = template_fields({"baseModel": "SD 1.5", "model": {"name": "From Summary"}},
                             {"tags": [3, " ", "anime"], "creator": {"username": "bob"}})
    assert (fields["first_tag"], fields["author"], fields["model_name"]) == ("anime", "bob", "From Summary")


def test_target_folder_roots_and_relative_paths(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    fields = {"base_model": "SD 1.5"}
    assert target_folder([first, second], template="{base_model}", fields=fields).path == (first / "SD 1.5").resolve()
    chosen = target_folder([first, second], template="{base_model}", fields=fields, model_root=str(second))
    assert chosen.path == (second / "SD 1.5").resolve()
    relative = target_folder([first], template="{base_model}", fields=fields, relative_path="x//y/")
    assert relative.path == (first / "x" / "y").resolve()
    for hostile in ("../x/./y", ".lm-trash/b/files", "x/.hidden", "./x"):
        with pytest.raises(PathNotAllowed, match="hidden folders or up a level"):
            target_folder([first], template="", fields=fields, relative_path=hostile)
    with pytest.raises(PathNotAllowed, match="hidden folders"):
        target_folder([first], template="", fields=fields, model_root=str(first / ".lm-trash"))
    with pytest.raises(PathNotAllowed):
        target_folder([first], template="", fields=fields, model_root=str(tmp_path / "elsewhere"))
    with pytest.raises(PathNotAllowed):
        target_folder([], template="", fields=fields)


def test_model_file_names_need_a_model_extension():
    assert model_file_name("Ink v2.safetensors", "lora") == "Ink v2.safetensors"
    assert model_file_name(".hidden.safetensors", "lora") == "hidden.safetensors"
    for hostile in ("ink.metadata.json", "setup.exe", "ink.zip", "ink", "ink.gguf"):
        with pytest.raises(PathNotAllowed, match="not a lora model file"):
            model_file_name(hostile, "lora")
    assert model_file_name("flux.gguf", "checkpoint") == "flux.gguf"


def test_file_names_and_types():
    assert safe_file_name("../../etc/passwd") == "passwd"
    assert safe_file_name("dir\\model.safetensors") == "model.safetensors"
    assert safe_file_name("") == "model.safetensors"
    assert [library_type_for(t) for t in ("LORA", "LoCon", "DoRA", "Checkpoint", "TextualInversion", "VAE", None)] == [
        "lora", "lora", "lora", "checkpoint", "embedding", None, None]
