"""A minimal ComfyUI server for browser tests: the real ComfyUI frontend, this package attached as a custom node.

It serves the ``comfyui-frontend-package`` static files at ``/``, answers the handful of ComfyUI endpoints the
frontend needs to boot, serves ``web/comfyui`` at ``/extensions/lora_manager/`` and attaches this project's real
routes through the real ComfyUI entry path (``__init__.py`` imported as a custom node, with test stand-ins for
ComfyUI's ``server`` and ``folder_paths`` modules). It runs on its own event loop in a thread, so Playwright's
sync API can drive the page from the test thread.
"""
from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import threading
import types
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from support.comfy_modules import comfy_modules

ROOT = Path(__file__).resolve().parents[2]
EXTENSION_NAME = "lora_manager"
CUSTOM_NODE_MODULE = "comfyui_lora_manager_frontend_e2e"
MODEL_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")


def frontend_static_dir() -> Path | None:
    """The static files inside the installed ``comfyui-frontend-package`` wheel, or None when it is absent."""
    spec = importlib.util.find_spec("comfyui_frontend_package")
    if spec is None or not spec.submodule_search_locations:
        return None
    static = Path(list(spec.submodule_search_locations)[0]) / "static"
    return static if (static / "index.html").is_file() else None


def _files_under(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.suffix in MODEL_EXTENSIONS)


def _node_def(name: str, display: str, category: str, inputs: dict[str, Any], outputs: list[str],
              output_names: list[str] | None = None, description: str = "", module: str = "nodes") -> dict[str, Any]:
    return {
        "input": inputs,
        "input_order": {section: list(values) for section, values in inputs.items() if section != "hidden"},
        "output": outputs,
        "output_is_list": [False] * len(outputs),
        "output_name": output_names or outputs,
        "name": name,
        "display_name": display,
        "description": description,
        "python_module": module,
        "category": category,
        "output_node": False,
        "deprecated": False,
        "experimental": False,
    }


def _custom_node_defs(module: types.ModuleType) -> dict[str, Any]:
    """``object_info`` entries of this package's real node classes, shaped like ComfyUI's."""
    defs: dict[str, Any] = {}
    for name, cls in module.NODE_CLASS_MAPPINGS.items():
        try:
            inputs = cls.INPUT_TYPES()
        except Exception:  # noqa: BLE001 - a node that cannot describe itself is left out, as ComfyUI does
            continue
        outputs = [str(t) if isinstance(t, str) else "COMBO" for t in getattr(cls, "RETURN_TYPES", ())]
        info = _node_def(name, module.NODE_DISPLAY_NAME_MAPPINGS.get(name, name), getattr(cls, "CATEGORY", "Lora Manager"),
                         inputs, outputs, list(getattr(cls, "RETURN_NAMES", outputs)),
                         getattr(cls, "DESCRIPTION", ""), f"custom_nodes.{EXTENSION_NAME}")
        info["output_node"] = bool(getattr(cls, "OUTPUT_NODE", False))
        defs[name] = info
    return defs


def _core_node_defs(loras: list[str], checkpoints: list[str]) -> dict[str, Any]:
    """The few core nodes a LoRA workflow uses."""
    strength = ("FLOAT", {"default": 1.0, "min": -100.0, "max": 100.0, "step": 0.01})
    return {
        "LoraLoader": _node_def("LoraLoader", "Load LoRA", "loaders", {"required": {
            "model": ("MODEL",), "clip": ("CLIP",), "lora_name": (loras or ["none.safetensors"],),
            "strength_model": strength, "strength_clip": strength}}, ["MODEL", "CLIP"]),
        "LoraLoaderModelOnly": _node_def("LoraLoaderModelOnly", "LoraLoaderModelOnly", "loaders", {"required": {
            "model": ("MODEL",), "lora_name": (loras or ["none.safetensors"],), "strength_model": strength}},
            ["MODEL"]),
        "CheckpointLoaderSimple": _node_def("CheckpointLoaderSimple", "Load Checkpoint", "loaders", {"required": {
            "ckpt_name": (checkpoints or ["none.safetensors"],)}}, ["MODEL", "CLIP", "VAE"]),
        "EmptyLatentImage": _node_def("EmptyLatentImage", "Empty Latent Image", "latent", {"required": {
            "width": ("INT", {"default": 512, "min": 16, "max": 16384, "step": 8}),
            "height": ("INT", {"default": 512, "min": 16, "max": 16384, "step": 8}),
            "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096})}}, ["LATENT"]),
        "KSampler": _node_def("KSampler", "KSampler", "sampling", {"required": {
            "model": ("MODEL",), "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF,
                                                  "control_after_generate": True}),
            "steps": ("INT", {"default": 20, "min": 1, "max": 10000}),
            "cfg": ("FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1}),
            "sampler_name": (["euler", "euler_ancestral", "dpmpp_2m", "dpmpp_2m_sde"],),
            "scheduler": (["normal", "karras", "exponential", "simple"],),
            "positive": ("CONDITIONING",), "negative": ("CONDITIONING",), "latent_image": ("LATENT",),
            "denoise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01})}}, ["LATENT"]),
        "VAEDecode": _node_def("VAEDecode", "VAE Decode", "latent", {"required": {
            "samples": ("LATENT",), "vae": ("VAE",)}}, ["IMAGE"]),
        "CLIPTextEncode": _node_def("CLIPTextEncode", "CLIP Text Encode (Prompt)", "conditioning", {"required": {
            "text": ("STRING", {"multiline": True, "dynamicPrompts": True}), "clip": ("CLIP",)}}, ["CONDITIONING"]),
    }


@dataclass
class ComfyFrontendBackend:
    """One running test backend; ``missed`` lists the requests nothing answered (for debugging a boot)."""

    url: str
    static_dir: Path
    folders: dict[str, Path]
    module: types.ModuleType
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    runner: web.AppRunner
    patch: pytest.MonkeyPatch
    missed: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def context(self) -> Any:
        return self.module.LORA_MANAGER_CONTEXT

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until every model service finished its first scan."""
        async def _wait() -> None:
            for service in self.context.services.values():
                await service.ready.wait()
                while service.scanning:
                    await asyncio.sleep(0.05)
        self.run(asyncio.wait_for(_wait(), timeout), timeout + 5)

    def stop(self) -> None:
        try:
            self.run(self.runner.cleanup())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()
            self.patch.undo()


def _install_comfyui_stubs(patch: pytest.MonkeyPatch, app: web.Application, loop: asyncio.AbstractEventLoop,
                           folders: dict[str, Path], output_dir: Path) -> None:
    modules = comfy_modules(app, loop, folders, output_dir,
                            filename_list=lambda name: _files_under(folders[name]) if name in folders else [])
    for name, module in modules.items():
        patch.setitem(sys.modules, name, module)


def _import_custom_node() -> types.ModuleType:
    """Import the repo root exactly as ComfyUI imports a custom-node folder."""
    spec = importlib.util.spec_from_file_location(CUSTOM_NODE_MODULE, ROOT / "__init__.py",
                                                  submodule_search_locations=[str(ROOT)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[CUSTOM_NODE_MODULE] = module
    spec.loader.exec_module(module)
    return module


def _comfy_routes(backend: dict[str, Any], static: Path, folders: dict[str, Path]) -> list[web.RouteDef]:
    """The ComfyUI endpoints the frontend calls while it boots and while a graph is edited."""
    settings: dict[str, Any] = backend["settings"]
    web_dir = ROOT / "web" / "comfyui"

    async def system_stats(_r: web.Request) -> web.Response:
        return web.json_response({
            "system": {"os": "posix", "python_version": sys.version, "embedded_python": False,
                       "comfyui_version": "0.3.60", "pytorch_version": "2.8.0", "argv": ["main.py"],
                       "ram_total": 16 << 30, "ram_free": 8 << 30, "required_frontend_version": "1.58.1",
                       "installed_templates_version": "", "required_templates_version": ""},
            "devices": [{"name": "cpu", "type": "cpu", "index": None, "vram_total": 0, "vram_free": 0,
                         "torch_vram_total": 0, "torch_vram_free": 0}],
        })

    async def object_info(_r: web.Request) -> web.Response:
        defs = _core_node_defs(_files_under(folders["loras"]), _files_under(folders["checkpoints"]))
        defs.update(_custom_node_defs(backend["module"]))
        return web.json_response(defs)

    async def extensions(_r: web.Request) -> web.Response:
        files = ["/" + p.relative_to(static).as_posix() for p in sorted((static / "extensions").rglob("*.js"))]
        files += [f"/extensions/{EXTENSION_NAME}/" + p.relative_to(web_dir).as_posix()
                  for p in sorted(web_dir.rglob("*.js"))]
        return web.json_response(files)

    async def get_settings(_r: web.Request) -> web.Response:
        return web.json_response(settings)

    async def post_settings(request: web.Request) -> web.Response:
        settings.update(await request.json())
        return web.json_response({})

    async def get_setting(request: web.Request) -> web.Response:
        return web.json_response(settings.get(request.match_info["id"]))

    async def post_setting(request: web.Request) -> web.Response:
        settings[request.match_info["id"]] = await request.json()
        return web.json_response({})

    async def users(_r: web.Request) -> web.Response:
        return web.json_response({"storage": "server", "migrated": True})

    async def userdata_list(_r: web.Request) -> web.Response:
        return web.json_response([])

    async def userdata_file(_r: web.Request) -> web.Response:
        return web.Response(status=404)

    async def userdata_write(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"path": request.match_info["file"], "size": 0, "modified": 0})

    def constant(value: Any):
        async def handler(_r: web.Request) -> web.Response:
            return web.json_response(value)
        return handler

    async def prompt_info(_r: web.Request) -> web.Response:
        return web.json_response({"exec_info": {"queue_remaining": 0}})

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        await ws.send_str(json.dumps({"type": "status", "data": {
            "status": {"exec_info": {"queue_remaining": 0}}, "sid": sid}}))
        async for message in ws:
            if message.type == WSMsgType.ERROR:
                break
        return ws

    async def index(_r: web.Request) -> web.FileResponse:
        return web.FileResponse(static / "index.html", headers={"Cache-Control": "no-cache"})

    empty_list, empty_dict = constant([]), constant({})
    return [
        web.get("/ws", websocket),
        web.get("/", index),
        web.get("/api/system_stats", system_stats),
        web.get("/api/object_info", object_info),
        web.get("/api/extensions", extensions),
        web.get("/api/settings", get_settings),
        web.post("/api/settings", post_settings),
        web.get("/api/settings/{id}", get_setting),
        web.post("/api/settings/{id}", post_setting),
        web.get("/api/users", users),
        web.get("/api/userdata", userdata_list),
        web.get("/api/v2/userdata", userdata_list),
        web.get("/api/userdata/{file}", userdata_file),
        web.post("/api/userdata/{file}", userdata_write),
        web.get("/api/i18n", empty_dict),
        web.get("/api/embeddings", empty_list),
        web.get("/api/models", constant(["checkpoints", "loras", "embeddings"])),
        web.get("/api/experiment/models", empty_list),
        web.get("/api/queue", constant({"queue_running": [], "queue_pending": []})),
        web.get("/api/history", empty_dict),
        web.get("/api/jobs", constant({"jobs": [], "pagination": {"offset": 0, "limit": 200, "total": 0,
                                                                   "has_more": False}})),
        web.get("/api/prompt", prompt_info),
        web.get("/api/features", constant({"supports_preview_metadata": True, "max_upload_size": 100 << 20})),
        web.get("/api/workflow_templates", empty_dict),
        web.get("/templates/index.json", empty_list),
        web.get("/api/global_subgraphs", empty_dict),
        web.get("/api/node_replacements", empty_dict),
        web.static(f"/extensions/{EXTENSION_NAME}", web_dir),
    ]


def start_comfy_frontend_backend(tmp: Path, folders: dict[str, Path]) -> ComfyFrontendBackend:
    """Build the app, import this package into it as a custom node, and serve it on 127.0.0.1."""
    static = frontend_static_dir()
    if static is None:
        raise RuntimeError("comfyui-frontend-package is not installed")
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    missed: list[str] = []

    @web.middleware
    async def record_missing(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPNotFound:
            missed.append(f"{request.method} {request.path_qs}")
            raise
        if response.status == 404 and not request.path.startswith("/api/userdata"):
            missed.append(f"{request.method} {request.path_qs}")
        return response

    app = web.Application(middlewares=[record_missing], client_max_size=64 << 20)
    loop = asyncio.new_event_loop()
    patch = pytest.MonkeyPatch()
    _install_comfyui_stubs(patch, app, loop, folders, tmp / "output")
    patch.setenv("LORA_MANAGER_DATA_DIR", str(tmp / "lm-data"))
    patch.setenv("LORA_MANAGER_CIVITAI_BASE_URL", "http://127.0.0.1:9")  # discard port: fails fast, never online
    try:
        module = _import_custom_node()
    finally:
        for key in [k for k in sys.modules if k == CUSTOM_NODE_MODULE or k.startswith(CUSTOM_NODE_MODULE + ".")]:
            del sys.modules[key]
    if module.LORA_MANAGER_CONTEXT is None:
        patch.undo()
        raise RuntimeError("the custom node did not attach to the stub PromptServer")
    state: dict[str, Any] = {"settings": {"Comfy.TutorialCompleted": True}, "module": module}
    app.router.add_routes(_comfy_routes(state, static, folders))
    app.router.add_static("/", static)
    runner = web.AppRunner(app, handle_signals=False)
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(started.set)
        loop.run_forever()

    thread = threading.Thread(target=serve, name="comfy-frontend-backend", daemon=True)
    thread.start()
    started.wait(10)

    async def _start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner.addresses[0][1]

    port = asyncio.run_coroutine_threadsafe(_start(), loop).result(30)
    return ComfyFrontendBackend(url=f"http://127.0.0.1:{port}/", static_dir=static, folders=folders, module=module,
                                loop=loop, thread=thread, runner=runner, patch=patch, missed=missed,
                                settings=state["settings"])
