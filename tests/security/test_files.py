"""Issue 13, items 10 and 11: files keep their mode; long names, failed moves, crash leftovers, the trash list.

Through HTTP against the real app where the behaviour is reachable; the cross-filesystem move is driven
through its own function, with the source's removal failing as a read-only source folder makes it fail.
"""
from __future__ import annotations

import errno
import json
import os
import stat
import time
from pathlib import Path

import pytest

from lora_manager.py.library import fileops
from lora_manager.py.library.artifacts import MAX_NAME_BYTES
from lora_manager.py.library.atomic import UMASK
from support.library import lm_sidecar, write_lora
from support.snap import scrub


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
async def lib(lib_env, make_client):
    model = write_lora(lib_env.loras, "ink.safetensors", sidecar=lm_sidecar("ink", sha256="aa" * 32))
    client = await make_client(lib_env)
    client.env, client.model = lib_env, model
    client.sidecar = model.with_name("ink.metadata.json")
    return client


# -- item 10 ------------------------------------------------------------------------------------------
async def test_an_edited_sidecar_keeps_its_mode(lib):
    os.chmod(lib.sidecar, 0o640)
    resp = await lib.post("/api/lm/loras/save-metadata", json={"file_path": str(lib.model), "notes": "x"})
    assert resp.status == 200
    assert mode(lib.sidecar) == 0o640 and json.loads(lib.sidecar.read_text())["notes"] == "x"


async def test_new_files_get_the_umask_and_settings_stay_private(lib_env, make_client):
    fresh = write_lora(lib_env.loras, "fresh.safetensors")  # no sidecar: the scan writes one
    client = await make_client(lib_env)
    sidecar = fresh.with_name("fresh.metadata.json")
    assert sidecar.exists() and mode(sidecar) == 0o666 & ~UMASK
    resp = await client.post("/api/lm/settings", json={"language": "de"})
    assert resp.status == 200, await resp.json()
    assert mode(lib_env.settings_path) == 0o600


# -- item 11 ------------------------------------------------------------------------------------------
async def test_longest_allowed_name_renames_and_its_sidecar_is_still_writable(lib):
    longest = "n" * MAX_NAME_BYTES
    resp = await lib.post("/api/lm/loras/rename", json={"file_path": str(lib.model), "new_file_name": longest})
    assert resp.status == 200, await resp.json()
    renamed = lib.model.with_name(longest + ".safetensors")
    resp = await lib.post("/api/lm/loras/save-metadata", json={"file_path": str(renamed), "notes": "fits"})
    assert resp.status == 200, await resp.json()
    assert json.loads(renamed.with_name(longest + ".metadata.json").read_text())["notes"] == "fits"


async def test_a_name_too_long_for_its_sidecar_is_refused_before_anything_moves(lib, snapshot):
    resp = await lib.post("/api/lm/loras/rename", json={"file_path": str(lib.model),
                                                        "new_file_name": "é" * (MAX_NAME_BYTES // 2 + 1)})
    answer = await resp.json()
    assert resp.status == 400 and "too long" in answer["error"]
    assert answer == snapshot
    assert lib.model.exists() and lib.sidecar.exists()


def test_a_cross_filesystem_move_whose_source_cannot_be_removed_leaves_one_copy(tmp_path, monkeypatch):
    src_folder, dst_folder = tmp_path / "disk-a", tmp_path / "disk-b"
    src_folder.mkdir()
    dst_folder.mkdir()
    src = src_folder / "ink.safetensors"
    src.write_bytes(b"weights" * 1000)
    real_unlink = os.unlink

    def unlink(path, *args, **kwargs):
        if os.fspath(path) == str(src):  # a read-only source folder (root ignores modes, so it is forced)
            raise PermissionError(errno.EACCES, "Permission denied", str(src))
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    with pytest.raises(PermissionError):
        fileops.copy_verify_move(str(src), str(dst_folder / "ink.safetensors"))
    assert src.read_bytes() == b"weights" * 1000
    assert list(dst_folder.iterdir()) == []


async def test_leftovers_of_a_crash_are_removed_at_start_and_nothing_else(lib_env, make_client):
    write_lora(lib_env.loras, "ink.safetensors", sidecar=lm_sidecar("ink", sha256="aa" * 32))
    folder = lib_env.loras
    old_temp = folder / ".ink.metadata.json.k2j4h5g6.lm-tmp"
    old_partial = folder / ".ink.safetensors.lm-partial-1a2b3c4d"
    fresh_temp = folder / ".ink.metadata.json.z9y8x7w6.lm-tmp"  # a write that may still be running
    users = folder / ".notes.txt"
    for path in (old_temp, old_partial, fresh_temp, users):
        path.write_text("x", encoding="utf-8")
    hour_ago = time.time() - 7200
    for path in (old_temp, old_partial, users):
        os.utime(path, (hour_ago, hour_ago))
    await make_client(lib_env)
    assert not old_temp.exists() and not old_partial.exists()
    assert fresh_temp.exists() and users.exists()


async def test_trash_lists_every_batch_newest_first_and_a_listed_batch_restores(lib_env, make_client, snapshot):
    write_lora(lib_env.loras, "ink.safetensors", sidecar=lm_sidecar("ink", sha256="aa" * 32))
    other = write_lora(lib_env.loras, "two.safetensors", sidecar=lm_sidecar("two", sha256="bb" * 32))
    lib = await make_client(lib_env)
    lib.env, lib.model = lib_env, lib_env.loras / "ink.safetensors"
    first = await (await lib.post("/api/lm/loras/delete", json={"file_path": str(lib.model)})).json()
    second = await (await lib.post("/api/lm/loras/delete", json={"file_path": str(other)})).json()
    resp = await lib.get("/api/lm/trash")
    answer = await resp.json()
    assert resp.status == 200 and [b["batch_id"] for b in answer["batches"]] == [second["batch_id"],
                                                                                   first["batch_id"]]
    for batch in answer["batches"]:
        assert batch["expires_at"] > batch["created_at"]
        batch["batch_id"], batch["created_at"], batch["expires_at"] = "<id>", "<t>", "<t>"
    assert scrub(answer, lib.env.tmp) == snapshot
    resp = await lib.post("/api/lm/undo-delete", json={"batch_id": first["batch_id"]})
    assert resp.status == 200 and lib.model.exists()


async def test_a_delete_finished_by_crash_recovery_is_listed_and_undoable(lib_env, make_client):
    """The process died after the journal of a delete was written and before its manifest: the next start
    finishes the delete, and the batch is in the trash list and restores."""
    model = write_lora(lib_env.loras, "ink.safetensors", sidecar=lm_sidecar("ink", sha256="aa" * 32))
    batch = "crashbatch1"
    files = lib_env.loras / ".lm-trash" / batch / "files"
    pairs = [[str(model), str(files / "ink.safetensors")],
             [str(model.with_name("ink.metadata.json")), str(files / "ink.metadata.json")]]
    manifest = {"batch_id": batch, "root": str(lib_env.loras), "model_type": "lora", "created_at": time.time(),
                "entries": [{"model": str(model), "files": pairs}]}
    journal = lib_env.data_dir / "journal"
    journal.mkdir(parents=True, exist_ok=True)
    (journal / "op1.json").write_text(json.dumps({
        "op_id": "op1", "kind": "trash", "state": "forward", "created_at": time.time(), "steps": pairs,
        "data": {"batch_id": batch, "manifests": [manifest],
                 "batch_folders": [str(lib_env.loras / ".lm-trash" / batch)]}}), encoding="utf-8")
    client = await make_client(lib_env)
    assert not model.exists() and (files / "ink.safetensors").exists()
    answer = await (await client.get("/api/lm/trash")).json()
    assert [b["batch_id"] for b in answer["batches"]] == [batch]
    resp = await client.post("/api/lm/undo-delete", json={"batch_id": batch})
    assert resp.status == 200, await resp.json()
    assert model.exists() and model.with_name("ink.metadata.json").exists()
