"""Stand-ins for ComfyUI's ``server`` and ``folder_paths`` modules, as a custom node imports them.

No pytest here: the exit test's subprocess script imports this too.
"""
from __future__ import annotations

import asyncio
import types
from pathlib import Path
from typing import Any, Callable


def comfy_modules(app: Any, loop: asyncio.AbstractEventLoop, folders: dict[str, Path], output_dir: Path, *,
                  filename_list: Callable[[str], list[str]] | None = None) -> dict[str, types.ModuleType]:
    """``{"server": ..., "folder_paths": ...}`` serving ``app`` on ``loop`` with the given model folders."""
    server = types.ModuleType("server")
    server.PromptServer = type("PromptServer", (), {"instance": types.SimpleNamespace(app=app, loop=loop)})
    folder_paths = types.ModuleType("folder_paths")

    def get_folder_paths(name: str) -> list[str]:
        if name not in folders:
            raise KeyError(name)
        return [str(folders[name])]

    folder_paths.get_folder_paths = get_folder_paths
    if filename_list is not None:
        folder_paths.get_filename_list = filename_list
    folder_paths.get_output_directory = lambda: str(output_dir)
    return {"server": server, "folder_paths": folder_paths}
