"""The pre-transfer decisions (skip by settings, early access) and CivArchive's answers in Civitai's shape."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from lora_manager.py.services.downloads import rules
from lora_manager.py.services.metadata import civarchive_client as ca

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
VERSION = {"id": 7, "name": "v3", "baseModel": "SDXL 1.0"}
FILE = {"name": "thing.safetensors"}


def test_previously_downloaded_wins_over_the_base_model_rule():
    decision = rules.decide_skip(VERSION, FILE, skip_previously_downloaded=True, previously_downloaded=True,
                                 excluded_base_models=["SDXL 1.0"])
    assert decision is not None and decision.reason == rules.PREVIOUSLY_DOWNLOADED
    assert "base_model" not in decision.body()


@pytest.mark.parametrize("setting, remembered, excluded, expected", [
    (False, True, [], None),
    (True, False, [], None),
    (False, False, [" sdxl 1.0 ", None, 5, ""], rules.BASE_MODEL_EXCLUDED),
    (False, False, ["SD 1.5"], None),
])
def test_decisions(setting, remembered, excluded, expected):
    decision = rules.decide_skip(VERSION, FILE, skip_previously_downloaded=setting, previously_downloaded=remembered,
                                 excluded_base_models=excluded)
    assert (decision.reason if decision else None) == expected


def test_a_version_without_file_or_base_model():
    bare = {"id": "9", "name": "only name"}
    assert rules.decide_skip(bare, None, skip_previously_downloaded=False, previously_downloaded=False,
                             excluded_base_models=["Unknown", ""]) is None
    decision = rules.decide_skip(bare, None, skip_previously_downloaded=True, previously_downloaded=True,
                                 excluded_base_models=[])
    assert decision.file_name == "only name" and decision.version_id == 9


@pytest.mark.parametrize("version, expected", [
    ({}, None),
    ({"availability": "Public", "earlyAccessEndsAt": None}, None),
    ({"earlyAccessEndsAt": "2026-05-01T00:00:00Z"}, None),  # over
    ({"earlyAccessEndsAt": "2026-07-01T10:30:00.000Z"}, "2026-07-01 10:30 UTC"),
    ({"earlyAccessEndsAt": "2026-07-01T12:30:00+02:00"}, "2026-07-01 10:30 UTC"),
    ({"earlyAccessEndsAt": "2026-07-01T10:30:00"}, "2026-07-01 10:30 UTC"),  # naive: UTC
    ({"availability": "EarlyAccess"}, "an unannounced date"),
    ({"availability": "earlyaccess", "earlyAccessEndsAt": "soon"}, "soon"),
    ({"availability": "EarlyAccess", "earlyAccessEndsAt": "2026-05-01T00:00:00Z"}, "2026-05-01 00:00 UTC"),
    ({"earlyAccessEndsAt": 12345}, None),
])
def test_early_access_until(version, expected):
    assert rules.early_access_until(version, NOW) == expected


def test_early_access_wording_names_the_version():
    assert rules.early_access_error({"name": "v2"}, None, "X") == (
        "Early access restriction: v2 is in early access until X; sign in with a Civitai API key that has access, "
        "or wait")
    assert rules.early_access_notice({"id": 3}, {"name": "Model"}, "X").startswith("Model is an early-access")
    assert rules.early_access_notice({"id": 3, "model": {"name": "Inner"}}, None, "X").startswith("Inner")
    assert rules.early_access_notice({"id": 3}, None, "X").startswith("version 3 is")
    assert rules.early_access_until({"availability": "EarlyAccess"}) == "an unannounced date"  # default clock


# -- CivArchive ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("env, expected", [
    ({}, ca.DEFAULT_BASE_URL),
    ({ca.ENV_BASE_URL: "  "}, ca.DEFAULT_BASE_URL),
    ({ca.ENV_BASE_URL: "127.0.0.1:9/"}, "https://127.0.0.1:9"),
    ({ca.ENV_BASE_URL: "http://archive.test/api/"}, "http://archive.test"),
    ({ca.ENV_BASE_URL: "http://"}, ca.DEFAULT_BASE_URL),
    ({ca.ENV_BASE_URL: "http://[::1"}, ca.DEFAULT_BASE_URL),
])
def test_base_url(env, expected):
    assert ca.resolve_civarchive_base_url(env) == expected


def test_live_mirrors_skip_dead_paid_gated_and_relative_ones_and_put_civitai_last():
    file = {
        "downloadUrl": "https://civitai.com/api/download/models/1",
        "mirrors": [
            {"url": "https://civitai.com/api/download/models/1", "source": "civitai"},
            {"url": "https://hf.test/a.safetensors", "deletedAt": "2025"},
            {"url": "https://hf.test/b.safetensors", "is_paid": True},
            {"url": "https://hf.test/c.safetensors", "is_gated": True},
            {"url": "/tensorart/models/1"},
            {"url": "http://[::1"},
            "junk",
            {"url": 5},
            {"url": "https://hf.test/d.safetensors", "source": "huggingface"},
            {"url": "https://hf.test/d.safetensors"},
        ],
    }
    assert ca.live_mirrors(file) == ["https://hf.test/d.safetensors", "https://civitai.com/api/download/models/1"]
    assert ca.live_mirrors({"downloadUrl": "/relative"}) == []


def test_normalize_an_unwrapped_answer_with_a_video_and_no_primary_file():
    payload = {
        "id": 1, "name": "M", "type": "LORA", "nsfw": True, "creator_name": "who",
        "version": {
            "id": "22", "name": "v", "baseModel": "Flux.1 D", "trainedWords": ["w", 3], "createdAt": "2024-01-01",
            "files": [
                {"name": "data.zip", "type": "Training Data", "sha256": "zz", "mirrors": []},
                {"id": "5", "name": "m.safetensors", "type": "Model", "hashes": {"SHA256": "AB" * 32},
                 "metadata": {"format": "SafeTensor"}, "mirrors": [{"url": "https://hf.test/m"}]},
                "junk",
            ],
            "images": [
                {"url": "https://img.test/a.mp4", "type": "video", "image_url": "https://img.test/a.webp"},
                {"url": "relative.png"},
                {"url": "https://img.test/b.png", "nsfwLevel": "x", "width": 5, "meta": {"seed": 1}},
            ],
        },
        "versions": [{"id": 22, "name": "v"}, {"id": "bad"}, "junk"],
    }
    version, model = ca.normalize(payload)
    assert version["id"] == 22 and version["modelId"] == 1 and version["trainedWords"] == ["w"]
    assert [f["primary"] for f in version["files"]] == [False, True]
    assert version["files"][0]["hashes"] == {} and version["files"][1]["hashes"] == {"SHA256": "AB" * 32}
    assert version["files"][1]["id"] == 5 and version["files"][1]["metadata"] == {"format": "SafeTensor"}
    assert version["downloadUrl"] == "https://hf.test/m" and version["createdAt"] == "2024-01-01"
    assert version["images"] == [
        {"url": "https://img.test/a.webp", "type": "image", "nsfwLevel": 1},
        {"url": "https://img.test/b.png", "type": "image", "nsfwLevel": 1, "width": 5, "meta": {"seed": 1}},
    ]
    assert version["creator"] == {"username": "who", "image": ""} == model["creator"]
    assert model["modelVersions"] == [{"id": 22, "name": "v"}] and model["nsfw"] is True
    assert model["tags"] == [] and version["source"] == model["source"] == "civarchive"


@pytest.mark.parametrize("payload", [None, [], {}, {"data": {"version": None}}, {"version": {"id": "x"}},
                                     {"version": {"id": "²"}}, {"data": {"version": {"id": True}}}])
def test_normalize_answers_without_a_version(payload):
    assert ca.normalize(payload) is None


def test_normalize_without_files_has_no_download_url():
    version, _model = ca.normalize({"data": {"id": 3, "version": {"id": 4}}})
    assert version["files"] == [] and version["downloadUrl"] is None and "creator" not in version
