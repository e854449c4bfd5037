"""Job progress frames on a real /ws/fetch-progress socket, including the replay after a reconnect."""
from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from lora_manager.py.services.events import FETCH_PROGRESS, EventHub
from lora_manager.py.services.jobs import JobContext, JobManager
from support.ws_helpers import hub_app, until


async def next_job_frame(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    while True:
        message = await ws.receive(timeout=5)
        assert message.type is WSMsgType.TEXT, message
        frame = json.loads(message.data)
        if frame.get("type") == "job_progress":
            return frame["job"]


async def frames_until(ws: aiohttp.ClientWebSocketResponse, status: str) -> list[dict[str, Any]]:
    frames = []
    while not frames or frames[-1]["status"] != status:
        frames.append(await next_job_frame(ws))
    return frames


@pytest.fixture
async def setup(aiohttp_client: Any) -> Any:
    hub = EventHub()
    manager = JobManager(hub, max_concurrency=2)
    client = await aiohttp_client(hub_app(hub))
    yield hub, manager, client
    await manager.shutdown()


async def test_progress_frames_reach_a_websocket_client(setup: Any) -> None:
    hub, manager, client = setup
    ws = await client.ws_connect("/ws/fetch-progress")
    await until(lambda: hub.client_count(FETCH_PROGRESS) == 1)
    hold = threading.Event()

    def crunch(ctx: JobContext) -> int:
        for index in range(1, 1001):
            ctx.report(index, 1000, current=f"file {index}")
        hold.wait(5)
        return 1000

    async def work(ctx: JobContext) -> int:
        return await ctx.run_in_thread(crunch, ctx)

    job = manager.start("hash", work, title="Hashing")
    frames = await frames_until(ws, "running")
    assert [f["status"] for f in frames] == ["queued", "running"]
    assert frames[0]["id"] == job.id and frames[0]["title"] == "Hashing"
    # The last report arrives even though the reports came faster than the frame rate.
    progress = []
    while not progress or progress[-1]["processed"] != 1000:
        progress.append(await next_job_frame(ws))
    assert progress[-1]["status"] == "running" and progress[-1]["fields"] == {"current": "file 1000"}
    assert len(progress) < 100  # throttled, not one frame per report
    hold.set()
    final = await frames_until(ws, "completed")
    assert final[-1]["processed"] == 1000 and final[-1]["finished_at"] is not None
    assert await job.wait() == 1000
    await ws.close()


async def test_reconnecting_client_sees_running_jobs(setup: Any) -> None:
    hub, manager, client = setup
    step = asyncio.Event()

    async def work(ctx: JobContext) -> None:
        ctx.report(3, 10)
        await step.wait()

    job = manager.start("refresh", work, title="Refresh")
    await until(lambda: job.processed == 3)
    await until(lambda: any(f["job"]["processed"] == 3 for f in hub.snapshots(FETCH_PROGRESS)))
    ws = await client.ws_connect("/ws/fetch-progress")
    replay = await next_job_frame(ws)
    assert (replay["id"], replay["status"], replay["processed"], replay["total"]) == (job.id, "running", 3, 10)
    await ws.close()
    step.set()
    await job.wait()
    late = await client.ws_connect("/ws/fetch-progress")
    await until(lambda: hub.client_count(FETCH_PROGRESS) == 1)
    hub.broadcast(FETCH_PROGRESS, {"type": "marker"})
    message = await late.receive(timeout=5)
    assert json.loads(message.data) == {"type": "marker"}  # nothing replayed for an ended job
    await late.close()


async def test_failed_and_cancelled_jobs_are_reported(setup: Any) -> None:
    hub, manager, client = setup
    ws = await client.ws_connect("/ws/fetch-progress")
    await until(lambda: hub.client_count(FETCH_PROGRESS) == 1)

    async def broken(ctx: JobContext) -> None:
        raise OSError(28, "No space left on device")

    failing = manager.start("download", broken)
    frames = await frames_until(ws, "failed")
    assert frames[-1]["id"] == failing.id and "No space left on device" in frames[-1]["error"]

    async def waits(ctx: JobContext) -> None:
        while not ctx.cancelled:
            await asyncio.sleep(0.005)

    waiting = manager.start("scan", waits)
    await frames_until(ws, "running")
    manager.cancel(waiting.id)
    frames = await frames_until(ws, "cancelled")
    assert frames[-1]["id"] == waiting.id
    await ws.close()


async def test_throttled_report_is_flushed_without_a_later_report(setup: Any) -> None:
    hub, manager, client = setup
    ws = await client.ws_connect("/ws/fetch-progress")
    await until(lambda: hub.client_count(FETCH_PROGRESS) == 1)
    step = asyncio.Event()

    async def work(ctx: JobContext) -> None:
        ctx.report(1, 2)
        ctx.report(2, 2)  # inside the throttle window of the first
        await step.wait()

    job = manager.start("scan", work)
    frames = []
    while not frames or frames[-1]["processed"] != 2:
        frames.append(await next_job_frame(ws))
    assert frames[-1]["status"] == "running"
    step.set()
    await job.wait()
    await ws.close()
