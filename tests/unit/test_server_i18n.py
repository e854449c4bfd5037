"""ServerI18nManager: locale resolution, lookups with fallbacks, placeholders, the merged locale tree."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from lora_manager.py.services.server_i18n import (
    ServerI18nManager,
    format_template,
    parse_accept_language,
    placeholders,
)

REPO_LOCALES = Path(__file__).resolve().parents[2] / "locales"


def write_locales(directory: Path, trees: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, tree in trees.items():
        (directory / f"{name}.json").write_text(json.dumps(tree, ensure_ascii=False), encoding="utf-8")
    return directory


@pytest.fixture
def small(tmp_path: Path) -> ServerI18nManager:
    trees = {
        "en": {
            "greeting": "Hello {name}",
            "only_en": "English only",
            "errors": {"model_not_found": "Model not found: {path}", "internal": "Internal server error"},
            "nested": {"deep": {"leaf": "Leaf"}},
        },
        "de": {"greeting": "Hallo {name}", "errors": {"model_not_found": "Modell nicht gefunden: {path}"}},
        "zh-CN": {"greeting": "你好 {name}"},
        "zh-TW": {"greeting": "妳好 {name}"},
        "pt-BR": {"greeting": "Olá {name}"},
    }
    return ServerI18nManager(write_locales(tmp_path / "locales", trees))


def test_repo_locales_load() -> None:
    manager = ServerI18nManager(REPO_LOCALES)
    assert manager.available_locales() == sorted(["de", "en", "es", "fr", "ja", "ko", "ru", "zh-CN", "zh-TW"])
    assert manager.get_translation("errors.model_not_found", "de", path="a/b.safetensors") == (
        "Modell nicht gefunden: a/b.safetensors"
    )
    assert manager.get_translation("common.cancel", "ja") == "キャンセル"
    assert manager.translator("zh-TW").t("library.models_count", count=3) == "3 個模型"


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("de", "de"),
        ("DE", "de"),
        ("de-AT", "de"),
        ("de_CH", "de"),
        ("de_DE.UTF-8", "de"),
        ("zh", "zh-CN"),
        ("zh_cn", "zh-CN"),
        ("zh-Hans", "zh-CN"),
        ("zh-SG", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("zh-TW", "zh-TW"),
        ("zh-Hant", "zh-TW"),
        ("zh-HK", "zh-TW"),
        ("zh-Hant-HK", "zh-TW"),
        ("pt", "pt-BR"),
        ("pt-PT", "pt-BR"),
        ("fr", "en"),
        ("xx-YY", "en"),
        ("", "en"),
        ("  ", "en"),
        ("-", "en"),
        (None, "en"),
        (42, "en"),
    ],
)
def test_resolve_locale(small: ServerI18nManager, tag: object, expected: str) -> None:
    assert small.resolve_locale(tag) == expected  # type: ignore[arg-type]


def test_traditional_chinese_falls_back_to_simplified_when_absent(tmp_path: Path) -> None:
    manager = ServerI18nManager(write_locales(tmp_path, {"en": {"a": "A"}, "zh-CN": {"a": "甲"}}))
    assert manager.resolve_locale("zh-Hant") == "zh-CN"
    assert manager.resolve_locale("zh-TW") == "zh-CN"
    assert manager.resolve_locale("zh-HK") == "zh-CN"


def test_chinese_without_any_chinese_locale_is_english(tmp_path: Path) -> None:
    manager = ServerI18nManager(write_locales(tmp_path, {"en": {"a": "A"}}))
    assert manager.resolve_locale("zh-CN") == "en"


def test_pt_without_any_portuguese_is_english(tmp_path: Path) -> None:
    manager = ServerI18nManager(write_locales(tmp_path, {"en": {"a": "A"}, "de": {"a": "B"}}))
    assert manager.resolve_locale("pt-BR") == "en"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-AT,de;q=0.9,en;q=0.8", "de"),
        ("fr-CH, fr;q=0.9, de;q=0.7, *;q=0.5", "de"),
        ("en;q=0.5, de;q=0.9", "de"),
        ("de;q=0, zh-TW;q=0.3", "zh-TW"),
        ("zh-HK", "zh-TW"),
        ("fr, *;q=0.1", "en"),
        ("de;q=abc, zh;q=0.2", "zh-CN"),
        ("de;q=2, zh;q=0.2", "zh-CN"),
        ("", "en"),
        (None, "en"),
        (",,;", "en"),
    ],
)
def test_accept_language(small: ServerI18nManager, header: str | None, expected: str) -> None:
    assert small.locale_from_accept_language(header) == expected


def test_parse_accept_language_orders_by_quality_then_position() -> None:
    assert parse_accept_language("a;q=0.5, b, c;q=0.5, d;q=0.9") == ["b", "d", "a", "c"]
    assert parse_accept_language("a; Q=0.2 ; foo=bar, b") == ["b", "a"]


def test_lookup_falls_back_to_english_then_key(small: ServerI18nManager) -> None:
    assert small.get_translation("greeting", "de", name="Ana") == "Hallo Ana"
    assert small.get_translation("only_en", "de") == "English only"
    assert small.get_translation("errors.internal", "de") == "Internal server error"
    assert small.get_translation("missing.key", "de") == "missing.key"
    assert small.get_translation("nested.deep.leaf", "de") == "Leaf"
    # A key naming a subtree is not a text: the key comes back.
    assert small.get_translation("nested.deep", "de") == "nested.deep"
    assert small.get_translation("greeting", "xx", name="Bo") == "Hello Bo"


def test_set_locale_is_per_instance(small: ServerI18nManager, tmp_path: Path) -> None:
    other = ServerI18nManager(write_locales(tmp_path / "other", {"en": {"greeting": "Hi"}, "de": {"greeting": "Hallo"}}))
    assert small.set_locale("de-AT") == "de"
    assert small.locale == "de"
    assert small.get_translation("greeting", name="X") == "Hallo X"
    assert small.translator().t("greeting", name="Y") == "Hallo Y"
    assert other.locale == "en"
    assert other.get_translation("greeting") == "Hi"
    assert small.set_locale(None) == "en"


def test_default_locale_argument(tmp_path: Path) -> None:
    manager = ServerI18nManager(write_locales(tmp_path, {"en": {"a": "A"}, "de": {"a": "B"}}), default_locale="de_DE")
    assert manager.locale == "de"
    assert manager.get_translation("a") == "B"


def test_translator_is_callable(small: ServerI18nManager) -> None:
    translate = small.translator("zh")
    assert translate.locale == "zh-CN"
    assert translate("greeting", name="李") == "你好 李"


def test_placeholder_rules() -> None:
    assert format_template("Hello {name}", {"name": "{other}"}) == "Hello {other}"
    assert format_template("{a}{b}", {"a": "{b}", "b": "x"}) == "{b}x"
    assert format_template("Hello {name}", {}) == "Hello {name}"
    assert format_template("{{name}} {name}", {"name": "N"}) == "{name} N"
    assert format_template("{count} models", {"count": 3}) == "3 models"
    assert format_template("{x} {y}", {"x": None, "y": [1, 2]}) == "None [1, 2]"
    assert format_template("{ spaced } {0} {} {", {"0": "zero"}) == "{ spaced } {0} {} {"
    assert format_template("}}{{", {}) == "}{"


def test_params_that_cannot_be_printed_leave_the_placeholder() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise ValueError("no")

    assert format_template("value: {v}", {"v": Unprintable()}) == "value: {v}"


def test_placeholders_helper() -> None:
    assert placeholders("Scanning {done}/{total} {{escaped}}") == {"done", "total"}
    assert placeholders("none") == set()


def test_locale_data_merges_english(small: ServerI18nManager) -> None:
    data = small.locale_data("de")
    assert data["greeting"] == "Hallo {name}"
    assert data["only_en"] == "English only"
    assert data["errors"] == {"model_not_found": "Modell nicht gefunden: {path}", "internal": "Internal server error"}
    assert data["nested"] == {"deep": {"leaf": "Leaf"}}
    data["errors"]["internal"] = "changed"
    assert small.locale_data("de")["errors"]["internal"] == "Internal server error"
    english = small.locale_data("en")
    english["greeting"] = "changed"
    assert small.locale_data("en")["greeting"] == "Hello {name}"
    assert small.locale_data("unknown")["greeting"] == "Hello {name}"
    small.set_locale("zh-CN")
    assert small.locale_data()["greeting"] == "你好 {name}"


def test_locale_data_keeps_english_shape_when_locale_disagrees(tmp_path: Path) -> None:
    trees = {
        "en": {"a": {"b": "B"}, "c": "C"},
        "de": {"a": "flat instead of tree", "c": {"x": "tree instead of flat"}, "extra": "Extra"},
    }
    manager = ServerI18nManager(write_locales(tmp_path, trees))
    assert manager.locale_data("de") == {"a": {"b": "B"}, "c": "C", "extra": "Extra"}


def test_bad_locale_files_are_skipped_with_a_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    directory = write_locales(tmp_path, {"en": {"a": "A", "n": 5, "l": ["x"]}, "de": {"a": "B"}})
    (directory / "fr.json").write_text('{"a": "tronqu', encoding="utf-8")
    (directory / "ru.json").write_bytes(b"\xff\xfe\x00garbage")
    (directory / "ja.json").write_text('["not", "an", "object"]', encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        manager = ServerI18nManager(directory)
    assert manager.available_locales() == ["de", "en"]
    assert manager.resolve_locale("fr") == "en"
    assert manager.get_translation("n") == "n"
    assert manager.locale_data("en") == {"a": "A"}
    logged = caplog.text
    assert "fr.json" in logged and "ru.json" in logged and "ja.json" in logged
    assert "n" in logged


def test_missing_locales_dir_still_answers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        manager = ServerI18nManager(tmp_path / "absent")
    assert manager.available_locales() == []
    assert manager.resolve_locale("de") == "en"
    assert manager.get_translation("errors.internal", "de", x=1) == "errors.internal"
    assert manager.locale_data("de") == {}
    assert "no locale files" in caplog.text


def test_non_string_key_never_raises(small: ServerI18nManager) -> None:
    assert small.get_translation(123) == "123"  # type: ignore[arg-type]


def test_params_may_use_any_name(tmp_path: Path) -> None:
    manager = ServerI18nManager(write_locales(tmp_path, {"en": {"a": "{key} {self} {params}"}}))
    assert manager.translator().t("a", key="K", self="S", params="P") == "K S P"
    assert manager.get_translation("a", "en", key="K", self="S", params="P") == "K S P"
