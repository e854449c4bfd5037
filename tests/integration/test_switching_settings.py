"""Switching from ComfyUI-Lora-Manager: its settings file, in each shape, through the real app.

``--settings`` pointing at its file serves every folder it lists; a change saved through the API leaves the
file readable by that project (its folder lists at the top and per library, beside ours; every other key as
it was); a first run with no settings of ours imports its file (portable one under ``custom_nodes`` first,
then its user config folder) and never edits it.
"""
from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

from aiohttp import web

from lora_manager.py.app import build_app
from lora_manager.py.standalone_server import Options, prepare_context
from support.anchor_install import build_anchor_install
from support.fixtures import wait_idle
from support.snap import scrub

ROOT = Path(__file__).resolve().parents[2]


async def serve(options: Options, aiohttp_client: Any) -> Any:
    context = await asyncio.to_thread(prepare_context, options)
    client = await aiohttp_client(build_app(context))
    await wait_idle(context)
    client.lm_context = context
    return client


async def names(client: Any, kind: str) -> list[str]:
    body = await (await client.get(f"/api/lm/{kind}/list", params={"page_size": "100", "sort_by": "name"})).json()
    return [item["file_name"] for item in body["items"]]


async def test_their_file_by_settings_flag_serves_every_folder_and_stays_theirs(tmp_path, aiohttp_client, snapshot):
    install = build_anchor_install(tmp_path)
    options = Options(settings=str(install.settings_path), data_dir=str(tmp_path / "data"))
    client = await serve(options, aiohttp_client)
    assert await names(client, "loras") == ["info_only", "ink_wash", "knight", "motion", "watercolor"]
    assert await names(client, "checkpoints") == ["dream", "flux_dev"]  # its unet folder: diffusion models
    assert await names(client, "embeddings") == ["easy_negative"]
    assert json.loads(install.settings_path.read_text()) == install.settings  # reading changed nothing

    resp = await client.post("/api/lm/settings", json={"language": "fr"})
    assert resp.status == 200
    assert scrub(await resp.json(), tmp_path) == snapshot(name="settings-after-change")
    saved = json.loads(install.settings_path.read_text())
    assert saved["language"] == "fr"
    for key, value in install.settings.items():
        if key not in ("language", "libraries"):
            assert saved[key] == value, key
    library = saved["libraries"]["comfyui"]
    for key, value in install.settings["libraries"]["comfyui"].items():
        assert library[key] == value, key
    assert saved["folder_paths"] == library["folder_paths"] == install.settings["folder_paths"]
    shown = (await resp.json())["settings"]
    assert "hunter2" not in json.dumps(shown) and "sk-llm-0123456789" not in json.dumps(shown)
    echoed = await client.post("/api/lm/settings", json={k: shown[k] for k in ("proxy_password", "llm_api_key",
                                                                               "civitai_api_key")})
    assert echoed.status == 200  # the masked values sent back leave the secrets as they are
    kept = json.loads(install.settings_path.read_text())
    assert [kept[k] for k in ("proxy_password", "llm_api_key", "civitai_api_key")] == [
        install.settings[k] for k in ("proxy_password", "llm_api_key", "civitai_api_key")]
    assert library["roots"] == {"lora": [str(install.comfy_loras), str(install.nas_loras)],
                                "checkpoint": [str(install.checkpoints), str(install.diffusion_models)],
                                "embedding": [str(install.embeddings)]}
    await client.close()

    again = await serve(options, aiohttp_client)  # restart on the saved file
    assert await names(again, "loras") == ["info_only", "ink_wash", "knight", "motion", "watercolor"]
    assert again.lm_context.settings.language == "fr"
    await again.close()


async def test_old_flat_file_serves_its_folders(tmp_path, aiohttp_client):
    install = build_anchor_install(tmp_path)
    flat = {"civitai_api_key": "k", "folder_paths": {"loras": [str(install.nas_loras)],
                                                    "checkpoints": [str(install.checkpoints)],
                                                    "unet": [str(install.diffusion_models)], "embeddings": []},
            "download_path_template": "{base_model}", "blurMatureContent": False}
    path = tmp_path / "old" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps(flat))
    client = await serve(Options(settings=str(path), data_dir=str(tmp_path / "data")), aiohttp_client)
    assert await names(client, "loras") == ["info_only", "watercolor"]
    assert await names(client, "checkpoints") == ["dream", "flux_dev"]
    resp = await client.post("/api/lm/settings", json={"display_name": "file_name"})
    assert resp.status == 200
    saved = json.loads(path.read_text())
    assert saved["folder_paths"] == flat["folder_paths"]
    assert saved["libraries"]["default"]["folder_paths"] == flat["folder_paths"]
    assert saved["download_path_template"] == "{base_model}" and saved["blurMatureContent"] is False
    assert saved["download_path_templates"]["checkpoint"] == "{base_model}"


async def test_first_run_imports_their_settings_and_logs_it(tmp_path, aiohttp_client, monkeypatch, caplog):
    install = build_anchor_install(tmp_path)
    monkeypatch.setenv("LORA_MANAGER_ANCHOR_CONFIG_DIR", str(install.settings_path.parent))
    before = install.settings_path.read_bytes()
    caplog.set_level("INFO")
    client = await serve(Options(data_dir=str(tmp_path / "data")), aiohttp_client)
    store = client.lm_context.settings_store
    assert store.imported_from == install.settings_path and not store.created
    assert "Imported ComfyUI-Lora-Manager settings from" in caplog.text and "library 'comfyui' (active)" in caplog.text
    assert await names(client, "loras") == ["info_only", "ink_wash", "knight", "motion", "watercolor"]
    assert client.lm_context.settings.civitai_api_key == install.settings["civitai_api_key"]
    await client.post("/api/lm/settings", json={"language": "ja"})
    assert install.settings_path.read_bytes() == before  # theirs is only read
    ours = json.loads((tmp_path / "data" / "settings.json").read_text())
    assert ours["language"] == "ja" and ours["priority_tags"] == install.settings["priority_tags"]


async def test_unreadable_file_of_theirs_is_skipped(tmp_path, aiohttp_client, caplog):
    broken = tmp_path / "anchor-config" / "settings.json"
    broken.parent.mkdir()
    broken.write_text("{half a file")
    client = await serve(Options(data_dir=str(tmp_path / "data"), import_from=[broken]), aiohttp_client)
    assert client.lm_context.settings_store.created
    assert broken.read_text() == "{half a file" and "could not be read" in caplog.text


def comfyui_modules(monkeypatch: Any, tmp: Path, custom_nodes: Path, model_dirs: dict[str, Path]) -> web.Application:
    """Test-only stand-ins for ComfyUI's ``server`` and ``folder_paths``."""
    app = web.Application()
    server = types.ModuleType("server")
    server.PromptServer = type("PromptServer", (), {"instance": types.SimpleNamespace(app=app)})
    folder_paths = types.ModuleType("folder_paths")
    dirs = {**{name: [str(path)] for name, path in model_dirs.items()}, "custom_nodes": [str(custom_nodes)]}

    def get_folder_paths(name: str) -> list[str]:
        if name not in dirs:
            raise KeyError(name)
        return dirs[name]

    folder_paths.get_folder_paths = get_folder_paths
    monkeypatch.setitem(sys.modules, "server", server)
    monkeypatch.setitem(sys.modules, "folder_paths", folder_paths)
    return app


async def test_inside_comfyui_its_portable_file_is_found_first(tmp_path, aiohttp_client, monkeypatch):
    from lora_manager.py.comfyui_entry import attach_to_comfyui

    install = build_anchor_install(tmp_path)  # its user config file exists too, but portable mode wins
    custom_nodes = tmp_path / "ComfyUI" / "custom_nodes"
    portable = custom_nodes / "comfyui-lora-manager" / "settings.json"
    portable.parent.mkdir(parents=True)
    portable_doc = dict(install.settings, use_portable_settings=True, language="zh-CN")
    portable.write_text(json.dumps(portable_doc))
    monkeypatch.setenv("LORA_MANAGER_ANCHOR_CONFIG_DIR", str(install.settings_path.parent))
    app = comfyui_modules(monkeypatch, tmp_path, custom_nodes, {
        "loras": install.comfy_loras, "checkpoints": install.checkpoints, "diffusion_models": install.diffusion_models,
        "embeddings": install.embeddings})
    context = attach_to_comfyui({"LORA_MANAGER_DATA_DIR": str(tmp_path / "lm-data"),
                                 "LORA_MANAGER_ANCHOR_CONFIG_DIR": str(install.settings_path.parent)})
    assert context is not None and context.settings_store.imported_from == portable
    assert context.settings.language == "zh-CN"
    client = await aiohttp_client(app)
    await asyncio.wait_for(context.fully_started.wait(), 30)
    await wait_idle(context)
    assert await names(client, "loras") == ["info_only", "ink_wash", "knight", "motion", "watercolor"]
    roots = await (await client.get("/api/lm/checkpoints/roots")).json()
    assert roots["roots"] == [str(install.checkpoints), str(install.diffusion_models)]
    assert json.loads(portable.read_text()) == portable_doc


def test_a_real_first_run_finds_their_settings_through_the_environment(tmp_path):
    install = build_anchor_install(tmp_path)
    env = {"LORA_MANAGER_ANCHOR_CONFIG_DIR": str(install.settings_path.parent), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "standalone.py"), "--port", "0", "--data-dir",
                             str(tmp_path / "d")], stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    lines: list[str] = []
    try:
        for _ in range(200):
            line = proc.stderr.readline()
            lines.append(line)
            if re.search(r"embedding roots: ", line) or not line:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    text = "".join(lines)
    assert f"Imported ComfyUI-Lora-Manager settings from {install.settings_path}" in text, text
    assert f"lora roots: {install.comfy_loras}, {install.nas_loras}" in text
    assert json.loads((tmp_path / "d" / "settings.json").read_text())["active_library"] == "comfyui"
