"""Search benchmark: plain and fuzzy searches over an in-memory projection of generated records (default 100k).

Run: ``.venv/bin/python benchmarks/bench_search.py [--size 100000] [--repeat 9]``
No files are written: the records are built as a scan would build them (names mixing a few common words with
a unique part), so the figures isolate the query path. Printed: the first fuzzy search (builds the word
table), p50 of each search with the query cache cleared, and a fuzzy search right after an edit.
"""
from __future__ import annotations

import argparse
import random
import statistics
import time

import lm_package

lm_package.load()

from lora_manager.py.library.index import ModelProjection  # noqa: E402
from lora_manager.py.library.query import ListQuery, run_query  # noqa: E402
from lora_manager.py.library.records import ModelRecord  # noqa: E402

WORDS = ("portrait", "city", "anime", "style", "detail", "photo", "landscape", "girl", "armor", "neon", "pixel",
         "cinematic", "watercolor", "sketch", "lighting", "realistic", "fantasy", "concept", "character", "retro")
SEARCHES = {
    "plain common word": ListQuery(page_size=100, search="portrait"),
    "plain rare name": ListQuery(page_size=100, search="model_4242"),
    "fuzzy one word": ListQuery(page_size=100, search="portrit", fuzzy=True),
    "fuzzy two words": ListQuery(page_size=100, search="cinematik style", fuzzy=True),
    "fuzzy rare name": ListQuery(page_size=100, search="model_4242", fuzzy=True),
}


def records(size: int) -> list[ModelRecord]:
    rng = random.Random(7)
    made = []
    for i in range(size):
        words = rng.sample(WORDS, 3)
        if i % 5:
            words = [w for w in words if w != "portrait"]
        made.append(ModelRecord(file_path=f"/lib/group_{i % 100:03d}/{i}.safetensors", model_type="lora",
                                root="/lib", folder=f"group_{i % 100:03d}", file_name="_".join(words) + f"_model_{i}",
                                model_name=" ".join(words).title() + f" v{i % 9}", extension=".safetensors",
                                size=1, mtime_ns=i))
    return made


def timed(projection: ModelProjection, query: ListQuery) -> float:
    start = time.perf_counter()
    run_query(projection, query)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    start = time.perf_counter()
    projection = ModelProjection(records(args.size))
    print(f"{args.size} records in {time.perf_counter() - start:.1f} s")
    print(f"first fuzzy search (builds the word table): {timed(projection, SEARCHES['fuzzy one word']):.0f} ms")
    for label, query in SEARCHES.items():
        samples = [timed(projection, query) for _ in range(args.repeat)]
        print(f"{label:<20} p50 {statistics.median(samples):6.1f} ms  max {max(samples):6.1f} ms")
    first = projection.values().__next__()
    projection.put(first.evolve(model_name="Portrait Retro Edit"))
    print(f"fuzzy search right after an edit: {timed(projection, SEARCHES['fuzzy one word']):.1f} ms")


if __name__ == "__main__":
    main()
