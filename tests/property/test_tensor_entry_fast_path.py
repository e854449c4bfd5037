"""The header parser's fast path for tensor entries accepts exactly what the full check accepts, with the same
result, and leaves every refusal (and its message) to the full check."""
from __future__ import annotations

import json

from hypothesis import given, settings, strategies as st

from lora_manager.py.library.safetensors import InvalidModelFile, _explain_tensor, parse_header_bytes

_counts = st.one_of(st.integers(min_value=-2, max_value=64), st.booleans(), st.floats(allow_nan=False), st.none())
_entries = st.one_of(
    st.fixed_dictionaries(
        {"dtype": st.sampled_from(["F16", "F32", "BF16", "I8", "", "WEIRD"]),
         "shape": st.lists(_counts, max_size=3),
         "data_offsets": st.lists(_counts, min_size=0, max_size=3)}),
    st.lists(st.integers(), max_size=2),
    st.text(max_size=3),
)


def _outcome(call):
    try:
        return ("ok", call())
    except InvalidModelFile as exc:
        return ("error", str(exc))


@settings(max_examples=400, deadline=None)
@given(entry=_entries)
def test_fast_path_agrees_with_full_check(entry):
    raw = json.dumps({"t": entry}).encode()
    parsed = _outcome(lambda: parse_header_bytes(raw, file_size=8 + len(raw) + 10**6).tensors["t"])
    expected = _outcome(lambda: _explain_tensor("t", json.loads(raw)["t"]))
    assert parsed == expected
