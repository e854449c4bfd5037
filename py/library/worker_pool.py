"""Ingest in worker processes: a cold scan of tens of thousands of files uses every core.

Why not ``concurrent.futures.ProcessPoolExecutor``: its spawn and forkserver starts re-import the host's
``__main__`` module, which inside ComfyUI is ComfyUI's own ``main.py`` with its start-up side effects. These
workers are plain ``python -c`` processes that import only the library modules they need, and talk to the
parent through length-prefixed pickle frames on their stdin/stdout.
"""
from __future__ import annotations

import asyncio
import logging
import os
import pickle
import struct
import sys
from pathlib import Path
from typing import Any, Sequence

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("<Q")
_LIBRARY_PACKAGE = __name__.rsplit(".", 1)[0]  # "<root>.py.library" or "py.library"
_ROOT_PACKAGE = _LIBRARY_PACKAGE[: -len(".py.library")] if _LIBRARY_PACKAGE.endswith(".py.library") else ""
_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent.parent)

BOOT = r"""
import os, pickle, struct, sys, types
root_name, root_dir, library = sys.argv[1], sys.argv[2], sys.argv[3]
if root_name:
    package = types.ModuleType(root_name)
    package.__path__ = [root_dir]
    sys.modules[root_name] = package
else:
    sys.path.insert(0, root_dir)
import importlib
ingest = importlib.import_module(library + ".ingest")
header = struct.Struct("<Q")
stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
while True:
    raw = stdin.read(8)
    if len(raw) < 8:
        break
    payload = stdin.read(header.unpack(raw)[0])
    model_type, items = pickle.loads(payload)
    results = [ingest.safe_ingest(stat, model_type, previous) for stat, previous in items]
    data = pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)
    stdout.write(header.pack(len(data)))
    stdout.write(data)
    stdout.flush()
"""


class WorkerCrashed(RuntimeError):
    pass


def _load_results(payload: bytes) -> list[Any]:
    results = pickle.loads(payload)
    for result in results:
        result.record.intern_shared()  # strings that crossed a process boundary are shared again
    return results


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self.lock = asyncio.Lock()

    async def run(self, model_type: str, items: Sequence[Any]) -> list[Any]:
        async with self.lock:
            assert self.process.stdin is not None and self.process.stdout is not None
            data = pickle.dumps((model_type, list(items)), protocol=pickle.HIGHEST_PROTOCOL)
            self.process.stdin.write(_HEADER.pack(len(data)) + data)
            await self.process.stdin.drain()
            try:
                size = _HEADER.unpack(await self.process.stdout.readexactly(_HEADER.size))[0]
                payload = await self.process.stdout.readexactly(size)
            except asyncio.IncompleteReadError as exc:
                raise WorkerCrashed("an ingest worker stopped unexpectedly") from exc
        # unpickling a batch of records is quick but not free: keep it off the event loop
        return await asyncio.to_thread(_load_results, payload)


class IngestWorkerPool:
    """A few worker processes for one large scan; ``close()`` ends them."""

    def __init__(self, size: int | None = None):
        self.size = max(1, size or os.cpu_count() or 1)
        self._workers: list[_Worker] = []
        self._next = 0

    async def start(self) -> None:
        for _ in range(self.size):
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-c", BOOT, _ROOT_PACKAGE, _PACKAGE_DIR, _LIBRARY_PACKAGE,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )
            self._workers.append(_Worker(process))

    async def ingest(self, model_type: str, items: Sequence[Any]) -> list[Any]:
        """Ingest one batch of ``(FileStat, previous record)`` on the least recently used worker."""
        if not self._workers:
            raise RuntimeError("the worker pool is not started")
        idle = [w for w in self._workers if not w.lock.locked()]
        if idle:
            worker = idle[0]
        else:
            worker = self._workers[self._next % len(self._workers)]
            self._next += 1
        return await worker.run(model_type, items)

    async def close(self) -> None:
        """End the workers. They hold nothing worth waiting for: one still busy (its answer unread, so
        possibly blocked on a full pipe) is killed after a short grace."""
        for worker in self._workers:
            process = worker.process
            if process.stdin is not None and not process.stdin.is_closing():
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 0.5)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
        self._workers.clear()
