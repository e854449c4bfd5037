"""An existing ComfyUI-Lora-Manager install on disk, built in its formats: model folders (primary, extra and
``unet`` folders), sidecars with every field of its metadata schema (py/utils/models.py: BaseModelMetadata and
its Lora/Checkpoint/Embedding subclasses), a ``.civitai.info``-only model, previews of each kind, recipes in
``<first LoRA root>/recipes``, and its settings file in the current shape."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lora_manager.py.app import build_app
from lora_manager.py.library.safetensors import write_safetensors_header
from lora_manager.py.standalone_server import Options, prepare_context
from support.fixtures import wait_idle
from support.library import lora_tensors, write_image
from support.recipes import write_recipe


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def anchor_sidecar(model: Path, *, sub_type: str | None = None, **fields: Any) -> dict[str, Any]:
    """Every field that project writes for a model, with its values as it stores them."""
    stem = model.stem
    data: dict[str, Any] = {
        "file_name": stem,
        "model_name": stem.replace("_", " ").title(),
        "file_path": model.as_posix(),
        "size": model.stat().st_size,
        "modified": 1700000000.5,
        "sha256": sha256_of(model),
        "base_model": "SDXL 1.0",
        "preview_url": "",
        "preview_nsfw_level": 1,
        "notes": f"my notes on {stem}",
        "from_civitai": True,
        "civitai": {
            "id": 2000 + len(stem), "modelId": 200 + len(stem), "name": "v2.0", "baseModel": "SDXL 1.0",
            "trainedWords": [f"{stem}_trigger", "masterpiece"], "description": "<p>version notes</p>",
            "model": {"name": stem.title(), "type": "LORA", "tags": ["style", "anime"], "nsfw": False,
                      "description": "<p>model description</p>"},
            "creator": {"username": "some_artist", "image": None},
            "files": [{"name": model.name, "type": "Model", "primary": True,
                       "hashes": {"SHA256": sha256_of(model).upper(), "AutoV3": "ABCDEF012345"}}],
            "images": [{"url": "https://image.civitai.com/x/1.jpeg", "nsfwLevel": 1, "width": 512, "height": 768,
                        "type": "image"}],
        },
        "tags": ["style", "anime", "favourite-artist"],
        "modelDescription": "<p>model description</p>",
        "civitai_deleted": False,
        "favorite": True,
        "exclude": False,
        "db_checked": True,
        "skip_metadata_refresh": False,
        "metadata_source": "civitai_api",
        "last_checked_at": 1700000300.25,
        "hash_status": "completed",
        "autov3": "abcdef012345",
        "trainedWords": [],
        "some_future_field": {"kept": [1, 2, 3]},
    }
    if sub_type is None:
        data["usage_tips"] = json.dumps({"strength_min": 0.4, "strength_max": 0.9, "strength": 0.7, "clip_strength": 1})
    else:
        data["sub_type"] = sub_type
        data["civitai"]["model"]["type"] = {"embedding": "TextualInversion"}.get(sub_type, "Checkpoint")
    data.update(fields)
    return data


def write_model(path: Path, *, family: str = "sdxl", preview: str | None = ".preview.png",
                sidecar: bool = True, **fields: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors_header(path, lora_tensors(family), {"ss_output_name": path.stem})
    if preview:
        preview_path = path.with_name(path.stem + preview)
        write_image(preview_path)
        fields.setdefault("preview_url", preview_path.as_posix())
    if sidecar:
        body = anchor_sidecar(path, **fields)
        path.with_name(path.stem + ".metadata.json").write_text(json.dumps(body, indent=2, ensure_ascii=False),
                                                               encoding="utf-8")
    return path


def civitai_info(model: Path) -> dict[str, Any]:
    """A ``.civitai.info`` as the Civitai Helper extension (and older installs of that project) leave it."""
    return {"id": 3100, "modelId": 310, "name": "v1", "baseModel": "SD 1.5", "trainedWords": ["info_trigger"],
            "model": {"name": "Info Only", "type": "LORA", "tags": ["concept"]},
            "creator": {"username": "info_author"},
            "files": [{"name": model.name, "type": "Model", "primary": True,
                       "hashes": {"SHA256": sha256_of(model).upper()}}],
            "images": []}


@dataclass
class AnchorInstall:
    """Where everything is; ``settings`` is its settings document (also written to ``settings_path``)."""

    tmp: Path
    comfy_loras: Path
    nas_loras: Path
    checkpoints: Path
    diffusion_models: Path
    embeddings: Path
    settings_path: Path
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def recipes(self) -> Path:
        """Its default recipes folder: ``recipes`` in the alphabetically first of its LoRA folders."""
        return self.comfy_loras / "recipes"

    def files(self) -> list[Path]:
        roots = [self.comfy_loras, self.nas_loras, self.checkpoints, self.diffusion_models, self.embeddings]
        return sorted(p for root in roots for p in root.rglob("*") if p.is_file()) + [self.settings_path]

    def fingerprint(self) -> dict[str, tuple[str, int]]:
        """Every file's bytes (sha256) and mtime: anything rewritten, added or removed shows."""
        return {str(p): (sha256_of(p), p.stat().st_mtime_ns) for p in self.files()}


def build_anchor_install(tmp: Path, *, config_dir: Path | None = None) -> AnchorInstall:
    comfy = tmp / "ComfyUI" / "models"
    install = AnchorInstall(tmp=tmp, comfy_loras=comfy / "loras", nas_loras=tmp / "nas" / "loras",
                            checkpoints=comfy / "checkpoints", diffusion_models=comfy / "diffusion_models",
                            embeddings=comfy / "embeddings",
                            settings_path=(config_dir or tmp / "anchor-config") / "settings.json")
    write_model(install.comfy_loras / "styles" / "ink_wash.safetensors", preview=".preview.png")
    write_model(install.comfy_loras / "characters" / "knight.safetensors", preview=".webp", favorite=False,
                notes="", tags=["character"], preview_nsfw_level=4)
    write_model(install.comfy_loras / "motion.safetensors", preview=".preview.mp4", exclude=False)
    write_model(install.nas_loras / "watercolor.safetensors", preview=".preview.jpeg",
                notes="kept on the NAS", base_model="Illustrious")
    info_only = write_model(install.nas_loras / "info_only.safetensors", preview=".png", sidecar=False)
    info_only.with_name("info_only.civitai.info").write_text(json.dumps(civitai_info(info_only)), encoding="utf-8")
    write_model(install.checkpoints / "dream.safetensors", sub_type="checkpoint", preview=".preview.png")
    write_model(install.diffusion_models / "flux_dev.safetensors", family="flux", sub_type="diffusion_model",
                preview=".preview.webp", base_model="Flux.1 D")
    write_model(install.embeddings / "easy_negative.safetensors", family="sd15", sub_type="embedding", preview=None,
                base_model="SD 1.5")
    write_recipe(install.recipes, "rcp-1", title="Ink sunset", tags=["sunset", "ink"], favorite=True,
                 loras=[{"file_name": "ink_wash", "hash": sha256_of(install.comfy_loras / "styles" / "ink_wash.safetensors"),
                         "strength": 0.6, "modelVersionId": 2008, "modelName": "Ink Wash", "modelVersionName": "v2.0",
                         "isDeleted": False, "exclude": False}])
    write_recipe(install.recipes / "portraits", "rcp-2", title="Knight portrait", tags=["portrait"])

    library = {
        "folder_paths": {"loras": [str(install.comfy_loras)], "checkpoints": [str(install.checkpoints)],
                         "unet": [str(install.diffusion_models)], "embeddings": [str(install.embeddings)]},
        "extra_folder_paths": {"loras": [str(install.nas_loras)]},
        "default_lora_root": str(install.comfy_loras), "default_checkpoint_root": str(install.checkpoints),
        "default_unet_root": str(install.diffusion_models), "default_embedding_root": str(install.embeddings),
        "recipes_path": "", "metadata": {"display_name": "ComfyUI", "source": "comfyui"},
        "created_at": "2025-01-01T00:00:00+00:00", "updated_at": "2025-03-01T00:00:00+00:00",
    }
    install.settings = {
        "civitai_api_key": "anchor-key-1234567890", "language": "en",
        "libraries": {"comfyui": library}, "active_library": "comfyui",
        **{key: library[key] for key in ("folder_paths", "extra_folder_paths", "default_lora_root",
                                         "default_checkpoint_root", "default_unet_root", "default_embedding_root",
                                         "recipes_path")},
        "model_name_display": "model_name", "show_only_sfw": False, "blur_mature_content": True,
        "civitai_host": "civitai.com", "priority_tags": {"lora": "character, style"}, "onboarding_completed": True,
        "proxy_enabled": False, "proxy_host": "", "proxy_port": "", "proxy_password": "hunter2-proxy",
        "llm_api_key": "sk-llm-0123456789", "use_portable_settings": False,
    }
    install.settings_path.parent.mkdir(parents=True, exist_ok=True)
    install.settings_path.write_text(json.dumps(install.settings, indent=2), encoding="utf-8")
    os.utime(install.settings_path, ns=(1700000000_000_000_000, 1700000000_000_000_000))
    return install


async def serve_options(options: Options, aiohttp_client: Any) -> Any:
    """The standalone server's context for ``options``, served by the test client once scans and the recipe
    index are done."""
    context = await asyncio.to_thread(prepare_context, options)
    client = await aiohttp_client(build_app(context))
    await wait_idle(context)
    await context.components["recipes"].wait_ready()
    client.lm_context = context
    return client
