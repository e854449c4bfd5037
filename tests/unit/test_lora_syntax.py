from __future__ import annotations

import pytest

from lora_manager.py.services.recipes.lora_syntax import (
    LoraSyntaxEntry,
    format_lora_syntax,
    format_strength,
    parse_lora_syntax,
    strip_lora_syntax,
)


def names(text: str) -> list[tuple[str, float, float]]:
    return [(e.name, e.model_strength, e.clip_strength) for e in parse_lora_syntax(text)]


def test_single_strength_applies_to_model_and_clip():
    assert names("a girl <lora:detail:0.8> smiling") == [("detail", 0.8, 0.8)]


def test_separate_clip_strength():
    assert names("<lora:detail:0.8:0.5>") == [("detail", 0.8, 0.5)]


def test_missing_strength_means_one():
    assert names("<lora:detail>") == [("detail", 1.0, 1.0)]


def test_whitespace_and_case_tolerated():
    assert names("< LoRA : my lora : 0.7 >") == [("my lora", 0.7, 0.7)]


def test_span_points_at_the_tag():
    text = "x <lora:a:1> y"
    (entry,) = parse_lora_syntax(text)
    assert text[entry.span[0]:entry.span[1]] == "<lora:a:1>"


def test_subpaths_are_kept():
    assert names("<lora:folder/sub/name:0.6> <lora:folder\\name:1>") == [
        ("folder/sub/name", 0.6, 0.6),
        ("folder\\name", 1.0, 1.0),
    ]


def test_name_with_colon_when_trailing_fields_are_numbers():
    assert names("<lora:C:\\loras\\style:0.5>") == [("C:\\loras\\style", 0.5, 0.5)]
    assert names("<lora:a:b:0.5:0.25>") == [("a:b", 0.5, 0.25)]


def test_numeric_name():
    assert names("<lora:1.5:0.8>") == [("1.5", 0.8, 0.8)]


@pytest.mark.parametrize("text", ["<lora:x:abc>", "<lora:x:0.5:abc>", "<lora:x:>", "<lora::0.5>", "<lora:>",
                                  "<lora:x:nan>", "<lora:x:inf>", "<lora:x:1e999>"])
def test_bad_entries_are_skipped(text):
    assert parse_lora_syntax(f"before {text} <lora:ok:1>") == [
        LoraSyntaxEntry("ok", 1.0, 1.0, parse_lora_syntax(f"before {text} <lora:ok:1>")[0].span)
    ]


def test_scientific_and_signed_numbers():
    assert names("<lora:x:-1.5e-1:+2>") == [("x", -0.15, 2.0)]


def test_not_a_string_gives_nothing():
    assert parse_lora_syntax(None) == []  # type: ignore[arg-type]
    assert parse_lora_syntax("no tags here") == []


def test_format_normalises_strengths():
    assert format_lora_syntax(LoraSyntaxEntry("x", 1.0, 1.0, (0, 0))) == "<lora:x:1>"
    assert format_lora_syntax(LoraSyntaxEntry("x", 0.80, 0.80, (0, 0))) == "<lora:x:0.8>"
    assert format_lora_syntax(LoraSyntaxEntry("x", 0.8, 0.5, (0, 0))) == "<lora:x:0.8:0.5>"
    assert format_strength(2.50) == "2.5"
    assert format_strength(-0.0) == "-0"


def test_strip_removes_tags_and_tidies_separators():
    assert strip_lora_syntax("masterpiece, <lora:a:1>, girl <lora:b:0.5>") == "masterpiece, girl"
    assert strip_lora_syntax("<lora:a:1> cat\n<lora:bad:x>dog") == "cat\ndog"
    assert strip_lora_syntax("plain, text") == "plain, text"
    assert strip_lora_syntax("<oops> text") == "<oops> text"
    assert strip_lora_syntax(None) == ""  # type: ignore[arg-type]


def test_strip_removes_tags_formed_by_stripping():
    assert parse_lora_syntax(strip_lora_syntax("<lo<lora:a:1>ra:b:1> x")) == []
