"""Concurrency and memory benchmark against the real standalone server (default 10k generated LoRAs).

Run: ``.venv/bin/python benchmarks/bench_concurrency.py [--size 10000] [--reads 250] [--edits 50] [--soak 10000]``
The server runs as a subprocess (``standalone.py`` on a throwaway data folder and library), as a user runs it.
Printed: latency of ``--reads`` concurrent list/search requests fired together with ``--edits`` concurrent
note edits (p50/p99/max, errors), then the server's RSS before and after ``--soak`` more requests.
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_library import generate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
READS = ("/api/lm/loras/list?page_size=100", "/api/lm/loras/list?page_size=100&sort_by=date&descending=true",
         "/api/lm/loras/list?page_size=100&search=portrait", "/api/lm/loras/list?page_size=100&search=model_42",
         "/api/lm/loras/list?page=7&page_size=100", "/api/lm/loras/list?page_size=100&search=portrit&fuzzy=true",
         "/api/lm/loras/top-tags", "/api/lm/loras/folders", "/api/lm/loras/base-models")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def quantiles(samples: list[float]) -> str:
    if not samples:
        return "none"
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"p50 {statistics.median(ordered) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
            f"max {ordered[-1] * 1000:.0f} ms")


async def timed(session: aiohttp.ClientSession, method: str, url: str, **kwargs) -> tuple[float, int]:
    start = time.perf_counter()
    async with session.request(method, url, **kwargs) as resp:
        await resp.read()
        return time.perf_counter() - start, resp.status


async def wait_listed(session: aiohttp.ClientSession, base: str, size: int, proc: subprocess.Popen) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < 600:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            async with session.get(f"{base}/api/lm/loras/list?page_size=1") as resp:
                if resp.status == 200 and (await resp.json()).get("total", 0) >= size:
                    return time.perf_counter() - start
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("the library was not listed within 10 minutes")


async def measure(args: argparse.Namespace, base: str, proc: subprocess.Popen, root: Path) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        ready = await wait_listed(session, base, args.size, proc)
        await asyncio.sleep(2)  # let the start's validation settle
        print(f"{args.size} models listed {ready:.1f} s after start; RSS {rss_mb(proc.pid):.0f} MB")
        files = sorted(root.rglob("*.safetensors"))[: args.edits]
        reads = [timed(session, "GET", base + READS[i % len(READS)]) for i in range(args.reads)]
        edits = [timed(session, "POST", f"{base}/api/lm/loras/save-metadata",
                       json={"file_path": str(path), "notes": f"concurrent note {i}"}) for i, path in enumerate(files)]
        results = await asyncio.gather(*reads, *edits)
        read_results, edit_results = results[: len(reads)], results[len(reads):]
        errors = [status for _, status in results if status != 200]
        for i, url in enumerate(READS):
            times = [t for j, (t, _) in enumerate(read_results) if j % len(READS) == i]
            if times:
                print(f"  {url.removeprefix('/api/lm/loras/')}: {quantiles(times)}")
        print(f"{args.reads} reads with {len(edits)} edits at once: reads {quantiles([t for t, _ in read_results])}")
        print(f"  edits {quantiles([t for t, _ in edit_results])}; non-200 answers: {len(errors)} {sorted(set(errors))}")
        before = rss_mb(proc.pid)
        done = 0
        soak_start = time.perf_counter()
        while done < args.soak:
            batch = [timed(session, "GET", base + READS[(done + i) % len(READS)]) for i in range(min(50, args.soak - done))]
            await asyncio.gather(*batch)
            done += len(batch)
        print(f"RSS {before:.0f} MB before {args.soak} requests, {rss_mb(proc.pid):.0f} MB after "
              f"({args.soak / (time.perf_counter() - soak_start):.0f} requests/s at 50 in flight)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=250)
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--soak", type=int, default=10_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lm-bench-conc-"))
    proc = None
    try:
        root = tmp / "loras"
        generate(root, args.size)
        port = free_port()
        proc = subprocess.Popen([sys.executable, str(ROOT / "standalone.py"), "--data-dir", str(tmp / "data"),
                                 "--loras", str(root), "--port", str(port), "--log-level", "WARNING"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        asyncio.run(measure(args, f"http://127.0.0.1:{port}", proc, root))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
