"""LoRA Manager: ComfyUI custom-node package (placeholder until the entry lands)."""
WEB_DIRECTORY = "./web/comfyui"
NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
