"""Properties of refresh updates and update checks over arbitrary sidecars and Civitai answers."""
from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from lora_manager.py.library.sidecar import apply_updates
from lora_manager.py.services.metadata.refresh import refresh_updates
from lora_manager.py.services.metadata.updates import UpdateEntry, newer_versions, versions_from_model

USER_FIELDS = ["model_name", "notes", "tags", "usage_tips", "base_model", "preview_nsfw_level", "favorite",
               "civitai.trainedWords"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def sidecars(draw):
    raw = draw(st.dictionaries(st.sampled_from(["model_name", "notes", "tags", "usage_tips", "base_model",
                                                "favorite", "preview_nsfw_level", "odd", "civitai"]),
                               json_values, max_size=8))
    if draw(st.booleans()):
        raw["civitai"] = {"trainedWords": draw(st.lists(st.text(max_size=5), max_size=3)), "id": 1}
    raw["user_edited_fields"] = draw(st.lists(st.sampled_from(USER_FIELDS), unique=True))
    return raw


@settings(max_examples=150, deadline=None)
@given(raw=sidecars(), version=st.dictionaries(st.sampled_from(["id", "modelId", "name", "baseModel", "trainedWords",
                                                                  "model", "files", "images"]), json_values),
       model=st.none() | st.dictionaries(st.sampled_from(["name", "tags", "description", "creator"]), json_values))
def test_user_edited_fields_never_change(raw, version, model):
    merged = apply_updates(raw, refresh_updates(raw, version, model, sha256="a" * 64, now=1.0))
    for name in raw["user_edited_fields"]:
        if name == "civitai.trainedWords":
            if isinstance(raw.get("civitai"), dict) and "trainedWords" in raw["civitai"]:
                assert merged["civitai"]["trainedWords"] == raw["civitai"]["trainedWords"]
        elif name in raw:
            assert json.dumps(merged[name]) == json.dumps(raw[name])
    for untouched in ("notes", "usage_tips", "favorite", "odd"):
        if untouched in raw:
            assert json.dumps(merged[untouched]) == json.dumps(raw[untouched])
    json.dumps(merged)  # always serialisable


@settings(max_examples=150, deadline=None)
@given(ids=st.lists(st.integers(1, 10_000), unique=True, min_size=1, max_size=12), data=st.data())
def test_newer_versions_are_listed_before_every_local_one(ids, data):
    local = set(data.draw(st.lists(st.sampled_from(ids), max_size=3)))
    ignored = data.draw(st.lists(st.sampled_from(ids), max_size=3))
    entry = UpdateEntry("lora", 1, versions=[{"id": i, "name": ""} for i in ids], checked_at=1.0,
                        ignored_versions=ignored)
    newer = newer_versions(entry, local)
    positions = {v: n for n, v in enumerate(ids)}
    for version in newer:
        assert version["id"] not in local and version["id"] not in ignored
        assert all(positions[version["id"]] < positions[v] for v in local)
    if ids[0] in local:
        assert newer == []


@settings(max_examples=100, deadline=None)
@given(model=st.dictionaries(st.just("modelVersions"), st.lists(json_values, max_size=5) | json_values) | json_values)
def test_versions_from_model_never_raises(model):
    if isinstance(model, dict):
        for version in versions_from_model(model):
            assert isinstance(version["id"], int)
