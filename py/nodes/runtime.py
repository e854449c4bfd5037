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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Coroutine

if TYPE_CHECKING:
    from ..app import AppContext

logger = logging.getLogger(__name__)

__all__ = ["NodeRuntime", "RunOutputs", "bind", "unbind", "current", "submit", "remember_outputs"]


class RunOutputs:
    """Text outputs of this project's nodes in the runs ComfyUI executes now, for Save Image's metadata.

    Why: a prompt that reaches the encoder through links (a Prompt or Text node with wildcards, a trigger word
    toggle) only exists once those nodes ran; the prompt graph holds their inputs, not their results. Keyed by
    the run's prompt dict (the same object for every node of one run), held strongly for the last few runs
    only, so an id reused by a later run never finds old values.
    """

    KEEP = 4

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: list[tuple[Any, dict[str, tuple[Any, ...]]]] = []

    def remember(self, prompt: Any, node_id: Any, outputs: tuple[Any, ...]) -> None:
        if not isinstance(prompt, dict) or node_id is None:
            return
        with self._lock:
            for run, values in self._runs:
                if run is prompt:
                    values[str(node_id)] = outputs
                    return
            self._runs.append((prompt, {str(node_id): outputs}))
            del self._runs[:-self.KEEP]

    def of(self, prompt: Any) -> dict[str, tuple[Any, ...]]:
        with self._lock:
            for run, values in self._runs:
                if run is prompt:
                    return dict(values)
        return {}


@dataclass(frozen=True)
class NodeRuntime:
    """The running app as the nodes see it: its context, the loop its services live on, the runs' outputs."""

    context: "AppContext"
    loop: asyncio.AbstractEventLoop | None
    outputs: RunOutputs = field(default_factory=RunOutputs)


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


def remember_outputs(prompt: Any, node_id: Any, outputs: tuple[Any, ...]) -> None:
    """Record a node's outputs for this run (see ``RunOutputs``); nothing when the app is not attached."""
    bound = current()
    if bound is not None:
        bound.outputs.remember(prompt, node_id, outputs)
