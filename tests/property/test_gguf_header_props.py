"""GGUF header parser on hostile input: never anything but a header or InvalidGGUF, and round-trips."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from lora_manager.py.library.gguf import InvalidGGUF, parse_gguf_header
from support.gguf_files import gguf_bytes

_names = st.text(min_size=1, max_size=20)
_tensors = st.lists(st.tuples(_names, st.lists(st.integers(1, 4096), min_size=1, max_size=4).map(tuple),
                              st.sampled_from(["F32", "F16", "BF16", "Q8_0", "Q4_K", "Q6_K"])), max_size=6)
_meta = st.dictionaries(_names, st.one_of(st.integers(-2**63, 2**63 - 1), st.text(max_size=30), st.booleans(),
                                          st.lists(st.text(max_size=5), max_size=5)), max_size=6)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_crash(data):
    try:
        parse_gguf_header(b"GGUF" + data)
    except InvalidGGUF as exc:
        assert exc.reason


@settings(max_examples=100, deadline=None)
@given(_meta, _tensors, st.sampled_from([2, 3]), st.data())
def test_round_trip_and_every_mutation_is_bounded(meta, tensors, version, data):
    raw = gguf_bytes(meta, tensors, version)
    header = parse_gguf_header(raw)
    assert header.metadata == meta
    assert [(t.name, t.shape, t.ggml_type) for t in header.tensors] == tensors
    pos = data.draw(st.integers(0, len(raw) - 1))
    flipped = raw[:pos] + bytes([raw[pos] ^ data.draw(st.integers(1, 255))]) + raw[pos + 1:]
    try:
        parse_gguf_header(flipped)
    except InvalidGGUF as exc:
        assert exc.reason
