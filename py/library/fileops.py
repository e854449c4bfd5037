"""Moving one file without ever overwriting or losing it, on one filesystem or across two.

Why: ``os.rename`` replaces an existing destination silently on POSIX and fails with ``EXDEV`` across
filesystems. Here a taken destination is refused, and a cross-filesystem move is copy, fsync, verify
(size + sha256), rename into place, and only then delete the source; any failure removes the partial copy
and leaves the source exactly as it was.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import uuid

logger = logging.getLogger(__name__)

from .atomic import PARTIAL_MARK

CHUNK = 1024 * 1024


class VerifyFailed(OSError):
    """The copy on the other filesystem did not match the source; the copy was removed."""


def move_file(src: str, dst: str) -> None:
    """Move ``src`` to ``dst``; ``FileExistsError`` if ``dst`` is taken, ``FileNotFoundError`` if ``src`` is gone.

    Parent folders of ``dst`` are created. Works across filesystems.
    """
    if not os.path.lexists(src):
        raise FileNotFoundError(errno.ENOENT, "The file vanished before it could be moved", src)
    if os.path.lexists(dst) and not _same_file(src, dst):
        raise FileExistsError(errno.EEXIST, "A file with that name already exists", dst)
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        copy_verify_move(src, dst)


def copy_verify_move(src: str, dst: str) -> None:
    """The cross-filesystem move: copy to a hidden partial file beside ``dst``, verify, rename, delete ``src``."""
    folder = os.path.dirname(dst) or "."
    partial = os.path.join(folder, f".{os.path.basename(dst)}{PARTIAL_MARK}{uuid.uuid4().hex[:8]}")
    try:
        if os.path.islink(src):
            os.symlink(os.readlink(src), partial)
        else:
            expected = copy_file_data(src, partial)
            actual = file_digest(partial)
            if actual != expected:
                raise VerifyFailed(errno.EIO, "The copy did not match the original", dst)
            try:
                os.utime(partial, ns=(os.stat(src).st_atime_ns, os.stat(src).st_mtime_ns))
            except OSError:
                pass
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "A file with that name already exists", dst)
        os.rename(partial, dst)
    except BaseException:
        _remove_quietly(partial)
        raise
    try:
        _fsync_dir(folder)
        os.unlink(src)
    except OSError:
        # the source stays (it could not be removed): the verified copy goes, so no second copy is left
        _remove_quietly(dst)
        raise


def copy_file_data(src: str, dst: str) -> tuple[int, str]:
    """Copy bytes with fsync; returns (size, sha256) of what was read from ``src``."""
    digest = hashlib.sha256()
    size = 0
    with open(src, "rb") as reader, open(dst, "xb") as writer:
        while True:
            chunk = reader.read(CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            writer.write(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    return size, digest.hexdigest()


def file_digest(path: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as reader:
        while True:
            chunk = reader.read(CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def same_content(a: str, b: str) -> bool:
    try:
        return file_digest(a) == file_digest(b)
    except OSError:
        return False


def remove_partials(folder: str) -> list[str]:
    """Delete leftover partial copies of an interrupted cross-filesystem move in ``folder``."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if name.startswith(".") and PARTIAL_MARK in name:
            path = os.path.join(folder, name)
            _remove_quietly(path)
            removed.append(path)
    return removed


def remove_empty_dirs(start: str, stop: str) -> list[str]:
    """Remove ``start`` and its parents up to (not including) ``stop`` while they hold nothing at all."""
    removed = []
    stop = os.path.abspath(stop)
    current = os.path.abspath(start)
    while current != stop and current.startswith(stop.rstrip(os.sep) + os.sep):
        try:
            if os.listdir(current):
                break
            os.rmdir(current)
        except OSError:
            break
        removed.append(current)
        current = os.path.dirname(current)
    return removed


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("Could not remove partial copy %s: %s", path, exc)


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
