"""Test-only stand-ins for ComfyUI's ``comfy.sd``, ``comfy.utils``, ``folder_paths`` and ``server``.

They record every call so tests can check what the nodes asked ComfyUI to do; models and clips are small
immutable values listing the LoRAs patched into them. Also: a started library context bound to the nodes'
runtime, for tests that run nodes against a real index.
"""
from __future__ import annotations

import asyncio
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from lora_manager.py.nodes import runtime
from support.fixtures import LibraryEnv, wait_idle


@dataclass(frozen=True)
class FakeModel:
    """A MODEL or CLIP: its name plus the (LoRA path, strength) patches applied, in order."""

    name: str
    patches: tuple[tuple[str, float], ...] = ()


@dataclass
class ComfyStubs:
    output_dir: Path
    loads: list[str] = field(default_factory=list)
    applied: list[tuple[str, float, float]] = field(default_factory=list)
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def load_torch_file(self, path: str, safe_load: bool = False, **_: Any) -> dict[str, Any]:
        self.loads.append(path)
        return {"path": path, "bytes": Path(path).stat().st_size}

    def load_lora_for_models(self, model: Any, clip: Any, lora: dict[str, Any], strength_model: float,
                             strength_clip: float) -> tuple[Any, Any]:
        self.applied.append((lora["path"], strength_model, strength_clip))
        new_model = FakeModel(model.name, model.patches + ((lora["path"], strength_model),))
        new_clip = None if clip is None else FakeModel(clip.name, clip.patches + ((lora["path"], strength_clip),))
        return new_model, new_clip


def install_comfy_stubs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ComfyStubs:
    stubs = ComfyStubs(output_dir=tmp_path / "ComfyUI" / "output")
    stubs.output_dir.mkdir(parents=True)
    comfy = types.ModuleType("comfy")
    comfy.__path__ = []  # a package
    sd = types.ModuleType("comfy.sd")
    sd.load_lora_for_models = stubs.load_lora_for_models
    utils = types.ModuleType("comfy.utils")
    utils.load_torch_file = stubs.load_torch_file
    comfy.sd, comfy.utils = sd, utils
    folder_paths = types.ModuleType("folder_paths")
    folder_paths.get_output_directory = lambda: str(stubs.output_dir)
    server = types.ModuleType("server")

    class _Instance:
        def send_sync(self, event: str, data: dict[str, Any], sid: Any = None) -> None:
            stubs.sent.append((event, data))

    server.PromptServer = type("PromptServer", (), {"instance": _Instance()})
    for name, module in (("comfy", comfy), ("comfy.sd", sd), ("comfy.utils", utils),
                         ("folder_paths", folder_paths), ("server", server)):
        monkeypatch.setitem(sys.modules, name, module)
    return stubs


@pytest.fixture
def comfy_stubs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ComfyStubs:
    return install_comfy_stubs(monkeypatch, tmp_path)


@pytest.fixture
async def node_context(lib_env: LibraryEnv) -> AsyncIterator[Any]:
    """A started app context on ``lib_env`` bound to the nodes' runtime with the running loop.

    Write the library files before requesting it (or call ``rescan``); run node functions in a worker thread
    (``asyncio.to_thread``), as ComfyUI's execution thread does.
    """
    context = await asyncio.to_thread(lib_env.context)
    try:
        await context.start()
        await wait_idle(context)
        runtime.bind(context, asyncio.get_running_loop())
        yield context
    finally:
        runtime.unbind()
        await context.close()


async def rescan(context: Any) -> None:
    for model_type in ("lora", "checkpoint"):
        await context.service(model_type).refresh()
