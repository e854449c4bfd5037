"""A sweep that read a model just before an edit landed never puts its older reading over the edit.

Reproduced without timing: the test holds the model's lock, so the sweep's write waits; the edit is made under
that lock (as every edit is); then the sweep goes on. Before the fix the sweep's older record replaced the edit
in the index (a freshly stored hash or note vanished from listings until the next sweep)."""
from __future__ import annotations

import asyncio
import json
import os

from support.fixtures import wait_idle
from support.library import lm_sidecar, write_lora

from lora_manager.py.services.model_service import SidecarChange


async def test_an_edit_made_while_a_sweep_reads_the_model_is_kept(lib_env):
    lora = write_lora(lib_env.loras, "race_style.safetensors", sidecar=lm_sidecar("race_style", notes="first"))
    context = await asyncio.to_thread(lib_env.context)
    await context.start()
    try:
        await wait_idle(context)
        service = context.service("lora")
        path = lora.as_posix()
        sidecar = lora.with_name("race_style.metadata.json")
        stat = sidecar.stat()
        os.utime(sidecar, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # the sweep reads it again
        lock = service.lock(path)
        await lock.acquire()
        try:
            sweep = asyncio.ensure_future(service.refresh())
            for _ in range(2000):  # until the sweep has read the model and waits to write it
                if getattr(lock, "_waiters", None):
                    break
                await asyncio.sleep(0.005)
            else:
                raise AssertionError("the sweep never reached the model")
            await service.edit_locked(path, SidecarChange({"notes": "edited during the sweep"},
                                                          {"notes": "edited during the sweep"}))
        finally:
            lock.release()
        await sweep
        assert service.index.get(path).notes == "edited during the sweep"
        assert json.loads(sidecar.read_text())["notes"] == "edited during the sweep"
        await service.refresh()  # the next sweep reads the edited sidecar: still the edit
        assert service.index.get(path).notes == "edited during the sweep"
    finally:
        await context.close()
