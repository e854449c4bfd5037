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
from ..services.recipes.parsers.model import ParsedGeneration, ResourceRef
from ..services.recipes.parsers.recipe_json import recipe_metadata_text
from . import runtime
from .a1111_params import ResolvedLora, format_parameters, lora_short_hash
from .filename_pattern import PatternValues, next_counter, output_target, render_pattern
from .resolve import LibraryView, NodeInputError
from .stacker import CATEGORY

logger = logging.getLogger(__name__)

__all__ = ["SaveImageLM", "SaveImageAnchor", "SaveOptions", "GenerationInfo", "generation_info", "image_to_pil", "encode_image", "build_recipe",
           "save_recipe", "widget_lookup"]

FORMATS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
EXIF_IFD = 0x8769
TAG_USER_COMMENT = 0x9286
TAG_MAKE = 0x010F
TAG_MODEL = 0x0110
MAX_EXIF = 65000  # JPEG APP1 segments hold at most 64 KiB
RECIPE_MAX_SIDE = 1024
RECIPE_COMPONENT = "recipes"
HASH_WAIT_SECONDS = 600.0  # hashing a large checkpoint on first use; the run waits, the server does not
ENCODER_CLASSES = frozenset({"Prompt (LoraManager)"})  # nodes whose second output is the prompt they encoded


@dataclass
class GenerationInfo:
    """What one Save Image run knows about the generation, resolved against the library where possible."""

    generation: ParsedGeneration
    loras: list[ResolvedLora] = field(default_factory=list)
    checkpoint: ModelRecord | None = None
    extra_fields: str = ""  # Metadata Overwrite's ``additional_data``, written into the settings line

    def parameters(self, image_size: tuple[int, int] | None = None, *, loras_in_prompt: bool = True) -> str:
        return format_parameters(self.generation, self.loras, self.checkpoint, image_size,
                                 loras_in_prompt=loras_in_prompt, extra_fields=self.extra_fields)

    def as_dict(self) -> dict[str, Any]:
        """What Debug Metadata shows: the parameters Save Image writes and what the library matched."""
        return {
            "gen_params": dict(self.generation.gen_params),
            "checkpoint": ({"name": self.checkpoint.file_name, "path": self.checkpoint.file_path,
                            "sha256": self.checkpoint.sha256} if self.checkpoint is not None else
                           (self.generation.checkpoint.to_dict() if self.generation.checkpoint else None)),
            "loras": [{"name": l.name, "strength_model": l.strength_model, "strength_clip": l.strength_clip,
                       "path": l.record.file_path if l.record else None, "hash": lora_short_hash(l.record)}
                      for l in self.loras],
            "parameters": self.parameters(),
        }


def with_run_outputs(prompt: dict[str, Any], outputs: dict[str, tuple[Any, ...]]) -> dict[str, Any]:
    """The prompt graph with what this run's text nodes produced put in place of their links.

    A link to a recorded text output becomes that text; a Prompt node's ``text`` becomes the prompt it encoded
    (trigger words prepended, wildcards expanded). Nodes without recorded outputs are left as they are.
    """
    if not outputs:
        return prompt
    resolved: dict[str, Any] = {}
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or not isinstance(node.get("inputs"), dict):
            resolved[node_id] = node
            continue
        inputs = dict(node["inputs"])
        for key, value in inputs.items():
            if isinstance(value, list) and len(value) == 2 and str(value[0]) in outputs:
                produced = outputs[str(value[0])]
                slot = value[1]
                if isinstance(slot, int) and 0 <= slot < len(produced) and isinstance(produced[slot], str):
                    inputs[key] = produced[slot]
        mine = outputs.get(str(node_id))
        if node.get("class_type") in ENCODER_CLASSES and mine and len(mine) > 1 and isinstance(mine[1], str):
            inputs["text"] = mine[1]
        resolved[node_id] = {**node, "inputs": inputs}
    return resolved


def _overrides(prompt: dict[str, Any]) -> dict[str, Any]:
    """The values of the workflow's Metadata Overwrite nodes (widget values; links are not followed)."""
    from .utility_nodes import OVERWRITE_CLASS, collect_overrides

    found: dict[str, Any] = {}
    for node_id in sorted(prompt, key=str):
        node = prompt[node_id]
        if isinstance(node, dict) and node.get("class_type") == OVERWRITE_CLASS and isinstance(node.get("inputs"), dict):
            found.update(collect_overrides(node["inputs"]))
    return found


def _apply_overrides(generation: ParsedGeneration, overrides: dict[str, Any]) -> None:
    params = generation.gen_params
    for key in ("prompt", "negative_prompt", "seed", "steps", "cfg_scale", "sampler", "scheduler", "clip_skip"):
        if key in overrides:
            params[key] = overrides[key]
    size = overrides.get("size")
    if isinstance(size, str) and "x" in size.lower():
        width, _, height = size.lower().partition("x")
        if width.strip().isdigit() and height.strip().isdigit():
            params["width"], params["height"] = int(width), int(height)
    model = overrides.get("model")
    if isinstance(model, str) and model.strip():
        name = model.strip()
        generation.checkpoint = ResourceRef(kind="checkpoint", name=name,
                                            file_name=name.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0])
    if isinstance(overrides.get("loras"), str):
        from ..services.recipes.lora_syntax import parse_lora_syntax

        generation.loras = [ResourceRef(kind="lora", name=e.name, file_name=e.name, strength_model=e.model_strength,
                                        strength_clip=e.clip_strength) for e in parse_lora_syntax(overrides["loras"])]


def _unused(ref: ResourceRef) -> bool:
    """A LoRA at strength 0 for model and clip changes nothing and is left out of the metadata."""
    return ref.strength_model == 0 and not ref.strength_clip


def ensure_hashed(record: ModelRecord | None, *, timeout: float = HASH_WAIT_SECONDS) -> ModelRecord | None:
    """The record with its sha256: a checkpoint left pending by lazy hashing is hashed now (on the library's
    loop, in its worker threads; this execution thread waits), so ``Model hash`` can be written."""
    if record is None or record.sha256 or record.status != "ok":
        return record
    bound = runtime.current()
    service = bound.context.services.get(record.model_type) if bound is not None else None
    if service is None or not hasattr(service, "hash_pending"):
        return record
    future = runtime.submit(service.hash_pending(paths=[record.file_path]))
    if future is None:
        return record
    try:
        future.result(timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - metadata without the hash is better than no image
        logger.warning("Could not hash %s for its Model hash: %s", record.file_path, exc)
        return record
    index = getattr(service, "index", None)
    fresh = index.get(record.file_path) if index is not None else None
    return fresh or record


def generation_info(prompt: Any, node_id: Any = None, *, hash_checkpoint: bool = False) -> GenerationInfo:
    """Read the graph (never raises on odd graphs) and match its LoRAs and checkpoint to the library.

    Text made by this run's nodes replaces the links to them, Metadata Overwrite values win, LoRAs at
    strength 0 are left out; with ``hash_checkpoint`` a checkpoint without a hash is hashed first.
    """
    graph = prompt if isinstance(prompt, dict) else {}
    bound = runtime.current()
    graph = with_run_outputs(graph, bound.outputs.of(prompt) if bound is not None else {})
    generation = read_prompt_graph(graph, output_node=str(node_id) if node_id is not None else None)
    overrides = _overrides(graph)
    _apply_overrides(generation, overrides)
    lora_view = LibraryView.of(bound.context, "lora") if bound else None
    ckpt_view = LibraryView.of(bound.context, "checkpoint") if bound else None
    loras = []
    for ref in generation.loras:
        if _unused(ref):
            continue
        record = lora_view.find(ref.name) if lora_view else None
        loras.append(ResolvedLora(ref.name, ref.strength_model, ref.strength_clip, record))
    checkpoint = None
    if generation.checkpoint is not None and ckpt_view is not None:
        checkpoint = ckpt_view.find(generation.checkpoint.name)
        if hash_checkpoint:
            checkpoint = ensure_hashed(checkpoint)
    extra = overrides.get("additional_data")
    return GenerationInfo(generation, loras, checkpoint, extra.strip() if isinstance(extra, str) else "")


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
                 quality: int = 95, lossless_webp: bool = False, webp_method: int = 4,
                 jpeg_subsampling: int | None = None) -> bytes:
    """Image bytes with the metadata embedded: PNG text chunks, or EXIF (UserComment, Make/Model) for JPEG/WebP.

    ``webp_method`` (0 fast .. 6 small) and ``jpeg_subsampling`` (0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0; None = the
    encoder's default) tune the encoders."""
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
        options: dict[str, Any] = {} if jpeg_subsampling is None else {"subsampling": int(jpeg_subsampling)}
        img.convert("RGB").save(buffer, "JPEG", quality=quality, exif=data, **options)
    else:
        img.save(buffer, "WEBP", quality=quality, lossless=lossless_webp, exif=data, method=int(webp_method))
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
        options = SaveOptions(file_format=file_format, quality=quality, lossless_webp=lossless_webp,
                              embed_workflow=embed_workflow, embed_prompt=embed_workflow, add_counter=add_counter,
                              save_as_recipe=save_as_recipe)
        return self.save(images, filename_prefix, options, unique_id, prompt, extra_pnginfo)

    def save(self, images: Any, filename_prefix: str, options: "SaveOptions", unique_id: Any, prompt: Any,
             extra_pnginfo: Any) -> dict[str, Any]:
        """Write every image of the batch with its metadata; the node's ``ui`` answer lists the files."""
        options.check()
        file_format = options.file_format
        pictures = [image_to_pil(image) for image in _batch(images)]
        if not pictures:
            return {"ui": {"images": []}, "result": (images,)}
        info = generation_info(prompt, unique_id, hash_checkpoint=options.with_metadata)
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
        if options.embed_prompt and isinstance(prompt, dict):
            extra["prompt"] = prompt
        if options.embed_workflow and isinstance(extra_pnginfo, dict):
            extra.update({k: v for k, v in extra_pnginfo.items() if isinstance(k, str)})
        ext = FORMATS[file_format]
        counter = next_counter(folder, prefix) if options.add_counter else 0
        results = []
        recipe_ids: list[str] = []
        for offset, picture in enumerate(pictures):
            parameters = info.parameters((picture.width, picture.height), loras_in_prompt=options.loras_in_prompt)
            if options.add_counter:
                name = f"{prefix}_{counter + offset:05d}_{ext}"
            else:
                name = f"{prefix}{ext}" if len(pictures) == 1 else f"{prefix}_{offset + 1}{ext}"
            data = encode_image(picture, file_format, parameters if options.with_metadata else None, extra,
                                quality=int(options.quality), lossless_webp=bool(options.lossless_webp),
                                webp_method=options.webp_method, jpeg_subsampling=options.jpeg_subsampling)
            _write(folder / name, data)
            results.append({"filename": name, "subfolder": subfolder, "type": "output"})
            if options.save_as_recipe:
                recipe_ids.append(save_recipe(picture, info, parameters))
        logger.debug("Saved %d images (LoRA hashes known: %d)", len(results),
                     sum(1 for l in info.loras if lora_short_hash(l.record)))
        ui: dict[str, Any] = {"images": results}
        if recipe_ids:
            ui["recipes"] = recipe_ids
        return {"ui": ui, "result": (images,)}


def _batch(images: Any) -> list[Any]:
    """The images of an IMAGE value (a (batch, H, W, C) tensor, as ComfyUI passes it, or a list of images)."""
    return list(images)


@dataclass
class SaveOptions:
    """How one Save Image run writes its files (the widgets of either Save Image node)."""

    file_format: str = "png"
    quality: int = 95
    lossless_webp: bool = False
    webp_method: int = 4
    jpeg_subsampling: int | None = None
    embed_workflow: bool = True
    embed_prompt: bool = True
    with_metadata: bool = True
    loras_in_prompt: bool = True
    add_counter: bool = True
    save_as_recipe: bool = False

    def check(self) -> None:
        if self.file_format not in FORMATS:
            raise NodeInputError(f"Unknown file format '{self.file_format}'; choose one of {', '.join(FORMATS)}")
        if not 1 <= int(self.quality) <= 100:
            raise NodeInputError("Quality must be between 1 and 100")
        if not 0 <= int(self.webp_method) <= 6:
            raise NodeInputError("webp_method must be between 0 and 6")
        if self.jpeg_subsampling is not None and not 0 <= int(self.jpeg_subsampling) <= 2:
            raise NodeInputError("jpeg_subsampling must be 0, 1 or 2")


class SaveImageAnchor(SaveImageLM):
    """``Save Image (LoraManager)``: the same saver with ComfyUI-Lora-Manager's widgets and defaults (quality
    100, workflow not embedded, LoRA tags not appended to the prompt)."""

    CATEGORY = "Lora Manager/utils"
    DESCRIPTION = "Save images with embedded generation metadata in a format Civitai and A1111 read"
    FUNCTION = "process_image"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "images": ("IMAGE",),
                "filename_prefix": ("STRING", {"default": "ComfyUI", "tooltip": (
                    "Base file name; patterns like %seed%, %width%, %height%, %model%, %date:yyyy-MM-dd%")}),
                "file_format": (list(FORMATS), {"tooltip": "PNG keeps every pixel, JPEG is smallest, WebP between"}),
            },
            "optional": {
                "lossless_webp": ("BOOLEAN", {"default": False, "tooltip": "Lossless WebP (larger files)"}),
                "quality": ("INT", {"default": 100, "min": 1, "max": 100, "tooltip": "JPEG and lossy WebP quality"}),
                "webp_method": ("INT", {"default": 6, "min": 0, "max": 6,
                                        "tooltip": "WebP effort: 0 fastest/largest, 6 slowest/smallest"}),
                "jpeg_subsampling": ("INT", {"default": 0, "min": 0, "max": 2,
                                             "tooltip": "JPEG chroma subsampling: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0"}),
                "embed_workflow": ("BOOLEAN", {"default": False, "tooltip": "Store the workflow in the image "
                                                                            "(PNG and WebP)"}),
                "save_with_metadata": ("BOOLEAN", {"default": True, "tooltip": "Embed the generation parameters"}),
                "add_loras_to_prompt": ("BOOLEAN", {"default": False,
                                                    "tooltip": "Append <lora:name:strength> to the saved prompt"}),
                "add_counter_to_filename": ("BOOLEAN", {"default": True, "tooltip": "Append a counter so files "
                                                                                    "never overwrite"}),
                "save_as_recipe": ("BOOLEAN", {"default": False, "tooltip": "Also store each image as a recipe"}),
            },
            "hidden": {"id": "UNIQUE_ID", "prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    def process_image(self, images: Any, id: Any = None, filename_prefix: str = "ComfyUI", file_format: str = "png",
                      prompt: Any = None, extra_pnginfo: Any = None, lossless_webp: bool = False, quality: int = 100,
                      webp_method: int = 6, jpeg_subsampling: int = 0, embed_workflow: bool = False,
                      save_with_metadata: bool = True, add_counter_to_filename: bool = True,
                      save_as_recipe: bool = False, add_loras_to_prompt: bool = False) -> dict[str, Any]:
        options = SaveOptions(file_format=file_format, quality=quality, lossless_webp=lossless_webp,
                              webp_method=webp_method, jpeg_subsampling=jpeg_subsampling,
                              embed_workflow=embed_workflow, embed_prompt=embed_workflow,
                              with_metadata=save_with_metadata, loras_in_prompt=add_loras_to_prompt,
                              add_counter=add_counter_to_filename, save_as_recipe=save_as_recipe)
        return self.save(images, filename_prefix, options, id, prompt, extra_pnginfo)
