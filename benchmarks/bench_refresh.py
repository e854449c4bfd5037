"""Bulk Civitai metadata refresh benchmark against the loopback fake Civitai.

Run: ``.venv/bin/python benchmarks/bench_refresh.py [--models 10000] [--batch 100] [--previews 0]``
A library of LoRAs with known hashes is generated in a temporary folder, the fake Civitai knows every one of
them, and the whole library is refreshed as one job (the app's own code path, without the HTTP layer).
Figures are printed; nothing is asserted.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
_spec = importlib.util.spec_from_file_location("lora_manager", ROOT / "__init__.py",
                                               submodule_search_locations=[str(ROOT)])
_pkg = importlib.util.module_from_spec(_spec)
sys.modules["lora_manager"] = _pkg
_spec.loader.exec_module(_pkg)

from lora_manager.py.app import create_context  # noqa: E402
from lora_manager.py.library.safetensors import write_safetensors_header  # noqa: E402
from lora_manager.py.services.remote.resilience import ResilientHttp  # noqa: E402
from lora_manager.py.settings import resolve_runtime_paths  # noqa: E402
from support.fake_civitai import FakeCivitai, FakeVersion  # noqa: E402


class IndexedFakeCivitai(FakeCivitai):
    """The fake with a hash index, so the server side stays O(1) per hash at 10k versions."""

    def __init__(self) -> None:
        super().__init__()
        self._by_hash: dict[str, FakeVersion] = {}

    def index_hashes(self) -> None:
        self._by_hash = {f.sha256: v for v in self.versions.values() for f in v.files}

    def _version_for_hash(self, digest: str) -> FakeVersion | None:
        return self._by_hash.get(digest.lower())


class LoopLag:
    """Worst delay of a 5 ms ticker: how long the event loop was blocked."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task | None = None

    async def _tick(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, time.perf_counter() - start - 0.005)

    def __enter__(self) -> "LoopLag":
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()


def generate(fake: IndexedFakeCivitai, root: Path, count: int, previews: int) -> None:
    """``count`` LoRAs whose sidecars carry the sha256 of a fake Civitai file (no local hashing needed)."""
    tensors = {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": ("F16", [8, 320])}
    for i in range(count):
        model = fake.add_model(f"Bench model {i}", versions=[{
            "files": [{"n_bytes": 64}], "images": 1 if i < previews else 0, "trained_words": [f"word{i}"]}])
        sha = model.versions[0].files[0].sha256
        folder = root / f"group_{i % 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"bench_{i:05d}"
        write_safetensors_header(folder / f"{stem}.safetensors", tensors, {"ss_network_dim": "8"}, fill_data=False)
        sidecar = {"file_name": stem, "model_name": stem, "sha256": sha, "notes": "", "tags": [],
                   "from_civitai": False, "civitai": {}, "user_edited_fields": ["notes"] if i % 10 == 0 else []}
        (folder / f"{stem}.metadata.json").write_text(json.dumps(sidecar), encoding="utf-8")
    fake.index_hashes()


async def wait_idle(context) -> None:
    while True:
        jobs = context.jobs.list_jobs()
        if all(job.done for job in jobs) and all(s._background is None or s._background.done()
                                                 for s in context.services.values()):
            return
        await asyncio.sleep(0.05)


async def run(models: int, batch: int, previews: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="lm-bench-refresh-"))
    fake = IndexedFakeCivitai()
    try:
        base_url = await fake.start()
        os.environ["LORA_MANAGER_CIVITAI_BASE_URL"] = base_url
        loras = tmp / "loras"
        started = time.perf_counter()
        generate(fake, loras, models, previews)
        print(f"generated {models} models ({previews} with a preview to fetch) in {time.perf_counter() - started:.1f} s")
        data = tmp / "data"
        data.mkdir()
        (data / "settings.json").write_text(json.dumps({"version": 1, "libraries": {"default": {"roots": {
            "lora": [str(loras)], "checkpoint": [], "embedding": []}}}}))
        context = await asyncio.to_thread(create_context, resolve_runtime_paths(None, str(data), environ={}))
        await context.start()
        started = time.perf_counter()
        await wait_idle(context)
        print(f"startup scan: {time.perf_counter() - started:.1f} s")
        metadata = context.components["metadata"]
        http = ResilientHttp()  # unpaced: measures this side and the loopback server, not Civitai's limit
        metadata.set_http(http)
        metadata.batch_size = batch
        fake.requests.clear()
        with LoopLag() as lag:
            started = time.perf_counter()
            job = metadata.start_refresh_all("lora")
            result = await job.wait()
            elapsed = time.perf_counter() - started
        by_hash = fake.requests_to("/api/v1/model-versions/by-hash", "POST")
        lookups = fake.requests_to("/api/v1/models", "GET")
        media = fake.requests_to("/media/")
        print(f"bulk refresh of {models} models, batch {batch}: {elapsed:.2f} s "
              f"({models / elapsed:.0f} models/s)")
        print(f"  result: success={result['success']} not_found={result['not_found_count']} "
              f"failed={result['failure_count']} skipped={result['skipped_count']}")
        print(f"  requests: {len(by_hash)} by-hash batches (largest {max(len(r.json()) for r in by_hash)}), "
              f"{len(lookups)} model lookups, {len(media)} preview downloads, {len(fake.requests)} in all")
        print(f"  worst event-loop lag during the refresh: {lag.worst * 1000:.1f} ms")
        print(f"  at the default pace of 4 requests/s the same job needs at least "
              f"{len(fake.requests) / 4:.0f} s of request slots")
        sample = json.loads(next(loras.glob("group_00/bench_00000.metadata.json")).read_text())
        assert sample["from_civitai"] is True
        await http.close()
        await context.close()
    finally:
        await fake.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--previews", type=int, default=0, help="how many models also download a preview")
    args = parser.parse_args()
    asyncio.run(run(args.models, args.batch, args.previews))


if __name__ == "__main__":
    main()
