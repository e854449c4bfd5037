"""The ``.part`` file of a download: append + hash off the event loop, then verify and place it.

Why: a 10 GB checkpoint must not freeze the server while it is written, must not be read twice to be
hashed, and must never land at its final name unless every byte was verified. Two writers are provided
(a dedicated thread fed through a bounded queue, and one ``asyncio.to_thread`` hop per 1 MiB chunk);
``benchmarks/bench_download.py`` compares them. Since each batch is written and hashed as one buffer and the
kernel writes the part out as it grows, the dedicated thread is the faster on the 2-CPU test machine (it
hashes while the next bytes arrive), so it is the default.
"""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
import queue
import shutil
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO, Sequence

logger = logging.getLogger(__name__)

HASH_BLOCK = 8 * 1024 * 1024
# Every this many bytes the kernel is asked to start writing the part out (and to drop what it has written from
# its cache): the fsync before the file is placed then has almost nothing left to wait for, and a 10 GB download
# does not push the rest of the page cache out.
WRITE_BEHIND = 32 * 1024 * 1024
_FADVISE = getattr(os, "posix_fadvise", None)
Pieces = Sequence[bytes | bytearray | memoryview]


def write_chunk(handle: BinaryIO, data: bytes | bytearray | memoryview) -> None:
    """Append ``data``; the one place bytes reach the disk (tests replace it to simulate a full disk)."""
    handle.write(data)


def part_path_for(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def hash_existing_part(path: Path) -> tuple[Any, int]:
    """sha256 state and size of the bytes already in ``path`` (missing file: empty). Runs in a thread."""
    hasher = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as handle:
            while True:
                block = handle.read(HASH_BLOCK)
                if not block:
                    break
                hasher.update(block)
                size += len(block)
    except FileNotFoundError:
        pass
    return hasher, size


def _open_append(path: Path, truncate: bool) -> BinaryIO:
    handle = open(path, "ab")
    if truncate:
        handle.truncate(0)
    return handle


class _BaseWriter:
    """Shared state: the open handle, the running hash and the byte count of the part."""

    def __init__(self, handle: BinaryIO, hasher: Any, size: int) -> None:
        self._handle = handle
        self.hasher = hasher
        self.size = size
        self._closed = False
        self._written_behind = size

    def _write_sync(self, pieces: Pieces) -> None:
        # one buffer per batch: one write and one hash update, each of which lets the event loop run for the
        # whole megabyte, instead of a lock hand-over per network read
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        write_chunk(self._handle, data)
        self.hasher.update(data)
        self.size += len(data)
        if _FADVISE is not None and self.size - self._written_behind >= WRITE_BEHIND:
            self._write_behind()

    def _write_behind(self) -> None:
        self._handle.flush()
        try:
            _FADVISE(self._handle.fileno(), self._written_behind, self.size - self._written_behind,
                     os.POSIX_FADV_DONTNEED)
        except OSError:  # advice only: a file system that does not take it changes nothing
            pass
        self._written_behind = self.size

    def _close_sync(self, sync: bool) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._handle.flush()
            if sync:
                os.fsync(self._handle.fileno())
        finally:
            self._handle.close()

    def close_now(self) -> None:
        """Synchronous close without fsync (cancellation and error paths); never raises OSError."""
        try:
            self._close_sync(sync=False)
        except OSError:
            pass

    def _truncate_sync(self) -> None:
        self._handle.flush()
        self._handle.truncate(0)
        self.hasher = hashlib.sha256()
        self.size = 0

    @property
    def sha256(self) -> str:
        return self.hasher.hexdigest()


class ToThreadPartWriter(_BaseWriter):
    """One ``asyncio.to_thread`` hop per chunk: simple, but the transfer waits for every write."""

    async def write(self, pieces: Pieces) -> None:
        await asyncio.to_thread(self._write_sync, pieces)

    async def truncate(self) -> None:
        await asyncio.to_thread(self._truncate_sync)

    async def close(self, *, sync: bool = True) -> None:
        await asyncio.to_thread(self._close_sync, sync)


_STOP = object()


class ThreadedPartWriter(_BaseWriter):
    """A dedicated writer thread fed through a bounded queue: the network read of the next chunk overlaps
    the write and hash of the previous one; at most ``max_pending`` chunks wait in memory."""

    def __init__(self, handle: BinaryIO, hasher: Any, size: int, *, max_pending: int = 8) -> None:
        super().__init__(handle, hasher, size)
        self._loop = asyncio.get_running_loop()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._slots = asyncio.Semaphore(max_pending)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="lm-download-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            job, done = item
            try:
                if callable(job):
                    job()
                elif self._error is None:
                    self._write_sync(job)
            except BaseException as exc:  # reported to the event loop on the next call
                if self._error is None:
                    self._error = exc
            finally:
                self._signal(done)

    def _signal(self, done: asyncio.Future | None) -> None:
        try:
            if done is None:
                self._loop.call_soon_threadsafe(self._slots.release)
            else:
                self._loop.call_soon_threadsafe(_settle, done)
        except RuntimeError:  # the loop is gone (shutdown): nobody waits for the answer
            pass

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    async def write(self, pieces: Pieces) -> None:
        self._raise_error()
        await self._slots.acquire()
        self._queue.put((pieces, None))

    async def _barrier(self, job: Any = None) -> None:
        done = self._loop.create_future()
        self._queue.put((job or (lambda: None), done))
        await done

    async def flush(self) -> None:
        """Wait until every queued chunk is on disk; raise the first write error."""
        await self._barrier()
        self._raise_error()

    async def truncate(self) -> None:
        await self.flush()
        await self._barrier(self._truncate_sync)
        self._raise_error()

    async def close(self, *, sync: bool = True) -> None:
        """Drain the queue, then close (fsync when ``sync``); raises the first write error. Idempotent."""
        if self._closed or not self._thread.is_alive():
            self._stop_thread()
            return
        try:
            await self._barrier()
            await self._barrier(lambda: self._close_sync(sync))
        finally:
            self._stop_thread()
        self._raise_error()

    def close_now(self) -> None:
        """Synchronous emergency close (cancellation path): stop the thread and close the handle."""
        self._stop_thread()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=30)
        super().close_now()

    def _stop_thread(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)


def _settle(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


WRITERS = {"thread": ThreadedPartWriter, "to_thread": ToThreadPartWriter}


async def open_part(path: Path, hasher: Any, size: int, *, mode: str = "thread", truncate: bool = False) -> _BaseWriter:
    """Open ``path`` for appending (after ``size`` bytes already hashed into ``hasher``)."""
    handle = await asyncio.to_thread(_open_append, path, truncate)
    if truncate:
        hasher, size = hashlib.sha256(), 0
    return WRITERS[mode](handle, hasher, size)


# -- placing the finished file ---------------------------------------------------------------------
def place_without_overwrite(part: Path, target: Path) -> None:
    """Move ``part`` to ``target``; FileExistsError when ``target`` exists (never overwritten)."""
    try:
        os.link(part, target)
    except FileExistsError:
        raise
    except OSError:
        # file systems without hard links (FAT, some shares): check, then rename
        if os.path.lexists(target):
            raise FileExistsError(target) from None
        os.replace(part, target)
        return
    os.unlink(part)


_counter = itertools.count()


def quarantine(part: Path, target: Path, quarantine_dir: Path | None) -> Path:
    """Move a failed download out of the way (never onto ``target``); returns where it went."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if quarantine_dir is not None:
        quarantine_dir.mkdir(parents=True, exist_ok=True)
        base = quarantine_dir / f"{target.name}.{stamp}"
    else:
        base = target.with_name(f"{target.name}.quarantine-{stamp}")
    destination = base
    while os.path.lexists(destination):
        destination = base.with_name(f"{base.name}-{next(_counter)}")
    try:
        place_without_overwrite(part, destination)
    except FileExistsError:
        raise
    except OSError:
        shutil.move(str(part), str(destination))  # another device
    return destination
