"""Test-only stand-ins for ComfyUI's ``comfy.sd``, ``comfy.utils``, ``comfy.hooks``, ``folder_paths`` and ``server``.

They record every call so tests can check what the nodes asked ComfyUI to do; models and clips are small
immutable values listing the LoRAs patched into them. Also: a started library context bound to the nodes'
runtime, for tests that run nodes against a real index.
"""
from __future__ import annotations

import asyncio
import importlib.util
import os
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
    """A MODEL or CLIP: its name plus the (LoRA path, strength) patches applied, in order. As a CLIP it encodes
    text the way ComfyUI's CLIP object is called (``tokenize`` then ``encode_from_tokens_scheduled``)."""

    name: str
    patches: tuple[tuple[str, float], ...] = ()

    def tokenize(self, text: str) -> dict[str, Any]:
        return {"text": text}

    def encode_from_tokens_scheduled(self, tokens: dict[str, Any]) -> list[list[Any]]:
        return [[("cond", self.name, self.patches, tokens["text"]), {}]]


@dataclass
class FakeHookGroup:
    """ComfyUI's ``comfy.hooks.HookGroup``: the (LoRA path, model, clip strength) hooks it holds."""

    hooks: tuple[tuple[str, float, float], ...] = ()

    def clone(self) -> "FakeHookGroup":
        return FakeHookGroup(self.hooks)

    def clone_and_combine(self, other: "FakeHookGroup") -> "FakeHookGroup":
        return FakeHookGroup(self.hooks + other.hooks)


@dataclass
class ComfyStubs:
    output_dir: Path
    loads: list[str] = field(default_factory=list)
    applied: list[tuple[str, float, float]] = field(default_factory=list)
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    loaded_models: list[tuple[str, str, Any]] = field(default_factory=list)
    loads_hooked: list[str] = field(default_factory=list)
    folders: dict[str, list[Path]] = field(default_factory=dict)

    def get_folder_paths(self, name: str) -> list[str]:
        if name not in self.folders:
            raise KeyError(name)
        return [str(p) for p in self.folders[name]]

    def get_filename_list(self, name: str) -> list[str]:
        found = []
        for root in self.folders.get(name, []):
            found += sorted(os.path.relpath(p, root) for p in root.rglob("*") if p.is_file())
        return found

    def get_full_path(self, name: str, filename: str) -> str | None:
        for root in self.folders.get(name, []):
            candidate = root / filename
            if candidate.is_file():
                return str(candidate)
        return None

    def load_torch_file(self, path: str, safe_load: bool = False, **_: Any) -> dict[str, Any]:
        self.loads.append(path)
        return {"path": path, "bytes": Path(path).stat().st_size}

    def load_lora_for_models(self, model: Any, clip: Any, lora: dict[str, Any], strength_model: float,
                             strength_clip: float) -> tuple[Any, Any]:
        self.applied.append((lora["path"], strength_model, strength_clip))
        new_model = FakeModel(model.name, model.patches + ((lora["path"], strength_model),))
        new_clip = None if clip is None else FakeModel(clip.name, clip.patches + ((lora["path"], strength_clip),))
        return new_model, new_clip

    def load_checkpoint_guess_config(self, path: str, output_vae: bool = True, output_clip: bool = True,
                                     embedding_directory: Any = None, **_: Any) -> tuple[Any, ...]:
        self.loaded_models.append(("checkpoint", path, embedding_directory))
        stem = Path(path).name
        return FakeModel(f"model:{stem}"), FakeModel(f"clip:{stem}"), f"vae:{stem}", None

    def load_diffusion_model(self, path: str, model_options: dict[str, Any] | None = None) -> Any:
        self.loaded_models.append(("diffusion_model", path, dict(model_options or {})))
        return FakeModel(f"unet:{Path(path).name}")

    def create_hook_lora(self, lora: dict[str, Any], strength_model: float, strength_clip: float) -> FakeHookGroup:
        self.loads_hooked.append(lora["path"])
        return FakeHookGroup(((lora["path"], strength_model, strength_clip),))


def install_comfy_stubs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ComfyStubs:
    stubs = ComfyStubs(output_dir=tmp_path / "ComfyUI" / "output")
    stubs.output_dir.mkdir(parents=True)
    comfy = types.ModuleType("comfy")
    comfy.__path__ = []  # a package
    stubs.folders["embeddings"] = [tmp_path / "ComfyUI" / "models" / "embeddings"]
    sd = types.ModuleType("comfy.sd")
    sd.load_lora_for_models = stubs.load_lora_for_models
    sd.load_checkpoint_guess_config = stubs.load_checkpoint_guess_config
    sd.load_diffusion_model = stubs.load_diffusion_model
    utils = types.ModuleType("comfy.utils")
    utils.load_torch_file = stubs.load_torch_file
    hooks = types.ModuleType("comfy.hooks")
    hooks.HookGroup = FakeHookGroup
    hooks.create_hook_lora = stubs.create_hook_lora
    comfy.sd, comfy.utils, comfy.hooks = sd, utils, hooks
    folder_paths = types.ModuleType("folder_paths")
    folder_paths.get_output_directory = lambda: str(stubs.output_dir)
    folder_paths.get_folder_paths = stubs.get_folder_paths
    folder_paths.get_filename_list = stubs.get_filename_list
    folder_paths.get_full_path = stubs.get_full_path
    server = types.ModuleType("server")

    class _Instance:
        def send_sync(self, event: str, data: dict[str, Any], sid: Any = None) -> None:
            stubs.sent.append((event, data))

    server.PromptServer = type("PromptServer", (), {"instance": _Instance()})
    modules = [("comfy", comfy), ("comfy.sd", sd), ("comfy.utils", utils), ("comfy.hooks", hooks),
               ("folder_paths", folder_paths), ("server", server)]
    if importlib.util.find_spec("torch") is None:  # the dtypes the UNet loaders name
        torch = types.ModuleType("torch")
        torch.float8_e4m3fn, torch.float8_e5m2 = "float8_e4m3fn", "float8_e5m2"
        modules.append(("torch", torch))
    for name, module in modules:
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
