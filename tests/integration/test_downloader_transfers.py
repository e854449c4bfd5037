"""Downloader against the fake Civitai over 127.0.0.1: every fault switch ends with the exact bytes
(or a clear integrity error), and what the downloader did shows in the result and the Range headers."""
from __future__ import annotations

import asyncio

import pytest

from lora_manager.py.services.downloads.downloader import Downloader, DownloadRequest
from lora_manager.py.services.remote.errors import ErrorKind, RemoteError
from support.download_kit import ProgressLog, add_blob, clock, downloader, http, ranges_sent  # noqa: F401
from support.fake_civitai import fake_civitai  # noqa: F401  (fixture)


@pytest.mark.parametrize("write_mode", ["thread", "to_thread"])
async def test_whole_file_verified_and_placed(fake_civitai, http, tmp_path, write_mode):
    blob = add_blob(fake_civitai, 300_000)
    target = tmp_path / "models" / "a.safetensors"
    log = ProgressLog()
    loader = Downloader(http, chunk_size=32 * 1024, stall_timeout=0.3, progress_interval=0.0, write_mode=write_mode)
    result = await loader.download(
        blob.request(target, expected_sha256=blob.sha256.upper(), expected_size=len(blob.data)), on_progress=log
    )
    assert target.read_bytes() == blob.data
    assert not target.with_name("a.safetensors.part").exists()
    assert (result.path, result.sha256, result.size, result.resumed, result.restarts) == (
        target, blob.sha256, len(blob.data), False, 0)
    assert ranges_sent(fake_civitai) == [None]
    assert log.statuses == ["connecting", "downloading", "verifying", "completed"]
    assert log.reports[-1].percent == 100.0 and log.reports[-1].bytes_downloaded == len(blob.data)
    sent = fake_civitai.requests_to("/api/download/")[0].headers
    assert sent["Accept-Encoding"] == "identity"


async def test_cut_connection_resumes_with_range(fake_civitai, downloader, tmp_path):
    blob = add_blob(fake_civitai, 200_000)
    fake_civitai.cut_after(70_000)
    target = tmp_path / "cut.bin"
    result = await downloader.download(blob.request(target, expected_sha256=blob.sha256))
    assert target.read_bytes() == blob.data
    assert result.resumed and result.restarts == 0
    ranges = ranges_sent(fake_civitai)
    assert ranges[0] is None and len(ranges) == 2
    resumed_from = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_from <= 70_000  # from the bytes on disk, never from zero


async def test_repeated_cuts_with_progress_never_give_up(fake_civitai, http, tmp_path):
    """Each cut moves the transfer forward, so retries and the breaker are renewed: a flaky line finishes."""
    blob = add_blob(fake_civitai, 60_000)
    fake_civitai.cut_after(7_000, n=7)
    loader = Downloader(http, chunk_size=1024, stall_timeout=0.3)
    result = await loader.download(blob.request(tmp_path / "flaky.bin", expected_sha256=blob.sha256))
    assert (tmp_path / "flaky.bin").read_bytes() == blob.data
    ranges = ranges_sent(fake_civitai)
    assert len(ranges) == 8 and result.resumed and result.restarts == 0
    starts = [0] + [int(r.removeprefix("bytes=").rstrip("-")) for r in ranges[1:]]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert http.breaker(fake_civitai.host).state.value == "closed"


async def test_existing_part_is_hashed_once_and_continued(fake_civitai, downloader, tmp_path):
    blob = add_blob(fake_civitai, 150_000)
    target = tmp_path / "resume.bin"
    target.with_name("resume.bin.part").write_bytes(blob.data[:100_000])
    result = await downloader.download(blob.request(target, expected_sha256=blob.sha256))
    assert target.read_bytes() == blob.data
    assert result.resumed and result.restarts == 0 and result.sha256 == blob.sha256
    assert ranges_sent(fake_civitai) == ["bytes=100000-"]


async def test_server_ignoring_range_restarts_cleanly(fake_civitai, downloader, tmp_path):
    blob = add_blob(fake_civitai, 120_000)
    target = tmp_path / "ignored.bin"
    target.with_name("ignored.bin.part").write_bytes(blob.data[:50_000])
    fake_civitai.ignore_range = True
    result = await downloader.download(blob.request(target, expected_sha256=blob.sha256))
    assert target.read_bytes() == blob.data
    assert not result.resumed and result.restarts == 1
    assert ranges_sent(fake_civitai) == ["bytes=50000-"]


async def test_complete_part_answered_416_goes_to_verification(fake_civitai, downloader, tmp_path):
    blob = add_blob(fake_civitai, 80_000)
    target = tmp_path / "done.bin"
    target.with_name("done.bin.part").write_bytes(blob.data)
    result = await downloader.download(blob.request(target, expected_sha256=blob.sha256))
    assert target.read_bytes() == blob.data and result.resumed and result.size == len(blob.data)
    assert ranges_sent(fake_civitai) == ["bytes=80000-"]


async def test_part_longer_than_the_remote_file_restarts(fake_civitai, downloader, tmp_path):
    blob = add_blob(fake_civitai, 30_000)
    target = tmp_path / "long.bin"
    target.with_name("long.bin.part").write_bytes(b"\0" * 40_000)
    result = await downloader.download(blob.request(target))
    assert target.read_bytes() == blob.data and result.restarts == 1 and not result.resumed
    assert ranges_sent(fake_civitai) == ["bytes=40000-", None]


async def test_part_longer_than_expected_size_is_discarded_before_asking(fake_civitai, downloader, tmp_path):
    blob = add_blob(fake_civitai, 30_000)
    target = tmp_path / "long2.bin"
    target.with_name("long2.bin.part").write_bytes(b"\0" * 40_000)
    result = await downloader.download(blob.request(target, expected_size=len(blob.data)))
    assert target.read_bytes() == blob.data and result.restarts == 1
    assert ranges_sent(fake_civitai) == [None]


async def test_stall_times_out_and_resumes(fake_civitai, downloader, tmp_path):
    blob = add_blob(fake_civitai, 90_000)
    target = tmp_path / "stall.bin"
    target.with_name("stall.bin.part").write_bytes(blob.data[:40_000])
    fake_civitai.stall(0.6, n=1)
    log = ProgressLog()
    result = await downloader.download(blob.request(target, expected_sha256=blob.sha256), on_progress=log)
    assert target.read_bytes() == blob.data and result.resumed
    assert ranges_sent(fake_civitai) == ["bytes=40000-", "bytes=40000-"]
    assert "retrying" in log.statuses


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retried(fake_civitai, downloader, tmp_path, clock, status):
    blob = add_blob(fake_civitai, 50_000)
    fake_civitai.fail_next(2, status, path="/api/download/")
    result = await downloader.download(blob.request(tmp_path / "5xx.bin", expected_sha256=blob.sha256))
    assert (tmp_path / "5xx.bin").read_bytes() == blob.data and not result.resumed
    assert len(ranges_sent(fake_civitai)) == 3 and len(clock.sleeps) == 2


async def test_rate_limit_honours_retry_after(fake_civitai, downloader, tmp_path, clock):
    blob = add_blob(fake_civitai, 50_000)
    fake_civitai.rate_limit_next(1, retry_after=3, path="/api/download/")
    await downloader.download(blob.request(tmp_path / "429.bin", expected_sha256=blob.sha256))
    assert (tmp_path / "429.bin").read_bytes() == blob.data
    assert 3.0 in clock.sleeps


async def test_slow_server_streams_with_speed(fake_civitai, http, tmp_path):
    blob = add_blob(fake_civitai, 40_000)
    fake_civitai.slow(800_000)
    log = ProgressLog()
    loader = Downloader(http, chunk_size=4096, stall_timeout=0.3, progress_interval=0.0)
    await loader.download(blob.request(tmp_path / "slow.bin"), on_progress=log)
    assert (tmp_path / "slow.bin").read_bytes() == blob.data
    speeds = [r.bytes_per_second for r in log.reports if r.status == "downloading"]
    assert any(s > 0 for s in speeds)
    done = [r.bytes_downloaded for r in log.reports]
    assert done == sorted(done)
    assert log.reports[-1].total_bytes == len(blob.data)


async def test_corrupt_bytes_are_quarantined(fake_civitai, downloader, tmp_path):
    blob = add_blob(fake_civitai, 64_000)
    fake_civitai.corrupt = True
    target = tmp_path / "lib" / "bad.safetensors"
    quarantine_dir = tmp_path / "quarantine"
    with pytest.raises(RemoteError) as caught:
        await downloader.download(
            blob.request(target, expected_sha256=blob.sha256, quarantine_dir=quarantine_dir)
        )
    error = caught.value
    assert error.kind is ErrorKind.INTEGRITY
    assert str(error).startswith("Downloaded file failed verification (sha256 mismatch); it was quarantined at ")
    quarantined = list(quarantine_dir.iterdir())
    assert len(quarantined) == 1 and str(quarantined[0]) in str(error)
    assert quarantined[0].read_bytes() == bytes(255 - b for b in blob.data)
    assert not target.exists() and not target.with_name("bad.safetensors.part").exists()


async def test_corrupt_without_quarantine_dir_goes_beside_target(fake_civitai, downloader, tmp_path):
    blob = add_blob(fake_civitai, 10_000)
    fake_civitai.corrupt = True
    target = tmp_path / "bad2.bin"
    with pytest.raises(RemoteError, match="sha256 mismatch") as caught:
        await downloader.download(blob.request(target, expected_sha256=blob.sha256.upper()))
    beside = [p for p in tmp_path.iterdir() if p.name.startswith("bad2.bin.quarantine-")]
    assert len(beside) == 1 and str(beside[0]) in str(caught.value)
    assert not target.exists()


async def test_wrong_expected_size_is_an_integrity_error(fake_civitai, downloader, tmp_path):
    blob = add_blob(fake_civitai, 10_000)
    target = tmp_path / "size.bin"
    with pytest.raises(RemoteError, match=r"size mismatch: expected 9999 bytes, got 10000") as caught:
        await downloader.download(blob.request(target, expected_size=9_999))
    assert caught.value.kind is ErrorKind.INTEGRITY and not target.exists()


async def test_redirected_download_keeps_range(fake_civitai, downloader, tmp_path):
    blob = add_blob(fake_civitai, 90_000)
    fake_civitai.redirect_downloads = True
    target = tmp_path / "redirect.bin"
    target.with_name("redirect.bin.part").write_bytes(blob.data[:1_000])
    result = await downloader.download(blob.request(target, expected_sha256=blob.sha256))
    assert target.read_bytes() == blob.data and result.resumed
    assert fake_civitai.requests_to("/files/")[0].headers["Range"] == "bytes=1000-"


async def test_api_key_header_reaches_the_server_but_not_the_logs(fake_civitai, downloader, tmp_path, caplog):
    blob = add_blob(fake_civitai, 20_000)
    fake_civitai.require_api_key = "s3cret-key"
    fake_civitai.cut_after(5_000)
    caplog.set_level("DEBUG")
    request = DownloadRequest(blob.url + "?token=s3cret-key", tmp_path / "key.bin",
                              headers={"Authorization": "Bearer s3cret-key"})
    await downloader.download(request)
    assert (tmp_path / "key.bin").read_bytes() == blob.data
    assert "s3cret-key" not in caplog.text and "s3cret-key" not in repr(request)
    assert "Download http://127.0.0.1" in caplog.text  # the retry was logged, without the query


async def test_two_downloads_share_one_http(fake_civitai, downloader, tmp_path):
    blobs = [add_blob(fake_civitai, 50_000, seed=s) for s in (1, 2, 3)]
    fake_civitai.cut_after(20_000)
    results = await asyncio.gather(*[
        downloader.download(b.request(tmp_path / f"{i}.bin", expected_sha256=b.sha256)) for i, b in enumerate(blobs)
    ])
    for i, (blob, result) in enumerate(zip(blobs, results)):
        assert (tmp_path / f"{i}.bin").read_bytes() == blob.data and result.sha256 == blob.sha256
