"""ComfyUI node classes of LoRA Manager (category "LoRA Manager").

Importing never needs ComfyUI: ``comfy``, ``folder_paths`` and ``server`` are imported inside the node
functions. The nodes find the running library through ``runtime`` (bound by the ComfyUI entry).
"""
from __future__ import annotations

from .lora_loader import LoraLoaderLM, LoraTextLoaderLM
from .save_image import SaveImageLM
from .stacker import LoraStackerLM
from .trigger_words import TriggerWordToggleLM

NODE_CLASS_MAPPINGS: dict[str, type] = {
    "LoraLoaderLM": LoraLoaderLM,
    "LoraTextLoaderLM": LoraTextLoaderLM,
    "LoraStackerLM": LoraStackerLM,
    "TriggerWordToggleLM": TriggerWordToggleLM,
    "SaveImageLM": SaveImageLM,
}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {
    "LoraLoaderLM": "LoRA Loader (LoRA Manager)",
    "LoraTextLoaderLM": "LoRA Text Loader (LoRA Manager)",
    "LoraStackerLM": "LoRA Stacker (LoRA Manager)",
    "TriggerWordToggleLM": "TriggerWord Toggle (LoRA Manager)",
    "SaveImageLM": "Save Image (LoRA Manager)",
}
