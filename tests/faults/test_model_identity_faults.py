"""Failure paths of the model-identity modules: a failed write loses nothing, errors are clear."""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from lora_manager.py.library.hashing import FileHashes, hash_file, hash_files
from lora_manager.py.library.safetensors import write_safetensors_header
from lora_manager.py.library.sidecar import SidecarError, read_sidecar, write_sidecar

OLD = {"model_name": "Old", "unknown_field": {"keep": [1, 2, 3]}}
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def existing_sidecar(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "m.metadata.json"
    write_sidecar(path, OLD)
    return path, path.read_bytes()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_unencodable_value_leaves_the_old_sidecar(tmp_path: Path) -> None:
    path, before = existing_sidecar(tmp_path)
    with pytest.raises(SidecarError) as info:
        write_sidecar(path, {"model_name": "New", "bad": {1, 2}})
    assert "cannot be saved as JSON" in info.value.reason
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []

    circular: dict = {"model_name": "New"}
    circular["self"] = circular
    with pytest.raises(SidecarError):
        write_sidecar(path, circular)
    assert path.read_bytes() == before


def test_disk_full_during_the_write_leaves_the_old_sidecar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, before = existing_sidecar(tmp_path)

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError) as info:
        write_sidecar(path, {"model_name": "New"})
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert read_sidecar(path) == OLD
    assert leftovers(tmp_path) == []


def test_locked_target_leaves_the_old_sidecar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """os.replace fails with EACCES when another program holds the file open (Windows) or the folder is locked."""
    path, before = existing_sidecar(tmp_path)

    def denied(src: str, dst: str) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(dst))

    monkeypatch.setattr(os, "replace", denied)
    with pytest.raises(PermissionError):
        write_sidecar(path, {"model_name": "New"})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(IS_ROOT or os.name == "nt", reason="root ignores folder permissions")
def test_read_only_folder_leaves_the_old_sidecar(tmp_path: Path) -> None:
    path, before = existing_sidecar(tmp_path)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(PermissionError):
            write_sidecar(path, {"model_name": "New"})
    finally:
        tmp_path.chmod(0o755)
    assert path.read_bytes() == before


def test_missing_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_sidecar(tmp_path / "gone" / "m.metadata.json", OLD)


def test_corrupt_sidecar_is_reported_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "m.metadata.json"
    path.write_bytes(b'{"model_name": "half a wri')
    with pytest.raises(SidecarError):
        read_sidecar(path)
    assert path.read_bytes() == b'{"model_name": "half a wri'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.metadata.json"]


@pytest.mark.skipif(IS_ROOT or os.name == "nt", reason="root can read any file")
def test_unreadable_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret.safetensors"
    write_safetensors_header(secret, {"x": ("U8", (4,))})
    secret.chmod(0)
    other = tmp_path / "ok.safetensors"
    write_safetensors_header(other, {"x": ("U8", (4,))})
    try:
        with pytest.raises(PermissionError):
            hash_file(secret)
        results = hash_files([(secret, None), (other, None)])
        assert isinstance(results[secret], PermissionError)
        assert isinstance(results[other], FileHashes)
    finally:
        secret.chmod(0o644)


def test_file_removed_while_others_hash(tmp_path: Path) -> None:
    paths = []
    for index in range(4):
        path = tmp_path / f"m{index}.safetensors"
        write_safetensors_header(path, {"x": ("F32", (64, 64))}, {"i": str(index)})
        paths.append(path)
    paths[2].unlink()
    seen: dict[Path, object] = {}
    results = hash_files([(p, None) for p in paths], max_workers=2, on_file_done=seen.__setitem__)
    assert isinstance(results[paths[2]], FileNotFoundError)
    assert isinstance(seen[paths[2]], FileNotFoundError)
    assert all(isinstance(results[p], FileHashes) for p in paths if p != paths[2])
    json.dumps({str(k): repr(v) for k, v in results.items()})  # results are reportable
