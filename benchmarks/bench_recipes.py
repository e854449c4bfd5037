"""Recipe benchmark: cold build from files, warm start from the cache, list and search latency.

Run: ``.venv/bin/python benchmarks/bench_recipes.py [--count 10000] [--repeat 200]``
A recipes folder is generated under a temporary folder (JSON files in 50 subfolders) and removed.
Targets: warm start <= 1 s and list/search p50 <= 15 ms at 10k recipes. Figures are printed; nothing is asserted.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import lm_package

lm_package.load()

from lora_manager.py.app import create_context  # noqa: E402
from lora_manager.py.services.recipes.query import RecipeQuery  # noqa: E402
from lora_manager.py.services.recipes.store import RecipeStore  # noqa: E402
from lora_manager.py.settings import resolve_runtime_paths  # noqa: E402

WORDS = ["portrait", "castle", "neon", "forest", "anime", "detail", "sunset", "city", "ocean", "robot", "flower",
         "winter", "desert", "dragon", "knight", "cyberpunk", "watercolor", "oil", "studio", "cinematic"]
BASES = ["SD 1.5", "SDXL 1.0", "Pony", "Flux.1 D"]


def generate(folder: Path, count: int, rng: random.Random) -> None:
    for i in range(count):
        sub = folder / f"set_{i % 50:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        loras = [{"file_name": f"{rng.choice(WORDS)}_lora_{rng.randrange(500)}", "hash": f"{rng.getrandbits(256):064x}",
                  "strength": round(rng.uniform(0.2, 1.2), 2), "modelVersionId": rng.randrange(1, 10**6),
                  "modelName": f"{rng.choice(WORDS).title()} {rng.choice(WORDS)}", "modelVersionName": "v1",
                  "isDeleted": False, "exclude": False} for _ in range(rng.randrange(1, 5))]
        prompt = ", ".join(rng.choice(WORDS) for _ in range(25))
        recipe = {"id": f"recipe-{i:05d}", "file_path": str(sub / f"recipe-{i:05d}.webp"),
                  "title": " ".join(rng.choice(WORDS) for _ in range(3)) + f" {i}", "modified": 1.7e9 + i,
                  "created_date": 1.7e9 + rng.randrange(10**7), "base_model": rng.choice(BASES), "loras": loras,
                  "gen_params": {"prompt": prompt, "negative_prompt": "blurry, lowres", "steps": 30, "seed": i,
                                 "sampler": "euler", "cfg_scale": 7.0, "size": "832x1216"},
                  "tags": rng.sample(WORDS, 2), "favorite": i % 17 == 0, "fingerprint": ""}
        (sub / f"recipe-{i:05d}.recipe.json").write_text(json.dumps(recipe), encoding="utf-8")


def p50(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"p50 {statistics.median(ordered) * 1000:6.2f} ms  p95 {ordered[int(len(ordered) * 0.95)] * 1000:6.2f} ms"


async def run(count: int, repeat: int) -> None:
    rng = random.Random(7)
    tmp = Path(tempfile.mkdtemp(prefix="lm-bench-recipes-"))
    try:
        data_dir = tmp / "data"
        data_dir.mkdir()
        (data_dir / "settings.json").write_text(json.dumps({"version": 1}), encoding="utf-8")
        started = time.perf_counter()
        generate(data_dir / "recipes", count, rng)
        print(f"generated {count} recipe files in {time.perf_counter() - started:.1f}s")

        cold = RecipeStore(data_dir / "recipes", data_dir / "cache" / "recipes.sqlite")
        started = time.perf_counter()
        await cold.open()
        await cold.sweep()
        print(f"cold build from files: {time.perf_counter() - started:.2f}s ({len(cold.entries)} recipes)")
        await cold.close()

        warm = RecipeStore(data_dir / "recipes", data_dir / "cache" / "recipes.sqlite")
        started = time.perf_counter()
        served = await warm.open()
        print(f"warm start from cache: {time.perf_counter() - started:.3f}s ({served} recipes, index ready: "
              f"{warm.index_ready})")
        started = time.perf_counter()
        summary = await warm.sweep()
        print(f"background validation sweep (nothing changed): {time.perf_counter() - started:.3f}s "
              f"(updated {summary.updated})")
        await warm.close()

        context = create_context(resolve_runtime_paths(None, str(data_dir), environ={}))
        await context.start()
        service = context.components["recipes"]
        await service.wait_ready()
        cases = {
            "list page 1 (date)": RecipeQuery(),
            "list page 50 (name)": RecipeQuery(page=50, sort_by="name", descending=False),
            "search 'castle' (FTS, paging)": RecipeQuery(search="castle"),
            "search 'neon dra' page 3": RecipeQuery(search="neon dra", page=3),
            "filter base+tag+favorite": RecipeQuery(base_models=("Pony",), tag_include=("castle",), favorite=True),
        }
        for name, query in cases.items():
            samples = []
            for _ in range(repeat):
                started = time.perf_counter()
                await service.list_recipes(query)
                samples.append(time.perf_counter() - started)
            print(f"{name:34s} {p50(samples)}")
        samples = []
        for n in range(repeat):
            started = time.perf_counter()
            await service.list_recipes(RecipeQuery(search=WORDS[n % len(WORDS)][: 2 + n % 4]))
            samples.append(time.perf_counter() - started)
        print(f"{'search, a new query each time':34s} {p50(samples)}")
        service.store._complete = False  # the index-building fallback
        samples = []
        for _ in range(max(10, repeat // 10)):
            started = time.perf_counter()
            await service.list_recipes(RecipeQuery(search="castle"))
            samples.append(time.perf_counter() - started)
        print(f"{'search while building (memory)':34s} {p50(samples)}")
        service.store._complete = True
        entry = next(iter(service.store.entries))
        samples = []
        for n in range(20):
            started = time.perf_counter()
            await service.update(entry, {"title": f"edited {n}"})
            samples.append(time.perf_counter() - started)
        print(f"{'one edit (file + cache + memory)':34s} {p50(samples)}")
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            await service.list_recipes(RecipeQuery())
            samples.append(time.perf_counter() - started)
        print(f"{'list page 1 right after edits':34s} {p50(samples)}")
        await context.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args.count, args.repeat))


if __name__ == "__main__":
    main()
