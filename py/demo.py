"""A small, realistic demo library so a newcomer sees a working manager at once (``standalone.py --demo``).

LoRAs carry real safetensors headers (kohya metadata, realistic key names and shapes), some have
ComfyUI-Lora-Manager sidecars and previews; checkpoints are sparse files, so the demo costs little disk.
"""
from __future__ import annotations

import io
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

from .library.safetensors import write_safetensors_header

FAMILIES = {
    "SD 1.5": ("sd_v1", 768, "lora_te_"),
    "SDXL 1.0": ("sdxl_base_v1-0", 1280, "lora_te2_"),
    "Flux.1 D": ("flux1", None, ""),
}
STYLES = ["watercolor", "ink sketch", "pixel art", "film grain", "neon city", "oil painting", "clay render",
          "paper cut", "vaporwave", "ukiyo-e", "low poly", "charcoal"]
SUBJECTS = ["portrait", "landscape", "character", "architecture", "food", "animal"]


def _lora_tensors(family: str, rank: int) -> dict[str, tuple[str, list[int]]]:
    if family == "Flux.1 D":
        return {
            "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": ("BF16", [rank, 3072]),
            "lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight": ("BF16", [9216, rank]),
            "lora_unet_single_blocks_0_linear1.lora_down.weight": ("BF16", [rank, 3072]),
        }
    _version, width, te_prefix = FAMILIES[family]
    tensors = {
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": ("F16", [rank, 320]),
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": ("F16", [320, rank]),
        f"{te_prefix}text_model_encoder_layers_0_mlp_fc1.lora_down.weight": ("F16", [rank, width]),
        f"{te_prefix}text_model_encoder_layers_0_mlp_fc1.lora_up.weight": ("F16", [width * 4, rank]),
    }
    return tensors


def _preview(seed: int, label: str) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (256, 320), tuple(rng.randrange(40, 200) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.randrange(0, 256), rng.randrange(0, 320)
        r = rng.randrange(20, 90)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(0, 256) for _ in range(3)))
    draw.text((10, 296), label[:32], fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=80)
    return buffer.getvalue()


def generate_demo_library(target: Path, *, count: int = 36, seed: int = 7) -> dict[str, Path]:
    """Write the demo library under ``target``; returns the root folder of each model type."""
    rng = random.Random(seed)
    roots = {"lora": target / "loras", "checkpoint": target / "checkpoints", "embedding": target / "embeddings"}
    for root in roots.values():
        root.mkdir(parents=True, exist_ok=True)
    families = list(FAMILIES)
    for i in range(count):
        family = families[i % len(families)]
        style = STYLES[i % len(STYLES)]
        subject = SUBJECTS[(i // 2) % len(SUBJECTS)]
        stem = f"{style.replace(' ', '_')}_{subject}_v{i // len(STYLES) + 1}"
        folder = roots["lora"] / family.split()[0].lower().replace(".", "") / ("styles" if i % 2 else "concepts")
        folder.mkdir(parents=True, exist_ok=True)
        rank = rng.choice([4, 8, 16, 32])
        trigger = f"{style.split()[0]}_{subject}"
        metadata = {
            "ss_network_module": "networks.lora",
            "ss_network_dim": str(rank),
            "ss_network_alpha": str(rank // 2),
            "ss_output_name": stem,
            "ss_tag_frequency": json.dumps({"dataset": {trigger: 40, subject: 25, style: 12}}),
        }
        if family != "Flux.1 D" or i % 2:
            metadata["ss_base_model_version"] = FAMILIES[family][0]
        write_safetensors_header(folder / f"{stem}.safetensors", _lora_tensors(family, rank), metadata)
        if i % 3 != 2:
            (folder / f"{stem}.preview.webp").write_bytes(_preview(seed + i, stem))
        if i % 2 == 0:
            sidecar = {
                "file_name": stem,
                "model_name": f"{style.title()} {subject.title()}",
                "base_model": family,
                "notes": "Demo model: works best at 0.7-0.9." if i % 4 == 0 else "",
                "tags": [style.split()[0], subject],
                "favorite": i % 5 == 0,
                "from_civitai": False,
                "civitai": {"trainedWords": [trigger]},
                "usage_tips": json.dumps({"strength": 0.8}),
                "preview_nsfw_level": 0,
            }
            (folder / f"{stem}.metadata.json").write_text(json.dumps(sidecar, indent=2), encoding="utf-8")
    for name, width in (("demo_sd15_base", 768), ("demo_sdxl_base", 1280)):
        tensors = {
            "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": ("F16", [49408, 768])
            if width == 768 else ("F16", [49408, 768]),
            "model.diffusion_model.input_blocks.0.0.weight": ("F16", [320, 4, 3, 3]),
        }
        if width == 1280:
            tensors = {
                "conditioner.embedders.1.model.token_embedding.weight": ("F16", [49408, 1280]),
                "model.diffusion_model.input_blocks.0.0.weight": ("F16", [320, 4, 3, 3]),
            }
        write_safetensors_header(roots["checkpoint"] / f"{name}.safetensors", tensors, None, fill_data=False)
    for name, width in (("demo_embedding_sd15", 768), ("demo_negative_sd15", 768)):
        write_safetensors_header(roots["embedding"] / f"{name}.safetensors", {"emb_params": ("F32", [4, width])})
    return roots
