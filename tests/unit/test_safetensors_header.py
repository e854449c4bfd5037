"""The bounded safetensors header reader and the tiny writer, against real files in tmp_path."""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from lora_manager.py.library.safetensors import (
    InvalidModelFile,
    TensorInfo,
    is_safetensors_name,
    read_header,
    read_metadata,
    write_safetensors_header,
)

LORA = {
    "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": ("F16", (8, 320)),
    "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": ("F16", (320, 8)),
    "lora_unet_down_blocks_0_attentions_0_proj_in.alpha": ("F32", ()),
    "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": ("BF16", (8, 768)),
}


def raw_file(path: Path, header: bytes | str, tail: bytes = b"", *, length: int | None = None) -> Path:
    """A file with an arbitrary header (and optional declared length) for the error paths."""
    body = header.encode("utf-8") if isinstance(header, str) else header
    path.write_bytes(struct.pack("<Q", len(body) if length is None else length) + body + tail)
    return path


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "style.safetensors"
    meta = {"ss_network_dim": "8", "ss_base_model_version": "sd_v1", "note": "naïve ✓"}
    written = write_safetensors_header(path, LORA, meta)

    header = read_header(path)

    assert header == written
    assert header.file_size == path.stat().st_size
    assert header.data_offset == 8 + header.header_length
    assert header.header_length % 8 == 0  # padded like the reference writer
    assert header.metadata == meta
    assert list(header.tensors) == list(LORA)
    down = header.tensors["lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight"]
    assert down == TensorInfo(dtype="F16", shape=(8, 320), begin=0, end=8 * 320 * 2)
    assert down.nbytes == 5120
    assert header.tensors["lora_unet_down_blocks_0_attentions_0_proj_in.alpha"].shape == ()
    last_end = max(info.end for info in header.tensors.values())
    assert header.data_offset + last_end == header.file_size


def test_reference_library_reads_what_we_wrote(tmp_path: Path) -> None:
    path = tmp_path / "cross.safetensors"
    write_safetensors_header(path, LORA, {"modelspec.title": "Cross check"})

    with safe_open(str(path), framework="numpy") as handle:
        assert set(handle.keys()) == set(LORA)
        assert handle.metadata() == {"modelspec.title": "Cross check"}
        down = handle.get_tensor("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight")
        assert down.shape == (8, 320)
        assert down.dtype == np.float16
        assert not down.any()
        assert handle.get_tensor("lora_unet_down_blocks_0_attentions_0_proj_in.alpha").shape == ()


def test_reader_agrees_with_a_file_saved_by_the_reference_library(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "ref.safetensors"
    save_file(
        {"a": np.ones((3, 4), dtype=np.float32), "b": np.zeros((2,), dtype=np.int64)},
        str(path),
        metadata={"k": "v"},
    )
    header = read_header(path)
    assert header.metadata == {"k": "v"}
    assert header.tensors["a"].shape == (3, 4) and header.tensors["a"].dtype == "F32"
    assert header.tensors["b"].nbytes == 16


def test_sparse_writer_makes_big_fake_files_cheaply(tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    with open(probe, "wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    if probe.stat().st_blocks * 512 >= 1024 * 1024:
        pytest.skip("filesystem does not support sparse files")

    path = tmp_path / "huge_checkpoint.safetensors"
    tensors = {"model.diffusion_model.input_blocks.0.0.weight": ("F16", (1024, 1024, 1024))}  # 2 GiB
    write_safetensors_header(path, tensors, None, fill_data=False)

    stat = path.stat()
    assert stat.st_size == 8 + read_header(path).header_length + 2 * 1024**3
    assert stat.st_blocks * 512 < 1024 * 1024
    header = read_header(path)
    assert header.tensors["model.diffusion_model.input_blocks.0.0.weight"].nbytes == 2 * 1024**3
    with safe_open(str(path), framework="numpy") as handle:
        assert list(handle.keys()) == list(tensors)


def test_empty_file_set_and_metadata_only(tmp_path: Path) -> None:
    path = tmp_path / "empty.safetensors"
    write_safetensors_header(path, {}, {"only": "meta"})
    header = read_header(path)
    assert header.tensors == {}
    assert header.metadata == {"only": "meta"}
    assert header.file_size == header.data_offset
    assert read_metadata(path) == {"only": "meta"}


def test_no_metadata_block_and_null_metadata(tmp_path: Path) -> None:
    write_safetensors_header(tmp_path / "a.safetensors", {"x": ("U8", (4,))})
    assert read_header(tmp_path / "a.safetensors").metadata == {}
    raw_file(tmp_path / "b.safetensors", '{"__metadata__": null, "x": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}', b"\0")
    assert read_header(tmp_path / "b.safetensors").metadata == {}


def test_non_string_metadata_values_are_kept_as_text(tmp_path: Path) -> None:
    path = tmp_path / "odd.safetensors"
    write_safetensors_header(path, {"x": ("U8", (2,))}, {"n": 5, "f": 1.5, "b": True, "l": [1, 2], "none": None})
    assert read_header(path).metadata == {"n": "5", "f": "1.5", "b": "True", "l": "[1, 2]", "none": "None"}


def test_unknown_dtypes_are_accepted_without_a_size_check(tmp_path: Path) -> None:
    path = raw_file(
        tmp_path / "future.safetensors",
        '{"x": {"dtype": "F3_FUTURE", "shape": [7], "data_offsets": [0, 5]}}',
        b"\0" * 5,
    )
    assert read_header(path).tensors["x"].dtype == "F3_FUTURE"


def test_packed_sub_byte_dtypes(tmp_path: Path) -> None:
    path = tmp_path / "fp4.safetensors"
    write_safetensors_header(path, {"w": ("F4", (4, 6))})
    assert read_header(path).tensors["w"].nbytes == 12
    with pytest.raises(ValueError, match="whole bytes"):
        write_safetensors_header(tmp_path / "odd.safetensors", {"w": ("F4", (3,))})
    with pytest.raises(ValueError, match="unknown dtype"):
        write_safetensors_header(tmp_path / "bad.safetensors", {"w": ("Q9", (3,))})


def test_header_may_carry_trailing_spaces(tmp_path: Path) -> None:
    path = raw_file(tmp_path / "pad.safetensors", '{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}      ', b"\1")
    assert list(read_header(path).tensors) == ["x"]


@pytest.mark.parametrize("size", [0, 1, 7])
def test_file_too_short(tmp_path: Path, size: int) -> None:
    path = tmp_path / "short.safetensors"
    path.write_bytes(b"\1" * size)
    with pytest.raises(InvalidModelFile) as info:
        read_header(path)
    assert f"only {size} bytes" in info.value.reason
    assert str(info.value) == info.value.reason


def test_zero_header_length(tmp_path: Path) -> None:
    path = raw_file(tmp_path / "zero.safetensors", b"", b"{}")
    with pytest.raises(InvalidModelFile, match="header length is 0"):
        read_header(path)


def test_header_over_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    path = raw_file(tmp_path / "big.safetensors", b"{}", length=2**62)
    with pytest.raises(InvalidModelFile) as info:
        read_header(path)
    assert info.value.reason.startswith(f"header of {2**62} bytes exceeds the {100 * 1024 * 1024}-byte limit")

    small = tmp_path / "small_cap.safetensors"
    write_safetensors_header(small, LORA, {"k": "v" * 500})
    with pytest.raises(InvalidModelFile, match="exceeds the 64-byte limit"):
        read_header(small, max_header_bytes=64)


def test_header_cut_short(tmp_path: Path) -> None:
    path = raw_file(tmp_path / "cut.safetensors", b'{"x": {"dtyp', length=500)
    with pytest.raises(InvalidModelFile) as info:
        read_header(path)
    assert info.value.reason.startswith("truncated:")
    assert "500" in info.value.reason


def test_tensor_data_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "partial_download.safetensors"
    write_safetensors_header(path, LORA)
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(size - 1)
    with pytest.raises(InvalidModelFile) as info:
        read_header(path)
    assert info.value.reason.startswith("truncated: tensor ")
    assert str(size - 1) in info.value.reason


@pytest.mark.parametrize(
    "header, message",
    [
        (b'{"x": "\xff\xfe"}', "not valid UTF-8"),
        (b'{"x": ', "not valid JSON"),
        (b"[1, 2]", "JSON list, expected an object"),
        (b'"text"', "JSON str, expected an object"),
        (b'{"__metadata__": [1]}', "'__metadata__' is a JSON list"),
        (b'{"x": 5}', "tensor 'x' is malformed: expected an object"),
        (b'{"x": {"shape": [1], "data_offsets": [0, 1]}}', "'dtype'"),
        (b'{"x": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 1]}}', "'shape'"),
        (b'{"x": {"dtype": "U8", "shape": [true], "data_offsets": [0, 1]}}', "'shape'"),
        (b'{"x": {"dtype": "U8", "shape": "1", "data_offsets": [0, 1]}}', "'shape'"),
        (b'{"x": {"dtype": "U8", "shape": [1], "data_offsets": [0]}}', "'data_offsets'"),
        (b'{"x": {"dtype": "U8", "shape": [1], "data_offsets": [1, 0]}}', "'data_offsets'"),
        (b'{"x": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1.5]}}', "'data_offsets'"),
        (b'{"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}', "needs 8 bytes"),
    ],
)
def test_malformed_headers(tmp_path: Path, header: bytes, message: str) -> None:
    path = raw_file(tmp_path / "bad.safetensors", header, b"\0" * 64)
    with pytest.raises(InvalidModelFile) as info:
        read_header(path)
    assert message in info.value.reason


def test_long_tensor_names_are_clipped_in_messages(tmp_path: Path) -> None:
    name = "n" * 500
    path = raw_file(tmp_path / "long.safetensors", json.dumps({name: 1}), b"")
    with pytest.raises(InvalidModelFile) as info:
        read_header(path)
    assert len(info.value.reason) < 200


def test_os_errors_pass_through(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_header(tmp_path / "missing.safetensors")
    with pytest.raises(IsADirectoryError):
        read_header(tmp_path)


def test_is_safetensors_name() -> None:
    assert is_safetensors_name("a.safetensors")
    assert is_safetensors_name(Path("dir/ae.SFT"))
    assert not is_safetensors_name("model.ckpt")
    assert not is_safetensors_name(os.fspath(Path("x.safetensors.part")))
