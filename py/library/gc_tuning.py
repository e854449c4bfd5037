"""Keep Python's cyclic garbage collector from pausing the event loop on a large library.

Why: a full collection walks every tracked object; with 100k records (and their lists, sets and tuples) one
walk takes hundreds of milliseconds on this size of machine, with the interpreter lock held, so every
thread, the event loop included, stands still. Records live as long as the library is open, so once a bulk
load has built them they are moved out of the collector's generations (``gc.freeze``). Young cycles are
collected first, so only long-lived objects are frozen; records themselves hold no reference cycles and are
still freed by reference counting when replaced.
"""
from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

_lock = threading.Lock()
_paused = 0
_enable_after = True


def freeze_long_lived() -> None:
    gc.collect(1)
    gc.freeze()


def freeze_without_collecting() -> None:
    """Freeze at once (O(1)): for a bulk of fresh, acyclic data (a sweep's file list) a collection first
    would walk all of it, the very pause this module exists to avoid. The few garbage cycles that may be
    young at that moment stay allocated; that bounded cost is the price of no pause."""
    gc.freeze()


def freeze_startup_heap() -> None:
    """Once, before a server takes requests: the modules, classes and functions imported so far live as long
    as the process, so a full collection would walk them again and again. One collection now, then they are
    frozen out of every later one."""
    gc.collect()
    gc.freeze()


FREEZE_MIN_OBJECTS = 5000  # below this a full collection takes a few milliseconds: nothing is frozen


@contextmanager
def bulk_allocation(freeze: bool = True) -> Iterator[None]:
    """No cyclic collection while a bulk load allocates, then (``freeze``) move what it built out of the
    collector's generations. Re-entrant and thread-safe. Freezing is for large loads only: frozen objects are
    never examined again, so garbage cycles that exist at that moment would stay (a bounded, one-time cost)."""
    global _paused, _enable_after
    with _lock:
        if _paused == 0:
            _enable_after = gc.isenabled()  # the outermost pause decides, whichever thread leaves last
        _paused += 1
        gc.disable()
    try:
        yield
    finally:
        with _lock:
            _paused -= 1
            if _paused == 0:
                if freeze:
                    freeze_long_lived()
                if _enable_after:
                    gc.enable()
