"""Identity of a non-LoRA model file from its own header: format, family, base models, precision, VRAM need.

Why: VAEs, ControlNets, text encoders, upscalers, CLIP vision, IP-Adapters and motion modules carry no
Civitai-style metadata, but their tensor names and shapes say what they are. Only headers are read
(safetensors JSON, GGUF key/values); ``.ckpt``/``.pt`` are recognised as zip or pickle by their first bytes
and never unpickled. The rules are pure functions over a name -> (shape, dtype) view so both formats share them.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from .gguf import InvalidGGUF, MAGIC as GGUF_MAGIC, parse_gguf_header, DEFAULT_MAX_HEADER_BYTES
from .safetensors import InvalidModelFile, read_header

Tensors = Mapping[str, tuple[tuple[int, ...], str]]


@dataclass(frozen=True)
class KindIdentity:
    format: str  # safetensors | gguf | pytorch-zip | pickle | unknown
    family: str = ""
    base_models: tuple[str, ...] = ()
    precision: str = ""
    size: int = 0
    vram_bytes: int = 0
    error: str = ""


def _find(t: Tensors, pattern: str) -> tuple[str, tuple[int, ...]] | None:
    rx = re.compile(pattern)
    for name, (shape, _) in t.items():
        if rx.search(name):
            return name, shape
    return None


def _dim(t: Tensors, pattern: str, axis: int) -> int | None:
    hit = _find(t, pattern)
    return hit[1][axis] if hit and len(hit[1]) > axis else None


def _vae(t: Tensors, name: str) -> tuple[str, tuple[str, ...]]:
    hit = _find(t, r"(^|\.)decoder\.conv_in\.weight$")
    if not hit:
        return "", ()
    if len(hit[1]) == 5:
        return "Wan VAE", ("Wan Video",)
    latent = hit[1][1] if len(hit[1]) > 1 else 0
    if latent == 16:
        return "16-channel VAE", ("Flux.1 D", "Flux.1 S", "SD 3", "SD 3.5")
    if latent == 4:
        return ("SDXL VAE", ("SDXL 1.0", "Pony", "Illustrious")) if "xl" in name.lower() else \
            ("SD VAE", ("SD 1.5", "SDXL 1.0"))
    return f"{latent}-channel VAE", ()


def _controlnet(t: Tensors, name: str) -> tuple[str, tuple[str, ...]]:
    if _find(t, r"controlnet_x_embedder|double_blocks\.|transformer_blocks\.\d+\.attn\.to_q"):
        return "Flux ControlNet", ("Flux.1 D", "Flux.1 S")
    ctx = _dim(t, r"attn2\.to_k\.weight$", 1)
    if ctx == 768:
        return "SD1.5 ControlNet", ("SD 1.5",)
    if ctx == 2048:
        return "SDXL ControlNet", ("SDXL 1.0", "Pony", "Illustrious")
    if ctx == 1024:
        return "SD2 ControlNet", ("SD 2.1",)
    return ("ControlNet", ()) if _find(t, r"zero_convs|controlnet_") else ("", ())


def _text_encoder(t: Tensors, name: str) -> tuple[str, tuple[str, ...]]:
    if _find(t, r"encoder\.block\.0\.layer\.0\.SelfAttention\.q\.weight"):
        vocab = _dim(t, r"(^|\.)shared\.weight$", 0)
        width = _dim(t, r"encoder\.block\.0\.layer\.0\.SelfAttention\.q\.weight", 1)
        if vocab == 256384:
            return "umT5-XXL", ("Wan Video",)
        if width == 4096:
            return "T5-XXL", ("Flux.1 D", "Flux.1 S", "SD 3", "SD 3.5")
        return "T5", ()
    width = _dim(t, r"text_model\.final_layer_norm\.weight$", 0)
    if width == 768:
        return "CLIP-L", ("SD 1.5", "SDXL 1.0", "Flux.1 D", "SD 3")
    if width == 1280:
        return "CLIP-G", ("SDXL 1.0", "SD 3")
    if width == 1024:
        return "OpenCLIP-H", ("SD 2.1",)
    return "", ()


def _upscaler(t: Tensors, name: str) -> tuple[str, tuple[str, ...]]:
    m = re.search(r"(\d)x", name.lower())
    scale = f" {m.group(1)}x" if m else ""
    if _find(t, r"layers\.\d+\.residual_group"):
        return "SwinIR" + scale, ()
    if _find(t, r"layers\.\d+\.blocks\.\d+\.attn|before_RG"):
        return "DAT" + scale, ()
    if _find(t, r"conv_first\.weight|body\.\d+\.rdb1|^model\.0\.weight"):
        if not scale and _find(t, r"conv_up1"):
            scale = " 4x" if _find(t, r"conv_up2") else " 2x"
        return "ESRGAN" + scale, ()
    return "", ()


def _clip_vision(t: Tensors, name: str) -> tuple[str, tuple[str, ...]]:
    width = _dim(t, r"vision_model\.post_layernorm\.weight$", 0)
    return {1280: ("CLIP ViT-H/14", ()), 1664: ("CLIP ViT-bigG/14", ()), 1024: ("CLIP ViT-L/14", ())}.get(
        width or 0, ("SigLIP", ()) if width == 1152 else ("", ()))


def _ipadapter(t: Tensors, name: str) -> tuple[str, tuple[str, ...]]:
    ctx = _dim(t, r"to_k_ip\.weight$", 1)
    plus = " plus" if _find(t, r"image_proj\.(latents|layers)") else ""
    if ctx == 768:
        return "IP-Adapter SD1.5" + plus, ("SD 1.5",)
    if ctx == 2048:
        return "IP-Adapter SDXL" + plus, ("SDXL 1.0", "Pony", "Illustrious")
    return ("IP-Adapter" + plus, ()) if _find(t, r"image_proj|ip_adapter") else ("", ())


def _motion(t: Tensors, name: str) -> tuple[str, tuple[str, ...]]:
    if not _find(t, r"motion_modules\."):
        return "", ()
    if not _find(t, r"down_blocks\.3\.motion_modules"):
        return "AnimateDiff SDXL", ("SDXL 1.0",)
    version = "v2" if _find(t, r"mid_block\.motion_modules") else "v1/v3"
    return f"AnimateDiff {version}", ("SD 1.5",)


def _style(t: Tensors, name: str) -> tuple[str, tuple[str, ...]]:
    if _find(t, r"redux_up"):
        return "Flux Redux", ("Flux.1 D", "Flux.1 S")
    return ("T2I style adapter", ("SD 1.5",)) if _find(t, r"style_embedding") else ("", ())


def _diffusion(t: Tensors, name: str) -> tuple[str, tuple[str, ...]]:
    if _find(t, r"double_blocks\."):
        return "Flux", ("Flux.1 D", "Flux.1 S")
    if _find(t, r"joint_blocks\."):
        return "SD3 MMDiT", ("SD 3", "SD 3.5")
    if _find(t, r"patch_embedding|blocks\.\d+\.self_attn\.q"):
        return "Wan", ("Wan Video",)
    ctx = _dim(t, r"attn2\.to_k\.weight$", 1)
    return {768: ("SD1.5 UNet", ("SD 1.5",)), 2048: ("SDXL UNet", ("SDXL 1.0",))}.get(ctx or 0, ("", ()))


RULES: dict[str, Callable[[Tensors, str], tuple[str, tuple[str, ...]]]] = {
    "vae": _vae, "controlnet": _controlnet, "text_encoders": _text_encoder, "upscale_models": _upscaler,
    "clip_vision": _clip_vision, "ipadapter": _ipadapter, "animatediff_models": _motion,
    "style_models": _style, "diffusion_models": _diffusion, "checkpoint": _diffusion,
}


def identify_tensors(kind: str, tensors: Tensors, file_name: str) -> tuple[str, tuple[str, ...]]:
    """Family and base models of ``tensors`` for ``kind`` (pure; ``("", ())`` when nothing matches)."""
    rule = RULES.get(kind)
    return rule(tensors, file_name) if rule else ("", ())


def _precision(tensors: Tensors, sizes: Mapping[str, int]) -> str:
    by_type: Counter[str] = Counter()
    for name, (_, dtype) in tensors.items():
        by_type[dtype] += sizes.get(name, 0) or 1
    return by_type.most_common(1)[0][0] if by_type else ""


def identify_file(path: Path, kind: str) -> KindIdentity:
    """Read only the header of ``path`` and identify it as a model of ``kind``; errors go in ``error``."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        return KindIdentity("unknown", error=f"cannot read file: {exc.strerror or exc}")
    if head[:4] == GGUF_MAGIC:
        try:
            with open(path, "rb") as fh:
                g = parse_gguf_header(fh.read(DEFAULT_MAX_HEADER_BYTES))
        except (OSError, InvalidGGUF) as exc:
            return KindIdentity("gguf", size=size, error=getattr(exc, "reason", str(exc)))
        view = {x.name: (tuple(reversed(x.shape)), x.ggml_type) for x in g.tensors}
        family, bases = identify_tensors(kind, view, path.name)
        arch = str(g.metadata.get("general.architecture", ""))
        return KindIdentity("gguf", family or arch, bases, g.quantisation, size, g.tensor_bytes)
    if head[:4] == b"PK\x03\x04":
        return KindIdentity("pytorch-zip", size=size, vram_bytes=size)
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return KindIdentity("pickle", size=size, vram_bytes=size)
    try:
        h = read_header(path)
    except (OSError, InvalidModelFile) as exc:
        return KindIdentity("unknown", size=size, error=getattr(exc, "reason", str(exc)))
    view = {n: (info.shape, info.dtype) for n, info in h.tensors.items()}
    sizes = {n: info.nbytes for n, info in h.tensors.items()}
    family, bases = identify_tensors(kind, view, path.name)
    return KindIdentity("safetensors", family, bases, _precision(view, sizes), size, sum(sizes.values()))
