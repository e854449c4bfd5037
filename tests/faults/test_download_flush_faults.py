"""No received byte is lost when a transfer stops with its ``.part`` kept (skip, pause then shutdown, a cut):
the bytes gathered for the next 1 MiB hand-off reach the ``.part`` first, so the resume asks for exactly the
bytes that are missing and the result verifies."""
from __future__ import annotations

import asyncio
import errno
import hashlib
import sqlite3

import pytest

from support.download_kit import DOWNLOAD_PATH, add_blob, clock, http, ranges_sent  # noqa: F401  (fixtures)
from support.downloads import add_lora, download_client, manager_of, wait_bytes, wait_history, wait_until
from support.fake_civitai import fake_civitai  # noqa: F401  (fixture)

HELD_AT = 23_457  # not a multiple of any chunk or read size
BIG_CHUNK = 1024 * 1024


@pytest.fixture
def instant_progress(monkeypatch):
    """Every received block is reported, so the test knows when the client has the held bytes."""
    from lora_manager.py.services.downloads import manager

    monkeypatch.setattr(manager, "PROGRESS_INTERVAL", 0.0)


def _file_bytes_sent(fake) -> int:
    return sum(n for path, n in fake.bytes_sent.items() if path.startswith(DOWNLOAD_PATH))


def _paths(lib_env, version):
    target = lib_env.loras / "SDXL 1.0" / "style" / version.files[0].name
    return target, target.with_name(target.name + ".part")


async def _held_download(client, fake, version, did: str):
    """Start a download whose server stops after ``HELD_AT`` bytes; return once the client holds them all."""
    fake.hold_after(HELD_AT, path=DOWNLOAD_PATH)
    held = asyncio.ensure_future(client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": did}))
    await wait_until(lambda: _file_bytes_sent(fake) >= HELD_AT)
    await wait_bytes(client, did, minimum=HELD_AT)
    return held


async def _resume(client, did: str) -> None:
    """The paused download comes back paused after a restart; the user resumes it."""
    await wait_until(lambda: manager_of(client).is_active(did))
    resumed = await client.get("/api/lm/resume-download", params={"download_id": did})
    assert (await resumed.json())["success"] is True


async def test_skip_keeps_every_received_byte_and_the_resume_verifies(lib_env, make_client, fake_civitai,
                                                                      monkeypatch, instant_progress):
    version = add_lora(fake_civitai, "Flushed", n_bytes=80_000)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch, chunk_size=BIG_CHUNK)
    held = await _held_download(client, fake_civitai, version, "fl-1")
    target, part = _paths(lib_env, version)
    assert part.stat().st_size == 0  # everything received is still gathered for the 1 MiB hand-off

    skipped = await client.get("/api/lm/skip-download", params={"download_id": "fl-1"})
    assert (await skipped.json())["success"] is True
    assert (await held).status == 409
    assert part.stat().st_size == HELD_AT == _file_bytes_sent(fake_civitai)
    assert part.read_bytes() == version.files[0].data[:HELD_AT]

    fake_civitai.release()
    fake_civitai.clear_faults()
    again = await client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": "fl-2"})
    assert again.status == 200, await again.json()
    assert ranges_sent(fake_civitai)[-1] == f"bytes={HELD_AT}-"
    assert hashlib.sha256(target.read_bytes()).hexdigest() == version.files[0].sha256
    assert not part.exists()


async def test_shutdown_while_paused_keeps_the_bytes_and_the_next_start_resumes(lib_env, make_client, fake_civitai,
                                                                                monkeypatch, instant_progress):
    version = add_lora(fake_civitai, "Paused Then Stopped", n_bytes=90_000)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch, chunk_size=BIG_CHUNK)
    held = await _held_download(client, fake_civitai, version, "fl-3")
    paused = await client.get("/api/lm/pause-download", params={"download_id": "fl-3"})
    assert (await paused.json())["success"] is True
    await client.close()  # the server stops: the transfer ends, its .part and queue row stay
    held.cancel()
    await asyncio.gather(held, return_exceptions=True)
    target, part = _paths(lib_env, version)
    assert part.stat().st_size == HELD_AT
    with sqlite3.connect(lib_env.data_dir / "db" / "downloads.sqlite") as db:
        assert db.execute("SELECT status FROM queue WHERE download_id = 'fl-3'").fetchone() == ("paused",)

    fake_civitai.clear_faults()
    again = await make_client(lib_env)
    await _resume(again, "fl-3")
    row = await wait_history(again, "fl-3")
    assert row["status"] == "completed", row
    assert target.read_bytes() == version.files[0].data
    assert ranges_sent(fake_civitai)[-1] == f"bytes={HELD_AT}-"


async def test_a_full_disk_while_saving_the_last_bytes_still_ends_the_skip_cleanly(
        lib_env, make_client, fake_civitai, monkeypatch, instant_progress):
    from lora_manager.py.services.downloads import part_file

    version = add_lora(fake_civitai, "No Room Left", n_bytes=60_000)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch, chunk_size=BIG_CHUNK)
    held = await _held_download(client, fake_civitai, version, "fl-4")

    def full(handle, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(part_file, "write_chunk", full)
    await client.get("/api/lm/skip-download", params={"download_id": "fl-4"})
    response = await held
    assert response.status == 409
    assert (await response.json())["error"] == "Download was cancelled"
    target, part = _paths(lib_env, version)
    assert part.stat().st_size == 0  # those bytes could not be saved; nothing else was lost or half-written
    assert (await wait_history(client, "fl-4"))["status"] == "canceled"

    monkeypatch.setattr(part_file, "write_chunk", lambda handle, data: handle.write(data))
    fake_civitai.clear_faults()
    again = await client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": "fl-5"})
    assert again.status == 200
    assert hashlib.sha256(target.read_bytes()).hexdigest() == version.files[0].sha256


async def test_a_cut_connection_resumes_from_exactly_the_bytes_received(fake_civitai, http, tmp_path):
    from lora_manager.py.services.downloads.downloader import Downloader

    blob = add_blob(fake_civitai, n_bytes=150_000)
    fake_civitai.cut_after(HELD_AT, path=DOWNLOAD_PATH)
    downloader = Downloader(http, chunk_size=BIG_CHUNK, stall_timeout=5.0, progress_interval=0.0)
    result = await downloader.download(blob.request(tmp_path / "blob.bin", expected_sha256=blob.sha256))
    assert result.resumed and result.sha256 == blob.sha256
    assert ranges_sent(fake_civitai) == [None, f"bytes={HELD_AT}-"]


async def test_a_plain_cancel_still_deletes_the_part(fake_civitai, http, tmp_path):
    from lora_manager.py.services.downloads.control import DownloadStreamControl
    from lora_manager.py.services.downloads.downloader import Downloader
    from lora_manager.py.services.remote.errors import ErrorKind, RemoteError

    blob = add_blob(fake_civitai, n_bytes=60_000)
    fake_civitai.hold_after(HELD_AT, path=DOWNLOAD_PATH)
    control = DownloadStreamControl()
    seen: list[int] = []
    downloader = Downloader(http, chunk_size=BIG_CHUNK, stall_timeout=5.0, progress_interval=0.0)
    target = tmp_path / "blob.bin"
    task = asyncio.ensure_future(downloader.download(blob.request(target), control=control,
                                                     on_progress=lambda p: seen.append(p.bytes_downloaded)))
    try:
        await wait_until(lambda: seen and seen[-1] >= HELD_AT)
        control.cancel()
        with pytest.raises(RemoteError) as caught:
            await task
        assert caught.value.kind is ErrorKind.CANCELLED
    finally:
        fake_civitai.release()
    assert not target.exists() and not target.with_name("blob.bin.part").exists()


async def test_a_404_before_any_byte_leaves_no_empty_part(fake_civitai, http, tmp_path):
    from lora_manager.py.services.downloads.downloader import Downloader
    from lora_manager.py.services.remote.errors import ErrorKind, RemoteError

    blob = add_blob(fake_civitai, n_bytes=10_000)
    fake_civitai.fail_next(1, 404, path=DOWNLOAD_PATH)
    downloader = Downloader(http, chunk_size=BIG_CHUNK, stall_timeout=5.0)
    with pytest.raises(RemoteError) as caught:
        await downloader.download(blob.request(tmp_path / "gone.bin"))
    assert caught.value.kind is ErrorKind.NOT_FOUND
    assert list(tmp_path.iterdir()) == []
