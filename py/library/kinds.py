"""The table of model kinds ComfyUI loads: the API name, aliases and the ComfyUI folders each kind reads.

Why: one place says which folder belongs to which kind, so roots from ComfyUI's ``folder_paths``, from a
ComfyUI install directory (``--comfyui DIR``) and from settings all agree. ``diffusion_models``/``unet``
folders stay part of the existing ``checkpoint`` kind (its listings and the UNet loader node already
serve them); the ``diffusion_models`` kind is the same folders seen on their own, so nothing is listed
under a kind it was not listed under before.
"""
from __future__ import annotations

from dataclasses import dataclass

MODEL_SUFFIXES = (".safetensors", ".sft", ".gguf", ".ckpt", ".pt", ".pth", ".bin")


@dataclass(frozen=True)
class ModelKind:
    name: str
    folders: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    label: str = ""


KINDS: tuple[ModelKind, ...] = (
    ModelKind("lora", ("loras",), label="LoRAs"),
    ModelKind("checkpoint", ("checkpoints", "diffusion_models", "unet"), label="Checkpoints"),
    ModelKind("embedding", ("embeddings",), label="Embeddings"),
    ModelKind("vae", ("vae",), label="VAEs"),
    ModelKind("upscale_models", ("upscale_models",), label="Upscalers"),
    ModelKind("controlnet", ("controlnet", "t2i_adapter"), label="ControlNets"),
    ModelKind("text_encoders", ("text_encoders", "clip"), aliases=("clip",), label="Text encoders"),
    ModelKind("diffusion_models", ("diffusion_models", "unet"), aliases=("unet",), label="Diffusion models"),
    ModelKind("clip_vision", ("clip_vision",), label="CLIP vision"),
    ModelKind("style_models", ("style_models",), label="Style models"),
    ModelKind("ipadapter", ("ipadapter",), label="IP-Adapters"),
    ModelKind("animatediff_models", ("animatediff_models", "animatediff_motion_models"),
              aliases=("motion_modules",), label="Motion modules"),
)

CORE_KINDS = ("lora", "checkpoint", "embedding")
# A file has one row in the library index (its path is the key), so a folder is scanned by one kind only:
# ``diffusion_models``/``unet`` folders are served by ``checkpoint`` (as sub type ``diffusion_model``) and the
# ``diffusion_models`` kind has no service of its own; /api/lm/kinds counts it from the checkpoint listing.
SERVED_BY = {"diffusion_models": "checkpoint"}
SERVED_KINDS = tuple(k.name for k in KINDS if k.name not in SERVED_BY)
EXTRA_KINDS = tuple(name for name in SERVED_KINDS if name not in CORE_KINDS)

_BY_NAME = {k.name: k for k in KINDS} | {a: k for k in KINDS for a in k.aliases}


def kind_named(name: str) -> ModelKind | None:
    """The kind for an API name or alias (``clip`` -> text_encoders, ``unet`` -> diffusion_models)."""
    return _BY_NAME.get(name)


def kinds_for_folder(folder: str) -> tuple[str, ...]:
    """Every kind that reads ComfyUI folder ``folder`` (``unet`` feeds checkpoint and diffusion_models)."""
    return tuple(k.name for k in KINDS if folder in k.folders)


def all_folders() -> tuple[str, ...]:
    """Every ComfyUI folder name some kind reads, in table order without repeats."""
    return tuple(dict.fromkeys(f for k in KINDS for f in k.folders))
