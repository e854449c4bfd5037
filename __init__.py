"""LoRA Manager as a ComfyUI custom-node package.

ComfyUI imports this folder: the routes attach to its server, the nodes register, and the sidebar extension
in ``web/comfyui`` loads. Without ComfyUI, importing does nothing else.
"""
from .py.comfyui_entry import attach_to_comfyui
from .py.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WEB_DIRECTORY = "./web/comfyui"

LORA_MANAGER_CONTEXT = attach_to_comfyui()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
