"""Pause, resume, cancel and skip of a live download over 127.0.0.1, from the loop and from other threads."""
from __future__ import annotations

import asyncio
import threading

import pytest

from lora_manager.py.services.downloads.control import DownloadStreamControl
from lora_manager.py.services.downloads.downloader import Downloader
from lora_manager.py.services.downloads.progress import DownloadProgress
from lora_manager.py.services.remote.errors import ErrorKind, RemoteError
from support.download_kit import ProgressLog, add_blob, clock, downloader, http, ranges_sent  # noqa: F401
from support.fake_civitai import fake_civitai  # noqa: F401  (fixture)


def when_bytes_reach(n: int, action) -> ProgressLog:
    """A progress log that runs ``action`` once, the first time ``n`` bytes have arrived."""
    log = ProgressLog()
    fired = []

    def callback(progress: DownloadProgress) -> None:
        log(progress)
        if not fired and progress.bytes_downloaded >= n:
            fired.append(True)
            action()

    log.callback = callback  # type: ignore[attr-defined]
    return log


async def test_pause_stops_reading_and_resume_finishes(fake_civitai, http, tmp_path):
    blob = add_blob(fake_civitai, 200_000)
    fake_civitai.slow(2_000_000)
    control = DownloadStreamControl()
    log = when_bytes_reach(30_000, control.pause)
    loader = Downloader(http, chunk_size=4096, stall_timeout=0.3, progress_interval=0.0)
    task = asyncio.create_task(loader.download(blob.request(tmp_path / "p.bin"), control=control,
                                               on_progress=log.callback))
    while not (log.reports and log.reports[-1].status == "paused"):
        await asyncio.sleep(0.005)
    held = log.reports[-1].bytes_downloaded
    await asyncio.sleep(0.1)
    assert not task.done() and log.reports[-1].status == "paused"
    assert log.reports[-1].bytes_downloaded == held and held < len(blob.data)
    control.resume()
    result = await task
    assert (tmp_path / "p.bin").read_bytes() == blob.data
    assert ranges_sent(fake_civitai) == [None]  # a short pause keeps the same connection
    assert "paused" in log.statuses and log.statuses[-2:] == ["verifying", "completed"]
    assert result.size == len(blob.data)


async def test_long_pause_reconnects_with_range(fake_civitai, http, tmp_path):
    """Paused longer than the stall timeout: the server may have dropped the socket, so resume reconnects."""
    blob = add_blob(fake_civitai, 200_000)
    fake_civitai.slow(2_000_000)
    control = DownloadStreamControl()
    log = when_bytes_reach(30_000, control.pause)
    loader = Downloader(http, chunk_size=4096, stall_timeout=0.1, progress_interval=0.0)
    task = asyncio.create_task(loader.download(blob.request(tmp_path / "lp.bin", expected_sha256=blob.sha256),
                                               control=control, on_progress=log.callback))
    while not (log.reports and log.reports[-1].status == "paused"):
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.15)
    control.resume()
    result = await task
    assert (tmp_path / "lp.bin").read_bytes() == blob.data and result.resumed
    ranges = ranges_sent(fake_civitai)
    assert ranges[0] is None and len(ranges) == 2 and ranges[1].startswith("bytes=")


async def test_pause_before_start_waits_without_connecting(fake_civitai, downloader, tmp_path):
    blob = add_blob(fake_civitai, 10_000)
    control = DownloadStreamControl()
    control.pause()
    task = asyncio.create_task(downloader.download(blob.request(tmp_path / "w.bin"), control=control))
    await asyncio.sleep(0.05)
    assert not task.done() and ranges_sent(fake_civitai) == []
    threading.Thread(target=control.resume).start()  # a click handled on another thread
    await task
    assert (tmp_path / "w.bin").read_bytes() == blob.data


async def test_cancel_deletes_the_part(fake_civitai, http, tmp_path):
    blob = add_blob(fake_civitai, 200_000)
    fake_civitai.slow(2_000_000)
    control = DownloadStreamControl()
    log = when_bytes_reach(20_000, control.cancel)
    loader = Downloader(http, chunk_size=4096, stall_timeout=0.3, progress_interval=0.0)
    with pytest.raises(RemoteError, match="^Download was cancelled$") as caught:
        await loader.download(blob.request(tmp_path / "c.bin"), control=control, on_progress=log.callback)
    assert caught.value.kind is ErrorKind.CANCELLED
    assert list(tmp_path.iterdir()) == []


async def test_skip_keeps_the_part_for_a_later_resume(fake_civitai, http, tmp_path):
    blob = add_blob(fake_civitai, 200_000)
    fake_civitai.slow(2_000_000)
    control = DownloadStreamControl()
    log = when_bytes_reach(40_000, control.skip)
    loader = Downloader(http, chunk_size=4096, stall_timeout=0.3, progress_interval=0.0)
    target = tmp_path / "s.bin"
    with pytest.raises(RemoteError) as caught:
        await loader.download(blob.request(target), control=control, on_progress=log.callback)
    assert caught.value.kind is ErrorKind.CANCELLED and not target.exists()
    part = target.with_name("s.bin.part").read_bytes()
    assert 0 < len(part) < len(blob.data) and blob.data.startswith(part)
    fake_civitai.slow(None)
    result = await loader.download(blob.request(target, expected_sha256=blob.sha256))
    assert target.read_bytes() == blob.data and result.resumed
    assert ranges_sent(fake_civitai)[-1] == f"bytes={len(part)}-"


async def test_cancel_from_another_thread_interrupts_a_stalled_server(fake_civitai, http, tmp_path):
    blob = add_blob(fake_civitai, 10_000)
    fake_civitai.stall(3.0, n=1)
    control = DownloadStreamControl()
    loader = Downloader(http, stall_timeout=5.0)
    task = asyncio.create_task(loader.download(blob.request(tmp_path / "st.bin"), control=control))
    while not ranges_sent(fake_civitai):
        await asyncio.sleep(0.005)
    threading.Timer(0.02, control.cancel).start()
    with pytest.raises(RemoteError, match="cancelled"):
        await asyncio.wait_for(task, 2.0)
    assert not (tmp_path / "st.bin.part").exists()


async def test_cancel_while_paused(fake_civitai, downloader, tmp_path):
    blob = add_blob(fake_civitai, 10_000)
    control = DownloadStreamControl()
    control.pause()
    task = asyncio.create_task(downloader.download(blob.request(tmp_path / "cp.bin"), control=control))
    await asyncio.sleep(0.02)
    control.skip()
    with pytest.raises(RemoteError, match="cancelled"):
        await task
    assert (tmp_path / "cp.bin.part").exists() and not (tmp_path / "cp.bin").exists()


async def test_cancel_before_start_does_nothing(fake_civitai, downloader, tmp_path):
    blob = add_blob(fake_civitai, 10_000)
    control = DownloadStreamControl()
    control.cancel()
    with pytest.raises(RemoteError, match="cancelled"):
        await downloader.download(blob.request(tmp_path / "n.bin"), control=control)
    assert ranges_sent(fake_civitai) == [] and list(tmp_path.iterdir()) == []


async def test_task_cancellation_from_outside_propagates_and_keeps_the_part(fake_civitai, http, tmp_path):
    """A shutdown cancels the task: that is not a user cancel, so the part stays for the next start."""
    blob = add_blob(fake_civitai, 200_000)
    fake_civitai.slow(2_000_000)
    loader = Downloader(http, chunk_size=4096, stall_timeout=0.3, progress_interval=0.0)
    started = asyncio.Event()
    log = when_bytes_reach(30_000, started.set)
    task = asyncio.create_task(loader.download(blob.request(tmp_path / "x.bin"), on_progress=log.callback))
    await started.wait()
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    part = (tmp_path / "x.bin.part").read_bytes()
    assert blob.data.startswith(part) and not (tmp_path / "x.bin").exists()
