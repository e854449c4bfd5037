"""A tmp library holding generated files of four kinds beyond LoRAs (VAE, ControlNet, text encoder, upscaler),
with real safetensors and GGUF headers and a pickled .pth, and the client serving it."""
from __future__ import annotations

import json
import pickle

import pytest

from lora_manager.py.library.safetensors import write_safetensors_header
from support.gguf_files import write_gguf

NEW_KINDS = ("vae", "controlnet", "text_encoders", "upscale_models")


def build_kinds_library(env) -> dict[str, object]:
    """One folder per new kind under tmp/models, with files whose headers say what they are."""
    roots = {kind: env.tmp / "models" / kind for kind in NEW_KINDS}
    for folder in roots.values():
        folder.mkdir(parents=True)
    write_safetensors_header(roots["vae"] / "sdxl_vae.safetensors",
                             {"decoder.conv_in.weight": ("F16", [512, 4, 3, 3])}, {"format": "pt"})
    (roots["vae"] / "broken.safetensors").write_bytes(b"\xff" * 16)  # not a safetensors header
    (roots["controlnet"] / "flux").mkdir()
    write_safetensors_header(roots["controlnet"] / "flux" / "flux_cn.safetensors",
                             {"controlnet_x_embedder.weight": ("BF16", [32, 64])}, {"format": "pt"})
    write_gguf(roots["text_encoders"] / "t5xxl-Q8_0.gguf", {"general.architecture": "t5encoder"},
               [("encoder.block.0.layer.0.SelfAttention.q.weight", (4096, 4096), "Q8_0")])
    (roots["upscale_models"] / "4x-UltraSharp.pth").write_bytes(pickle.dumps({"params": [1, 2]}, protocol=2))
    doc = json.loads(env.settings_path.read_text(encoding="utf-8"))
    doc["libraries"]["default"]["roots"].update({kind: [str(path)] for kind, path in roots.items()})
    doc["libraries"]["default"]["a_future_library_key"] = {"kept": True}
    doc["a_future_key"] = [1, 2]
    env.settings_path.write_text(json.dumps(doc), encoding="utf-8")
    return roots


@pytest.fixture
async def kinds_client(lib_env, make_client):
    roots = build_kinds_library(lib_env)
    client = await make_client(lib_env)
    client.roots, client.env = roots, lib_env
    return client


async def get_json(client, url: str, status: int = 200, **params):
    response = await client.get(url, params=params)
    data = await response.json()
    assert response.status == status, (url, data)
    return data
