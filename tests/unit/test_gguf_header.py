"""GGUF header reader: real v2/v3 files written by the tests, and clear errors for bad ones."""
from __future__ import annotations

import pytest

from lora_manager.py.library.gguf import InvalidGGUF, parse_gguf_header, read_gguf_header
from support.gguf_files import gguf_bytes, write_gguf

FLUX_Q4 = [
    ("double_blocks.0.img_attn.qkv.weight", (3072, 9216), "Q4_K"),
    ("double_blocks.0.img_attn.proj.weight", (3072, 3072), "Q4_K"),
    ("img_in.bias", (3072,), "F32"),
]


@pytest.mark.parametrize("version", [2, 3])
def test_reads_keys_tensors_and_sizes(tmp_path, version):
    path = write_gguf(tmp_path / "flux1-dev-Q4_K_S.gguf",
                      {"general.architecture": "flux", "general.quantization_version": 2,
                       "general.file_type": 14, "tokenizer.ggml.tokens": ["a", "b"]}, FLUX_Q4, version)
    header = read_gguf_header(path)
    assert header.version == version
    assert header.metadata["general.architecture"] == "flux"
    assert header.metadata["tokenizer.ggml.tokens"] == ["a", "b"]
    assert [t.name for t in header.tensors] == [t[0] for t in FLUX_Q4]
    assert header.tensors[0].shape == (3072, 9216)
    assert header.quantisation == "Q4_K"
    q4k = (3072 * 9216 + 3072 * 3072) // 256 * 144
    assert header.tensor_bytes == q4k + 3072 * 4


@pytest.mark.parametrize("data, reason", [
    (b"", "truncated"),
    (b"GGML" + bytes(20), "magic"),
    (b"GGUF" + (1).to_bytes(4, "little") + bytes(16), "version 1"),
    (b"GGUF" + (3).to_bytes(4, "little") + (10**9).to_bytes(8, "little") + bytes(8), "over the limit"),
])
def test_bad_headers_give_a_reason(data, reason):
    with pytest.raises(InvalidGGUF) as err:
        parse_gguf_header(data)
    assert reason in err.value.reason


def test_truncated_file_is_an_error_not_a_partial_header(tmp_path):
    full = gguf_bytes({"general.architecture": "t5"}, FLUX_Q4)
    for cut in (10, len(full) // 2, len(full) - 1):
        with pytest.raises(InvalidGGUF, match="truncated"):
            parse_gguf_header(full[:cut])


def test_unreadable_path_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidGGUF, match="cannot read"):
        read_gguf_header(tmp_path / "missing.gguf")


def test_read_limit_caps_what_is_read(tmp_path):
    path = write_gguf(tmp_path / "m.gguf", {"general.architecture": "flux"}, FLUX_Q4)
    with pytest.raises(InvalidGGUF, match="truncated"):
        read_gguf_header(path, max_bytes=40)
