"""JobManager: concurrency bound, failure isolation, cancel, exclusivity, shutdown, job state."""
from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import pytest

from lora_manager.py.services.events import FETCH_PROGRESS, EventHub
from lora_manager.py.services.jobs import (
    CANCELLED,
    COMPLETED,
    FAILED,
    QUEUED,
    RUNNING,
    JobCancelled,
    JobConflict,
    JobContext,
    JobManager,
    snapshot_key,
)
from support.ws_helpers import until


class Gate:
    """Counts jobs inside a section and holds them there until released."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.open = asyncio.Event()

    async def work(self, ctx: JobContext) -> str:
        self.inside += 1
        self.most = max(self.most, self.inside)
        try:
            await self.open.wait()
        finally:
            self.inside -= 1
        return ctx.job_id


async def test_concurrency_bound_is_respected() -> None:
    manager = JobManager(None, max_concurrency=2)
    gate = Gate()
    jobs = [manager.start("scan", gate.work, title=f"job {i}") for i in range(5)]
    await until(lambda: gate.inside == 2)
    assert [job.status for job in jobs] == [RUNNING, RUNNING, QUEUED, QUEUED, QUEUED]
    gate.open.set()
    results = await asyncio.gather(*(job.wait() for job in jobs))
    assert results == [job.id for job in jobs]
    assert gate.most == 2
    assert all(job.status == COMPLETED and job.finished_at is not None for job in jobs)
    assert [job.id for job in manager.list_jobs()] == [job.id for job in jobs]


async def test_a_failing_job_does_not_disturb_the_others(caplog: pytest.LogCaptureFixture) -> None:
    manager = JobManager(None, max_concurrency=2)
    gate = Gate()

    async def explode(ctx: JobContext) -> None:
        await until(lambda: gate.inside == 1)
        raise ValueError("disk on fire")

    async def silent(ctx: JobContext) -> None:
        raise RuntimeError()

    survivor = manager.start("scan", gate.work)
    with caplog.at_level(logging.ERROR):
        failing = manager.start("refresh", explode, title="boom")
        empty = manager.start("refresh", silent)
        with pytest.raises(ValueError, match="disk on fire"):
            await failing.wait()
        with pytest.raises(RuntimeError):
            await empty.wait()
    assert failing.status == FAILED and failing.error == "disk on fire"
    assert empty.error == "RuntimeError"
    assert any(record.exc_info and "disk on fire" in str(record.exc_info[1]) for record in caplog.records)
    assert survivor.status == RUNNING
    gate.open.set()
    assert await survivor.wait() == survivor.id
    assert survivor.status == COMPLETED


async def test_work_that_is_not_awaitable_fails_cleanly() -> None:
    manager = JobManager(None)
    job = manager.start("bad", lambda ctx: 42)  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError):
        await job.wait()
    assert job.status == FAILED


async def test_cancel_a_queued_job_at_once() -> None:
    manager = JobManager(None, max_concurrency=1)
    gate = Gate()
    ran: list[str] = []

    async def never(ctx: JobContext) -> None:
        ran.append(ctx.job_id)

    blocker = manager.start("scan", gate.work)
    queued = manager.start("scan", never)
    assert queued.status == QUEUED
    assert manager.cancel(queued.id) is True
    assert queued.status == CANCELLED and queued.finished_at is not None
    with pytest.raises(JobCancelled):
        await queued.wait()
    assert manager.cancel(queued.id) is False
    gate.open.set()
    await blocker.wait()
    assert ran == []


async def test_cancel_a_running_thread_job_cooperatively() -> None:
    manager = JobManager(None)
    started = threading.Event()

    def crunch(ctx: JobContext) -> int:
        done = 0
        started.set()
        while not ctx.cancel_event.wait(0.005):
            done += 1
            ctx.report(done)
        return done

    async def work(ctx: JobContext) -> int:
        return await ctx.run_in_thread(crunch, ctx)

    job = manager.start("hash", work)
    await asyncio.to_thread(started.wait, 5)
    assert job.status == RUNNING
    assert manager.cancel(job.id) is True
    with pytest.raises(JobCancelled):
        await job.wait()
    assert job.status == CANCELLED
    assert isinstance(job.result, int)  # the partial result is kept


async def test_cancel_raises_inside_cooperative_async_work() -> None:
    manager = JobManager(None)
    step = asyncio.Event()

    async def work(ctx: JobContext) -> None:
        while True:
            await step.wait()
            step.clear()
            ctx.raise_if_cancelled()

    job = manager.start("organize", work)
    await until(lambda: job.status == RUNNING)
    manager.cancel(job.id)
    step.set()
    with pytest.raises(JobCancelled):
        await job.wait()
    assert job.status == CANCELLED and job.error is None


async def test_job_ignoring_cancel_is_cancelled_after_the_grace_period(caplog: pytest.LogCaptureFixture) -> None:
    manager = JobManager(None, cancel_grace=0.05)
    stuck = asyncio.Event()

    async def deaf(ctx: JobContext) -> None:
        await stuck.wait()

    job = manager.start("stubborn", deaf)
    await until(lambda: job.status == RUNNING)
    with caplog.at_level(logging.WARNING):
        manager.cancel(job.id)
        manager.cancel(job.id)  # a second request does not stack timers
        with pytest.raises(JobCancelled):
            await job.wait()
    assert job.status == CANCELLED
    assert "ignored cancel" in caplog.text


async def test_exclusive_jobs_refuse_a_second_of_the_same_kind() -> None:
    manager = JobManager(None, max_concurrency=1)
    gate = Gate()
    first = manager.start("scan", gate.work, exclusive=True)
    with pytest.raises(JobConflict) as refused:
        manager.start("scan", gate.work, exclusive=True)
    assert "scan" in refused.value.message and refused.value.job is first
    other = manager.start("refresh", gate.work, exclusive=True)  # another kind is fine
    with pytest.raises(JobConflict):  # queued counts too
        manager.start("refresh", gate.work, exclusive=True)
    shared = manager.start("scan", gate.work)  # non-exclusive starts are not refused
    gate.open.set()
    await asyncio.gather(first.wait(), other.wait(), shared.wait())
    again = manager.start("scan", gate.work, exclusive=True)
    assert await again.wait() == again.id


async def test_shutdown_cancels_everything_and_leaves_no_tasks() -> None:
    manager = JobManager(None, max_concurrency=2, cancel_grace=0.05)
    gate = Gate()

    async def polite(ctx: JobContext) -> None:
        while not ctx.cancelled:
            await asyncio.sleep(0.005)

    jobs = [manager.start("scan", gate.work), manager.start("poll", polite)]
    jobs += [manager.start("later", gate.work) for _ in range(3)]
    await until(lambda: gate.inside == 1 and jobs[1].status == RUNNING)
    await asyncio.gather(manager.shutdown(), manager.shutdown())
    await manager.shutdown()
    assert [job.status for job in jobs] == [CANCELLED] * 5
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("lm-job-")]
    with pytest.raises(RuntimeError):
        manager.start("scan", gate.work)


async def test_shutdown_with_nothing_running() -> None:
    manager = JobManager(None)
    await manager.shutdown()
    assert manager.list_jobs() == []


async def test_job_state_and_queries() -> None:
    manager = JobManager(None, max_concurrency=1)
    step = asyncio.Event()
    seen_eta: list[float | None] = []

    async def work(ctx: JobContext) -> dict[str, int]:
        assert ctx.job.id == ctx.job_id
        assert ctx.job.eta_seconds is None  # nothing processed yet
        ctx.report(0, 10, current="a.safetensors")
        await asyncio.sleep(0.01)
        ctx.report(5, current="b.safetensors", ok=5)
        seen_eta.append(ctx.job.eta_seconds)
        await step.wait()
        return {"done": 10}

    job = manager.start("hash", work, title="Hashing")
    other = manager.start("scan", work)
    await until(lambda: job.processed == 5)
    state = job.to_dict()
    assert json.loads(json.dumps(state)) == state
    assert state["status"] == RUNNING and state["title"] == "Hashing"
    assert (state["processed"], state["total"], state["progress"]) == (5, 10, 50.0)
    assert state["fields"] == {"current": "b.safetensors", "ok": 5}
    assert "result" not in state
    assert seen_eta[0] is not None and seen_eta[0] >= 0
    assert manager.get(job.id) is job and manager.get("nope") is None
    assert manager.list_jobs("scan") == [other]
    assert other.to_dict()["progress"] is None and other.eta_seconds is None
    assert manager.cancel("nope") is False
    step.set()
    assert await job.wait() == {"done": 10}
    assert job.eta_seconds is None
    assert manager.cancel(job.id) is False
    await other.wait()


async def test_report_after_the_end_changes_nothing() -> None:
    manager = JobManager(None)
    kept: list[JobContext] = []

    async def work(ctx: JobContext) -> None:
        kept.append(ctx)
        ctx.report(3, 3)

    job = manager.start("x", work)
    await job.wait()
    kept[0].report(99, 100, late=True)
    assert (job.processed, job.total, job.fields) == (3, 3, {})


async def test_finished_jobs_history_is_bounded() -> None:
    manager = JobManager(None, history_limit=2)

    async def quick(ctx: JobContext) -> int:
        return 1

    jobs = [manager.start("q", quick) for _ in range(4)]
    await asyncio.gather(*(job.wait() for job in jobs))
    assert [job.id for job in manager.list_jobs()] == [job.id for job in jobs[-2:]]


async def test_invalid_concurrency() -> None:
    with pytest.raises(ValueError):
        JobManager(None, max_concurrency=0)


class BrokenHub(EventHub):
    """A hub whose sends fail, to show a job's bookkeeping does not depend on it."""

    def broadcast(self, channel: str, payload: dict[str, Any], *, snapshot_key: str | None = None) -> None:
        raise OSError("hub is gone")


async def test_a_broken_hub_does_not_break_jobs(caplog: pytest.LogCaptureFixture) -> None:
    manager = JobManager(BrokenHub())

    async def work(ctx: JobContext) -> str:
        ctx.report(1, 1)
        return "fine"

    with caplog.at_level(logging.ERROR):
        job = manager.start("x", work)
        assert await job.wait() == "fine"
    assert "could not publish" in caplog.text


async def test_running_jobs_are_kept_as_snapshots_until_they_end() -> None:
    hub = EventHub()
    manager = JobManager(hub, max_concurrency=1)
    gate = Gate()
    running = manager.start("scan", gate.work)
    queued = manager.start("scan", gate.work)
    await until(lambda: gate.inside == 1)
    states = {frame["job"]["id"]: frame["job"]["status"] for frame in hub.snapshots(FETCH_PROGRESS)}
    assert states == {running.id: RUNNING, queued.id: QUEUED}
    gate.open.set()
    await asyncio.gather(running.wait(), queued.wait())
    assert hub.snapshots(FETCH_PROGRESS) == []
    assert snapshot_key(running.id) == f"job:{running.id}"
