"""Switching from ComfyUI-Lora-Manager: its whole install opens as it is, and nothing on disk changes.

The real standalone context on an install built in that project's formats (tests/support/anchor_install.py):
first run imports its settings, every model, note, tag, favourite, preview and recipe is listed, and after a
restart too; every file of the install is byte- and mtime-identical afterwards.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lora_manager.py.standalone_server import Options
from support.anchor_install import build_anchor_install, serve_options
from support.snap import scrub

KEPT_FIELDS = ("file_name", "model_name", "folder", "base_model", "notes", "tags", "favorite", "preview_url",
               "preview_nsfw_level", "usage_tips", "from_civitai", "sha256", "sub_type")




async def listing(client: Any, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in ("loras", "checkpoints", "embeddings"):
        body = await (await client.get(f"/api/lm/{kind}/list", params={"page_size": "100", "sort_by": "name"})).json()
        out[kind] = [{key: item.get(key) for key in KEPT_FIELDS} | {
            "trained_words": (item.get("civitai") or {}).get("trainedWords")} for item in body["items"]]
    recipes = await (await client.get("/api/lm/recipes", params={"sort_by": "name"})).json()
    out["recipes"] = [{key: item.get(key) for key in ("id", "title", "tags", "favorite", "folder", "file_path")}
                      for item in recipes["items"]]
    return scrub(out, tmp)


async def test_an_existing_install_opens_intact_and_untouched(tmp_path, aiohttp_client, monkeypatch, snapshot, caplog):
    install = build_anchor_install(tmp_path)
    monkeypatch.setenv("LORA_MANAGER_ANCHOR_CONFIG_DIR", str(install.settings_path.parent))
    before = install.fingerprint()
    options = Options(data_dir=str(tmp_path / "data"))
    caplog.set_level("INFO")

    first = await serve_options(options, aiohttp_client)
    assert first.lm_context.settings_store.imported_from == install.settings_path
    assert "Imported ComfyUI-Lora-Manager settings from" in caplog.text
    seen = await listing(first, tmp_path)
    assert seen == snapshot(name="listing")
    assert len(seen["loras"]) == 5 and len(seen["checkpoints"]) == 2 and len(seen["recipes"]) == 2
    knight = next(item for item in seen["loras"] if item["file_name"] == "knight")
    assert knight["favorite"] is False and knight["preview_url"] and knight["preview_nsfw_level"] == 4
    ink = next(item for item in seen["loras"] if item["file_name"] == "ink_wash")
    assert ink["notes"] == "my notes on ink_wash" and ink["favorite"] is True
    assert ink["tags"] == ["style", "anime", "favourite-artist"]
    info_only = next(item for item in seen["loras"] if item["file_name"] == "info_only")
    assert info_only["trained_words"] == ["info_trigger"]
    searched = await (await first.get("/api/lm/recipes", params={"search": "ink"})).json()
    assert [item["id"] for item in searched["items"]] == ["rcp-1"]
    preview = await first.get("/api/lm/previews", params={"path": json.loads(
        (install.comfy_loras / "styles" / "ink_wash.metadata.json").read_text())["preview_url"]})
    assert preview.status == 200
    await first.close()

    again = await serve_options(options, aiohttp_client)  # a restart: warm start from the index
    assert again.lm_context.settings_store.imported_from is None
    assert await listing(again, tmp_path) == seen
    await again.close()

    assert install.fingerprint() == before  # no sidecar, preview, recipe or settings file was rewritten
    ours = json.loads((tmp_path / "data" / "settings.json").read_text())
    assert ours["libraries"]["comfyui"]["folder_paths"] == install.settings["libraries"]["comfyui"]["folder_paths"]
    assert not (tmp_path / "data" / "models").exists()  # no empty default library beside the user's
