"""Builders for real model libraries on disk: safetensors files with realistic headers, sidecars, previews."""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image

from lora_manager.py.library.safetensors import write_safetensors_header

TE_WIDTH = {"sd15": 768, "sd2": 1024, "sdxl": 1280}


def lora_tensors(family: str = "sd15", rank: int = 4) -> dict[str, tuple[str, list[int]]]:
    """A small but realistic kohya LoRA key set for a model family."""
    if family == "flux":
        return {
            "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": ("F16", [rank, 3072]),
            "lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight": ("F16", [9216, rank]),
            "lora_unet_single_blocks_0_linear1.lora_down.weight": ("F16", [rank, 3072]),
        }
    te = "lora_te1_" if family == "sdxl" else "lora_te_"
    tensors = {
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": ("F16", [rank, 320]),
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": ("F16", [320, rank]),
        f"{te}text_model_encoder_layers_0_mlp_fc1.lora_down.weight": ("F16", [rank, 768 if family == "sdxl" else TE_WIDTH[family]]),
    }
    if family == "sdxl":
        tensors["lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight"] = ("F16", [rank, 1280])
    return tensors


def write_lora(root: Path, rel: str, *, family: str = "sd15", metadata: dict[str, str] | None = None,
               sidecar: dict[str, Any] | None = None, preview: str | None = None) -> Path:
    """Write ``root/rel`` (a .safetensors LoRA) and optionally its sidecar and a preview image."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors_header(path, lora_tensors(family), metadata)
    if sidecar is not None:
        path.with_name(path.stem + ".metadata.json").write_text(json.dumps(sidecar), encoding="utf-8")
    if preview:
        write_image(path.with_name(path.stem + preview))
    return path


def write_image(path: Path, size: tuple[int, int] = (8, 8), color: tuple[int, int, int] = (200, 40, 40)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".gif": "GIF"}.get(path.suffix.lower())
    if fmt is None:
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42")  # a stand-in video header
        return path
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    path.write_bytes(buffer.getvalue())
    return path


def lm_sidecar(stem: str, **fields: Any) -> dict[str, Any]:
    """A sidecar in ComfyUI-Lora-Manager's format, as an existing library has them."""
    data: dict[str, Any] = {
        "file_name": stem,
        "model_name": stem.replace("_", " ").title(),
        "file_path": "",
        "size": 0,
        "modified": 1700000000.0,
        "sha256": "",
        "base_model": "SD 1.5",
        "preview_url": "",
        "preview_nsfw_level": 0,
        "notes": "",
        "from_civitai": True,
        "civitai": {"id": 1000, "modelId": 100, "name": "v1.0", "trainedWords": ["trigger"], "baseModel": "SD 1.5",
                    "model": {"name": stem, "type": "LORA", "tags": ["style"]}, "creator": {"username": "artist"}},
        "tags": ["style"],
        "modelDescription": "",
        "favorite": False,
        "exclude": False,
        "usage_tips": "{\"strength\": 0.8}",
        "an_unknown_field": {"kept": True},
    }
    data.update(fields)
    return data
