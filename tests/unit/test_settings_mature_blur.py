"""The NSFW blur settings: ComfyUI-Lora-Manager's keys (``blur_mature_content``, ``mature_blur_level``) are ours
too, validated, and written back under its names (its oldest ``blurMatureContent`` included)."""
from __future__ import annotations

import pytest

from lora_manager.py.settings import Settings, SettingsError


def test_defaults_blur_from_r_up():
    settings = Settings()
    assert settings.blur_mature_content is True and settings.mature_blur_level == "R"
    assert {"blur_mature_content": True, "mature_blur_level": "R"}.items() <= settings.to_public_dict().items()


def test_an_update_is_validated_and_the_level_normalised():
    settings = Settings().updated({"blur_mature_content": False, "mature_blur_level": "xxx"})
    assert settings.blur_mature_content is False and settings.mature_blur_level == "XXX"
    with pytest.raises(SettingsError) as raised:
        Settings().updated({"mature_blur_level": "NC17"})
    assert raised.value.problems == ["mature_blur_level must be one of PG13, R, X, XXX"]
    with pytest.raises(SettingsError) as raised:
        Settings().updated({"blur_mature_content": "yes"})
    assert raised.value.problems == ["blur_mature_content must be true or false"]


def test_their_file_is_read_and_a_bad_value_is_kept_as_written():
    settings, warnings = Settings.from_document({"blur_mature_content": False, "mature_blur_level": "X",
                                                 "show_only_sfw": True})
    assert warnings == []
    assert settings.blur_mature_content is False and settings.mature_blur_level == "X"
    document = settings.to_document()
    assert document["blur_mature_content"] is False and document["mature_blur_level"] == "X"
    assert document["show_only_sfw"] is True  # not used here, kept
    odd, warnings = Settings.from_document({"mature_blur_level": 8})
    assert odd.mature_blur_level == "R" and warnings
    assert odd.to_document()["mature_blur_level"] == 8  # left in the file as it was


def test_its_oldest_camel_case_name_is_read_and_written_back():
    settings, _ = Settings.from_document({"blurMatureContent": False, "civitai_host": "civitai.green"})
    assert settings.blur_mature_content is False
    document = settings.updated({"mature_blur_level": "PG13"}).to_document()
    assert document["blurMatureContent"] is False and "blur_mature_content" not in document
    assert document["mature_blur_level"] == "PG13"
