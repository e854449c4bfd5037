"""File hosts that bend HTTP: wrong ranges, no Content-Length, odd statuses, headers that never come."""
from __future__ import annotations

import asyncio
import random

import pytest
from aiohttp import web

from lora_manager.py.services.downloads.downloader import Downloader, DownloadRequest
from lora_manager.py.services.remote.errors import ErrorKind, RemoteError
from support.download_kit import ProgressLog, clock, http  # noqa: F401

DATA = random.Random(3).randbytes(50_000)


async def start(aiohttp_server, handler):
    app = web.Application()
    app.router.add_get("/f", handler)
    server = await aiohttp_server(app)
    return server, str(server.make_url("/f"))


async def test_a_206_for_another_range_restarts_from_zero(aiohttp_server, http, tmp_path):
    seen: list[str | None] = []

    async def handler(request):
        seen.append(request.headers.get("Range"))
        if request.headers.get("Range"):
            return web.Response(body=DATA[10:], status=206,
                                headers={"Content-Range": f"bytes 10-{len(DATA) - 1}/{len(DATA)}"})
        return web.Response(body=DATA)

    _, url = await start(aiohttp_server, handler)
    target = tmp_path / "r.bin"
    target.with_name("r.bin.part").write_bytes(DATA[:20_000])
    result = await Downloader(http, stall_timeout=0.5).download(DownloadRequest(url, target))
    assert target.read_bytes() == DATA and result.restarts == 1 and not result.resumed
    assert seen == ["bytes=20000-", None]


async def test_chunked_answer_without_length_is_accepted(aiohttp_server, http, tmp_path):
    async def handler(request):
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(0, len(DATA), 7_000):
            await response.write(DATA[i : i + 7_000])
        await response.write_eof()
        return response

    _, url = await start(aiohttp_server, handler)
    log = ProgressLog()
    result = await Downloader(http, stall_timeout=0.5).download(DownloadRequest(url, tmp_path / "c.bin"), on_progress=log)
    assert (tmp_path / "c.bin").read_bytes() == DATA and result.size == len(DATA)
    assert log.reports[-1].total_bytes is None and log.reports[-1].percent is None


async def test_a_short_range_answer_continues_from_where_it_ended(aiohttp_server, http, tmp_path):
    """A host that answers only part of an open range: the rest is asked for again, never lost."""
    seen: list[str | None] = []

    async def handler(request):
        seen.append(request.headers.get("Range"))
        start_at = int(request.headers["Range"][6:-1]) if request.headers.get("Range") else 0
        end = min(start_at + 20_000, len(DATA)) - 1
        return web.Response(body=DATA[start_at : end + 1], status=206,
                            headers={"Content-Range": f"bytes {start_at}-{end}/{len(DATA)}"})

    _, url = await start(aiohttp_server, handler)
    result = await Downloader(http, stall_timeout=0.5).download(DownloadRequest(url, tmp_path / "s.bin"))
    assert (tmp_path / "s.bin").read_bytes() == DATA and result.resumed
    assert seen == [None, "bytes=20000-", "bytes=40000-"]


async def test_an_unexpected_status_is_a_clear_error(aiohttp_server, http, tmp_path):
    async def handler(request):
        return web.Response(status=204)

    _, url = await start(aiohttp_server, handler)
    with pytest.raises(RemoteError, match="answered HTTP 204 instead of the file") as caught:
        await Downloader(http, stall_timeout=0.5).download(DownloadRequest(url, tmp_path / "n.bin"))
    assert caught.value.kind is ErrorKind.CLIENT and not (tmp_path / "n.bin").exists()


async def test_416_without_total_trusts_the_expected_size(aiohttp_server, http, tmp_path):
    async def handler(request):
        return web.Response(status=416)

    _, url = await start(aiohttp_server, handler)
    target = tmp_path / "e.bin"
    target.with_name("e.bin.part").write_bytes(DATA)
    result = await Downloader(http, stall_timeout=0.5).download(
        DownloadRequest(url, target, expected_size=len(DATA), expected_sha256="")
    )
    assert target.read_bytes() == DATA and result.resumed


async def test_headers_that_never_come_are_a_stall(aiohttp_server, http, tmp_path, clock):
    async def handler(request):
        await asyncio.sleep(1.0)
        return web.Response(body=DATA)

    _, url = await start(aiohttp_server, handler)
    with pytest.raises(RemoteError, match=r"stalled \(no data for 0.1 s\); gave up after 4 attempts") as caught:
        await Downloader(http, stall_timeout=0.1).download(DownloadRequest(url, tmp_path / "h.bin"))
    assert caught.value.kind is ErrorKind.TIMEOUT and not (tmp_path / "h.bin").exists()


async def test_if_range_carries_the_etag_on_resume(aiohttp_server, http, tmp_path):
    seen: list[tuple[str | None, str | None]] = []
    calls = 0

    async def handler(request):
        nonlocal calls
        calls += 1
        seen.append((request.headers.get("Range"), request.headers.get("If-Range")))
        response = web.StreamResponse(headers={"ETag": '"v1"'})
        response.content_length = len(DATA)
        if request.headers.get("Range"):
            start_at = int(request.headers["Range"][6:-1])
            response.set_status(206)
            response.headers["Content-Range"] = f"bytes {start_at}-{len(DATA) - 1}/{len(DATA)}"
            response.content_length = len(DATA) - start_at
            await response.prepare(request)
            await response.write(DATA[start_at:])
            return response
        await response.prepare(request)
        await response.write(DATA[:30_000])
        request.transport.close()  # cut
        return response

    _, url = await start(aiohttp_server, handler)
    result = await Downloader(http, chunk_size=1024, stall_timeout=0.5).download(
        DownloadRequest(url, tmp_path / "i.bin"))
    assert (tmp_path / "i.bin").read_bytes() == DATA and result.resumed
    assert seen[0] == (None, None) and seen[1][1] == '"v1"'
