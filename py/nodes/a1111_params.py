"""A1111 ``parameters`` text from what the prompt graph says and what the library knows.

Why here and pure: Civitai, A1111 and this project's importer read this exact text, so its fields are built in
one place and tested field by field against the project's own A1111 parser.
Layout: prompt (with ``<lora:...>`` tags, as A1111 writes them), ``Negative prompt: ...``, then one settings line
``Steps, Sampler, Schedule type, CFG scale, Seed, Size, Model hash, Model, Denoising strength, Clip skip,
Lora hashes, Version, Civitai resources``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ..library.records import ModelRecord
from ..services.recipes.lora_syntax import LoraSyntaxEntry, format_lora_syntax, format_strength
from ..services.recipes.parsers.model import ParsedGeneration

__all__ = ["ResolvedLora", "a1111_sampler", "format_parameters", "lora_short_hash", "model_short_hash"]

SAMPLERS = {
    "euler": "Euler", "euler_ancestral": "Euler a", "lms": "LMS", "heun": "Heun", "dpm_2": "DPM2",
    "dpm_2_ancestral": "DPM2 a", "dpmpp_2s_ancestral": "DPM++ 2S a", "dpmpp_2m": "DPM++ 2M",
    "dpmpp_sde": "DPM++ SDE", "dpmpp_sde_gpu": "DPM++ SDE", "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_2m_sde_gpu": "DPM++ 2M SDE", "dpmpp_3m_sde": "DPM++ 3M SDE", "dpmpp_3m_sde_gpu": "DPM++ 3M SDE",
    "dpm_fast": "DPM fast", "dpm_adaptive": "DPM adaptive", "ddim": "DDIM", "plms": "PLMS", "uni_pc": "UniPC",
    "uni_pc_bh2": "UniPC", "lcm": "LCM", "restart": "Restart", "heunpp2": "Heun++ 2",
}
SCHEDULERS = {"karras": "Karras", "exponential": "Exponential", "sgm_uniform": "SGM Uniform", "simple": "Simple",
              "ddim_uniform": "DDIM", "beta": "Beta", "kl_optimal": "KL Optimal", "linear_quadratic": "Linear Quadratic"}


@dataclass
class ResolvedLora:
    """A LoRA of the graph and, when the library knows it, its record."""

    name: str  # as the graph names it
    strength_model: float
    strength_clip: float | None
    record: ModelRecord | None = None

    @property
    def display_name(self) -> str:
        """A1111 names a LoRA by its file stem; ``:`` and ``,`` would break ``Lora hashes``."""
        stem = self.record.file_name if self.record else self.name.replace("\\", "/").rsplit("/", 1)[-1]
        for ext in (".safetensors", ".ckpt", ".pt", ".pth", ".bin"):
            if stem.lower().endswith(ext):
                stem = stem[: -len(ext)]
        return stem.replace(":", "").replace(",", "").replace("<", "").replace(">", "").strip() or "lora"


def lora_short_hash(record: ModelRecord | None) -> str:
    """A1111's LoRA hash: the first 12 hex of AutoV3 (tensor bytes), else AutoV2 (sha256[:10])."""
    if record is None:
        return ""
    if record.autov3:
        return record.autov3[:12].lower()
    return record.sha256[:10].lower()


def model_short_hash(record: ModelRecord | None) -> str:
    """A1111's ``Model hash``: AutoV2, the first 10 hex of the file's sha256."""
    return record.sha256[:10].lower() if record is not None and record.sha256 else ""


def a1111_sampler(sampler: Any, scheduler: Any) -> tuple[str, str]:
    """(Sampler, Schedule type) as A1111 names them; unknown names pass through, ``normal`` has no type."""
    name = SAMPLERS.get(sampler, sampler) if isinstance(sampler, str) else ""
    kind = ""
    if isinstance(scheduler, str) and scheduler not in ("", "normal"):
        kind = SCHEDULERS.get(scheduler, scheduler)
    return name, kind


def _quote(value: Any) -> str:
    """A1111 quotes a value holding ``,``, ``:`` or ``"`` as a JSON string."""
    text = _plain(value)
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ',:"\n') else text


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return format_strength(value) if math.isfinite(value) else "0"
    return str(value)


def _resources(loras: list[ResolvedLora], checkpoint: ModelRecord | None) -> list[dict[str, Any]]:
    """Civitai resources. LoRAs are listed only when every one has a Civitai version: a reader pairs
    resources with LoRAs by position when names differ, so a partial list would pair them wrongly (the
    ``Lora hashes`` identify them either way)."""
    resources: list[dict[str, Any]] = []
    if checkpoint is not None and checkpoint.civitai_version_id:
        resources.append({"type": "checkpoint", "modelVersionId": checkpoint.civitai_version_id,
                          "modelName": checkpoint.display_name, "modelVersionName": checkpoint.civitai_name})
    if loras and all(l.record is not None and l.record.civitai_version_id for l in loras):
        for lora in loras:
            record = lora.record
            assert record is not None
            resources.append({"type": "lora", "weight": lora.strength_model,
                              "modelVersionId": record.civitai_version_id, "modelName": record.display_name,
                              "modelVersionName": record.civitai_name})
    return resources


def format_parameters(generation: ParsedGeneration, loras: list[ResolvedLora], checkpoint: ModelRecord | None,
                      image_size: tuple[int, int] | None = None, *, loras_in_prompt: bool = True,
                      extra_fields: str = "") -> str:
    """The A1111 ``parameters`` text of one image.

    ``loras_in_prompt`` appends the ``<lora:...>`` tags to the prompt (as A1111 writes it; ComfyUI-Lora-Manager's
    Save Image leaves them out unless asked); ``extra_fields`` (``"Key": "value"`` text) goes after Clip skip.
    """
    params = generation.gen_params
    prompt = str(params.get("prompt") or "")
    tags = [format_lora_syntax(LoraSyntaxEntry(l.display_name, l.strength_model,
                                               l.strength_model if l.strength_clip is None else l.strength_clip,
                                               (0, 0))) for l in loras] if loras_in_prompt else []
    prompt = " ".join(part for part in [prompt.strip(), " ".join(tags)] if part)
    lines = [prompt]
    if "negative_prompt" in params:
        lines.append(f"Negative prompt: {params['negative_prompt']}".rstrip())
    fields: list[tuple[str | None, Any]] = []
    if "steps" in params:
        fields.append(("Steps", params["steps"]))
    sampler, schedule = a1111_sampler(params.get("sampler"), params.get("scheduler"))
    if sampler:
        fields.append(("Sampler", sampler))
    if schedule:
        fields.append(("Schedule type", schedule))
    if "cfg_scale" in params:
        fields.append(("CFG scale", float(params["cfg_scale"])))
    if "seed" in params:
        fields.append(("Seed", params["seed"]))
    if "width" in params and "height" in params:
        fields.append(("Size", f"{params['width']}x{params['height']}"))
    elif image_size:
        fields.append(("Size", f"{image_size[0]}x{image_size[1]}"))
    model_name = checkpoint.file_name if checkpoint is not None else (
        generation.checkpoint.file_name or generation.checkpoint.name if generation.checkpoint else "")
    if model_short_hash(checkpoint):
        fields.append(("Model hash", model_short_hash(checkpoint)))
    if model_name:
        fields.append(("Model", model_name))
    denoise = params.get("denoising_strength")
    if isinstance(denoise, (int, float)) and denoise != 1:
        fields.append(("Denoising strength", float(denoise)))
    clip_skip = params.get("clip_skip")
    if isinstance(clip_skip, int) and abs(clip_skip) > 1:
        fields.append(("Clip skip", abs(clip_skip)))
    if extra_fields:  # written as given, after Clip skip (as ComfyUI-Lora-Manager places it)
        fields.extend((None, line.strip().rstrip(",")) for line in extra_fields.splitlines() if line.strip())
    lora_hashes = [f"{l.display_name}: {lora_short_hash(l.record)}" for l in loras if lora_short_hash(l.record)]
    if lora_hashes:
        fields.append(("Lora hashes", ", ".join(lora_hashes)))
    fields.append(("Version", "ComfyUI"))
    line = ", ".join(f"{key}: {_quote(value)}" if key is not None else str(value) for key, value in fields)
    resources = _resources(loras, checkpoint)
    if resources:
        line += ", Civitai resources: " + json.dumps(resources, separators=(",", ":"), ensure_ascii=False)
    lines.append(line)
    return "\n".join(lines)
