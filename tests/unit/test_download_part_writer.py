"""The part writers: every byte is written and hashed once, in order, whatever the batches look like."""
from __future__ import annotations

import errno
import hashlib
import os

import pytest

from lora_manager.py.services.downloads import part_file


@pytest.mark.parametrize("mode", sorted(part_file.WRITERS))
async def test_a_long_part_is_written_behind_and_hashed_once(tmp_path, monkeypatch, mode):
    monkeypatch.setattr(part_file, "WRITE_BEHIND", 64 * 1024)  # write-behind many times over a small file
    data = os.urandom(1_000_000)
    path = tmp_path / "model.safetensors.part"
    writer = await part_file.open_part(path, hashlib.sha256(), 0, mode=mode)
    for start in range(0, len(data), 100_000):
        block = data[start:start + 100_000]
        await writer.write([block[:30_000], block[30_000:]])  # a batch of two network reads
    await writer.close()
    assert path.read_bytes() == data
    assert writer.sha256 == hashlib.sha256(data).hexdigest() and writer.size == len(data)


async def test_a_file_system_that_refuses_the_advice_still_gets_every_byte(tmp_path, monkeypatch):
    def refuse(*_args):
        raise OSError(errno.EINVAL, "advice not supported")

    monkeypatch.setattr(part_file, "WRITE_BEHIND", 1024)
    monkeypatch.setattr(part_file, "_FADVISE", refuse)
    path = tmp_path / "x.part"
    writer = await part_file.open_part(path, hashlib.sha256(), 0, mode="to_thread")
    await writer.write([b"a" * 5000])
    await writer.write([b"b" * 5000])
    await writer.close()
    assert path.read_bytes() == b"a" * 5000 + b"b" * 5000
