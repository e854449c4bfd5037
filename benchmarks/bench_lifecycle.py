"""Lifecycle benchmark: one rename, move, exclude and add-tags on a library of N generated models.

Run: ``.venv/bin/python benchmarks/bench_lifecycle.py [--models 20000] [--repeat 30]``
The library (headers only, sparse, each with a sidecar and preview) is generated in a temporary folder and removed.
The "file system only" line times the same renames with bare ``os.rename`` so the service's own overhead can be
read off. Figures are printed; nothing is asserted.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import lm_package

lm_package.load()

from lora_manager.py.app import create_context  # noqa: E402
from lora_manager.py.library.index import ModelIndex  # noqa: E402
from lora_manager.py.library.safetensors import write_safetensors_header  # noqa: E402
from lora_manager.py.services.lifecycle import ModelLifecycleService  # noqa: E402
from lora_manager.py.settings import resolve_runtime_paths  # noqa: E402

TENSORS = {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": ("F16", [8, 320]),
           "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": ("F16", [8, 768])}


def generate(root: Path, count: int, folders: int = 200) -> None:
    for i in range(count):
        folder = root / f"group_{i % folders:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"model_{i}"
        write_safetensors_header(folder / f"{stem}.safetensors", TENSORS, {"ss_network_dim": "8"}, fill_data=False)
        (folder / f"{stem}.metadata.json").write_text(json.dumps(
            {"file_name": stem, "model_name": stem, "sha256": f"{i:064x}", "tags": ["style"], "civitai": {}}))
        (folder / f"{stem}.preview.png").write_bytes(b"\x89PNG\r\n\x1a\n")


def ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:7.2f} ms   p90 {sorted(samples)[int(len(samples) * 0.9)] * 1000:7.2f} ms"


async def run(count: int, repeat: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="lm-bench-lifecycle-"))
    try:
        root, data = tmp / "loras", tmp / "data"
        start = time.perf_counter()
        generate(root, count)
        print(f"generated {count} models in {time.perf_counter() - start:.1f} s")
        context = await asyncio.to_thread(create_context, resolve_runtime_paths(None, str(data), environ={}),
                                          extra_roots={"lora": [str(root)]})
        context.hub.bind_loop(asyncio.get_running_loop())
        await context.database.open()
        service = context.service("lora")
        service.index = ModelIndex(context.database, "lora")
        start = time.perf_counter()
        await service._refresh(None, False)
        service.ready.set()
        print(f"indexed {len(service.index)} models in {time.perf_counter() - start:.1f} s")
        lifecycle = ModelLifecycleService(context)
        records = sorted(service.all_records(), key=lambda r: r.file_path)[:repeat]
        figures: dict[str, list[float]] = {"rename": [], "move": [], "exclude": [], "add_tags": [], "fs_only": []}
        for i, record in enumerate(records):
            t = time.perf_counter()
            result = await lifecycle.rename_model("lora", record, f"renamed_{i}")
            figures["rename"].append(time.perf_counter() - t)
            moved = service.index.get(result.new_path)
            t = time.perf_counter()
            result = await lifecycle.move_model("lora", moved, str(root / "moved"))
            figures["move"].append(time.perf_counter() - t)
            moved = service.index.get(result.new_path)
            t = time.perf_counter()
            await lifecycle.exclude_model("lora", moved)
            figures["exclude"].append(time.perf_counter() - t)
            t = time.perf_counter()
            await lifecycle.add_tags("lora", service.index.get(result.new_path), ["bench"])
            figures["add_tags"].append(time.perf_counter() - t)
            base = str(root / "moved" / f"renamed_{i}")
            t = time.perf_counter()
            for suffix in (".safetensors", ".metadata.json", ".preview.png"):
                os.rename(base + suffix, base + "_fs" + suffix)
            figures["fs_only"].append(time.perf_counter() - t)
        print(f"\n{count} models, {len(records)} samples each (model + sidecar + preview):")
        for label, samples in figures.items():
            print(f"  {label:9s} {ms(samples)}")
        await context.database.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(run(args.models, args.repeat))


if __name__ == "__main__":
    main()
