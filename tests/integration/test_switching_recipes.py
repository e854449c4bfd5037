"""Switching from ComfyUI-Lora-Manager: recipes are found where it keeps them.

With ``recipes_path`` empty it keeps them in ``<first LoRA root>/recipes`` (the alphabetically first of its LoRA
folders); there they are listed and searchable, and new recipes are saved beside them. A configured
``recipes_path`` wins; recipes this server already keeps in ``<data-dir>/recipes`` stay there; with no LoRA root
at all the data folder is used.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import FormData

from lora_manager.py.standalone_server import Options
from support.anchor_install import build_anchor_install, serve_options
from support.recipes import a1111_png, write_recipe
from support.snap import scrub




async def recipe_ids(client: Any, **params: str) -> list[str]:
    body = await (await client.get("/api/lm/recipes", params={"sort_by": "name", **params})).json()
    return [item["id"] for item in body["items"]]


def upload(name: str) -> FormData:
    form = FormData()
    form.add_field("image", a1111_png(), filename="image.png", content_type="image/png")
    form.add_field("name", name)
    return form


async def test_recipes_in_the_first_lora_root_are_listed_searched_and_added_to(tmp_path, aiohttp_client, snapshot):
    install = build_anchor_install(tmp_path)
    client = await serve_options(Options(settings=str(install.settings_path), data_dir=str(tmp_path / "data")), aiohttp_client)
    assert client.lm_context.recipes_dir == install.recipes
    assert await recipe_ids(client) == ["rcp-1", "rcp-2"]
    assert await recipe_ids(client, search="knight") == ["rcp-2"]
    folders = await (await client.get("/api/lm/recipes/folders")).json()
    assert scrub(folders, tmp_path) == snapshot(name="folders")
    lora_folders = await (await client.get("/api/lm/loras/folders")).json()  # its folder lists show models only
    assert lora_folders["folders"] == ["", "characters", "styles"]
    resp = await client.post("/api/lm/recipes/save", data=upload("Fresh one"))
    body = await resp.json()
    assert resp.status == 200, body
    assert Path(body["json_path"]).parent == install.recipes
    assert await recipe_ids(client, search="fresh") == [body["recipe_id"]]
    assert not (tmp_path / "data" / "recipes").exists()


async def test_a_configured_recipes_path_is_honoured(tmp_path, aiohttp_client):
    install = build_anchor_install(tmp_path)
    elsewhere = tmp_path / "elsewhere" / "recipes"
    write_recipe(elsewhere, "far-1", title="Far away")
    doc = json.loads(install.settings_path.read_text())
    doc["libraries"]["comfyui"]["recipes_path"] = doc["recipes_path"] = str(elsewhere)
    install.settings_path.write_text(json.dumps(doc))
    client = await serve_options(Options(settings=str(install.settings_path), data_dir=str(tmp_path / "data")), aiohttp_client)
    assert await recipe_ids(client) == ["far-1"]
    resp = await client.post("/api/lm/recipes/save", data=upload("Also far"))
    assert Path((await resp.json())["json_path"]).parent == elsewhere


async def test_the_first_lora_root_is_the_alphabetical_first_as_there(tmp_path, aiohttp_client):
    zeta, alpha = tmp_path / "zeta" / "loras", tmp_path / "Alpha" / "loras"
    for folder in (zeta, alpha):
        folder.mkdir(parents=True)
    write_recipe(alpha / "recipes", "a-1", title="From alpha")
    client = await serve_options(Options(data_dir=str(tmp_path / "data"), roots={"lora": [str(zeta), str(alpha)]}),
                         aiohttp_client)
    assert client.lm_context.recipes_dir == alpha / "recipes"
    assert await recipe_ids(client) == ["a-1"]


async def test_recipes_already_in_the_data_folder_stay_there(tmp_path, aiohttp_client):
    loras = tmp_path / "loras"
    loras.mkdir()
    write_recipe(tmp_path / "data" / "recipes", "old-1", title="Kept here before")
    client = await serve_options(Options(data_dir=str(tmp_path / "data"), roots={"lora": [str(loras)]}), aiohttp_client)
    assert await recipe_ids(client) == ["old-1"]
    assert not (loras / "recipes").exists()


async def test_without_any_lora_root_the_data_folder_is_used(tmp_path, aiohttp_client):
    empty = tmp_path / "settings.json"
    empty.write_text(json.dumps({"version": 1, "libraries": {"default": {"roots": {}}}}))
    client = await serve_options(Options(settings=str(empty), data_dir=str(tmp_path / "data")), aiohttp_client)
    assert client.lm_context.recipes_dir == tmp_path / "data" / "recipes"
    resp = await client.post("/api/lm/recipes/save", data=upload("Homeless"))
    assert Path((await resp.json())["json_path"]).parent == tmp_path / "data" / "recipes"
