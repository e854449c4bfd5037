"""Save Image (LoRA Manager): PNG/JPEG/WebP with A1111 ``parameters`` other tools read, plus the workflow.

The generation is read from the executed prompt graph ComfyUI hands the node (hidden ``prompt``), with the
same reader recipe import uses; LoRA and checkpoint hashes come from the library's in-memory index (never
hashed here). Files are written atomically, under names built by ``filename_pattern`` that never leave the
output folder. Optionally each image is also stored as a recipe.
"""
from __future__ import annotations

import io
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from ..library.atomic import atomic_write_bytes, atomic_write_json
from ..library.records import ModelRecord
from ..services.recipes.parsers.comfy_graph import read_prompt_graph
from ..services.recipes.parsers.model import ParsedGeneration
from ..services.recipes.parsers.recipe_json import recipe_metadata_text
from . import runtime
from .a1111_params import ResolvedLora, format_parameters, lora_short_hash
from .filename_pattern import PatternValues, next_counter, output_target, render_pattern
from .resolve import LibraryView, NodeInputError
from .stacker import CATEGORY

logger = logging.getLogger(__name__)

__all__ = ["SaveImageLM", "GenerationInfo", "generation_info", "image_to_pil", "encode_image", "build_recipe",
           "save_recipe", "widget_lookup"]

FORMATS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
EXIF_IFD = 0x8769
TAG_USER_COMMENT = 0x9286
TAG_MAKE = 0x010F
TAG_MODEL = 0x0110
MAX_EXIF = 65000  # JPEG APP1 segments hold at most 64 KiB
RECIPE_MAX_SIDE = 1024
RECIPE_COMPONENT = "recipes"


@dataclass
class GenerationInfo:
    """What one Save Image run knows about the generation, resolved against the library where possible."""

    generation: ParsedGeneration
    loras: list[ResolvedLora] = field(default_factory=list)
    checkpoint: ModelRecord | None = None

    def parameters(self, image_size: tuple[int, int] | None = None) -> str:
        return format_parameters(self.generation, self.loras, self.checkpoint, image_size)


def generation_info(prompt: Any, node_id: Any = None) -> GenerationInfo:
    """Read the graph (never raises on odd graphs) and match its LoRAs and checkpoint to the library."""
    generation = read_prompt_graph(prompt if isinstance(prompt, dict) else {},
                                   output_node=str(node_id) if node_id is not None else None)
    bound = runtime.current()
    lora_view = LibraryView.of(bound.context, "lora") if bound else None
    ckpt_view = LibraryView.of(bound.context, "checkpoint") if bound else None
    loras = []
    for ref in generation.loras:
        record = lora_view.find(ref.name) if lora_view else None
        loras.append(ResolvedLora(ref.name, ref.strength_model, ref.strength_clip, record))
    checkpoint = None
    if generation.checkpoint is not None and ckpt_view is not None:
        checkpoint = ckpt_view.find(generation.checkpoint.name)
    return GenerationInfo(generation, loras, checkpoint)


def widget_lookup(prompt: Any, extra_pnginfo: Any):
    """``%Title.widget%`` values: a node found by its title (``_meta.title`` or workflow title) or class."""
    nodes = prompt if isinstance(prompt, dict) else {}
    titles: dict[str, str] = {}
    workflow = extra_pnginfo.get("workflow") if isinstance(extra_pnginfo, dict) else None
    if isinstance(workflow, dict) and isinstance(workflow.get("nodes"), list):
        for node in workflow["nodes"]:
            if isinstance(node, dict) and isinstance(node.get("title"), str) and "id" in node:
                titles.setdefault(node["title"], str(node["id"]))

    def lookup(title: str, widget: str) -> Any:
        candidates = [key for key, node in nodes.items() if isinstance(node, dict)
                      and isinstance(node.get("_meta"), dict) and node["_meta"].get("title") == title]
        if title in titles:
            candidates.append(titles[title])
        candidates += [key for key, node in nodes.items() if isinstance(node, dict) and node.get("class_type") == title]
        for key in candidates:
            node = nodes.get(key)
            inputs = node.get("inputs") if isinstance(node, dict) else None
            value = inputs.get(widget) if isinstance(inputs, dict) else None
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                return value
        return None

    return lookup


def image_to_pil(image: Any) -> Image.Image:
    """A ComfyUI IMAGE item (H x W x C floats in 0..1, torch or numpy) as an 8-bit PIL image."""
    import numpy as np

    array = image.cpu().numpy() if hasattr(image, "cpu") else np.asarray(image)
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise NodeInputError(f"Expected an image of shape (height, width, channels), got {tuple(array.shape)}")
    pixels = np.clip(np.nan_to_num(array.astype("float32")) * 255.0, 0, 255).astype("uint8")
    if pixels.shape[2] == 1:
        return Image.fromarray(pixels[:, :, 0], "L")
    return Image.fromarray(pixels, "RGBA" if pixels.shape[2] == 4 else "RGB")


def _user_comment(text: str) -> bytes:
    return b"UNICODE\x00" + text.encode("utf-16-be")


def encode_image(img: Image.Image, fmt: str, parameters: str | None, extra: dict[str, Any] | None, *,
                 quality: int = 95, lossless_webp: bool = False) -> bytes:
    """Image bytes with the metadata embedded: PNG text chunks, or EXIF (UserComment, Make/Model) for JPEG/WebP."""
    buffer = io.BytesIO()
    extra = extra or {}
    if fmt == "png":
        info = PngInfo()
        if parameters is not None:
            info.add_text("parameters", parameters)
        for key, value in extra.items():
            info.add_text(key, value if isinstance(value, str) else json.dumps(value))
        img.save(buffer, "PNG", pnginfo=info, compress_level=4)
        return buffer.getvalue()
    exif = Image.Exif()
    if parameters is not None:
        exif.get_ifd(EXIF_IFD)[TAG_USER_COMMENT] = _user_comment(parameters)
    if "workflow" in extra:
        exif[TAG_MAKE] = "workflow:" + json.dumps(extra["workflow"])
    if "prompt" in extra:
        exif[TAG_MODEL] = "prompt:" + json.dumps(extra["prompt"])
    data = exif.tobytes()
    if fmt == "jpeg" and len(data) > MAX_EXIF:
        logger.info("Workflow too large for JPEG EXIF; saved without it")
        for tag in (TAG_MAKE, TAG_MODEL):
            exif.pop(tag, None)
        data = exif.tobytes()
        if len(data) > MAX_EXIF:
            raise NodeInputError("Generation metadata is too large for a JPEG file; save as PNG or WebP")
    if fmt == "jpeg":
        img.convert("RGB").save(buffer, "JPEG", quality=quality, exif=data)
    else:
        img.save(buffer, "WEBP", quality=quality, lossless=lossless_webp, exif=data)
    return buffer.getvalue()


def build_recipe(info: GenerationInfo, title: str | None = None) -> dict[str, Any]:
    """A recipe (ComfyUI-Lora-Manager's ``.recipe.json`` shape) for this generation."""
    loras = []
    base_models: dict[str, int] = {}
    for lora in info.loras:
        record = lora.record
        loras.append({
            "file_name": record.file_name if record else lora.display_name,
            "hash": record.sha256 if record else "",
            "strength": lora.strength_model,
            "clipStrength": lora.strength_model if lora.strength_clip is None else lora.strength_clip,
            "modelVersionId": (record.civitai_version_id or 0) if record else 0,
            "modelName": record.display_name if record else lora.name,
            "modelVersionName": record.civitai_name if record else "",
            "isDeleted": False,
            "exclude": False,
        })
        if record and record.base_model and record.base_model != "Unknown":
            base_models[record.base_model] = base_models.get(record.base_model, 0) + 1
    recipe: dict[str, Any] = {
        "title": title or "_".join(f"{l.display_name}-{l.strength_model:.2f}" for l in info.loras[:3]) or "recipe",
        "base_model": max(base_models, key=lambda k: base_models[k]) if base_models else (
            info.checkpoint.base_model if info.checkpoint and info.checkpoint.base_model != "Unknown" else ""),
        "loras": loras,
        "gen_params": dict(info.generation.gen_params),
        "tags": [],
        "favorite": False,
        "fingerprint": recipe_fingerprint(loras),
    }
    ckpt = info.checkpoint
    if ckpt is not None:
        recipe["checkpoint"] = {"type": "checkpoint", "modelId": ckpt.civitai_model_id or 0,
                                "modelVersionId": ckpt.civitai_version_id or 0, "modelName": ckpt.display_name,
                                "modelVersionName": ckpt.civitai_name, "hash": ckpt.sha256,
                                "file_name": ckpt.file_name, "baseModel": ckpt.base_model}
    elif info.generation.checkpoint is not None:
        ref = info.generation.checkpoint
        recipe["checkpoint"] = {"type": "checkpoint", "name": ref.name, "file_name": ref.file_name or ref.name,
                                "hash": ""}
    return recipe


def recipe_fingerprint(loras: list[dict[str, Any]]) -> str:
    """ComfyUI-Lora-Manager's fingerprint: sorted ``hash:strength`` of the included LoRAs."""
    parts = []
    for lora in loras:
        if lora.get("exclude"):
            continue
        key = str(lora.get("hash") or "").lower() or (str(lora["modelVersionId"]) if lora.get("modelVersionId") else "")
        if key:
            parts.append((key, round(float(lora.get("strength", 1.0)), 2)))
    return "|".join(f"{key}:{strength}" for key, strength in sorted(parts))


def _recipe_webp(img: Image.Image, parameters: str, recipe: dict[str, Any]) -> bytes:
    frame = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    if max(frame.size) > RECIPE_MAX_SIDE:
        frame.thumbnail((RECIPE_MAX_SIDE, RECIPE_MAX_SIDE), Image.Resampling.LANCZOS)
    text = ", ".join(part for part in (parameters, recipe_metadata_text(recipe)) if part)
    return encode_image(frame, "webp", text, None, quality=85)


def save_recipe(img: Image.Image, info: GenerationInfo, parameters: str, *, timeout: float = 60.0) -> str:
    """Store the image as a recipe; returns the recipe id.

    Through the running recipe store when there is one (its cache sees the recipe at once); otherwise the
    files are written into the recipes folder, which is the store's source of truth.
    """
    bound = runtime.current()
    if bound is None:
        raise NodeInputError("Save as recipe needs the LoRA Manager library, which is not running")
    if not info.generation.has_content():
        raise NodeInputError("Save as recipe: the workflow has no generation metadata to store")
    recipe = build_recipe(info)
    media = _recipe_webp(img, parameters, recipe)
    component = bound.context.components.get(RECIPE_COMPONENT)
    store = getattr(component, "store", None)
    if store is not None and hasattr(store, "add"):
        future = runtime.submit(store.add(recipe, media, ".webp"))
        if future is not None:
            entry = future.result(timeout=timeout)
            return str(getattr(entry, "recipe_id", None) or getattr(entry, "id", ""))
    recipes_dir = Path(bound.context.recipes_dir)
    recipes_dir.mkdir(parents=True, exist_ok=True)
    recipe_id = str(uuid.uuid4())
    image_path = recipes_dir / f"{recipe_id}.webp"
    now = time.time()
    recipe = {"id": recipe_id, "file_path": image_path.as_posix(), "created_date": now, "modified": now, **recipe}
    _write(image_path, media)
    json_path = recipes_dir / f"{recipe_id}.recipe.json"
    try:
        atomic_write_json(json_path, recipe, indent=4)
    except BaseException as exc:
        image_path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OSError(exc.errno, f"Could not save {json_path}: {exc.strerror or exc}") from exc
        raise
    return recipe_id


def _write(path: Path, data: bytes) -> None:
    """Atomic write with an error that names the file (a full disk or a read-only folder leaves nothing)."""
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise OSError(exc.errno, f"Could not save {path}: {exc.strerror or exc}") from exc


class SaveImageLM:
    """Saves images with metadata Civitai, A1111 and recipe import understand."""

    CATEGORY = CATEGORY
    DESCRIPTION = ("Save images with A1111-compatible generation metadata (prompt, sampler, seed, model and LoRA "
                   "hashes) and the workflow; filename patterns like %seed%, %date:yyyy-MM-dd%, %model:10%.")
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    FUNCTION = "save_images"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "images": ("IMAGE",),
                "filename_prefix": ("STRING", {"default": "ComfyUI", "tooltip": (
                    "File name; '/' makes subfolders. Patterns: %seed% %width% %height% %model:N% %pprompt:N% "
                    "%nprompt:N% %date% %date:yyyy-MM-dd% %NodeTitle.widget%")}),
                "file_format": (list(FORMATS), {"default": "png"}),
            },
            "optional": {
                "quality": ("INT", {"default": 95, "min": 1, "max": 100, "tooltip": "JPEG and lossy WebP quality"}),
                "lossless_webp": ("BOOLEAN", {"default": False}),
                "embed_workflow": ("BOOLEAN", {"default": True,
                                               "tooltip": "Also store the workflow (drag the image into ComfyUI)"}),
                "add_counter": ("BOOLEAN", {"default": True, "tooltip": "Append _00001_ so files never overwrite"}),
                "save_as_recipe": ("BOOLEAN", {"default": False, "tooltip": "Also store each image as a recipe"}),
            },
            "hidden": {"unique_id": "UNIQUE_ID", "prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    def output_directory(self) -> str:
        import folder_paths  # type: ignore[import-not-found]

        return folder_paths.get_output_directory()

    def save_images(self, images: Any, filename_prefix: str = "ComfyUI", file_format: str = "png",
                    quality: int = 95, lossless_webp: bool = False, embed_workflow: bool = True,
                    add_counter: bool = True, save_as_recipe: bool = False, unique_id: Any = None,
                    prompt: Any = None, extra_pnginfo: Any = None) -> dict[str, Any]:
        if file_format not in FORMATS:
            raise NodeInputError(f"Unknown file format '{file_format}'; choose one of {', '.join(FORMATS)}")
        if not 1 <= int(quality) <= 100:
            raise NodeInputError("Quality must be between 1 and 100")
        pictures = [image_to_pil(image) for image in images]
        if not pictures:
            return {"ui": {"images": []}, "result": (images,)}
        info = generation_info(prompt, unique_id)
        params = info.generation.gen_params
        first = pictures[0]
        values = PatternValues(
            seed=params.get("seed"), width=params.get("width", first.width), height=params.get("height", first.height),
            model=(info.checkpoint.file_name if info.checkpoint else
                   (info.generation.checkpoint.file_name or "") if info.generation.checkpoint else ""),
            positive=str(params.get("prompt") or ""), negative=str(params.get("negative_prompt") or ""),
            widget=widget_lookup(prompt, extra_pnginfo))
        folder, prefix, subfolder = output_target(self.output_directory(), render_pattern(filename_prefix, values))
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(exc.errno, f"Could not create the output folder {folder}: {exc.strerror or exc}") from exc
        extra: dict[str, Any] = {}
        if embed_workflow:
            if isinstance(prompt, dict):
                extra["prompt"] = prompt
            if isinstance(extra_pnginfo, dict):
                extra.update({k: v for k, v in extra_pnginfo.items() if isinstance(k, str)})
        ext = FORMATS[file_format]
        counter = next_counter(folder, prefix) if add_counter else 0
        results = []
        recipe_ids: list[str] = []
        for offset, picture in enumerate(pictures):
            parameters = info.parameters((picture.width, picture.height))
            if add_counter:
                name = f"{prefix}_{counter + offset:05d}_{ext}"
            else:
                name = f"{prefix}{ext}" if len(pictures) == 1 else f"{prefix}_{offset + 1}{ext}"
            data = encode_image(picture, file_format, parameters, extra, quality=int(quality),
                                lossless_webp=lossless_webp)
            _write(folder / name, data)
            results.append({"filename": name, "subfolder": subfolder, "type": "output"})
            if save_as_recipe:
                recipe_ids.append(save_recipe(picture, info, parameters))
        logger.debug("Saved %d images (LoRA hashes known: %d)", len(results),
                     sum(1 for l in info.loras if lora_short_hash(l.record)))
        ui: dict[str, Any] = {"images": results}
        if recipe_ids:
            ui["recipes"] = recipe_ids
        return {"ui": ui, "result": (images,)}
