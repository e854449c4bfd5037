"""Inside ComfyUI: roots of every model kind come from a ``folder_paths`` stand-in with every folder name."""
from __future__ import annotations

import asyncio

from lora_manager.py.comfyui_entry import comfyui_roots
from lora_manager.py.library.kinds import KINDS, SERVED_KINDS, all_folders
from support.comfy_modules import comfy_modules


def test_every_folder_name_feeds_its_kind(tmp_path):
    folders = {name: tmp_path / name for name in all_folders()}
    loop = asyncio.new_event_loop()
    try:
        fp = comfy_modules(None, loop, folders, tmp_path / "out")["folder_paths"]
        every = comfyui_roots(fp, [k.name for k in KINDS])
        served = comfyui_roots(fp)
    finally:
        loop.close()
    assert every["vae"] == [str(tmp_path / "vae")]
    assert every["text_encoders"] == [str(tmp_path / "text_encoders"), str(tmp_path / "clip")]
    assert every["diffusion_models"] == [str(tmp_path / "diffusion_models"), str(tmp_path / "unet")]
    assert every["animatediff_models"][0] == str(tmp_path / "animatediff_models")
    # every kind is served; diffusion_models/unet folders are served once, as checkpoints (a file has one row)
    assert set(served) == set(SERVED_KINDS) == {k.name for k in KINDS} - {"diffusion_models"}
    assert served["vae"] == [str(tmp_path / "vae")]
    assert served["checkpoint"] == [str(tmp_path / f) for f in ("checkpoints", "diffusion_models", "unet")]


def test_folder_names_an_older_comfyui_lacks_are_skipped(tmp_path):
    loop = asyncio.new_event_loop()
    try:
        fp = comfy_modules(None, loop, {"loras": tmp_path}, tmp_path / "out")["folder_paths"]
        assert comfyui_roots(fp, ["lora", "ipadapter"]) == {"lora": [str(tmp_path)], "ipadapter": []}
    finally:
        loop.close()
