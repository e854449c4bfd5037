"""Hypothesis: any settings document in ComfyUI-Lora-Manager's shapes survives a load, a change and a save
with its folder lists (top-level and per library) and every key we do not use exactly as written."""
from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings, strategies as st

from lora_manager.py.anchor_settings import FOLDER_KEYS, MIRROR_KEYS
from lora_manager.py.settings import Settings

OURS = set(Settings.__dataclass_fields__) | {"version", *MIRROR_KEYS, "model_name_display",
                                             "auto_download_example_images", "autoDownloadExampleImages",
                                             "download_path_template", "download_path_templates"}

segment = st.text("abcxyz_- ", min_size=1, max_size=6)
usable_path = st.builds(lambda parts: "/" + "/".join(parts), st.lists(segment, min_size=1, max_size=3))
foreign_path = st.sampled_from(["C:/models/loras", "D:\\sd\\ckpt", "relative/folder", "~user-not-home"])
any_path = st.one_of(usable_path, usable_path, usable_path, foreign_path)
json_leaf = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8)
json_value = st.recursive(json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c,
                                                                                       max_size=3), max_leaves=6)
unknown_key = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=3, max_size=12).filter(lambda k: k not in OURS)


@st.composite
def folder_paths(draw: Any) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(FOLDER_KEYS), unique=True))
    out: dict[str, Any] = {key: draw(st.lists(any_path, max_size=3)) for key in keys}
    if draw(st.booleans()):
        out["future_kind"] = draw(st.lists(usable_path, max_size=2))
    return out


@st.composite
def library_body(draw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"folder_paths": draw(folder_paths())}
    if draw(st.booleans()):
        body["extra_folder_paths"] = draw(folder_paths())
    for key in ("default_lora_root", "default_checkpoint_root", "default_unet_root", "default_embedding_root",
                "recipes_path"):
        if draw(st.booleans()):
            body[key] = draw(st.one_of(st.just(""), usable_path))
    body.update(draw(st.dictionaries(unknown_key, json_value, max_size=3)))
    return body


@st.composite
def anchor_document(draw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = draw(st.dictionaries(unknown_key, json_value, max_size=5))
    if draw(st.booleans()):  # an old flat file
        doc["folder_paths"] = draw(folder_paths())
        for key in ("default_lora_root", "recipes_path"):
            if draw(st.booleans()):
                doc[key] = draw(usable_path)
    else:  # the current shape: libraries, and the active one copied at the top level
        names = draw(st.lists(st.sampled_from(["default", "comfyui", "studio", "nas"]), min_size=1, max_size=3,
                              unique=True))
        doc["libraries"] = {name: draw(library_body()) for name in names}
        doc["active_library"] = draw(st.sampled_from(names))
        active = doc["libraries"][doc["active_library"]]
        for key in MIRROR_KEYS:
            if key in active:
                doc[key] = active[key]
    if draw(st.booleans()):
        doc["model_name_display"] = draw(st.sampled_from(["model_name", "file_name"]))
    doc["use_portable_settings"] = draw(st.booleans())
    return doc


def library_folders(doc: dict[str, Any]) -> dict[str, Any]:
    if "libraries" in doc:
        return {name: body["folder_paths"] for name, body in doc["libraries"].items()}
    return {"default": doc["folder_paths"]}


@settings(max_examples=300, deadline=None)
@given(anchor_document())
def test_anchor_documents_round_trip(document):
    original = json.loads(json.dumps(document))
    loaded, _warnings = Settings.from_document(document)
    assert document == original  # reading never changes the caller's document
    saved = json.loads(json.dumps(loaded.updated({"language": "ko"}).to_document()))

    for key, value in original.items():
        if key not in OURS:
            assert saved[key] == value, key
    for name, lists in library_folders(original).items():
        assert saved["libraries"][name]["folder_paths"] == lists, name
    active = original.get("active_library", "default")
    assert saved["folder_paths"] == library_folders(original)[active]
    for name, body in original.get("libraries", {}).items():
        for key, value in body.items():
            if key not in ("default_lora_root", "default_checkpoint_root", "default_unet_root",
                           "default_embedding_root", "recipes_path"):
                assert saved["libraries"][name][key] == value, (name, key)
            else:  # a folder path: the same folder, surrounding blanks trimmed (as that project trims them)
                assert saved["libraries"][name][key] == value.strip(), (name, key)
    if "model_name_display" in original:
        assert saved["model_name_display"] == original["model_name_display"] and "display_name" not in saved

    reloaded, _ = Settings.from_document(saved)
    assert reloaded == loaded.updated({"language": "ko"})
    assert json.loads(json.dumps(reloaded.to_document())) == saved  # a second save changes nothing


ANY_KEYS = sorted(OURS | {"libraries", "roots", "extra_folder_paths", "civitai_host", "proxy_enabled"})


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(ANY_KEYS) | st.text(max_size=8), json_value, max_size=8))
def test_any_object_is_read_leniently_and_saved_stably(document):
    """A file is never set aside for its values: whatever we cannot use is reported and written back."""
    loaded, warnings = Settings.from_document(document)
    assert all(isinstance(w, str) and w for w in warnings)
    saved = json.loads(json.dumps(loaded.to_document()))
    reloaded, _ = Settings.from_document(saved)
    assert reloaded == loaded
    assert json.loads(json.dumps(reloaded.to_document())) == saved
    for key, value in document.items():
        if key not in OURS and key not in ("libraries",):
            assert saved[key] == value, key
