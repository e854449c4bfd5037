"""Pause / resume / cancel / skip for one running download, callable from any thread or task.

Why: the user's clicks arrive on the server's event loop, from a job thread, or from another loop
(ComfyUI); the transfer must react promptly in every case: a paused transfer stops reading the socket,
a cancelled one stops even while it waits for a stalled server or a retry delay.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Callable

logger = logging.getLogger(__name__)

Listener = Callable[[], None]


def _wake(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


class DownloadStreamControl:
    """The switches of one download. ``skip`` is a cancel that keeps the ``.part`` file for later."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paused = False
        self._cancelled = False
        self._keep_partial = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []
        self._listeners: list[Listener] = []

    # -- state -------------------------------------------------------------------------------------
    @property
    def is_paused(self) -> bool:
        return self._paused

    @property
    def is_cancelled(self) -> bool:
        return self._cancelled

    @property
    def keep_partial(self) -> bool:
        """True after ``skip``: the cancelled download keeps its ``.part`` so it can resume later."""
        return self._keep_partial

    @property
    def state(self) -> str:
        """"cancelled", "paused" or "running"."""
        if self._cancelled:
            return "cancelled"
        return "paused" if self._paused else "running"

    # -- switches ----------------------------------------------------------------------------------
    def pause(self) -> None:
        with self._lock:
            if self._cancelled or self._paused:
                return
            self._paused = True
        self._notify()

    def resume(self) -> None:
        with self._lock:
            if not self._paused:
                return
            self._paused = False
        self._notify()

    def cancel(self) -> None:
        """Stop the download and delete its ``.part`` (unless ``skip`` asked to keep it)."""
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            self._paused = False
        self._notify()

    def skip(self) -> None:
        """Stop the download but keep the ``.part`` for a later resume."""
        with self._lock:
            self._keep_partial = True
        self.cancel()

    # -- waiting -----------------------------------------------------------------------------------
    async def wait_if_paused(self) -> None:
        """Return at once unless paused; otherwise wait until resumed or cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if not self._paused or self._cancelled:
                    return
                future = loop.create_future()
                entry = (loop, future)
                self._waiters.append(entry)
            try:
                await future
            finally:
                with self._lock:
                    if entry in self._waiters:
                        self._waiters.remove(entry)

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener()`` (in the thread that flips a switch) after every change; returns a remover."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def _notify(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
            listeners = list(self._listeners)
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_wake, future)
            except RuntimeError:  # that loop is closed: nobody is waiting any more
                pass
        for listener in listeners:
            try:
                listener()
            except Exception:
                logger.exception("A download control listener failed")
