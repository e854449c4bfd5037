"""A move to another filesystem removes the source only once the copy is on the disk: the copy's bytes are
fsynced before it takes its name, and its folder (the new name) is fsynced before the source is unlinked. A
power cut at any point leaves at least one whole copy. Driven through the move route with ``EXDEV`` injected."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from lora_manager.py.library.atomic import PARTIAL_MARK
from support.library import lm_sidecar, write_lora


@pytest.fixture
async def moving(lib_env, make_client, monkeypatch):
    """A library whose ``target`` folder is on "another filesystem": renames into it fail with EXDEV."""
    source = write_lora(lib_env.loras, "a/model.safetensors", sidecar=lm_sidecar("model", sha256="ab" * 32))
    (lib_env.loras / "target").mkdir()
    client = await make_client(lib_env)
    events: list[tuple[str, ...]] = []
    real_fsync, real_unlink, real_rename = os.fsync, os.unlink, os.rename

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def unlink(path, *args, **kwargs):
        events.append(("unlink", os.fspath(path)))
        return real_unlink(path, *args, **kwargs)

    def rename(src, dst, *args, **kwargs):
        if PARTIAL_MARK not in os.fspath(src) and "/target/" in os.fspath(dst):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        events.append(("rename", os.fspath(src), os.fspath(dst)))
        return real_rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "unlink", unlink)
    monkeypatch.setattr(os, "rename", rename)
    client.source, client.events = source, events
    return client


async def move(client, target: Path):
    response = await client.post("/api/lm/loras/move_model",
                                 json={"file_path": str(client.source), "target_path": str(target)})
    return response.status, await response.json()


async def test_copy_and_its_folder_are_synced_before_the_source_is_removed(lib_env, moving):
    data = moving.source.read_bytes()
    status, body = await move(moving, lib_env.loras / "target")
    assert status == 200, body
    dst = lib_env.loras / "target" / "model.safetensors"
    assert dst.read_bytes() == data and not moving.source.exists()

    events = moving.events
    [(i_rename, partial)] = [(i, e[1]) for i, e in enumerate(events)
                             if e[0] == "rename" and e[2] == str(dst) and PARTIAL_MARK in e[1]]
    copy_synced = [i for i, e in enumerate(events) if e == ("fsync", partial)]
    assert copy_synced and copy_synced[-1] < i_rename  # the bytes are durable before the copy takes its name
    [i_unlink] = [i for i, e in enumerate(events) if e == ("unlink", str(moving.source))]
    folder_synced = [i for i, e in enumerate(events) if e == ("fsync", str(dst.parent))]
    assert any(i_rename < i < i_unlink for i in folder_synced)  # the new name is durable before the old goes
    assert i_rename < i_unlink


async def test_a_copy_that_cannot_be_synced_keeps_the_source(lib_env, moving, monkeypatch):
    data = moving.source.read_bytes()
    recording = os.fsync

    def failing(fd: int) -> None:
        if PARTIAL_MARK in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.EIO, "Input/output error")
        return recording(fd)

    monkeypatch.setattr(os, "fsync", failing)
    status, body = await move(moving, lib_env.loras / "target")
    assert status >= 400 and body["success"] is False and "nothing was changed" in body["error"]
    assert moving.source.read_bytes() == data
    assert list((lib_env.loras / "target").iterdir()) == []  # no partial copy, no second file
    assert not any(e[0] == "unlink" and e[1] == str(moving.source) for e in moving.events)
    listed = await (await moving.get("/api/lm/loras/list")).json()
    assert [i["file_path"] for i in listed["items"]] == [moving.source.as_posix()]
