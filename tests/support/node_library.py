"""A small real library for node tests: LoRAs with sidecars (trigger words, Civitai ids) and one checkpoint."""
from __future__ import annotations

from pathlib import Path

from lora_manager.py.library.safetensors import write_safetensors_header
from support.library import lm_sidecar, write_lora


def civitai(version_id: int, model_id: int, words: list[str], name: str = "v1.0") -> dict:
    return {"id": version_id, "modelId": model_id, "name": name, "trainedWords": words, "baseModel": "SD 1.5",
            "model": {"name": "x", "type": "LORA", "tags": []}}


def build_node_library(loras: Path, checkpoints: Path) -> None:
    write_lora(loras, "detail_tweaker.safetensors", metadata={"ss_output_name": "detail"}, sidecar=lm_sidecar(
        "detail_tweaker", model_name="Detail Tweaker", civitai=civitai(1001, 101, ["detailed", "sharp focus"])))
    write_lora(loras, "style/anime_style.safetensors", metadata={"ss_output_name": "anime"}, sidecar=lm_sidecar(
        "anime_style", model_name="Anime Style", civitai=civitai(1002, 102, ["anime", "detailed"])))
    write_lora(loras, "other/anime_style.safetensors", metadata={"ss_output_name": "old"}, sidecar=lm_sidecar(
        "anime_style", model_name="Anime Style Old", civitai=civitai(1003, 103, ["old anime"])))
    write_lora(loras, "plain.safetensors", metadata={"ss_output_name": "plain"})
    path = checkpoints / "sd15_base.safetensors"
    write_safetensors_header(path, {"model.diffusion_model.input_blocks.0.0.weight": ("F16", [320, 4, 3, 3])})
    path.with_name("sd15_base.metadata.json").write_text(
        __import__("json").dumps(lm_sidecar("sd15_base", model_name="SD15 Base", civitai={
            "id": 2001, "modelId": 201, "name": "pruned", "trainedWords": [], "baseModel": "SD 1.5",
            "model": {"name": "SD15 Base", "type": "Checkpoint"}})), encoding="utf-8")
