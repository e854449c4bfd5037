"""Downloader failure paths: disk full, permission denied, an existing target, refusals, giving up.
Each ends with a clear error, no file at the target, and the partial bytes kept where resuming makes sense."""
from __future__ import annotations

import errno
import os

import pytest

from lora_manager.py.services.downloads import part_file
from lora_manager.py.services.downloads.downloader import Downloader, DownloadRequest, TargetExistsError
from lora_manager.py.services.remote.errors import ErrorKind, RemoteError
from support.download_kit import add_blob, clock, downloader, http, ranges_sent  # noqa: F401
from support.fake_civitai import fake_civitai  # noqa: F401  (fixture)


def failing_writer(monkeypatch, error: OSError, after_calls: int):
    """Replace the module's one disk-write function: the first ``after_calls`` writes succeed."""
    real = part_file.write_chunk
    calls = []

    def write(handle, data):
        calls.append(len(data))
        if len(calls) > after_calls:
            raise error
        real(handle, data)

    monkeypatch.setattr(part_file, "write_chunk", write)
    return calls


@pytest.mark.parametrize("write_mode", ["thread", "to_thread"])
async def test_disk_full_keeps_the_part_and_resumes_later(fake_civitai, http, tmp_path, monkeypatch, write_mode):
    blob = add_blob(fake_civitai, 200_000)
    loader = Downloader(http, chunk_size=16 * 1024, stall_timeout=0.3, write_mode=write_mode)
    target = tmp_path / "full.bin"
    fake_civitai.slow(1_000_000)  # 50 kB pieces, so some bytes are written before the disk fills
    failing_writer(monkeypatch, OSError(errno.ENOSPC, "No space left on device"), after_calls=1)
    with pytest.raises(RemoteError) as caught:
        await loader.download(blob.request(target, expected_sha256=blob.sha256))
    error = caught.value
    assert error.kind is ErrorKind.DISK_FULL
    assert str(error).startswith("Disk full while saving the download") and "full.bin.part" in str(error)
    assert not target.exists()
    part = target.with_name("full.bin.part").read_bytes()
    assert 0 < len(part) < len(blob.data) and blob.data.startswith(part)
    assert len(ranges_sent(fake_civitai)) == 1  # a full disk is not retried against the server
    monkeypatch.undo()
    fake_civitai.slow(None)
    result = await loader.download(blob.request(target, expected_sha256=blob.sha256))
    assert target.read_bytes() == blob.data and result.resumed


async def test_permission_denied_while_writing(fake_civitai, downloader, tmp_path, monkeypatch):
    blob = add_blob(fake_civitai, 50_000)
    failing_writer(monkeypatch, PermissionError(errno.EACCES, "Permission denied"), after_calls=0)
    with pytest.raises(RemoteError, match="^Permission denied writing the download to ") as caught:
        await downloader.download(blob.request(tmp_path / "perm.bin"))
    assert caught.value.kind is ErrorKind.PERMISSION and not (tmp_path / "perm.bin").exists()


async def test_unwritable_folder_is_a_permission_error(fake_civitai, downloader, tmp_path, monkeypatch):
    blob = add_blob(fake_civitai, 1_000)

    def refuse(path, truncate):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(part_file, "_open_append", refuse)
    with pytest.raises(RemoteError) as caught:
        await downloader.download(blob.request(tmp_path / "ro" / "x.bin"))
    assert caught.value.kind is ErrorKind.PERMISSION and "ro" in str(caught.value)
    assert ranges_sent(fake_civitai) == []  # nothing was asked of the server


async def test_an_unexpected_write_error_is_reported(fake_civitai, downloader, tmp_path, monkeypatch):
    blob = add_blob(fake_civitai, 50_000)
    failing_writer(monkeypatch, OSError(errno.EIO, "Input/output error"), after_calls=0)
    with pytest.raises(RemoteError, match="Could not write the download") as caught:
        await downloader.download(blob.request(tmp_path / "eio.bin"))
    assert caught.value.kind is ErrorKind.INTERNAL and not (tmp_path / "eio.bin").exists()


async def test_fsync_failure_at_the_end_is_disk_full(fake_civitai, downloader, tmp_path, monkeypatch):
    blob = add_blob(fake_civitai, 20_000)

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(part_file.os, "fsync", no_space)
    with pytest.raises(RemoteError) as caught:
        await downloader.download(blob.request(tmp_path / "sync.bin"))
    assert caught.value.kind is ErrorKind.DISK_FULL and not (tmp_path / "sync.bin").exists()
    assert (tmp_path / "sync.bin.part").exists()


async def test_existing_target_is_never_overwritten(fake_civitai, downloader, tmp_path):
    blob = add_blob(fake_civitai, 10_000)
    target = tmp_path / "mine.safetensors"
    target.write_bytes(b"the user's own file")
    with pytest.raises(TargetExistsError, match="already exists") as caught:
        await downloader.download(blob.request(target))
    assert caught.value.kind is ErrorKind.CLIENT
    assert target.read_bytes() == b"the user's own file" and ranges_sent(fake_civitai) == []


async def test_target_appearing_during_download_is_not_overwritten(fake_civitai, downloader, tmp_path):
    blob = add_blob(fake_civitai, 100_000)
    target = tmp_path / "race.bin"

    def someone_else_writes(progress):
        if progress.status == "downloading" and not target.exists():
            target.write_bytes(b"other")

    with pytest.raises(TargetExistsError, match="kept at") as caught:
        await downloader.download(blob.request(target, expected_sha256=blob.sha256), on_progress=someone_else_writes)
    assert "race.bin.part" in str(caught.value)
    assert target.read_bytes() == b"other"
    assert target.with_name("race.bin.part").read_bytes() == blob.data  # verified bytes kept


async def test_link_free_file_systems_still_refuse_to_overwrite(fake_civitai, downloader, tmp_path, monkeypatch):
    blob = add_blob(fake_civitai, 10_000)

    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(part_file.os, "link", no_links)
    result = await downloader.download(blob.request(tmp_path / "fat.bin"))
    assert (tmp_path / "fat.bin").read_bytes() == blob.data and result.size == len(blob.data)


@pytest.mark.parametrize("status, kind", [(404, ErrorKind.NOT_FOUND), (401, ErrorKind.AUTH), (400, ErrorKind.CLIENT)])
async def test_refusals_are_not_retried(fake_civitai, downloader, tmp_path, status, kind):
    blob = add_blob(fake_civitai, 10_000)
    fake_civitai.fail_next(1, status, path="/api/download/")
    with pytest.raises(RemoteError) as caught:
        await downloader.download(blob.request(tmp_path / "r.bin"))
    assert caught.value.kind is kind and caught.value.status == status
    assert len(ranges_sent(fake_civitai)) == 1 and not (tmp_path / "r.bin").exists()


async def test_without_patience_gives_up_after_the_policy_and_keeps_the_part(fake_civitai, http, tmp_path):
    blob = add_blob(fake_civitai, 50_000)
    target = tmp_path / "down.bin"
    target.with_name("down.bin.part").write_bytes(blob.data[:10_000])
    fake_civitai.fail_next(10, 503, path="/api/download/")
    with pytest.raises(RemoteError, match="gave up after 4 attempts") as caught:
        await Downloader(http, stall_timeout=0.3, patience=0.0).download(blob.request(target))
    assert caught.value.kind is ErrorKind.SERVER
    assert ranges_sent(fake_civitai) == ["bytes=10000-"] * 4
    assert target.with_name("down.bin.part").read_bytes() == blob.data[:10_000] and not target.exists()


async def test_a_host_that_drops_away_mid_transfer_is_waited_for_and_the_transfer_resumes(fake_civitai, http,
                                                                                          tmp_path):
    blob = add_blob(fake_civitai, 300_000)
    target = tmp_path / "cut.bin"
    fake_civitai.cut_after(100_000, path="/api/download/")
    went_down: list[bool] = []

    def host_goes_down(progress) -> None:
        if progress.bytes_downloaded and not went_down:  # while the first response streams, before its cut
            went_down.append(True)
            fake_civitai.fail_next(14, 503, path="/api/download/")  # down for several rounds of retries

    loader = Downloader(http, chunk_size=16 * 1024, stall_timeout=2, progress_interval=0.0, patience=30,
                        probe_interval=0.01)
    result = await loader.download(blob.request(target), on_progress=host_goes_down)
    assert target.read_bytes() == blob.data and result.sha256 == blob.sha256
    assert result.resumed and result.restarts == 0
    ranges = ranges_sent(fake_civitai)
    assert ranges[0] is None and len(ranges) == 16 and ranges[-1].startswith("bytes=") and ranges[-1] != "bytes=0-"
    # the host's circuit breaker was left alone: other calls to it still go through
    assert http.breaker(fake_civitai.host).state.value == "closed"


async def test_patience_runs_out_with_a_clear_error_and_the_part_kept(fake_civitai, http, tmp_path):
    blob = add_blob(fake_civitai, 50_000)
    target = tmp_path / "gone.bin"
    target.with_name("gone.bin.part").write_bytes(blob.data[:10_000])
    fake_civitai.fail_next(10_000, 503, path="/api/download/")
    loader = Downloader(http, stall_timeout=0.3, patience=0.2, probe_interval=0.02)
    with pytest.raises(RemoteError, match="gave up after 4 attempts") as caught:
        await loader.download(blob.request(target))
    assert caught.value.kind is ErrorKind.SERVER
    assert len(ranges_sent(fake_civitai)) > 4  # probed again after the first round of retries
    assert target.with_name("gone.bin.part").read_bytes() == blob.data[:10_000] and not target.exists()


async def test_open_breaker_fails_fast(fake_civitai, http, tmp_path):
    blob = add_blob(fake_civitai, 10_000)
    breaker = http.breaker(fake_civitai.host)
    for _ in range(5):
        breaker.record_failure(RemoteError(ErrorKind.SERVER, "down"))
    with pytest.raises(RemoteError, match="unavailable") as caught:
        await Downloader(http).download(blob.request(tmp_path / "b.bin"))
    assert caught.value.kind is ErrorKind.UNAVAILABLE and ranges_sent(fake_civitai) == []


async def test_unreachable_host_is_a_connect_error(http, tmp_path, unused_tcp_port):
    loader = Downloader(http, stall_timeout=0.3)
    with pytest.raises(RemoteError) as caught:
        await loader.download(DownloadRequest(f"http://127.0.0.1:{unused_tcp_port}/f.bin", tmp_path / "u.bin"))
    assert caught.value.kind is ErrorKind.CONNECT and "gave up" in str(caught.value)


@pytest.mark.parametrize("url", ["ftp://example.com/a.bin", "not a url", "file:///etc/passwd"])
async def test_invalid_urls_are_refused(downloader, tmp_path, url):
    with pytest.raises(RemoteError, match="Not a downloadable URL") as caught:
        await downloader.download(DownloadRequest(url, tmp_path / "i.bin"))
    assert caught.value.kind is ErrorKind.CLIENT and list(tmp_path.iterdir()) == []


def test_bad_arguments_are_refused(http):
    with pytest.raises(ValueError):
        Downloader(http, chunk_size=0)
    with pytest.raises(ValueError):
        Downloader(http, stall_timeout=0)
    with pytest.raises(ValueError):
        Downloader(http, write_mode="mmap")
    with pytest.raises(ValueError):
        DownloadRequest("http://x/y", os.devnull, expected_size=-1)
