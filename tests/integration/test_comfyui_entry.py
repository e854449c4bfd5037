"""Importing the package the way ComfyUI does attaches every /api/lm route to PromptServer's app."""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def comfyui_stubs(tmp_path, monkeypatch):
    """Test-only stand-ins for ComfyUI's ``server`` and ``folder_paths`` modules."""
    app = web.Application()
    server = types.ModuleType("server")
    server.PromptServer = type("PromptServer", (), {"instance": types.SimpleNamespace(app=app)})
    folder_paths = types.ModuleType("folder_paths")
    dirs = {name: tmp_path / "ComfyUI" / "models" / name for name in ("loras", "checkpoints", "diffusion_models",
                                                                       "embeddings")}
    for folder in dirs.values():
        folder.mkdir(parents=True)

    def get_folder_paths(name):
        if name not in dirs:
            raise KeyError(name)
        return [str(dirs[name])]

    folder_paths.get_folder_paths = get_folder_paths
    monkeypatch.setitem(sys.modules, "server", server)
    monkeypatch.setitem(sys.modules, "folder_paths", folder_paths)
    monkeypatch.setenv("LORA_MANAGER_DATA_DIR", str(tmp_path / "lm-data"))
    return app, dirs


def _import_as_custom_node(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
    return module


async def test_import_attaches_routes_and_exposes_nodes(comfyui_stubs, aiohttp_client):
    app, dirs = comfyui_stubs
    module = _import_as_custom_node("comfyui_lora_manager_under_test")
    assert module.WEB_DIRECTORY == "./web/comfyui"
    assert isinstance(module.NODE_CLASS_MAPPINGS, dict)
    assert isinstance(module.NODE_DISPLAY_NAME_MAPPINGS, dict)
    paths = {getattr(r.resource, "canonical", "") for r in app.router.routes()}
    for expected in ("/api/lm/health-check", "/api/lm/version-info", "/api/lm/settings", "/api/lm/loras/list",
                     "/api/lm/checkpoints/list", "/api/lm/embeddings/list", "/api/lm/loras/scan",
                     "/api/lm/previews", "/ws/fetch-progress", "/ws/download-progress", "/ws/init-progress"):
        assert expected in paths
    context = module.LORA_MANAGER_CONTEXT
    assert context.roots_for("checkpoint") == [dirs["checkpoints"], dirs["diffusion_models"]]
    client = await aiohttp_client(app)
    body = await (await client.get("/api/lm/checkpoints/list")).json()
    assert body["total"] == 0
    assert (await client.get("/api/lm/nope")).status == 404


def test_import_without_comfyui_does_nothing(monkeypatch):
    monkeypatch.setitem(sys.modules, "server", None)  # makes ``import server`` raise ImportError
    module = _import_as_custom_node("comfyui_lora_manager_absent")
    assert module.LORA_MANAGER_CONTEXT is None


def test_prompt_server_not_running(monkeypatch, comfyui_stubs):
    sys.modules["server"].PromptServer.instance = None
    module = _import_as_custom_node("comfyui_lora_manager_not_running")
    assert module.LORA_MANAGER_CONTEXT is None


async def test_unknown_api_routes_answer_json_404_past_comfyui_s_catch_all_route(comfyui_stubs, aiohttp_client,
                                                                                  tmp_path):
    """ComfyUI adds ``web.static('/', web_root)`` after importing custom nodes; it matches every path."""
    app, _dirs = comfyui_stubs
    _import_as_custom_node("comfyui_lora_manager_catch_all")
    web_root = tmp_path / "web_root"
    web_root.mkdir()
    (web_root / "index.html").write_text("<html></html>", encoding="utf-8")
    app.router.add_routes([web.static("/", web_root)])
    client = await aiohttp_client(app)
    for method in ("GET", "POST", "DELETE"):
        response = await client.request(method, "/api/lm/no-such-route")
        assert response.status == 404, method
        assert await response.json() == {"success": False, "error": "No such API route: /api/lm/no-such-route"}
    wrong_method = await client.delete("/api/lm/health-check")
    assert wrong_method.status == 405 and (await wrong_method.json())["success"] is False
    assert (await client.get("/api/lm/health-check")).status == 200
    assert await (await client.get("/index.html")).text() == "<html></html>"  # ComfyUI's own files still served
