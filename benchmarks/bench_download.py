"""Download benchmark: Downloader throughput vs a plain aiohttp read-to-disk loop, and recovery after a cut.

Run: ``.venv/bin/python benchmarks/bench_download.py [--size-mb 1024] [--repeat 2]`` (``--size-mb 256`` for a
quick run). A file of random bytes is served from a separate process on 127.0.0.1 (aiohttp ``FileResponse``,
with ``Range``; ``?cut=N`` closes the connection after N bytes). Figures are printed; nothing is asserted.
Everything lives in a temporary folder that is removed at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024


def _load_package() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("lora_manager", ROOT / "__init__.py",
                                                  submodule_search_locations=[str(ROOT)])
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["lora_manager"] = module
    spec.loader.exec_module(module)


# -- the server (a child process, so it does not share the client's CPU time slice or GIL) ------------
def serve(path: Path, port: int) -> None:
    from aiohttp import web

    size = path.stat().st_size

    async def handler(request: web.Request) -> web.StreamResponse:
        cut = request.query.get("cut")
        if cut is None or "Range" in request.headers:
            return web.FileResponse(path, chunk_size=256 * 1024)
        limit = int(cut)
        response = web.StreamResponse(headers={"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"})
        response.content_length = size
        await response.prepare(request)
        with open(path, "rb") as handle:
            sent = 0
            while sent < limit:
                block = handle.read(min(MiB, limit - sent))
                await response.write(block)
                sent += len(block)
        if request.transport is not None:
            request.transport.close()
        return response

    app = web.Application()
    app.router.add_get("/file.bin", handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_source(path: Path, size: int) -> str:
    hasher = hashlib.sha256()
    with open(path, "wb") as handle:
        left = size
        while left:
            block = os.urandom(min(16 * MiB, left))
            handle.write(block)
            hasher.update(block)
            left -= len(block)
    return hasher.hexdigest()


# -- the clients -----------------------------------------------------------------------------------
class LagProbe:
    """The worst event-loop delay seen while a transfer runs (a blocked loop freezes the whole server)."""

    def __init__(self, period: float = 0.005) -> None:
        self.period = period
        self.worst = 0.0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.period)
            self.worst = max(self.worst, loop.time() - start - self.period)

    def __enter__(self) -> "LagProbe":
        self._task = asyncio.ensure_future(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def plain_loop(url: str, target: Path, *, fsync: bool) -> None:
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        async with session.get(url) as response:
            with open(target, "wb") as handle:
                async for chunk in response.content.iter_chunked(MiB):
                    handle.write(chunk)
                if fsync:
                    handle.flush()
                    os.fsync(handle.fileno())


async def with_downloader(url: str, target: Path, sha: str, *, mode: str, on_progress=None):
    import aiohttp

    from lora_manager.py.services.downloads.downloader import Downloader, DownloadRequest
    from lora_manager.py.services.remote.resilience import ResilientHttp, RetryPolicy

    async with ResilientHttp(timeout=aiohttp.ClientTimeout(total=None),
                             policy=RetryPolicy(base_delay=0.05)) as http:
        loader = Downloader(http, write_mode=mode)
        return await loader.download(DownloadRequest(url, target, expected_sha256=sha), on_progress=on_progress)


async def run_once(make, out: Path) -> tuple[float, float]:
    """(seconds, worst loop lag) of one transfer, after flushing the previous run's dirty pages."""
    for leftover in out.parent.glob(out.name + "*"):
        leftover.unlink()
    os.sync()
    with LagProbe() as probe:
        start = time.perf_counter()
        await make()
        elapsed = time.perf_counter() - start
    return elapsed, probe.worst


async def compare(variants: dict, size: int, repeat: int, out: Path) -> dict[str, float]:
    """Round-robin over the variants (so page-cache and writeback drift hit all alike); best time wins."""
    best: dict[str, float] = {name: float("inf") for name in variants}
    lag: dict[str, float] = {name: 0.0 for name in variants}
    for _ in range(repeat):
        for name, make in variants.items():
            elapsed, worst = await run_once(make, out)
            best[name] = min(best[name], elapsed)
            lag[name] = max(lag[name], worst)
    speeds = {}
    for name in variants:
        speeds[name] = size / MiB / best[name]
        print(f"  {name:<42} {best[name]:7.2f} s  {speeds[name]:8.1f} MiB/s   worst loop lag {lag[name] * 1000:7.1f} ms")
    return speeds


async def main_async(args: argparse.Namespace, work: Path) -> None:
    size = args.size_mb * MiB
    source = work / "source.bin"
    print(f"Generating {args.size_mb} MiB of random bytes ...", flush=True)
    sha = make_source(source, size)
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(source), "--port", str(port)])
    try:
        url = f"http://127.0.0.1:{port}/file.bin"
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                await asyncio.sleep(0.05)
        out = work / "out" / "model.safetensors"
        out.parent.mkdir()
        print(f"Throughput over 127.0.0.1 (best of {args.repeat}, round-robin, {os.cpu_count()} CPUs):")
        speeds = await compare({
            "plain aiohttp loop (no hash, no fsync)": lambda: plain_loop(url, out, fsync=False),
            "plain aiohttp loop + fsync": lambda: plain_loop(url, out, fsync=True),
            "Downloader, writer thread (sha256+fsync)": lambda: with_downloader(url, out, sha, mode="thread"),
            "Downloader, to_thread per chunk (sha256+fsync)": lambda: with_downloader(url, out, sha, mode="to_thread"),
        }, size, args.repeat, out)
        plain, plain_sync, threaded, per_chunk = speeds.values()
        print(f"  ratio Downloader(thread) / plain             {threaded / plain:7.2f}")
        print(f"  ratio Downloader(thread) / plain+fsync       {threaded / plain_sync:7.2f}")
        print(f"  ratio writer thread / to_thread per chunk    {threaded / per_chunk:7.2f}")

        print("Recovery after a cut at 50%:")
        result_box: list = []
        marks: dict[str, float] = {}

        def watch(progress) -> None:
            if progress.status == "retrying":
                marks.setdefault("cut", time.perf_counter())
            elif progress.status == "downloading" and "cut" in marks:
                marks.setdefault("resumed", time.perf_counter())

        async def cut_run() -> None:
            result_box.append(await with_downloader(f"{url}?cut={size // 2}", out, sha, mode="thread",
                                                    on_progress=watch))

        elapsed, _ = await run_once(cut_run, out)
        result = result_box[0]
        print(f"  cut + resume: {elapsed:.2f} s total ({size / MiB / elapsed:.1f} MiB/s effective), "
              f"resumed={result.resumed}, restarts={result.restarts}, sha256 ok={result.sha256 == sha}")
        if "resumed" in marks:
            print(f"  from the cut to bytes flowing again (backoff + reconnect with Range): "
                  f"{(marks['resumed'] - marks['cut']) * 1000:.1f} ms")
        print(f"  an uncut run took {size / MiB / threaded:.2f} s; a restart from zero would have re-sent "
              f"{args.size_mb // 2} MiB")
        server = await outage(server, source, port, url, out, sha, size, args.outage)
    finally:
        server.terminate()
        server.wait(timeout=10)


async def outage(server: subprocess.Popen, source: Path, port: int, url: str, out: Path, sha: str, size: int,
                 seconds: float) -> subprocess.Popen:
    """The server process dies at 50% of a (throttled) transfer and comes back ``seconds`` later; returns the
    new server process. Uses the production retry policy and the Downloader's default patience."""
    import aiohttp

    from lora_manager.py.services.downloads.downloader import Downloader, DownloadRequest
    from lora_manager.py.services.remote.resilience import ResilientHttp

    print(f"Recovery after a {seconds:.0f} s outage of the host at 50% (production retry policy):")
    marks: dict[str, float] = {}
    state = {"server": server}

    def watch(progress) -> None:
        if "killed" not in marks and progress.bytes_downloaded >= size // 2:
            state["server"].kill()
            marks["killed"] = time.perf_counter()
        elif "back" in marks and "resumed" not in marks and progress.bytes_downloaded > size // 2 \
                and progress.status == "downloading":
            marks["resumed"] = time.perf_counter()

    async def bring_back() -> None:
        while "killed" not in marks:
            await asyncio.sleep(0.01)
        state["server"].wait()
        await asyncio.sleep(seconds)
        state["server"] = subprocess.Popen([sys.executable, __file__, "--serve", str(source), "--port", str(port)])
        while True:  # back = accepting connections again
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                await asyncio.sleep(0.01)
        marks["back"] = time.perf_counter()

    for leftover in out.parent.glob(out.name + "*"):
        leftover.unlink()
    revive = asyncio.ensure_future(bring_back())
    async with ResilientHttp(timeout=aiohttp.ClientTimeout(total=None)) as http:
        loader = Downloader(http, write_mode="thread", progress_interval=0.0, read_bufsize=256 * 1024)
        result = await loader.download(DownloadRequest(url, out, expected_sha256=sha), on_progress=watch)
    await revive
    print(f"  completed: sha256 ok={result.sha256 == sha}, resumed={result.resumed}, restarts={result.restarts}")
    if "resumed" in marks:
        print(f"  from the host's return to bytes flowing again: {(marks['resumed'] - marks['back']) * 1000:.0f} ms "
              f"(outage {marks['back'] - marks['killed']:.1f} s)")
    return state["server"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the served file (256 for a quick run)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--outage", type=float, default=5.0, help="seconds the host is down mid-transfer")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to write (e.g. /dev/shm to take the disk out and compare CPU cost only)")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    _load_package()
    work = Path(tempfile.mkdtemp(prefix="lm-bench-download-", dir=args.dir))
    try:
        asyncio.run(main_async(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
