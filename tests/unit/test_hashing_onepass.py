"""hash_file / hash_files: one read pass, sha256 + AutoV2 + AutoV3, bounded parallelism, cancel."""
from __future__ import annotations

import hashlib
import math
import os
import threading
from pathlib import Path

import pytest

from lora_manager.py.library.hashing import (
    FileHashes,
    HashCancelled,
    autov3_matches_sshs,
    hash_file,
    hash_files,
)
from lora_manager.py.library.safetensors import read_header, write_safetensors_header


def make_safetensors(path: Path, rows: int = 300) -> Path:
    write_safetensors_header(path, {"a.lora_down.weight": ("F32", (rows, 37)), "b": ("U8", (11,))}, {"k": "v"})
    # put varied bytes into the tensor area so the tail hash is meaningful
    header = read_header(path)
    with open(path, "r+b") as handle:
        handle.seek(header.data_offset)
        handle.write(bytes(i % 251 for i in range(header.file_size - header.data_offset)))
    return path


def expected(path: Path, offset: int | None) -> tuple[str, str | None]:
    data = path.read_bytes()
    tail = hashlib.sha256(data[offset:]).hexdigest() if offset is not None else None
    return hashlib.sha256(data).hexdigest(), tail


def test_safetensors_offset_is_found_in_the_same_read(tmp_path: Path) -> None:
    path = make_safetensors(tmp_path / "m.safetensors")
    header = read_header(path)
    full, tail = expected(path, header.data_offset)

    result = hash_file(path)

    assert result == FileHashes(sha256=full, autov2=full[:10], autov3=tail, size=path.stat().st_size)
    assert result.autov3_short == tail[:12]
    assert hash_file(path, tensor_offset=header.data_offset) == result


@pytest.mark.parametrize("chunk_size", [1, 3, 8, 9, 10, 4096])
def test_any_chunk_size_gives_the_same_hashes(tmp_path: Path, chunk_size: int) -> None:
    path = make_safetensors(tmp_path / "m.safetensors", rows=20)
    full, tail = expected(path, read_header(path).data_offset)
    result = hash_file(path, chunk_size=chunk_size)
    assert (result.sha256, result.autov3) == (full, tail)


def test_other_files_have_no_autov3_unless_an_offset_is_given(tmp_path: Path) -> None:
    path = tmp_path / "model.ckpt"
    path.write_bytes(os.urandom(10_000))
    full, _ = expected(path, None)
    plain = hash_file(path)
    assert (plain.sha256, plain.autov2, plain.autov3, plain.size) == (full, full[:10], None, 10_000)
    assert plain.autov3_short is None
    assert hash_file(path, tensor_offset=1234).autov3 == expected(path, 1234)[1]
    assert hash_file(path, tensor_offset=10_000).autov3 == hashlib.sha256(b"").hexdigest()
    assert hash_file(path, tensor_offset=10_001).autov3 is None


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x05\x00\x00",  # shorter than the length prefix
        b"\x02\x00\x00\x00\x00\x00\x00\x00{}",  # exactly a header, no tensors (valid; empty tail)
        b"\xff" * 8 + b"{}",  # absurd length
        b"\x02\x00\x00\x00\x00\x00\x00\x00[]",  # not a JSON object
        b"\x40\x00\x00\x00\x00\x00\x00\x00{}",  # header longer than the file
    ],
)
def test_odd_files_named_safetensors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "odd.safetensors"
    path.write_bytes(content)
    result = hash_file(path)
    assert result.sha256 == hashlib.sha256(content).hexdigest()
    if content.startswith(b"\x02\x00\x00\x00\x00\x00\x00\x00{}"):
        assert result.autov3 == hashlib.sha256(b"").hexdigest()
    else:
        assert result.autov3 is None


def test_progress_is_monotonic_per_chunk_and_ends_at_the_size(tmp_path: Path) -> None:
    path = make_safetensors(tmp_path / "m.safetensors")
    size = path.stat().st_size
    seen: list[int] = []
    hash_file(path, chunk_size=1000, on_progress=seen.append)
    assert seen == sorted(seen)
    assert len(seen) == math.ceil(size / 1000)
    assert seen[-1] == size


def test_cancel_before_and_during(tmp_path: Path) -> None:
    path = make_safetensors(tmp_path / "m.safetensors")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(HashCancelled):
        hash_file(path, cancel=cancel)

    cancel = threading.Event()
    seen: list[int] = []

    def progress(done: int) -> None:
        seen.append(done)
        if len(seen) == 3:
            cancel.set()

    with pytest.raises(HashCancelled):
        hash_file(path, chunk_size=100, on_progress=progress, cancel=cancel)
    assert len(seen) == 3


def test_bad_arguments(tmp_path: Path) -> None:
    path = make_safetensors(tmp_path / "m.safetensors")
    with pytest.raises(ValueError):
        hash_file(path, chunk_size=0)
    with pytest.raises(ValueError):
        hash_file(path, tensor_offset=-1)
    with pytest.raises(ValueError):
        hash_files([(path, None)], max_workers=0)


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        hash_file(tmp_path / "gone.safetensors")


# ------------------------------------------------------------------ hash_files


def test_hash_files_reports_each_file_and_one_failure_stops_nothing(tmp_path: Path) -> None:
    good = [make_safetensors(tmp_path / f"m{i}.safetensors", rows=10 + i) for i in range(6)]
    vanished = make_safetensors(tmp_path / "vanished.safetensors")
    vanished.unlink()  # deleted between the scan and the hash
    folder = tmp_path / "a_folder.safetensors"
    folder.mkdir()
    items = [(p, None) for p in good[:3]] + [(vanished, None), (folder, None)] + [(p, None) for p in good[3:]]
    done: list[tuple[Path, object, str]] = []

    results = hash_files(items, max_workers=3, on_file_done=lambda p, r: done.append((p, r, threading.current_thread().name)))

    assert list(results) == [p for p, _ in items]
    for path in good:
        assert results[path] == hash_file(path)
    assert isinstance(results[vanished], FileNotFoundError)
    assert isinstance(results[folder], IsADirectoryError)
    assert sorted(str(p) for p, _, _ in done) == sorted(str(p) for p, _ in items)
    assert {name for _, _, name in done} == {threading.current_thread().name}


def test_hash_files_uses_the_given_offsets_and_dedupes(tmp_path: Path) -> None:
    path = tmp_path / "plain.bin"
    path.write_bytes(b"x" * 100)
    calls: list[Path] = []
    results = hash_files([(path, 40), (path, 40)], on_file_done=lambda p, r: calls.append(p))
    assert results[path].autov3 == hashlib.sha256(b"x" * 60).hexdigest()
    assert calls == [path]
    assert hash_files([]) == {}


def test_a_bogus_path_is_that_items_error(tmp_path: Path) -> None:
    good = make_safetensors(tmp_path / "m.safetensors", rows=5)
    results = hash_files([(None, None), (good, None)])  # type: ignore[list-item]
    assert isinstance(results[None], TypeError)
    assert isinstance(results[good], FileHashes)


def test_a_failing_callback_does_not_stop_the_others(tmp_path: Path) -> None:
    paths = [make_safetensors(tmp_path / f"m{i}.safetensors", rows=5) for i in range(3)]

    def explode(path: Path, result: object) -> None:
        raise RuntimeError("callback bug")

    results = hash_files([(p, None) for p in paths], max_workers=2, on_file_done=explode)
    assert all(isinstance(r, FileHashes) for r in results.values())


def test_hash_files_cancel_stops_promptly(tmp_path: Path) -> None:
    paths = [make_safetensors(tmp_path / f"m{i}.safetensors", rows=50) for i in range(12)]
    cancel = threading.Event()
    finished: list[Path] = []

    def on_done(path: Path, result: object) -> None:
        finished.append(path)
        cancel.set()

    results = hash_files([(p, None) for p in paths], max_workers=1, cancel=cancel, on_file_done=on_done, chunk_size=256)

    assert list(results) == paths
    hashed = [p for p, r in results.items() if isinstance(r, FileHashes)]
    cancelled = [p for p, r in results.items() if isinstance(r, HashCancelled)]
    assert len(hashed) + len(cancelled) == len(paths)
    assert len(hashed) <= 2  # the first file, maybe the one already running when cancel was set
    assert len(cancelled) >= 10
    assert sorted(finished) == sorted(hashed)  # no callback for cancelled files (completion order is free)


def test_hash_files_with_cancel_already_set(tmp_path: Path) -> None:
    paths = [make_safetensors(tmp_path / f"m{i}.safetensors", rows=5) for i in range(3)]
    cancel = threading.Event()
    cancel.set()
    calls: list[Path] = []
    results = hash_files([(p, None) for p in paths], cancel=cancel, on_file_done=lambda p, r: calls.append(p))
    assert all(isinstance(r, HashCancelled) for r in results.values())
    assert calls == []


def test_hash_files_default_workers(tmp_path: Path) -> None:
    paths = [make_safetensors(tmp_path / f"m{i}.safetensors", rows=5) for i in range(20)]
    results = hash_files((p, None) for p in paths)
    assert [r.sha256 for r in results.values()] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


# ------------------------------------------------------------------ sshs_model_hash


def test_autov3_matches_sshs() -> None:
    ours = hashlib.sha256(b"tensors").hexdigest()
    assert autov3_matches_sshs(ours, ours.upper()) is True
    assert autov3_matches_sshs(ours, f"  {ours[:12].upper()} ") is True  # Civitai short form
    assert autov3_matches_sshs(ours[:12], ours) is True
    assert autov3_matches_sshs(ours, hashlib.sha256(b"other").hexdigest()) is False
    assert autov3_matches_sshs(ours, "abc") is False  # too short to mean anything
    for length in range(1, 10):  # a 1-9 character prefix never counts, on either side
        assert autov3_matches_sshs(ours, ours[:length]) is False
        assert autov3_matches_sshs(ours[:length], ours) is False
    assert autov3_matches_sshs(ours, ours[:12].upper()) is True
    assert autov3_matches_sshs(ours, ours[:11] + ("0" if ours[11] != "0" else "1")) is False
    assert autov3_matches_sshs(ours, None) is None
    assert autov3_matches_sshs(ours, "   ") is None
    assert autov3_matches_sshs(None, ours) is None
