"""The exit hook inside ComfyUI closes every store even while a job ignores its cancel request.

Why: jobs get a grace to stop on their own before they are cancelled; at exit that grace must be shorter than
the exit's whole close budget, or a start-up scan still running at Ctrl+C kept the stores from closing."""
from __future__ import annotations

import asyncio
import logging

from lora_manager.py.comfyui_entry import close_at_exit


async def test_a_job_that_ignores_cancel_does_not_keep_the_stores_open(lib_env, caplog):
    context = await asyncio.to_thread(lib_env.context)
    await context.start()
    never = asyncio.Event()

    async def stubborn(job) -> None:  # never looks at its cancel event (a scan busy in a thread)
        await never.wait()

    job = context.jobs.start("stubborn", stubborn)
    close = close_at_exit(context, asyncio.get_running_loop())
    with caplog.at_level(logging.WARNING):
        await asyncio.to_thread(close)  # as the interpreter's exit calls it, from another thread
    assert "could not close its stores" not in caplog.text
    assert job.status == "cancelled"
    assert context.database.conn is None
