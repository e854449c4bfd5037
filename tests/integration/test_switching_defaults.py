"""Default folders: downloads (and the move dialogs, which offer the first root) use the configured default
root of a type (``default_lora_root``, ``default_checkpoint_root``, ``default_unet_root`` for diffusion models,
``default_embedding_root``), else the first root the user gave; never the data folder's own empty library
while the user gave a root. Real app, real files, the fake Civitai on 127.0.0.1."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from lora_manager.py.app import build_app
from lora_manager.py.standalone_server import Options, prepare_context
from support.anchor_install import build_anchor_install
from support.downloads import add_lora, wait_history
from support.fake_civitai import fake_civitai  # noqa: F401  (fixture)
from support.fixtures import wait_idle
from support.snap import scrub


async def serve(options: Options, aiohttp_client: Any, fake: Any, monkeypatch: Any) -> Any:
    monkeypatch.setenv("LORA_MANAGER_CIVITAI_BASE_URL", fake.base_url)
    context = await asyncio.to_thread(prepare_context, options)
    client = await aiohttp_client(build_app(context))
    await wait_idle(context)
    client.lm_context = context
    return client


async def download(client: Any, version_id: int, download_id: str) -> Path:
    resp = await client.post("/api/lm/download-model", json={"model_version_id": version_id,
                                                             "download_id": download_id})
    assert resp.status == 200, await resp.json()
    row = await wait_history(client, download_id)
    assert row["status"] == "completed", row
    return Path(row["file_path"])


async def test_loras_flag_on_a_first_run_downloads_into_that_folder(tmp_path, aiohttp_client, fake_civitai,
                                                                    monkeypatch):
    mine = tmp_path / "my-loras"
    mine.mkdir()
    version = add_lora(fake_civitai, "Pixel Style", tags=("style",))
    client = await serve(Options(data_dir=str(tmp_path / "data"), roots={"lora": [str(mine)]}), aiohttp_client,
                         fake_civitai, monkeypatch)
    target = await download(client, version.id, "dl-1")
    assert target.parent == mine / "SDXL 1.0" / "style"
    assert not (tmp_path / "data" / "models").exists()
    assert (await (await client.get("/api/lm/loras/roots")).json())["roots"] == [mine.as_posix()]


async def test_the_data_folders_own_library_never_wins_over_a_given_root(tmp_path, aiohttp_client, fake_civitai,
                                                                         monkeypatch):
    """A settings file from an earlier run that created the default library, then ``--loras DIR``."""
    prepare_context(Options(data_dir=str(tmp_path / "data")))  # the earlier run: <data>/models/loras
    mine = tmp_path / "my-loras"
    mine.mkdir()
    version = add_lora(fake_civitai, "Ink", tags=("ink",))
    client = await serve(Options(data_dir=str(tmp_path / "data"), roots={"lora": [str(mine)]}), aiohttp_client,
                         fake_civitai, monkeypatch)
    assert client.lm_context.default_root("lora") == mine
    roots = (await (await client.get("/api/lm/loras/roots")).json())["roots"]
    assert roots == [mine.as_posix(), (tmp_path / "data" / "models" / "loras").as_posix()]
    assert (await download(client, version.id, "dl-2")).is_relative_to(mine)


async def test_configured_default_roots_per_type_and_for_diffusion_models(tmp_path, aiohttp_client, fake_civitai,
                                                                          monkeypatch, snapshot):
    install = build_anchor_install(tmp_path)
    doc = json.loads(install.settings_path.read_text())
    doc["libraries"]["comfyui"]["default_lora_root"] = str(install.nas_loras)  # the second (extra) LoRA folder
    install.settings_path.write_text(json.dumps(doc))
    lora = add_lora(fake_civitai, "Watery", tags=("water",))
    ckpt = fake_civitai.add_model("Dream XL", type="Checkpoint", tags=("base",)).versions[0]
    flux = fake_civitai.add_model("Flux Dev", type="Checkpoint", tags=("base",), versions=[
        {"base_model": "Flux.1 D", "files": [{"type": "Diffusion Model", "primary": True,
                                              "name": "flux_dev_fp8.safetensors"}]}]).versions[0]
    client = await serve(Options(settings=str(install.settings_path), data_dir=str(tmp_path / "data")),
                         aiohttp_client, fake_civitai, monkeypatch)
    roots = {kind: (await (await client.get(f"/api/lm/{kind}/roots")).json())["roots"]
             for kind in ("loras", "checkpoints", "embeddings")}
    assert scrub(roots, tmp_path) == snapshot(name="roots")
    assert (await download(client, lora.id, "dl-lora")).is_relative_to(install.nas_loras)
    assert (await download(client, ckpt.id, "dl-ckpt")).is_relative_to(install.checkpoints)
    assert (await download(client, flux.id, "dl-flux")).is_relative_to(install.diffusion_models)


async def test_the_settings_api_changes_the_default_root(tmp_path, aiohttp_client, fake_civitai, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"version": 1, "libraries": {"default": {"roots": {"lora": [str(first), str(second)]}}}}))
    client = await serve(Options(settings=str(settings), data_dir=str(tmp_path / "data")), aiohttp_client,
                         fake_civitai, monkeypatch)
    assert client.lm_context.default_root("lora") == first
    resp = await client.post("/api/lm/settings", json={"default_lora_root": str(second)})  # its name, its meaning
    assert resp.status == 200
    assert (await resp.json())["settings"]["libraries"]["default"]["default_lora_root"] == str(second)
    assert (await (await client.get("/api/lm/loras/roots")).json())["roots"][0] == second.as_posix()
    bad = await client.post("/api/lm/settings", json={"libraries": {"default": {"default_lora_root": "not/absolute"}}})
    assert bad.status == 400
    assert json.loads(settings.read_text())["libraries"]["default"]["default_lora_root"] == str(second)
