"""Run this package the way ComfyUI's ``main.py`` runs custom nodes, in a process of its own (for exit tests).

``python comfy_process.py <package root> <work dir>``: stand-ins for ComfyUI's ``server`` and ``folder_paths``
modules, the package imported as a custom node, the aiohttp app served with an ``AppRunner`` on ComfyUI's
event loop, ``READY <port>`` printed once every store is open, then the loop runs until Ctrl+C. Like ComfyUI,
a KeyboardInterrupt ends ``run_until_complete``, "Stopped server" is logged and nothing else is cleaned up:
whatever keeps the process alive after that is ours.
"""
from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
import threading
import time
from pathlib import Path


def main(root: Path, work: Path) -> None:
    from aiohttp import web

    from comfy_modules import comfy_modules  # beside this script (its folder is the first import path)

    # As when ComfyUI is started from a terminal (a background job of a shell would inherit SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app = web.Application()
    folders = {name: work / "models" / name for name in ("loras", "checkpoints", "diffusion_models", "embeddings")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    sys.modules.update(comfy_modules(app, loop, folders, work / "output"))
    os.environ.setdefault("LORA_MANAGER_DATA_DIR", str(work / "lm-data"))
    os.environ["LORA_MANAGER_ANCHOR_CONFIG_DIR"] = ""

    started = time.perf_counter()
    spec = importlib.util.spec_from_file_location("comfyui_lora_manager_process", root / "__init__.py",
                                                  submodule_search_locations=[str(root)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    imported = time.perf_counter() - started
    threading.Thread(target=lambda: threading.Event().wait(), name="prompt_worker", daemon=True).start()

    async def run() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        await module.LORA_MANAGER_CONTEXT.fully_started.wait()
        port = runner.addresses[0][1]
        print(f"READY {port} import={imported:.3f}", flush=True)
        await asyncio.Event().wait()  # ComfyUI's publish loop never ends on its own

    try:
        loop.run_until_complete(run())
    except KeyboardInterrupt:
        print("Stopped server", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
