"""One read pass per file -> sha256 + AutoV2 + AutoV3, in parallel across files.

Why: hashing is the most expensive thing a library does (gigabytes per checkpoint). Every byte is read once
and fed to both digests; AutoV3 (Civitai's hash of the tensor bytes after the safetensors header, equal to
kohya's ``sshs_model_hash``) comes from the same pass. ``hashlib`` releases the GIL for large updates, so a
small thread pool uses all cores without processes.

Everything here is synchronous and meant for worker threads.
"""
from __future__ import annotations

import hashlib
import logging
import os
import struct
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Hashable, Iterable, TypeVar

from .safetensors import DEFAULT_MAX_HEADER_BYTES, is_safetensors_name

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024
AUTOV2_LENGTH = 10
AUTOV3_SHORT_LENGTH = 12  # the form Civitai shows as "AutoV3"

P = TypeVar("P", bound=Hashable)


class HashCancelled(Exception):
    """Hashing stopped because the caller set its cancel event."""


@dataclass(frozen=True)
class FileHashes:
    sha256: str
    autov2: str
    autov3: str | None  # full sha256 hex of the tensor bytes; None when the file has no tensor offset
    size: int

    @property
    def autov3_short(self) -> str | None:
        return self.autov3[:AUTOV3_SHORT_LENGTH] if self.autov3 else None


def hash_file(
    path: str | os.PathLike[str],
    *,
    tensor_offset: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
) -> FileHashes:
    """Hash ``path`` in one pass.

    ``tensor_offset`` is where AutoV3 starts (``8 + N`` for safetensors). When it is None and the file is a
    safetensors file, the offset is taken from the first 8 bytes of the same read. ``on_progress`` receives
    the running byte count after each chunk; a set ``cancel`` raises ``HashCancelled`` between chunks.
    OS errors (missing file, permission denied) pass through.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    if tensor_offset is not None and tensor_offset < 0:
        raise ValueError("tensor_offset must not be negative")
    detect = tensor_offset is None and is_safetensors_name(path)
    full = hashlib.sha256()
    tail = hashlib.sha256()
    offset = tensor_offset
    buffer = bytearray(chunk_size)
    view = memoryview(buffer)
    prefix = bytearray()  # first 9 bytes, only while detecting the offset
    done = 0
    with open(path, "rb", buffering=0) as handle:
        expected_size = os.fstat(handle.fileno()).st_size
        while True:
            if cancel is not None and cancel.is_set():
                raise HashCancelled(str(path))
            count = handle.readinto(buffer)
            if not count:
                break
            chunk = view[:count]
            full.update(chunk)
            if detect and len(prefix) < 9:
                prefix += chunk[: 9 - len(prefix)]
                if len(prefix) == 9:
                    offset = _safetensors_offset(bytes(prefix), expected_size)
                    detect = False
            if offset is not None and done + count > offset:
                tail.update(chunk[max(0, offset - done) :])
            done += count
            if on_progress is not None:
                on_progress(done)
    sha256 = full.hexdigest()
    autov3 = tail.hexdigest() if offset is not None and offset <= done else None
    return FileHashes(sha256=sha256, autov2=sha256[:AUTOV2_LENGTH], autov3=autov3, size=done)


def _safetensors_offset(prefix: bytes, file_size: int) -> int | None:
    """``8 + N`` when the first bytes look like a safetensors header, else None (no AutoV3)."""
    (header_length,) = struct.unpack("<Q", prefix[:8])
    if header_length < 2 or header_length > DEFAULT_MAX_HEADER_BYTES or 8 + header_length > file_size:
        return None
    if prefix[8:9] != b"{":
        return None
    return 8 + header_length


def hash_files(
    items: Iterable[tuple[P, int | None]],
    *,
    max_workers: int | None = None,
    cancel: threading.Event | None = None,
    on_file_done: Callable[[P, FileHashes | Exception], None] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> dict[P, FileHashes | Exception]:
    """Hash many files with a bounded thread pool.

    Each input path maps to its ``FileHashes`` or to the exception that stopped it (a vanished file, a
    permission error); one failure never stops the others. When ``cancel`` is set, no new file starts,
    running ones stop at their next chunk, and every unfinished path maps to ``HashCancelled``.
    ``on_file_done`` runs in the calling thread, once per finished file (not for cancelled ones).
    A path given twice is hashed once.
    """
    workers = max_workers if max_workers is not None else (os.cpu_count() or 1)
    if workers < 1:
        raise ValueError("max_workers must be at least 1")
    pending: list[tuple[P, int | None]] = []
    seen: set[P] = set()
    for path, offset in items:
        if path not in seen:
            seen.add(path)
            pending.append((path, offset))
    results: dict[P, FileHashes | Exception] = {}
    if not pending:
        return results

    window = workers * 2  # bounded queue: prompt cancel, no 20k futures at once
    source = iter(pending)
    in_flight: dict[Future[FileHashes], P] = {}

    def submit_next(pool: ThreadPoolExecutor) -> bool:
        if cancel is not None and cancel.is_set():
            return False
        try:
            path, offset = next(source)
        except StopIteration:
            return False
        future = pool.submit(hash_file, path, tensor_offset=offset, chunk_size=chunk_size, cancel=cancel)
        in_flight[future] = path
        return True

    with ThreadPoolExecutor(max_workers=min(workers, len(pending)), thread_name_prefix="lm-hash") as pool:
        while len(in_flight) < window and submit_next(pool):
            pass
        while in_flight:
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                path = in_flight.pop(future)
                outcome = _outcome(future)
                results[path] = outcome
                if on_file_done is not None and not isinstance(outcome, HashCancelled):
                    _notify(on_file_done, path, outcome)
            while len(in_flight) < window and submit_next(pool):
                pass
    for path, _ in pending:
        results.setdefault(path, HashCancelled(str(path)))
    return {path: results[path] for path, _ in pending}


def _outcome(future: Future[FileHashes]) -> FileHashes | Exception:
    try:
        return future.result()
    except Exception as exc:  # one file's failure is that file's result
        if not isinstance(exc, (OSError, HashCancelled)):
            logger.warning("hashing failed unexpectedly: %r", exc)
        return exc


def _notify(callback: Callable[[P, FileHashes | Exception], None], path: P, outcome: FileHashes | Exception) -> None:
    try:
        callback(path, outcome)
    except Exception:
        logger.exception("on_file_done callback failed for %s", path)


def autov3_matches_sshs(autov3: str | None, sshs_model_hash: str | None) -> bool | None:
    """Compare our AutoV3 with a ``sshs_model_hash`` from the metadata; None when there is nothing to compare.

    Both full hex digests and Civitai's 12-character short form are accepted on either side.
    """
    if not autov3 or not sshs_model_hash:
        return None
    ours = autov3.strip().lower()
    theirs = sshs_model_hash.strip().lower()
    if not ours or not theirs:
        return None
    shorter = min(len(ours), len(theirs))
    if shorter < AUTOV2_LENGTH:
        return False
    return ours[:shorter] == theirs[:shorter]
