"""The ComfyUI entry binds the running context and ComfyUI's loop for the nodes."""
from __future__ import annotations

import asyncio
import sys
import types

from aiohttp import web

from lora_manager.py.comfyui_entry import attach_to_comfyui
from lora_manager.py.nodes import runtime


async def test_entry_binds_context_and_loop(tmp_path, monkeypatch):
    loop = asyncio.get_running_loop()
    server = types.ModuleType("server")
    server.PromptServer = type("PromptServer", (), {"instance": types.SimpleNamespace(app=web.Application(),
                                                                                      loop=loop)})
    folder_paths = types.ModuleType("folder_paths")
    folder_paths.get_folder_paths = lambda name: [str(tmp_path / name)]
    monkeypatch.setitem(sys.modules, "server", server)
    monkeypatch.setitem(sys.modules, "folder_paths", folder_paths)
    try:
        context = await asyncio.to_thread(attach_to_comfyui, {"LORA_MANAGER_DATA_DIR": str(tmp_path / "data")})
        bound = runtime.current()
        assert bound is not None and bound.context is context and bound.loop is loop
        assert "usage" in context.components
    finally:
        runtime.unbind()
    assert runtime.current() is None
