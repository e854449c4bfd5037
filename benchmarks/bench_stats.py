"""Statistics benchmark: ``GET /api/lm/stats``'s aggregates on a generated library (default 10k LoRAs).

Run: ``.venv/bin/python benchmarks/bench_stats.py [--size 10000] [--repeat 20]``
The library comes from bench_library's generator (sparse files) and is removed after. Figures are printed.
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_library import cold_scan, create_context, generate, p50, resolve_runtime_paths  # noqa: E402


async def measure(size: int, repeat: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="lm-bench-stats-"))
    try:
        root, data_dir = tmp / "loras", tmp / "data"
        generate(root, size)
        scan_seconds, _lag, total = await cold_scan(data_dir, root)
        context = create_context(resolve_runtime_paths(None, str(data_dir), environ={}),
                                 extra_roots={"lora": [str(root)]})
        await context.database.open()
        try:
            samples = []
            for _ in range(repeat):
                start = time.perf_counter()
                stats = await context.database.stats()
                samples.append(time.perf_counter() - start)
        finally:
            await context.database.close()
        print(f"library: {total} models (cold scan {scan_seconds:.1f} s)")
        print(f"stats p50: {p50(samples):.1f} ms, max: {max(samples) * 1000:.1f} ms over {repeat} runs; "
              f"{len(stats.per_base_model)} base models, {len(stats.tag_cloud)} tags")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(measure(args.size, args.repeat))


if __name__ == "__main__":
    main()
