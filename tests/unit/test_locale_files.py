"""The shipped locale files: same key tree as English, text values, same placeholders, real translations."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lora_manager.py.services.server_i18n import placeholders

LOCALES = Path(__file__).resolve().parents[2] / "locales"
EXPECTED = ["de", "en", "es", "fr", "ja", "ko", "ru", "zh-CN", "zh-TW"]
REQUIRED_SECTIONS = {
    "common": {"ok", "cancel", "save", "delete", "undo", "close", "search", "loading", "retry", "yes", "no", "error", "success"},
    "nav": {"loras", "checkpoints", "embeddings", "recipes", "downloads", "settings"},
    "jobs": {"running", "completed", "failed", "cancelled", "queued"},
}


def load(name: str) -> dict[str, Any]:
    return json.loads((LOCALES / f"{name}.json").read_text(encoding="utf-8"))


def flatten(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_all_expected_locales_exist() -> None:
    assert sorted(path.stem for path in LOCALES.glob("*.json")) == EXPECTED


def test_english_has_the_initial_keys() -> None:
    english = load("en")
    for section, keys in REQUIRED_SECTIONS.items():
        assert keys <= set(english[section])
    assert english["errors"]["route_not_found"] == "No such API route: {path}"
    assert english["errors"]["invalid_param"] == "Invalid value for {name}: {reason}"
    assert english["library"]["scanning"] == "Scanning {done}/{total}"


@pytest.mark.parametrize("name", [n for n in EXPECTED if n != "en"])
def test_locale_matches_english(name: str) -> None:
    english = flatten(load("en"))
    other = flatten(load(name))
    assert set(other) == set(english), f"{name}: missing {set(english) - set(other)}, extra {set(other) - set(english)}"
    for key, value in other.items():
        assert isinstance(value, str) and value.strip(), f"{name}:{key} is not a text"
        assert placeholders(value) == placeholders(english[key]), f"{name}:{key} placeholders differ"
    translated = sum(1 for key in english if other[key] != english[key])
    assert translated >= 0.9 * len(english), f"{name}: only {translated}/{len(english)} entries translated"


def test_english_values_are_texts() -> None:
    for key, value in flatten(load("en")).items():
        assert isinstance(value, str) and value.strip(), key
