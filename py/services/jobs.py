"""Background jobs: long work off the request path, with progress frames, cancel and a concurrency bound.

Why: scans, bulk metadata refreshes, organizes and imports take minutes. A request starts a job and returns
at once; the UI follows it over ``/ws/fetch-progress`` (and sees the running jobs again after a reconnect,
through the hub's snapshots). At most ``max_concurrency`` jobs run at a time; one job's failure is logged and
reported on that job only.

Threads: ``start``, ``cancel`` and ``shutdown`` are called on the event loop; ``JobContext.report`` and
``JobContext.cancel_event`` are meant for worker threads too.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Generic, TypeVar

from .events import FETCH_PROGRESS, EventHub

logger = logging.getLogger(__name__)

T = TypeVar("T")

QUEUED = "queued"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})
FRAME_TYPE = "job_progress"


def snapshot_key(job_id: str) -> str:
    """The hub snapshot key under which an active job's last frame is kept."""
    return f"job:{job_id}"


class JobConflict(Exception):
    """An exclusive job of the same kind is already queued or running."""

    def __init__(self, message: str, job: "Job[Any] | None" = None):
        super().__init__(message)
        self.message = message
        self.job = job


class JobCancelled(Exception):
    """Raised inside a job to stop it, and by ``Job.wait`` for a cancelled job."""


@dataclass(eq=False)
class Job(Generic[T]):
    """One unit of background work and its observable state."""

    id: str
    kind: str
    title: str = ""
    status: str = QUEUED
    processed: int = 0
    total: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    result: T | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)
    _done: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _exception: BaseException | None = field(default=None, init=False, repr=False)
    _started_clock: float | None = field(default=None, init=False, repr=False)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the average rate so far; None when it cannot be told yet."""
        with self._lock:
            processed, total, started = self.processed, self.total, self._started_clock
            status = self.status
        if status != RUNNING or started is None or not total or processed <= 0:
            return None
        elapsed = time.monotonic() - started
        if elapsed <= 0:
            return None
        remaining = max(total - processed, 0)
        return round(remaining * elapsed / processed, 1)

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            progress = None
            if self.total:
                progress = round(min(max(self.processed / self.total, 0.0), 1.0) * 100, 1)
            return {
                "id": self.id,
                "kind": self.kind,
                "title": self.title,
                "status": self.status,
                "processed": self.processed,
                "total": self.total,
                "progress": progress,
                "fields": dict(self.fields),
                "error": self.error,
                "created_at": self.created_at,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "eta_seconds": self.eta_seconds,
            }

    async def wait(self) -> T | None:
        """The job's result; re-raises its error, or ``JobCancelled`` when it was cancelled."""
        await self._done.wait()
        if self.status == FAILED and self._exception is not None:
            raise self._exception
        if self.status == CANCELLED:
            raise JobCancelled(f"job {self.id} ({self.kind}) was cancelled")
        return self.result


class JobContext:
    """What a job's work function sees: progress reporting and the cancel signal."""

    def __init__(self, manager: "JobManager", job: Job[Any]):
        self._manager = manager
        self._job = job
        self.cancel_event = threading.Event()

    @property
    def job_id(self) -> str:
        return self._job.id

    @property
    def job(self) -> Job[Any]:
        return self._job

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def raise_if_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise JobCancelled(f"job {self._job.id} was cancelled")

    def report(self, processed: int, total: int | None = None, **fields: Any) -> None:
        """Record progress (any thread); frames go out at most ``1/min_interval`` times a second."""
        job = self._job
        with job._lock:
            if job.done:
                return
            job.processed = processed
            if total is not None:
                job.total = total
            job.fields.update(fields)
        self._manager._progress(job)

    async def run_in_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking work in a worker thread; it should watch ``cancel_event`` to stop early."""
        return await asyncio.to_thread(fn, *args, **kwargs)


@dataclass(eq=False)
class _Entry:
    job: Job[Any]
    context: JobContext
    work: Callable[[JobContext], Awaitable[Any]]
    task: asyncio.Task[None] | None = None
    grace_handle: asyncio.TimerHandle | None = None
    flush_handle: asyncio.TimerHandle | None = None
    flush_pending: bool = False
    last_frame: float = float("-inf")


class JobManager:
    """Runs jobs as asyncio tasks, at most ``max_concurrency`` at a time, oldest first."""

    def __init__(
        self,
        hub: EventHub | None,
        *,
        max_concurrency: int = 2,
        cancel_grace: float = 5.0,
        min_interval: float = 0.1,
        history_limit: int = 200,
    ):
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._hub = hub
        self._max = max_concurrency
        self._grace = cancel_grace
        self._interval = min_interval
        self._history_limit = max(0, history_limit)
        self._entries: dict[str, _Entry] = {}
        self._queue: deque[_Entry] = deque()
        self._running: set[_Entry] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._shutdown_task: asyncio.Task[None] | None = None

    # -- starting -------------------------------------------------------------------------------------

    def start(
        self,
        kind: str,
        work: Callable[[JobContext], Awaitable[T]],
        *,
        title: str = "",
        exclusive: bool = False,
    ) -> Job[T]:
        """Queue ``work``; it runs as soon as a slot is free. Returns the job at once."""
        if self._closed:
            raise RuntimeError("the job manager is shut down")
        self._loop = asyncio.get_running_loop()
        if exclusive:
            active = self._active_of_kind(kind)
            if active is not None:
                raise JobConflict(f"A {kind} job is already {active.status}", active)
        job: Job[T] = Job(id=uuid.uuid4().hex, kind=kind, title=title)
        entry = _Entry(job, JobContext(self, job), work)
        self._entries[job.id] = entry
        self._queue.append(entry)
        self._publish(entry)
        self._pump()
        return job

    def _active_of_kind(self, kind: str) -> Job[Any] | None:
        for entry in self._entries.values():
            if entry.job.kind == kind and not entry.job.done:
                return entry.job
        return None

    def _pump(self) -> None:
        while self._queue and len(self._running) < self._max and not self._closed:
            entry = self._queue.popleft()
            self._running.add(entry)
            entry.task = asyncio.create_task(self._run(entry), name=f"lm-job-{entry.job.kind}-{entry.job.id[:8]}")

    async def _run(self, entry: _Entry) -> None:
        job, context = entry.job, entry.context
        status, error, result, exception = COMPLETED, None, None, None
        try:
            if context.cancelled:
                raise JobCancelled()
            with job._lock:
                job.status = RUNNING
                job.started_at = time.time()
                job._started_clock = time.monotonic()
            self._publish(entry)
            result = await entry.work(context)
            if context.cancelled:
                status = CANCELLED
        except (JobCancelled, asyncio.CancelledError):
            status = CANCELLED
        except Exception as exc:
            status, error, exception = FAILED, str(exc) or type(exc).__name__, exc
            logger.exception("job %s (%s) failed", job.id, job.kind)
        finally:
            self._running.discard(entry)
        self._finish(entry, status, result=result, error=error, exception=exception)
        self._pump()

    # -- finishing ------------------------------------------------------------------------------------

    def _finish(
        self,
        entry: _Entry,
        status: str,
        *,
        result: Any = None,
        error: str | None = None,
        exception: BaseException | None = None,
    ) -> None:
        job = entry.job
        with job._lock:
            if job.done:
                return
            job.status = status
            job.result = result
            job.error = error
            job._exception = exception
            job.finished_at = time.time()
        for handle in (entry.grace_handle, entry.flush_handle):
            if handle is not None:
                handle.cancel()
        self._publish(entry, final=True)
        job._done.set()
        self._prune()

    def _prune(self) -> None:
        finished = [job_id for job_id, entry in self._entries.items() if entry.job.done]
        for job_id in finished[: max(0, len(finished) - self._history_limit)]:
            del self._entries[job_id]

    # -- progress frames ------------------------------------------------------------------------------

    def _publish(self, entry: _Entry, *, final: bool = False) -> None:
        """Send the job's state; active jobs are also kept as a snapshot for reconnecting clients."""
        job = entry.job
        with job._lock:
            if job.done and not final:
                return
            entry.last_frame = time.monotonic()
            entry.flush_pending = False
            if self._hub is None:
                return
            frame = {"type": FRAME_TYPE, "job": job.to_dict()}
            key = snapshot_key(job.id)
            try:
                if final:
                    # Clear first: a client connecting in between then gets the final frame, not a stale state.
                    self._hub.clear_snapshot(FETCH_PROGRESS, key)
                    self._hub.broadcast(FETCH_PROGRESS, frame)
                else:
                    self._hub.broadcast(FETCH_PROGRESS, frame, snapshot_key=key)
            except Exception:  # a broken hub must not break the job's own bookkeeping
                logger.exception("could not publish progress of job %s", job.id)

    def _progress(self, job: Job[Any]) -> None:
        entry = self._entries.get(job.id)
        if entry is None:
            return
        with job._lock:
            wait = entry.last_frame + self._interval - time.monotonic()
            if wait <= 0:
                self._publish(entry)
                return
            if entry.flush_pending:
                return
            entry.flush_pending = True
        self._call_on_loop(self._schedule_flush, entry, wait)

    def _schedule_flush(self, entry: _Entry, delay: float) -> None:
        if entry.job.done or self._loop is None:
            return
        entry.flush_handle = self._loop.call_later(delay, self._flush, entry)

    def _flush(self, entry: _Entry) -> None:
        entry.flush_handle = None
        with entry.job._lock:
            if entry.flush_pending:
                self._publish(entry)

    def _call_on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn(*args)
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            logger.debug("event loop closed; progress frame dropped")

    # -- queries --------------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job[Any] | None:
        entry = self._entries.get(job_id)
        return None if entry is None else entry.job

    def list_jobs(self, kind: str | None = None) -> list[Job[Any]]:
        return [e.job for e in self._entries.values() if kind is None or e.job.kind == kind]

    # -- cancelling -----------------------------------------------------------------------------------

    def cancel(self, job_id: str) -> bool:
        """Ask a job to stop. False when there is no such job or it has already ended."""
        entry = self._entries.get(job_id)
        if entry is None or entry.job.done:
            return False
        entry.context.cancel_event.set()
        if entry in self._queue:
            self._queue.remove(entry)
            self._finish(entry, CANCELLED)
            return True
        if entry.task is not None and entry.grace_handle is None and self._loop is not None:
            entry.grace_handle = self._loop.call_later(self._grace, self._force_cancel, entry)
        return True

    def _force_cancel(self, entry: _Entry) -> None:
        entry.grace_handle = None
        if entry.task is not None and not entry.task.done():
            logger.warning("job %s (%s) ignored cancel; cancelling its task", entry.job.id, entry.job.kind)
            entry.task.cancel()

    async def shutdown(self, grace: float | None = None) -> None:
        """Cancel every job and wait until all have ended; later calls wait for the same end. A running job
        gets ``grace`` seconds (default: the manager's cancel grace) to stop on its own before it is cancelled."""
        if self._shutdown_task is None:
            self._closed = True
            self._shutdown_task = asyncio.ensure_future(self._shutdown(self._grace if grace is None else grace))
        await asyncio.shield(self._shutdown_task)

    async def _shutdown(self, grace: float) -> None:
        while self._queue:
            entry = self._queue.popleft()
            entry.context.cancel_event.set()
            self._finish(entry, CANCELLED)
        tasks = [e.task for e in list(self._running) if e.task is not None]
        for entry in list(self._running):
            entry.context.cancel_event.set()
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
