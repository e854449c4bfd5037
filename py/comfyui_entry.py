"""Attach the manager to a running ComfyUI: routes on PromptServer's app, roots from ``folder_paths``.

ComfyUI modules are imported inside the function, so importing the package never fails or blocks without
ComfyUI.
"""
from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from .anchor_settings import anchor_settings_candidates, custom_nodes_dirs_near
from .app import AppContext, attach_to_app, create_context
from .nodes import runtime as nodes_runtime
from .library.kinds import KINDS, SERVED_KINDS
from .settings import PACKAGE_ROOT, resolve_runtime_paths

logger = logging.getLogger(__name__)

EXIT_CLOSE_SECONDS = 5.0
# At exit a running job (a start-up scan) gets this long to stop before it is cancelled: the jobs' usual grace
# (5 s) would use the whole close budget, and the stores would be left open.
EXIT_JOB_GRACE_SECONDS = 1.0
COMFYUI_FOLDERS = {kind.name: kind.folders for kind in KINDS}  # one table: py/library/kinds.py


def comfyui_roots(folder_paths: Any, kinds: Iterable[str] = SERVED_KINDS) -> dict[str, list[str]]:
    """Model roots ComfyUI knows, per model kind (the served ones by default); unknown folder names are skipped."""
    roots: dict[str, list[str]] = {}
    for model_type in kinds:
        names = COMFYUI_FOLDERS[model_type]
        found: list[str] = []
        for name in names:
            try:
                paths = folder_paths.get_folder_paths(name)
            except Exception:  # noqa: BLE001 - older ComfyUI builds lack some folder names
                continue
            for path in paths:
                if path not in found:
                    found.append(path)
        roots[model_type] = found
    return roots


def custom_nodes_dirs(folder_paths: Any) -> list[Path]:
    """ComfyUI's custom-node folders (where ComfyUI-Lora-Manager may be installed, with a portable settings
    file), plus the one this package sits in."""
    found: list[Path] = []
    try:
        found = [Path(p) for p in folder_paths.get_folder_paths("custom_nodes")]
    except Exception:  # noqa: BLE001 - older ComfyUI builds lack the name
        pass
    for near in custom_nodes_dirs_near(PACKAGE_ROOT):
        if near not in found:
            found.append(near)
    return found


def attach_to_comfyui(environ: Any = os.environ) -> AppContext | None:
    """Attach to ``server.PromptServer.instance.app`` when running inside ComfyUI; otherwise do nothing."""
    try:
        import folder_paths  # type: ignore[import-not-found]
        from server import PromptServer  # type: ignore[import-not-found]
    except ImportError:
        return None
    instance = getattr(PromptServer, "instance", None)
    if instance is None or getattr(instance, "app", None) is None:
        logger.warning("ComfyUI's PromptServer is not running; LoRA Manager routes were not attached")
        return None
    paths = resolve_runtime_paths(environ.get("LORA_MANAGER_SETTINGS"), environ.get("LORA_MANAGER_DATA_DIR"), environ)
    candidates = anchor_settings_candidates(environ=environ, custom_nodes_dirs=custom_nodes_dirs(folder_paths))
    context = create_context(paths, extra_roots=comfyui_roots(folder_paths), import_candidates=candidates)
    attach_to_app(instance.app, context, early=True)
    loop = getattr(instance, "loop", None)
    nodes_runtime.bind(context, loop)
    close_at_exit(context, loop)
    logger.info("LoRA Manager attached to ComfyUI (settings: %s)", paths.settings_path)
    return context


def close_at_exit(context: AppContext, loop: asyncio.AbstractEventLoop | None,
                  timeout: float = EXIT_CLOSE_SECONDS) -> Callable[[], None]:
    """Close every store when the interpreter exits, before it waits for threads.

    Why: ComfyUI ends on Ctrl+C by leaving its event loop; it never runs the app's shutdown hooks, so our
    stores would stay open. ``threading._register_atexit`` callbacks run first in the interpreter's exit, while
    the loop still exists (stopped, not closed): the close runs on it, bounded by ``timeout``. Falls back to
    ``atexit`` where that hook is missing (the stores' threads are daemons, so exit never hangs either way).
    """
    def close() -> None:
        if loop is None or loop.is_closed():
            return
        try:
            if loop.is_running():  # the loop lives in another thread
                asyncio.run_coroutine_threadsafe(context.close(job_grace=EXIT_JOB_GRACE_SECONDS), loop).result(timeout)
            else:
                loop.run_until_complete(asyncio.wait_for(context.close(job_grace=EXIT_JOB_GRACE_SECONDS), timeout))
        except BaseException as exc:  # noqa: BLE001 - exiting anyway: say what was left open, never raise
            logger.warning("LoRA Manager could not close its stores on exit: %r", exc)

    register = getattr(threading, "_register_atexit", None)
    try:
        if register is None:
            raise RuntimeError("no threading exit hook")
        register(close)
    except RuntimeError:  # missing, or the interpreter is already shutting down
        atexit.register(close)
    return close
