"""Inside ComfyUI: a ``folder_paths`` stand-in with every folder name of the kinds table; each file is listed
under its kind through /api/lm/<kind>/list, identified from its header, and /api/lm/kinds counts them."""
from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from lora_manager.py.comfyui_entry import attach_to_comfyui
from lora_manager.py.library.kinds import all_folders
from lora_manager.py.library.safetensors import write_safetensors_header
from support.comfy_modules import comfy_modules
from support.fixtures import wait_idle
from support.gguf_files import write_gguf

FILES = {  # folder -> (file, tensors, kind it is listed under, architecture)
    "t2i_adapter": ("cn.safetensors", {"input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": ("F16", [320, 768])},
                    "controlnet", "SD1.5 ControlNet"),
    "clip": ("clip_l.safetensors", {"text_model.final_layer_norm.weight": ("F16", [768])}, "text_encoders", "CLIP-L"),
    "animatediff_motion_models": ("mm.safetensors", {"down_blocks.3.motion_modules.0.proj_in.weight":
                                                     ("F16", [64, 64])}, "animatediff_models", "AnimateDiff v1/v3"),
    "clip_vision": ("vit_h.safetensors", {"vision_model.post_layernorm.weight": ("F16", [1280])}, "clip_vision",
                    "CLIP ViT-H/14"),
    "style_models": ("redux.safetensors", {"redux_up.weight": ("BF16", [32, 16])}, "style_models", "Flux Redux"),
    "ipadapter": ("ip.safetensors", {"ip_adapter.1.to_k_ip.weight": ("F16", [320, 768])}, "ipadapter",
                  "IP-Adapter SD1.5"),
}


async def test_every_comfyui_folder_is_listed_under_its_kind(tmp_path, monkeypatch, aiohttp_client):
    folders = {name: tmp_path / "ComfyUI" / "models" / name for name in all_folders()}
    for folder in folders.values():
        folder.mkdir(parents=True)
    for folder, (name, tensors, _kind, _arch) in FILES.items():
        write_safetensors_header(folders[folder] / name, tensors, {"format": "pt"})
    write_gguf(folders["unet"] / "flux1-dev-Q4_K_S.gguf", {"general.architecture": "flux"},
               [("double_blocks.0.img_attn.qkv.weight", (64, 192), "Q4_K")])
    app = web.Application()
    for name, module in comfy_modules(app, asyncio.get_running_loop(), folders, tmp_path / "out").items():
        monkeypatch.setitem(sys.modules, name, module)
    context = attach_to_comfyui({"LORA_MANAGER_DATA_DIR": str(tmp_path / "lm-data"),
                                 "LORA_MANAGER_ANCHOR_CONFIG_DIR": ""})
    assert context is not None
    client = await aiohttp_client(app)
    await asyncio.wait_for(context.fully_started.wait(), 60)  # ComfyUI starts it early: projections load after
    await wait_idle(context)
    for folder, (name, _tensors, kind, arch) in FILES.items():
        listing = await (await client.get(f"/api/lm/{kind}/list")).json()
        assert [(i["file_name"], i["architecture"]) for i in listing["items"]] == [(name[:-12], arch)], folder
    checkpoints = await (await client.get("/api/lm/checkpoints/list")).json()
    assert [(i["file_name"], i["sub_type"]) for i in checkpoints["items"]] == [("flux1-dev-Q4_K_S", "diffusion_model")]
    kinds = {k["name"]: k["count"] for k in (await (await client.get("/api/lm/kinds")).json())["kinds"]}
    assert kinds == {"lora": 0, "checkpoint": 1, "embedding": 0, "vae": 0, "upscale_models": 0, "controlnet": 1,
                     "text_encoders": 1, "diffusion_models": 1, "clip_vision": 1, "style_models": 1, "ipadapter": 1,
                     "animatediff_models": 1}
