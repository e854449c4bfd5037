"""Checkpoint and diffusion-model (UNet) loaders under ComfyUI-Lora-Manager's type names.

Why ours and not ComfyUI's: they list what the library knows, its extra roots included, with ComfyUI's own
names (relative path with the OS separator, extension included: the ``ckpt_name`` values saved in
workflows), and a missing model fails with an error naming it and the close matches. ``comfy`` is imported
only inside the load functions. GGUF UNets load through ComfyUI-GGUF when that node pack is installed.
"""
from __future__ import annotations

import logging
import os
import random
import sys
from typing import Any

from . import runtime
from .anchor_inputs import ANCHOR_CATEGORY
from .resolve import LibraryView, NodeInputError, relative_name, snapshot_records

logger = logging.getLogger(__name__)

__all__ = ["CheckpointLoaderAnchor", "UnetLoaderAnchor", "RandomCheckpointLoaderAnchor", "RandomUnetLoaderAnchor",
           "model_names", "base_models"]

LOADERS = f"{ANCHOR_CATEGORY}/loaders"
CHECKPOINT, DIFFUSION = "checkpoint", "diffusion_model"
COMFY_FOLDERS = {CHECKPOINT: ("checkpoints",), DIFFUSION: ("diffusion_models", "unet")}
WEIGHT_DTYPES = ["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"]
ANY_BASE = "Any"


def _records(sub_type: str) -> list[Any]:
    bound = runtime.current()
    if bound is None:
        return []
    try:
        service = bound.context.service("checkpoint")
    except KeyError:
        return []
    return [r for r in snapshot_records(service) if (r.sub_type or CHECKPOINT) == sub_type]


def comfy_name(record: Any) -> str:
    """The name ComfyUI gives this file in its combo lists: relative path, OS separator, with extension."""
    return relative_name(record).replace("/", os.sep)


def _comfy_listed(sub_type: str) -> list[str]:
    """What ComfyUI itself lists (covers files the library has not scanned yet); empty outside ComfyUI."""
    folder_paths = sys.modules.get("folder_paths")
    names: list[str] = []
    for folder in COMFY_FOLDERS[sub_type]:
        try:
            names += list(folder_paths.get_filename_list(folder)) if folder_paths is not None else []
        except Exception:  # noqa: BLE001 - an unknown folder name in an older ComfyUI
            continue
    return [n for n in names if not n.lower().endswith((".yaml", ".json"))]


def model_names(sub_type: str, base_model: str | None = None) -> list[str]:
    """The combo values: library models of this sub type (filtered by base model), plus ComfyUI's own list
    when no filter applies."""
    records = _records(sub_type)
    if base_model and base_model != ANY_BASE:
        return sorted({comfy_name(r) for r in records if r.base_model == base_model})
    return sorted({*(comfy_name(r) for r in records), *_comfy_listed(sub_type)})


def base_models(sub_type: str) -> list[str]:
    return [ANY_BASE] + sorted({r.base_model for r in _records(sub_type) if r.base_model})


def resolve_model_path(name: str, sub_type: str) -> str:
    """The file a saved name means: the library's record first, ComfyUI's own folders second."""
    if not isinstance(name, str) or not name.strip():
        raise NodeInputError("No model selected")
    bound = runtime.current()
    error: NodeInputError | None = None
    if bound is not None:
        ready = getattr(bound.context.services.get("checkpoint"), "ready", None)
        view = LibraryView(CHECKPOINT, _records(sub_type), ready is not None and not ready.is_set())
        try:
            return view.resolve(name).file_path
        except NodeInputError as exc:
            error = exc
    folder_paths = sys.modules.get("folder_paths")
    for folder in COMFY_FOLDERS[sub_type]:
        try:
            path = folder_paths.get_full_path(folder, name) if folder_paths is not None else None
        except Exception:  # noqa: BLE001 - unknown folder name
            path = None
        if path and os.path.isfile(path):
            return path
    what = "Checkpoint" if sub_type == CHECKPOINT else "Diffusion model"
    if error is not None:
        raise NodeInputError(str(error).replace("Checkpoint", what, 1)) from None
    raise NodeInputError(f"{what} '{name}' was not found (the LoRA Manager library is not running)")


def _validate_base_model(cls: type, base_model: Any = ANY_BASE) -> bool:
    """``base_model`` only narrows a random pick, so any saved value is accepted (a library without that base
    model must not make an old workflow fail to queue)."""
    return True


def _load_checkpoint(path: str) -> tuple[Any, Any, Any]:
    import comfy.sd  # type: ignore[import-not-found]
    import folder_paths  # type: ignore[import-not-found]

    logger.info("Loading checkpoint %s", path)
    out = comfy.sd.load_checkpoint_guess_config(path, output_vae=True, output_clip=True,
                                                embedding_directory=folder_paths.get_folder_paths("embeddings"))
    return out[0], out[1], out[2]


def _gguf_modules() -> tuple[Any, Any, Any]:
    """ComfyUI-GGUF's loader, ops and nodes modules, found among the custom nodes ComfyUI imported."""
    for name, module in list(sys.modules.items()):
        if module is not None and hasattr(module, "gguf_sd_loader") and name.endswith("loader"):
            package = name.rsplit(".", 1)[0] if "." in name else ""
            ops = sys.modules.get(f"{package}.ops") if package else None
            nodes = sys.modules.get(f"{package}.nodes") if package else None
            if ops is not None and nodes is not None and hasattr(ops, "GGMLOps") and hasattr(nodes, "GGUFModelPatcher"):
                return module, ops, nodes
    raise NodeInputError("GGUF diffusion models need the ComfyUI-GGUF node pack; install it and restart ComfyUI")


def _load_unet(path: str, weight_dtype: str) -> Any:
    import comfy.sd  # type: ignore[import-not-found]
    import torch  # type: ignore[import-not-found]

    if weight_dtype not in WEIGHT_DTYPES:
        raise NodeInputError(f"Unknown weight_dtype '{weight_dtype}'; choose one of {', '.join(WEIGHT_DTYPES)}")
    if path.lower().endswith(".gguf"):
        loader, ops_module, nodes_module = _gguf_modules()
        state, extra = loader.gguf_sd_loader(path)
        ops = ops_module.GGMLOps()
        ops.Linear.dequant_dtype = None if weight_dtype == "default" else getattr(torch, weight_dtype, None)
        model = comfy.sd.load_diffusion_model_state_dict(state, model_options={"custom_operations": ops})
        if model is None:
            raise NodeInputError(f"Could not detect the model type of the GGUF file {path}")
        return nodes_module.GGUFModelPatcher.clone(model)
    options: dict[str, Any] = {}
    if weight_dtype in ("fp8_e4m3fn", "fp8_e4m3fn_fast"):
        options["dtype"] = torch.float8_e4m3fn
        if weight_dtype == "fp8_e4m3fn_fast":
            options["fp8_optimizations"] = True
    elif weight_dtype == "fp8_e5m2":
        options["dtype"] = torch.float8_e5m2
    logger.info("Loading diffusion model %s", path)
    return comfy.sd.load_diffusion_model(path, model_options=options)


def _pick(sub_type: str, base_model: str) -> str:
    pool = model_names(sub_type, base_model) if base_model != ANY_BASE else sorted(comfy_name(r) for r in _records(sub_type))
    if not pool:
        what = "checkpoints" if sub_type == CHECKPOINT else "diffusion models"
        raise NodeInputError(f"No {what} found for base model '{base_model}'. Pick another base model or turn off "
                             "select_at_random.")
    return random.SystemRandom().choice(pool)


_BASE_TOOLTIP = "Restrict random selection to this base model; 'Any' uses the whole pool."


class CheckpointLoaderAnchor:
    """``Checkpoint Loader (LoraManager)``: a checkpoint from the library (extra roots included)."""

    CATEGORY = LOADERS
    DESCRIPTION = "Load a checkpoint the library knows; control_after_generate can pick a random one per run."
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    RETURN_NAMES = ("MODEL", "CLIP", "VAE")
    FUNCTION = "load_checkpoint"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "ckpt_name": (model_names(CHECKPOINT), {"tooltip": "The checkpoint to load",
                                                    "control_after_generate": "fixed"}),
            "base_model": (base_models(CHECKPOINT), {"default": ANY_BASE, "tooltip": _BASE_TOOLTIP}),
        }}

    VALIDATE_INPUTS = classmethod(_validate_base_model)

    def load_checkpoint(self, ckpt_name: str, base_model: str = ANY_BASE) -> tuple[Any, Any, Any]:
        return _load_checkpoint(resolve_model_path(ckpt_name, CHECKPOINT))


class UnetLoaderAnchor:
    """``Unet Loader (LoraManager)``: a diffusion model (UNet) from the library; GGUF through ComfyUI-GGUF."""

    CATEGORY = LOADERS
    DESCRIPTION = "Load a diffusion model the library knows (GGUF needs ComfyUI-GGUF)."
    RETURN_TYPES = ("MODEL",)
    RETURN_NAMES = ("MODEL",)
    FUNCTION = "load_unet"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "unet_name": (model_names(DIFFUSION), {"tooltip": "The diffusion model to load",
                                                   "control_after_generate": "fixed"}),
            "weight_dtype": (WEIGHT_DTYPES, {"tooltip": "The dtype of the model weights"}),
            "base_model": (base_models(DIFFUSION), {"default": ANY_BASE, "tooltip": _BASE_TOOLTIP}),
        }}

    VALIDATE_INPUTS = classmethod(_validate_base_model)

    def load_unet(self, unet_name: str, weight_dtype: str = "default", base_model: str = ANY_BASE) -> tuple[Any]:
        return (_load_unet(resolve_model_path(unet_name, DIFFUSION), weight_dtype),)


class RandomCheckpointLoaderAnchor:
    """``Random Checkpoint Loader (LoraManager)``: the named checkpoint, or a random one of a base model."""

    CATEGORY = LOADERS
    DESCRIPTION = "Load a checkpoint, or with select_at_random a random one (of base_model) on every run."
    RETURN_TYPES = ("MODEL", "CLIP", "VAE", "STRING")
    RETURN_NAMES = ("MODEL", "CLIP", "VAE", "model_name")
    FUNCTION = "load_checkpoint"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "ckpt_name": (model_names(CHECKPOINT), {"tooltip": "The checkpoint to load"}),
            "select_at_random": ("BOOLEAN", {"default": False, "tooltip": "Ignore ckpt_name and pick a random "
                                                                          "checkpoint on every run"}),
            "base_model": (base_models(CHECKPOINT), {"default": ANY_BASE, "tooltip": _BASE_TOOLTIP}),
        }}

    VALIDATE_INPUTS = classmethod(_validate_base_model)

    @classmethod
    def IS_CHANGED(cls, ckpt_name: str = "", select_at_random: bool = False, base_model: str = ANY_BASE) -> Any:
        return float("nan") if select_at_random else ckpt_name

    def load_checkpoint(self, ckpt_name: str, select_at_random: bool = False,
                        base_model: str = ANY_BASE) -> tuple[Any, Any, Any, str]:
        if select_at_random:
            ckpt_name = _pick(CHECKPOINT, base_model)
            logger.info("Random checkpoint: %s", ckpt_name)
        return (*_load_checkpoint(resolve_model_path(ckpt_name, CHECKPOINT)), ckpt_name)


class RandomUnetLoaderAnchor:
    """``Random Unet Loader (LoraManager)``: the named diffusion model, or a random one of a base model."""

    CATEGORY = LOADERS
    DESCRIPTION = "Load a diffusion model, or with select_at_random a random one (of base_model) on every run."
    RETURN_TYPES = ("MODEL", "STRING")
    RETURN_NAMES = ("MODEL", "model_name")
    FUNCTION = "load_unet"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "unet_name": (model_names(DIFFUSION), {"tooltip": "The diffusion model to load"}),
            "weight_dtype": (WEIGHT_DTYPES, {"tooltip": "The dtype of the model weights"}),
            "select_at_random": ("BOOLEAN", {"default": False, "tooltip": "Ignore unet_name and pick a random "
                                                                          "diffusion model on every run"}),
            "base_model": (base_models(DIFFUSION), {"default": ANY_BASE, "tooltip": _BASE_TOOLTIP}),
        }}

    VALIDATE_INPUTS = classmethod(_validate_base_model)

    @classmethod
    def IS_CHANGED(cls, unet_name: str = "", weight_dtype: str = "default", select_at_random: bool = False,
                   base_model: str = ANY_BASE) -> Any:
        return float("nan") if select_at_random else unet_name

    def load_unet(self, unet_name: str, weight_dtype: str = "default", select_at_random: bool = False,
                  base_model: str = ANY_BASE) -> tuple[Any, str]:
        if select_at_random:
            unet_name = _pick(DIFFUSION, base_model)
            logger.info("Random diffusion model: %s", unet_name)
        return _load_unet(resolve_model_path(unet_name, DIFFUSION), weight_dtype), unet_name
