"""ComfyUI node classes of LoRA Manager.

Two sets of node types, both registered:
- ComfyUI-Lora-Manager's types (``"Lora Loader (LoraManager)"`` ...), with that project's input and output
  names, order and ``widgets_values`` layout, so workflows saved with it open and run unchanged;
- this project's own ``...LM`` types (category "LoRA Manager"), kept so workflows saved with them keep working.

Importing never needs ComfyUI: ``comfy``, ``folder_paths`` and ``server`` are imported inside the node
functions. The nodes find the running library through ``runtime`` (bound by the ComfyUI entry).
"""
from __future__ import annotations

from .anchor_loras import (CreateHookLoraAnchor, LoraLoaderAnchor, LoraStackCombinerAnchor, LoraStackerAnchor,
                           LoraSyntaxToPath, LoraTextLoaderAnchor, WanVideoLoraSelectAnchor,
                           WanVideoLoraTextSelectAnchor)
from .lora_loader import LoraLoaderLM, LoraTextLoaderLM
from .model_loaders import (CheckpointLoaderAnchor, RandomCheckpointLoaderAnchor, RandomUnetLoaderAnchor,
                            UnetLoaderAnchor)
from .pool_nodes import LoraCyclerAnchor, LoraPoolAnchor, LoraRandomizerAnchor
from .prompt_nodes import PromptAnchor, TextAnchor
from .save_image import SaveImageAnchor, SaveImageLM
from .stacker import LoraStackerLM
from .trigger_words import TriggerWordToggleLM
from .utility_nodes import DebugMetadataAnchor, LoraInfoAnchor, MetadataOverwriteAnchor, TriggerWordToggleAnchor

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "ANCHOR_NODE_TYPES", "OWN_NODE_TYPES"]

# ComfyUI-Lora-Manager's node types, in its registration order; the display name is the type name, as there.
ANCHOR_NODE_TYPES: dict[str, type] = {
    "Prompt (LoraManager)": PromptAnchor,
    "Text (LoraManager)": TextAnchor,
    "Lora Loader (LoraManager)": LoraLoaderAnchor,
    "LoRA Text Loader (LoraManager)": LoraTextLoaderAnchor,
    "Checkpoint Loader (LoraManager)": CheckpointLoaderAnchor,
    "Unet Loader (LoraManager)": UnetLoaderAnchor,
    "Random Checkpoint Loader (LoraManager)": RandomCheckpointLoaderAnchor,
    "Random Unet Loader (LoraManager)": RandomUnetLoaderAnchor,
    "TriggerWord Toggle (LoraManager)": TriggerWordToggleAnchor,
    "Lora Stacker (LoraManager)": LoraStackerAnchor,
    "Lora Stack Combiner (LoraManager)": LoraStackCombinerAnchor,
    "Save Image (LoraManager)": SaveImageAnchor,
    "Debug Metadata (LoraManager)": DebugMetadataAnchor,
    "WanVideo Lora Select (LoraManager)": WanVideoLoraSelectAnchor,
    "WanVideo Lora Select From Text (LoraManager)": WanVideoLoraTextSelectAnchor,
    "Lora Pool (LoraManager)": LoraPoolAnchor,
    "Lora Randomizer (LoraManager)": LoraRandomizerAnchor,
    "Lora Cycler (LoraManager)": LoraCyclerAnchor,
    "Lora Info (LoraManager)": LoraInfoAnchor,
    "LoRA Syntax → Path (LoraManager)": LoraSyntaxToPath,
    "Create Hook LoRA (LoraManager)": CreateHookLoraAnchor,
    "Metadata Overwrite (LoraManager)": MetadataOverwriteAnchor,
}

OWN_NODE_TYPES: dict[str, tuple[type, str]] = {
    "LoraLoaderLM": (LoraLoaderLM, "LoRA Loader (LoRA Manager)"),
    "LoraTextLoaderLM": (LoraTextLoaderLM, "LoRA Text Loader (LoRA Manager)"),
    "LoraStackerLM": (LoraStackerLM, "LoRA Stacker (LoRA Manager)"),
    "TriggerWordToggleLM": (TriggerWordToggleLM, "TriggerWord Toggle (LoRA Manager)"),
    "SaveImageLM": (SaveImageLM, "Save Image (LoRA Manager)"),
}

NODE_CLASS_MAPPINGS: dict[str, type] = {**ANCHOR_NODE_TYPES, **{k: v[0] for k, v in OWN_NODE_TYPES.items()}}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {**{k: k for k in ANCHOR_NODE_TYPES},
                                              **{k: v[1] for k, v in OWN_NODE_TYPES.items()}}
