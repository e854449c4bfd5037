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


def test_show_only_sfw_is_a_validated_setting_written_under_its_name():
    assert Settings().show_only_sfw is False
    settings, warnings = Settings.from_document({"show_only_sfw": True, "civitai_host": "civitai.com"})
    assert warnings == [] and settings.show_only_sfw is True
    assert settings.to_document()["show_only_sfw"] is True
    with pytest.raises(SettingsError) as raised:
        Settings().updated({"show_only_sfw": 1})
    assert raised.value.problems == ["show_only_sfw must be true or false"]


def test_the_sfw_filter_keeps_previews_under_the_level_and_follows_edits():
    from dataclasses import replace

    import numpy as np

    from lora_manager.py.library.columns import ColumnIndex
    from lora_manager.py.library.query import ListQuery, filter_mask
    from lora_manager.py.library.records import ModelRecord

    def record(i: int, level: int) -> ModelRecord:
        return ModelRecord(file_path=f"/lib/{i}.safetensors", model_type="lora", root="/lib", folder="",
                           file_name=f"m{i}", extension=".safetensors", size=1, mtime_ns=i, preview_nsfw_level=level)

    levels = [0, 1, 2, 4, 8, 16, 3, 6]
    columns = ColumnIndex()
    columns.load(record(i, level) for i, level in enumerate(levels))
    query = ListQuery(below_nsfw_level=4)
    def kept() -> set[int]:  # the live slots the mask keeps (slots past the records are never listed)
        return {int(i) for i in np.flatnonzero(filter_mask(columns, query, any_excluded=False)) if i < len(levels)}

    assert kept() == {0, 1, 2, 6}  # unrated, PG, PG13 and PG|PG13
    columns.put(record(4, 1))  # an edit of one row
    assert kept() == {0, 1, 2, 4, 6}
    assert filter_mask(columns, replace(query, below_nsfw_level=None), any_excluded=False) is None
