"""LoRA Loader and LoRA Text Loader: apply LoRAs named in ``<lora:...>`` syntax through ComfyUI's loaders.

Strength rules (one place, shared by every LoRA node):
- ``<lora:name:s>`` applies ``s`` to model and clip; ``<lora:name:m:c>`` applies ``m`` and ``c``;
- a LoRA whose model and clip strengths are both 0 (or model 0 with no CLIP input) is skipped entirely;
- the stack input is applied first, then the node's own text; naming the same file again replaces the earlier
  strengths (the entry keeps its first position), so the text can override a stacked strength;
- strengths outside -100..100 are refused.
``comfy`` modules are imported inside the functions that apply weights, so importing this module never needs
ComfyUI.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable

from ..library.records import ModelRecord
from . import runtime
from .resolve import LibraryView, NodeInputError
from .stacker import CATEGORY, LoraRequest, format_requests, requests_from_stack, requests_from_text
from .trigger_words import TriggerWordPusher, join_trigger_groups
from .usage import checkpoint_name_upstream, record_node_usage

logger = logging.getLogger(__name__)

__all__ = ["PlannedLora", "LoraPlan", "plan_loras", "WeightCache", "apply_loras", "LoraLoaderLM",
           "LoraTextLoaderLM"]


@dataclass(frozen=True)
class PlannedLora:
    record: ModelRecord
    model_strength: float
    clip_strength: float

    @property
    def path(self) -> str:
        return self.record.file_path


@dataclass
class LoraPlan:
    """The LoRAs to apply, in order, with the normalised syntax and trigger words they stand for."""

    loras: list[PlannedLora] = field(default_factory=list)
    syntax: str = ""

    @property
    def trigger_words(self) -> str:
        return join_trigger_groups(p.record.trigger_words for p in self.loras)


def library_view(model_type: str = "lora") -> LibraryView:
    bound = runtime.current()
    if bound is None:
        raise NodeInputError("The LoRA Manager library is not running, so LoRA names cannot be resolved")
    return LibraryView.of(bound.context, model_type)


def plan_loras(requests: list[LoraRequest], view: LibraryView | None = None, *, has_clip: bool = True) -> LoraPlan:
    """Resolve every request against the library and apply the strength rules (see the module docstring)."""
    if not requests:
        return LoraPlan()
    view = view or library_view()
    order: list[str] = []
    chosen: dict[str, PlannedLora] = {}
    for request in requests:
        record = view.resolve(request.name)
        if record.file_path not in chosen:
            order.append(record.file_path)
        chosen[record.file_path] = PlannedLora(record, request.model_strength, request.clip_strength)
    loras = []
    for path in order:
        planned = chosen[path]
        clip = planned.clip_strength if has_clip else 0.0
        if planned.model_strength == 0 and clip == 0:
            continue
        loras.append(planned)  # without CLIP the clip strength is kept for the syntax, applied as 0
    syntax = format_requests(view, [(p.record, p.model_strength, p.clip_strength) for p in loras])
    return LoraPlan(loras, syntax)


class WeightCache:
    """LoRA weights loaded by one node, kept between runs while the file is unchanged.

    Why per node and trimmed after each run: ComfyUI keeps node instances alive between prompts, so a re-run
    with the same LoRAs reads nothing from disk, while LoRAs no longer used are released at once.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple[int, int], Any]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, path: str, load: Callable[[str], Any]) -> Any:
        try:
            st = os.stat(path)
        except OSError as exc:
            raise NodeInputError(f"LoRA file cannot be read: {path} ({exc.strerror or exc})") from exc
        stamp = (st.st_size, st.st_mtime_ns)
        cached = self._entries.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        weights = load(path)
        self._entries[path] = (stamp, weights)
        return weights

    def keep_only(self, paths: set[str]) -> None:
        for path in [p for p in self._entries if p not in paths]:
            del self._entries[path]


def apply_loras(model: Any, clip: Any, plan: LoraPlan, cache: WeightCache) -> tuple[Any, Any]:
    """Apply the plan in order with ``comfy.sd.load_lora_for_models``; weights via ``comfy.utils.load_torch_file``."""
    if not plan.loras:
        cache.keep_only(set())
        return model, clip
    import comfy.sd  # type: ignore[import-not-found]
    import comfy.utils  # type: ignore[import-not-found]

    def load(path: str) -> Any:
        return comfy.utils.load_torch_file(path, safe_load=True)

    for planned in plan.loras:
        weights = cache.get(planned.path, load)
        model, clip = comfy.sd.load_lora_for_models(
            model, clip, weights, planned.model_strength, planned.clip_strength if clip is not None else 0.0)
    cache.keep_only({p.path for p in plan.loras})
    return model, clip


class _LoaderBase:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("MODEL", "CLIP", "STRING", "STRING")
    RETURN_NAMES = ("MODEL", "CLIP", "trigger_words", "loaded_loras")
    FUNCTION = "load_loras"

    def __init__(self) -> None:
        self.weights = WeightCache()
        self.pusher = TriggerWordPusher()

    def _run(self, model: Any, clip: Any, text: Any, lora_stack: Any, unique_id: Any,
             prompt: Any) -> tuple[Any, Any, str, str]:
        requests = requests_from_stack(lora_stack) + requests_from_text(text)
        plan = plan_loras(requests, has_clip=clip is not None)
        model, clip = apply_loras(model, clip, plan, self.weights)
        words = plan.trigger_words
        self.pusher.push(prompt, unique_id, words)
        record_node_usage([p.record for p in plan.loras], checkpoint_name_upstream(prompt, unique_id))
        runtime.remember_outputs(prompt, unique_id, (None, None, words, plan.syntax))
        return model, clip, words, plan.syntax


class LoraLoaderLM(_LoaderBase):
    """LoRA Loader: LoRAs by library name, with their trigger words."""

    DESCRIPTION = ("Apply LoRAs written as <lora:name:strength> or <lora:name:model_strength:clip_strength>; "
                   "names are library file names, folder paths or model names.")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model": ("MODEL",),
                "text": ("STRING", {"multiline": True, "default": "", "dynamicPrompts": False,
                                    "tooltip": "LoRAs as <lora:name:strength> or "
                                               "<lora:name:model_strength:clip_strength>"}),
            },
            "optional": {
                "clip": ("CLIP",),
                "lora_stack": ("LORA_STACK", {"tooltip": "Applied before the LoRAs of the text"}),
            },
            "hidden": {"unique_id": "UNIQUE_ID", "prompt": "PROMPT"},
        }

    def load_loras(self, model: Any, text: str = "", clip: Any = None, lora_stack: Any = None,
                   unique_id: Any = None, prompt: Any = None) -> tuple[Any, Any, str, str]:
        return self._run(model, clip, text, lora_stack, unique_id, prompt)


class LoraTextLoaderLM(_LoaderBase):
    """LoRA Text Loader: the same loader, fed by a STRING input instead of a widget."""

    DESCRIPTION = "Apply the LoRAs named in an incoming text (<lora:name:strength> syntax)."

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model": ("MODEL",),
                "lora_syntax": ("STRING", {"forceInput": True, "tooltip": "Text holding <lora:...> tags"}),
            },
            "optional": {
                "clip": ("CLIP",),
                "lora_stack": ("LORA_STACK", {"tooltip": "Applied before the LoRAs of the text"}),
            },
            "hidden": {"unique_id": "UNIQUE_ID", "prompt": "PROMPT"},
        }

    def load_loras(self, model: Any, lora_syntax: str = "", clip: Any = None, lora_stack: Any = None,
                   unique_id: Any = None, prompt: Any = None) -> tuple[Any, Any, str, str]:
        return self._run(model, clip, lora_syntax, lora_stack, unique_id, prompt)
