from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from lora_manager.py.services.recipes.lora_syntax import (
    LoraSyntaxEntry,
    format_lora_syntax,
    parse_lora_syntax,
    strip_lora_syntax,
)

names = st.text(min_size=1, max_size=40).map(str.strip).filter(
    lambda s: s and not any(c in s for c in "<>:")
)
strengths = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text):
    entries = parse_lora_syntax(text)
    for entry in entries:
        assert entry.name and math.isfinite(entry.model_strength) and math.isfinite(entry.clip_strength)
        assert text[entry.span[0]:entry.span[1]].endswith(">")
    stripped = strip_lora_syntax(text)
    assert parse_lora_syntax(stripped) == []


@settings(max_examples=200, deadline=None)
@given(names, strengths, strengths)
def test_format_parse_round_trip(name, model, clip):
    tag = format_lora_syntax(LoraSyntaxEntry(name, model, clip, (0, 0)))
    (parsed,) = parse_lora_syntax(f"prefix {tag} suffix")
    assert parsed.name == name
    assert parsed.model_strength == model
    assert parsed.clip_strength == clip


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(names, strengths), max_size=5), st.text(alphabet="abc ,\n", max_size=20))
def test_strip_leaves_no_tags(entries, filler):
    text = filler.join(format_lora_syntax(LoraSyntaxEntry(n, s, s, (0, 0))) for n, s in entries)
    assert parse_lora_syntax(strip_lora_syntax(text)) == []
