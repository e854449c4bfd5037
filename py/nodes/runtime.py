"""The one place node code finds the running app.

Why a module-level registry: ComfyUI instantiates node classes itself (no constructor arguments), so nodes
cannot be handed the AppContext. The ComfyUI entry binds the context and ComfyUI's event loop here once;
nodes run on ComfyUI's execution thread and only *read* the in-memory projection from there. Anything that
writes (usage statistics) is scheduled onto the loop with ``asyncio.run_coroutine_threadsafe``.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Coroutine

if TYPE_CHECKING:
    from ..app import AppContext

logger = logging.getLogger(__name__)

__all__ = ["NodeRuntime", "bind", "unbind", "current", "submit"]


@dataclass(frozen=True)
class NodeRuntime:
    """The running app as the nodes see it: its context and the loop its services live on."""

    context: "AppContext"
    loop: asyncio.AbstractEventLoop | None


_lock = threading.Lock()
_bound: list[NodeRuntime] = []  # zero or one entry; a list so rebinding never needs ``global``


def bind(context: "AppContext", loop: asyncio.AbstractEventLoop | None = None) -> NodeRuntime:
    """Make ``context`` the app the nodes use (called once by the ComfyUI entry; tests rebind per test)."""
    runtime = NodeRuntime(context, loop)
    with _lock:
        _bound[:] = [runtime]
    return runtime


def unbind() -> None:
    with _lock:
        _bound.clear()


def current() -> NodeRuntime | None:
    """The bound runtime, or None when the library is not attached (plain ComfyUI without the manager)."""
    with _lock:
        return _bound[0] if _bound else None


def submit(coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any] | None:
    """Schedule ``coro`` on the app's loop from any thread; None (and the coroutine closed) when impossible.

    The caller never waits: node execution must not stall on library writes. Failures are logged.
    """
    runtime = current()
    loop = runtime.loop if runtime is not None else None
    if loop is None or loop.is_closed():
        coro.close()
        logger.debug("No running app loop; skipped %s", getattr(coro, "__qualname__", coro))
        return None
    try:
        future = asyncio.run_coroutine_threadsafe(coro, loop)
    except RuntimeError:  # loop shutting down
        coro.close()
        return None
    future.add_done_callback(_log_failure)
    return future


def _log_failure(future: concurrent.futures.Future[Any]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        logger.warning("Background library update from a node failed: %s", exc, exc_info=exc)
