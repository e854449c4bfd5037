"""Model kinds benchmark: what serving every kind of the table costs an empty app against the three core kinds.

Run: ``.venv/bin/python benchmarks/bench_kinds.py [--starts 20] [--requests 200]``
Prints, for each set of kinds, the mean time to build, start and close the app (what every API test pays) and
the p50 of ``GET /api/lm/loras/list`` and ``GET /api/lm/kinds`` through a real aiohttp server on 127.0.0.1.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lm_package  # noqa: E402

lm_package.load()
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from lora_manager.py.app import build_app, create_context  # noqa: E402
from lora_manager.py.library.kinds import CORE_KINDS, SERVED_KINDS  # noqa: E402
from lora_manager.py.routes.model_routes import ModelRoutes  # noqa: E402
from lora_manager.py.services.model_service import ModelService  # noqa: E402
from lora_manager.py.services.model_service_factory import ModelServiceFactory  # noqa: E402
from lora_manager.py.settings import resolve_runtime_paths  # noqa: E402


def factory_for(kinds: tuple[str, ...]) -> ModelServiceFactory:
    factory = ModelServiceFactory()
    for kind in kinds:
        factory.register_model_type(kind, ModelService, ModelRoutes)
    return factory


async def run(kinds: tuple[str, ...], starts: int, requests: int) -> None:
    start_times, list_times, kinds_times = [], [], []
    for number in range(starts):
        tmp = Path(tempfile.mkdtemp(prefix="lm-bench-kinds-"))
        try:
            began = time.perf_counter()
            context = create_context(resolve_runtime_paths(None, str(tmp), environ={}), factory=factory_for(kinds))
            client = TestClient(TestServer(build_app(context)))
            await client.start_server()
            await (await client.get("/api/lm/loras/list")).read()
            if number == 0:
                for url, sink in (("/api/lm/loras/list", list_times), ("/api/lm/kinds", kinds_times)):
                    for _ in range(requests):
                        t = time.perf_counter()
                        await (await client.get(url)).read()
                        sink.append(time.perf_counter() - t)
                await client.close()
                continue
            await client.close()
            start_times.append(time.perf_counter() - began)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(kinds):2d} kinds: app build+start+close mean {statistics.mean(start_times) * 1000:.1f} ms "
          f"({len(start_times)} starts); /api/lm/loras/list p50 {statistics.median(list_times) * 1000:.2f} ms; "
          f"/api/lm/kinds p50 {statistics.median(kinds_times) * 1000:.2f} ms ({requests} requests each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    for kinds in (CORE_KINDS, SERVED_KINDS, CORE_KINDS, SERVED_KINDS):  # twice each: the first pair warms up
        asyncio.run(run(kinds, args.starts, args.requests))


if __name__ == "__main__":
    main()
