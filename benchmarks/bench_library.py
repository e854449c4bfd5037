"""Library benchmark: cold scan, warm start, list latency, one edit, hashing, memory, event-loop lag.

Run: ``.venv/bin/python benchmarks/bench_library.py [--sizes 1000,20000,100000] [--flat 10000] [--hash-mb 512]``
Libraries are generated under a temporary folder (sparse files, so 100k models cost little disk) and removed.
Figures are printed; nothing is asserted.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lm_package

lm_package.load()

from lora_manager.py.app import create_context  # noqa: E402
from lora_manager.py.library.gc_tuning import freeze_startup_heap  # noqa: E402
from lora_manager.py.library.hashing import hash_files  # noqa: E402
from lora_manager.py.library.index import ModelIndex  # noqa: E402
from lora_manager.py.library.query import ListQuery  # noqa: E402
from lora_manager.py.library.safetensors import write_safetensors_header  # noqa: E402
from lora_manager.py.settings import resolve_runtime_paths  # noqa: E402

BASES = [("sd_v1", "lora_te_", 768), ("sdxl_base_v1-0", "lora_te1_", 768), ("sd_v2", "lora_te_", 1024)]
WORDS = ["style", "anime", "portrait", "detail", "light", "film", "paint", "city", "forest", "neon"]


def generate(root: Path, count: int, folders: int = 200) -> None:
    for i in range(count):
        version, prefix, width = BASES[i % len(BASES)]
        folder = root / f"group_{i % folders:03d}" if folders > 1 else root
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{WORDS[i % 10]}_{WORDS[(i // 10) % 10]}_model_{i}"
        tensors = {
            "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": ("F16", [8, 320]),
            f"{prefix}text_model_encoder_layers_0_mlp_fc1.lora_down.weight": ("F16", [8, width]),
        }
        meta = {"ss_base_model_version": version, "ss_network_dim": "8", "ss_network_alpha": "4",
                "ss_tag_frequency": json.dumps({"d": {WORDS[i % 10]: 10, WORDS[(i + 3) % 10]: 4}})}
        write_safetensors_header(folder / f"{name}.safetensors", tensors, meta, fill_data=False)


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class LoopLag:
    """Worst delay of a 5 ms ticker: how long the event loop was blocked."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.delays: list[float] = []
        self._task: asyncio.Task | None = None

    @property
    def p99(self) -> float:
        ordered = sorted(self.delays)
        return ordered[int(len(ordered) * 0.99)] if ordered else 0.0

    async def _tick(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            delay = time.perf_counter() - start - 0.005
            self.delays.append(delay)
            self.worst = max(self.worst, delay)

    def __enter__(self) -> "LoopLag":
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def cold_scan(data_dir: Path, root: Path) -> tuple[float, "LoopLag", int]:
    context = create_context(resolve_runtime_paths(None, str(data_dir), environ={}), extra_roots={"lora": [str(root)]})
    freeze_startup_heap()  # as the standalone server does before it serves
    await context.database.open()
    service = context.service("lora")
    service.index = ModelIndex(context.database, "lora")
    with LoopLag() as lag:
        start = time.perf_counter()
        summary = await service._refresh(None, False)
        seconds = time.perf_counter() - start
    await context.database.close()
    return seconds, lag, summary.total


async def warm_and_query(data_dir: Path, root: Path, n: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    gc.collect()
    figures.update(await _warm_start(data_dir, root, n))
    return figures


async def _warm_start(data_dir: Path, root: Path, n: int) -> dict[str, float]:
    """As the server starts: the index opens, the first page is read from it while the projection loads."""
    figures: dict[str, float] = {}
    with LoopLag() as warm_lag:
        start = time.perf_counter()
        context = await asyncio.to_thread(
            create_context, resolve_runtime_paths(None, str(data_dir), environ={}), extra_roots={"lora": [str(root)]})
        context.hub.bind_loop(asyncio.get_running_loop())
        freeze_startup_heap()
        await context.database.open()
        service = context.service("lora")
        await service.start(early=True)
        first = await service.early_list(ListQuery(page_size=100)) or service.list_models(ListQuery(page_size=100))
        json.dumps([r.to_list_item() for r in first.items])
        figures["first_listing_wall_clock"] = time.time()
        figures["warm_start_first_listing_s"] = time.perf_counter() - start
        await service.ready.wait()
        figures["warm_start_projection_ready_s"] = time.perf_counter() - start
    figures["warm_start_loop_lag_worst_ms"] = warm_lag.worst * 1000
    assert first.total == n, (first.total, n)
    while not context.jobs.list_jobs():  # the start's own validation (and hashing) is stopped: it is timed below
        await asyncio.sleep(0.01)
    await context.jobs.shutdown()
    if service._background is not None:
        await asyncio.gather(service._background, return_exceptions=True)
    figures["rss_mb"] = rss_mb()
    with LoopLag() as lag:
        start = time.perf_counter()
        await service._refresh(None, False)
        figures["validate_unchanged_s"] = time.perf_counter() - start
    figures["validate_loop_lag_worst_ms"] = lag.worst * 1000
    figures["validate_loop_lag_p99_ms"] = lag.p99 * 1000
    queries = {
        "name": ListQuery(page_size=100),
        "name_desc": ListQuery(page_size=100, descending=True),
        "date": ListQuery(page_size=100, sort_by="date", descending=True),
        "size": ListQuery(page_size=100, sort_by="size"),
        "usage": ListQuery(page_size=100, sort_by="usage", descending=True),
        "random": ListQuery(page_size=100, sort_by="random", random_seed="7"),
        "page_50": ListQuery(page=50, page_size=100),
        "filter_base": ListQuery(page_size=100, base_models=("SDXL 1.0",)),
        "filter_folder": ListQuery(page_size=100, folder="group_007"),
        "filter_base_date_desc": ListQuery(page_size=100, sort_by="date", descending=True, base_models=("SD 1.5",)),
        "search": ListQuery(page_size=100, search="portrait"),  # one model in five holds it
        "search_rare": ListQuery(page_size=100, search="model_4242"),
        "search_in_folder": ListQuery(page_size=100, search="city", folder="group_007"),
        "search_fuzzy": ListQuery(page_size=100, search="portrit", fuzzy=True),
    }
    from dataclasses import replace

    for label, query in queries.items():
        samples = []
        for i in range(15 if label != "search_fuzzy" else 3):
            # a new page each time defeats nothing: the first request of a query is the uncached one
            service._query_cache._entries.clear()
            t = time.perf_counter()
            result = service.list_models(query)
            json.dumps([r.to_list_item() for r in result.items])
            samples.append(time.perf_counter() - t)
        figures[f"list_{label}_uncached_p50_ms"] = p50(samples)
        samples = []
        for page in range(2, 12):
            t = time.perf_counter()
            result = service.list_models(replace(query, page=page))
            json.dumps([r.to_list_item() for r in result.items])
            samples.append(time.perf_counter() - t)
        figures[f"list_{label}_next_pages_p50_ms"] = p50(samples)
    # aggregate reads: the first after a change computes, the rest answer from the derived value
    aggregates = {"top_tags": service.top_tags, "base_models": service.base_models}
    for label, read in aggregates.items():
        service._derived.clear()
        t = time.perf_counter()
        read()
        figures[f"{label}_first_ms"] = (time.perf_counter() - t) * 1000
        figures[f"{label}_p50_ms"] = p50([_timed(read) for _ in range(20)])
    service._disk_folders = None
    t = time.perf_counter()
    await service.folders()
    figures["folders_first_ms"] = (time.perf_counter() - t) * 1000
    samples = []
    for _ in range(20):
        t = time.perf_counter()
        await service.folders()
        samples.append(time.perf_counter() - t)
    figures["folders_p50_ms"] = p50(samples)
    records = service.all_records()[:30]
    samples = []
    for i, record in enumerate(records):
        t = time.perf_counter()
        await service.save_metadata(service.resolve(record.file_path), {"notes": f"edit {i}"})
        samples.append(time.perf_counter() - t)
    figures["one_edit_p50_ms"] = p50(samples)
    await context.database.close()
    return figures


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def hashing(tmp: Path, total_mb: int) -> dict[str, float]:
    """Parallel hashing against the machine's limit (single-stream sha256 x cores), best of three runs each.

    Plain files get one sha256 per byte; safetensors files two (sha256 and AutoV3 over the tensor bytes), so
    their file throughput is measured against half that limit.
    """
    cores = os.cpu_count() or 1
    per_file = total_mb // (cores * 2) or 1
    block = os.urandom(1024 * 1024)
    files = []
    for i in range(cores * 2):
        path = tmp / f"big_{i}.bin"
        with open(path, "wb") as handle:
            for _ in range(per_file):
                handle.write(block)
        files.append(path)
    tensors = []
    for i, path in enumerate(files):  # the same bytes behind a small safetensors header
        target = tmp / f"big_{i}.safetensors"
        header = b'{"__metadata__":{}}'
        with open(target, "wb") as out, open(path, "rb") as src:
            out.write(len(header).to_bytes(8, "little") + header)
            shutil.copyfileobj(src, out, 4 * 1024 * 1024)
        tensors.append(target)
    for path in files + tensors:  # warm the page cache
        path.read_bytes()

    def single() -> float:
        start = time.perf_counter()
        digest = hashlib.sha256()
        with open(files[0], "rb") as handle:
            while chunk := handle.read(4 * 1024 * 1024):
                digest.update(chunk)
        return per_file / (time.perf_counter() - start)

    def parallel(paths: list[Path]) -> float:
        start = time.perf_counter()
        hash_files([(p, None) for p in paths], max_workers=cores)
        return per_file * len(paths) / (time.perf_counter() - start)

    limit = max(single() for _ in range(3)) * cores
    plain = max(parallel(files) for _ in range(3))
    both = max(parallel(tensors) for _ in range(3))
    return {"hash_single_stream_mb_s": limit / cores, "cores": cores, "hash_parallel_mb_s": plain,
            "hash_fraction_of_limit": plain / limit, "hash_safetensors_parallel_mb_s": both,
            "hash_safetensors_fraction_of_half_limit": both / (limit / 2)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,20000")
    parser.add_argument("--flat", type=int, default=10000)
    parser.add_argument("--hash-mb", type=int, default=512)
    parser.add_argument("--warm", nargs=3, metavar=("DATA", "ROOT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.warm:
        data, root, n = args.warm
        print(json.dumps(await warm_and_query(Path(data), Path(root), int(n))), flush=True)
        return
    tmp = Path(tempfile.mkdtemp(prefix="lm-bench-"))
    try:
        for n in [int(s) for s in args.sizes.split(",") if s]:
            root, data = tmp / f"lib{n}", tmp / f"data{n}"
            t = time.perf_counter()
            generate(root, n)
            print(f"[{n}] generated in {time.perf_counter() - t:.1f}s", flush=True)
            seconds, lag, total = await cold_scan(data, root)
            print(f"[{n}] cold scan: {total} files in {seconds:.2f}s = {total / seconds:.0f} files/s "
                  f"(incl. writing a sidecar per model); loop lag worst {lag.worst * 1000:.1f} ms, "
                  f"p99 {lag.p99 * 1000:.1f} ms", flush=True)
            # the warm start runs in a fresh process, as after a restart (and so its memory is its own)
            spawned = time.time()
            proc = await asyncio.create_subprocess_exec(sys.executable, __file__, "--warm", str(data), str(root),
                                                        str(n), stdout=asyncio.subprocess.PIPE)
            out, _ = await proc.communicate()
            figures = json.loads(out.decode().strip().splitlines()[-1])
            figures["process_start_to_first_listing_s"] = figures.pop("first_listing_wall_clock") - spawned
            for key, value in figures.items():
                print(f"[{n}] {key}: {value:.2f}", flush=True)
            shutil.rmtree(root)
            shutil.rmtree(data)
        if args.flat:
            root, data = tmp / "flat", tmp / "dataflat"
            generate(root, args.flat, folders=1)
            seconds, lag, total = await cold_scan(data, root)
            print(f"[flat {args.flat}] cold scan: {total / seconds:.0f} files/s; loop lag worst "
                  f"{lag.worst * 1000:.1f} ms, p99 {lag.p99 * 1000:.1f} ms")
            shutil.rmtree(root)
        if args.hash_mb:
            for key, value in hashing(tmp, args.hash_mb).items():
                print(f"[hash] {key}: {value:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
