"""Property tests: parsers and identity never crash on arbitrary input; writers and readers agree."""
from __future__ import annotations

import hashlib
import json
import math
import struct
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open

from lora_manager.py.library.architecture import identify
from lora_manager.py.library.hashing import hash_file
from lora_manager.py.library.safetensors import (
    DTYPE_BITS,
    InvalidModelFile,
    SafetensorsHeader,
    TensorInfo,
    read_header,
    write_safetensors_header,
)
from lora_manager.py.library.sidecar import SidecarRecord, apply_updates, read_sidecar, write_sidecar

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
LIGHT = settings(SETTINGS, max_examples=50)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(max_size=12), json_values, max_size=8)

KEY_PARTS = st.sampled_from(
    [
        "lora_te_", "lora_te1_", "lora_te2_", "lora_unet_", "double_blocks", "single_blocks", "joint_blocks",
        "context_block", "blocks.0.cross_attn.k", "attn2_to_k", ".lora_down.weight", ".lora_up.weight",
        ".lora_A.weight", ".alpha", "hada_w1_a", "hada_w1_b", "lokr_w1", "dora_scale", "emb_params", "clip_g",
        "token_embedding.weight", "conditioner.embedders.", "model.diffusion_model.", "guidance_in", "img_in.",
        "_19_", "_37_", "fc2", ".diff", "oft_blocks", "token_refiner", "x_block.attn2", "*",
    ]
)
tensor_names = st.lists(KEY_PARTS | st.text(max_size=10), min_size=1, max_size=5).map("".join)
shapes = st.lists(st.sampled_from([0, 1, 3, 4, 8, 320, 768, 1024, 1280, 2048]) | st.integers(0, 10**6), max_size=4)
METADATA_KEYS = st.sampled_from(
    [
        "modelspec.architecture", "ss_base_model_version", "ss_network_module", "ss_network_args",
        "ss_network_dim", "ss_network_alpha", "ss_tag_frequency", "ss_datasets", "ss_sd_model_name",
        "modelspec.title", "ss_output_name", "modelspec.trigger_phrase", "sshs_model_hash", "ss_v2",
        "ss_training_comment",
    ]
)
METADATA_VALUES = (
    st.text()
    | st.sampled_from(["None", "sd_v1", "sdxl_base_v1-0", "flux-1-dev/lora", "lycoris.kohya", "networks.lora", "nan", "1e999", "-3"])
    | json_values.map(json.dumps)
)
metadata_dicts = st.dictionaries(METADATA_KEYS | st.text(max_size=10), METADATA_VALUES, max_size=10)


@SETTINGS
@given(data=st.binary(max_size=300))
def test_reader_never_crashes_on_arbitrary_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.safetensors"
        path.write_bytes(data)
        try:
            header = read_header(path)
        except InvalidModelFile as exc:
            assert exc.reason
        else:
            assert header.data_offset == 8 + header.header_length <= header.file_size


@LIGHT
@given(document=json_values, tail=st.binary(max_size=64))
def test_reader_never_crashes_on_arbitrary_json_headers(document: Any, tail: bytes) -> None:
    raw = json.dumps(document).encode("utf-8")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.safetensors"
        path.write_bytes(struct.pack("<Q", len(raw)) + raw + tail)
        try:
            header = read_header(path)
        except InvalidModelFile as exc:
            assert exc.reason
        else:
            assert all(isinstance(value, str) for value in header.metadata.values())
            assert all(info.end + header.data_offset <= header.file_size for info in header.tensors.values())


byte_dtypes = st.sampled_from(sorted(name for name, bits in DTYPE_BITS.items() if bits % 8 == 0 and name != "C64"))


@SETTINGS
@given(
    tensors=st.dictionaries(
        st.text(min_size=1, max_size=20).filter(lambda name: name != "__metadata__"),
        st.tuples(byte_dtypes, st.lists(st.integers(0, 5), max_size=3)),
        max_size=5,
    ),
    metadata=st.none() | st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5),
)
def test_writer_reader_and_reference_library_agree(tensors: dict[str, tuple[str, list[int]]], metadata: dict[str, str] | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "w.safetensors"
        write_safetensors_header(path, tensors, metadata)
        header = read_header(path)
        assert {name: (info.dtype, list(info.shape)) for name, info in header.tensors.items()} == tensors
        assert header.metadata == (metadata or {})
        hashes = hash_file(path)
        data = path.read_bytes()
        assert hashes.autov3 == hashlib.sha256(data[header.data_offset :]).hexdigest()
        with safe_open(str(path), framework="numpy") as handle:
            assert set(handle.keys()) == set(tensors)
            assert (handle.metadata() or {}) == (metadata or {})


@SETTINGS
@given(metadata=metadata_dicts, tensors=st.dictionaries(tensor_names, shapes, max_size=12), size=st.integers(-5, 10**13),
       model_type=st.sampled_from(["lora", "checkpoint", "embedding", "other"]), name=st.text(max_size=30))
def test_identify_never_crashes(metadata: dict[str, str], tensors: dict[str, list[int]], size: int, model_type: str, name: str) -> None:
    header = SafetensorsHeader(
        header_length=100,
        data_offset=108,
        metadata=metadata,
        tensors={key: TensorInfo("F16", tuple(shape), 0, 0) for key, shape in tensors.items()},
        file_size=max(size, 0),
    )
    result = identify(header, file_name=name + ".safetensors", file_size=size, model_type=model_type)
    data = result.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert result.base_model and result.base_model_source and result.network_type_source
    assert len(result.trigger_words) <= 10
    assert all(word == word.strip() and word for word in result.trigger_words)
    assert result.rank is None or result.rank > 0
    assert result.alpha is None or math.isfinite(result.alpha)
    named = identify(None, file_name=name, file_size=size, model_type=model_type)
    assert named.base_model_source


@SETTINGS
@given(data=st.binary(max_size=2000), chunk_size=st.integers(1, 700), offset=st.none() | st.integers(0, 2500))
def test_one_pass_hashes_equal_hashlib(data: bytes, chunk_size: int, offset: int | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "blob.bin"
        path.write_bytes(data)
        progress: list[int] = []
        result = hash_file(path, tensor_offset=offset, chunk_size=chunk_size, on_progress=progress.append)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size == len(data)
    if offset is None or offset > len(data):
        assert result.autov3 is None
    else:
        assert result.autov3 == hashlib.sha256(data[offset:]).hexdigest()
    assert progress == sorted(progress) and (progress[-1] if progress else 0) == len(data)


@LIGHT
@given(document=json_objects)
def test_any_json_object_survives_a_sidecar_round_trip(document: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.metadata.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        loaded = read_sidecar(path)
        write_sidecar(path, apply_updates(loaded, {}))
        assert read_sidecar(path) == document


@LIGHT
@given(document=json_objects, civitai=json_values, extra=json_objects)
def test_record_view_never_raises(document: dict[str, Any], civitai: Any, extra: dict[str, Any]) -> None:
    for raw in (document, {**document, "civitai": civitai}, {**document, "civitai": {"model": civitai, **extra}}):
        record = SidecarRecord.from_dict(raw)
        assert isinstance(record.tags, list) and isinstance(record.usage_tips, dict)
        assert isinstance(record.preview_nsfw_level, int) and isinstance(record.notes, str)


@LIGHT
@given(raw=json_objects, updates=json_objects)
def test_apply_updates_keeps_what_it_is_not_told_to_change(raw: dict[str, Any], updates: dict[str, Any]) -> None:
    result = apply_updates(raw, updates)
    for key, value in raw.items():
        if key not in updates:
            assert result[key] == value
    for key, value in updates.items():
        if key == "civitai" and isinstance(value, dict) and isinstance(raw.get(key), dict):
            assert result[key] == {**raw[key], **value}
        else:
            assert result[key] == value
