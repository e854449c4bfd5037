"""A full disk while a downloaded zip is unpacked: a clear error (507 through the app), the zip is kept, and no
member or ``.part`` of this extraction is left behind."""
from __future__ import annotations

import errno
import io
import sys
import zipfile
from pathlib import Path

import pytest

from lora_manager.py.services.downloads import archives
from support.downloads import add_lora, download_client
from support.fake_civitai import fake_civitai, make_safetensors  # noqa: F401  (fixture)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def disk_full_on_second_member(monkeypatch):
    """The first member reaches the disk, the second's fsync finds it full (where ENOSPC shows up on NFS)."""
    real = archives.os.fsync
    calls = []

    def fsync(fd):
        if not sys._getframe(1).f_globals["__name__"].endswith(".archives"):
            return real(fd)  # the download's own .part: not this test's disk
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(archives.os, "fsync", fsync)
    return calls


def test_a_full_disk_mid_extraction_removes_what_was_written(tmp_path: Path, disk_full_on_second_member):
    zip_path = tmp_path / "pack.zip"
    zip_path.write_bytes(_zip({"a.safetensors": b"a" * 100, "b.safetensors": b"b" * 100}))
    with pytest.raises(OSError) as caught:
        archives.extract_models(zip_path, tmp_path, (".safetensors",))
    assert caught.value.errno == errno.ENOSPC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack.zip"]


async def test_a_full_disk_while_unpacking_a_download_is_507_and_keeps_the_zip(
        lib_env, make_client, fake_civitai, monkeypatch, disk_full_on_second_member):
    version = add_lora(fake_civitai, "Zipped Style")
    version.files.clear()
    fake_civitai.add_file(version, _zip({"a.safetensors": make_safetensors(seed=1),
                                         "b.safetensors": make_safetensors(seed=2)}),
                          name="zipped_style.zip", type="Archive", format="Other", primary=True)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    response = await client.get("/api/lm/download-model-get",
                                params={"model_id": version.model_id, "model_version_id": version.id})
    body = await response.json()
    assert response.status == 507, body
    assert body["success"] is False and "Disk full" in body["error"] and "kept at" in body["error"]
    folder = lib_env.loras / "SDXL 1.0" / "style"
    assert sorted(p.name for p in folder.iterdir()) == ["zipped_style.zip"]
    assert len(disk_full_on_second_member) == 2
