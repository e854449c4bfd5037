"""ComfyUI-Lora-Manager's LoRA nodes under their own type names, so its saved workflows open and run here.

Interfaces (input names, order, types, outputs, ``widgets_values`` layout) are that project's; the work is
done by this project's resolver and loader (``plan_loras``, ``apply_loras``): LoRAs are named as the library
names them, a missing one fails with an error naming it, and the ``LORAS`` widget rows are the truth (only
rows switched on are applied; the text widget is the frontend's editing surface).
"""
from __future__ import annotations

import logging
import os
from typing import Any

from . import runtime
from .anchor_inputs import (ANCHOR_CATEGORY, LORAS_INPUT, FlexibleInputs, NumberedInputs, anchor_syntax,
                            anchor_trigger_text, autocomplete_text, lora_entries, requests_from_entries)
from .lora_loader import LoraPlan, WeightCache, apply_loras, library_view, plan_loras
from .resolve import LibraryView, NodeInputError, relative_name
from .stacker import LoraRequest, requests_from_stack, requests_from_text
from .trigger_words import TriggerWordPusher
from .usage import checkpoint_name_upstream, record_node_usage

logger = logging.getLogger(__name__)

__all__ = ["LoraLoaderAnchor", "LoraTextLoaderAnchor", "LoraStackerAnchor", "LoraStackCombinerAnchor",
           "WanVideoLoraSelectAnchor", "WanVideoLoraTextSelectAnchor", "CreateHookLoraAnchor", "LoraSyntaxToPath",
           "missing_loras_message"]

LOADERS = f"{ANCHOR_CATEGORY}/loaders"
STACKERS = f"{ANCHOR_CATEGORY}/stackers"
HOOKS = f"{ANCHOR_CATEGORY}/hooks"
UTILS = f"{ANCHOR_CATEGORY}/utils"
TEXT_TOOLTIP = "Format: <lora:lora_name:strength> separated by spaces or punctuation"
SEARCH_PLACEHOLDER = "Search LoRAs to add..."


def _loras_text_input() -> tuple[str, dict[str, Any]]:
    return autocomplete_text("LORAS", SEARCH_PLACEHOLDER, TEXT_TOOLTIP)


def missing_loras_message(loras: Any) -> str | None:
    """Queue-time check (``VALIDATE_INPUTS``): the switched-on rows the library does not have, or None.

    Nothing is refused while the library is still loading or not attached: a check that cannot decide must
    never block a run (the node itself then fails with the precise error).
    """
    try:
        requests = requests_from_entries(lora_entries(loras))
    except NodeInputError as exc:
        return str(exc)
    if not requests:
        return None
    try:
        view = library_view()
    except NodeInputError:
        return None
    if view.loading or not view.records:
        return None
    missing = [r.name for r in requests if view.find(r.name) is None]
    return f"Missing LoRA(s) in local library: {', '.join(missing)}" if missing else None


def _validate(cls: type, loras: Any = None) -> bool | str:
    return missing_loras_message(loras) or True


def _plan_outputs(plan: LoraPlan) -> tuple[str, str]:
    """(trigger words, ``<lora:...>`` of what was applied): names as short as still unambiguous."""
    return anchor_trigger_text(p.record.trigger_words for p in plan.loras), plan.syntax


class _AnchorLoader:
    """Shared by the two loaders: weights kept between runs, trigger words pushed to linked toggles."""

    CATEGORY = LOADERS
    RETURN_TYPES = ("MODEL", "CLIP", "STRING", "STRING")
    RETURN_NAMES = ("MODEL", "CLIP", "trigger_words", "loaded_loras")

    def __init__(self) -> None:
        self.weights = WeightCache()
        self.pusher = TriggerWordPusher()

    def _load(self, model: Any, clip: Any, requests: list[LoraRequest], unique_id: Any,
              prompt: Any) -> tuple[Any, Any, str, str]:
        plan = plan_loras(requests, has_clip=clip is not None)
        model, clip = apply_loras(model, clip, plan, self.weights)
        words, syntax = _plan_outputs(plan)
        self.pusher.push(prompt, unique_id, words)
        record_node_usage([p.record for p in plan.loras], checkpoint_name_upstream(prompt, unique_id))
        runtime.remember_outputs(prompt, unique_id, (None, None, words, syntax))
        return model, clip, words, syntax


class LoraLoaderAnchor(_AnchorLoader):
    """``Lora Loader (LoraManager)``: the LoRAs of its rows (switched on) after an optional stack."""

    DESCRIPTION = "Apply the LoRAs listed in the widget (rows switched on), after an optional LORA_STACK."
    FUNCTION = "load_loras"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {"model": ("MODEL",), "text": _loras_text_input(), "loras": LORAS_INPUT},
            "optional": FlexibleInputs({"clip": ("CLIP",), "lora_stack": ("LORA_STACK",)}),
            "hidden": {"unique_id": "UNIQUE_ID", "prompt": "PROMPT"},
        }

    VALIDATE_INPUTS = classmethod(_validate)

    def load_loras(self, model: Any, text: str = "", loras: Any = None, clip: Any = None, lora_stack: Any = None,
                   unique_id: Any = None, prompt: Any = None, **_: Any) -> tuple[Any, Any, str, str]:
        requests = requests_from_stack(lora_stack) + requests_from_entries(lora_entries(loras))
        return self._load(model, clip, requests, unique_id, prompt)


class LoraTextLoaderAnchor(_AnchorLoader):
    """``LoRA Text Loader (LoraManager)``: LoRAs from a linked ``<lora:...>`` text."""

    DESCRIPTION = "Apply the LoRAs named in an incoming text (<lora:name:strength> syntax)."
    FUNCTION = "load_loras_from_text"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {"model": ("MODEL",), "lora_syntax": ("STRING", {"forceInput": True, "tooltip": TEXT_TOOLTIP})},
            "optional": {"clip": ("CLIP",), "lora_stack": ("LORA_STACK",)},
            "hidden": {"unique_id": "UNIQUE_ID", "prompt": "PROMPT"},
        }

    def load_loras_from_text(self, model: Any, lora_syntax: str = "", clip: Any = None, lora_stack: Any = None,
                             unique_id: Any = None, prompt: Any = None) -> tuple[Any, Any, str, str]:
        requests = requests_from_stack(lora_stack) + requests_from_text(lora_syntax)
        return self._load(model, clip, requests, unique_id, prompt)


def _stack_trigger_words(view: LibraryView | None, stack: Any) -> list[list[str]]:
    """Trigger words of the LoRAs an incoming stack names (entries the library does not know add none)."""
    if view is None:
        return []
    return [record.trigger_words for request in requests_from_stack(stack)
            if (record := view.find(request.name)) is not None]


class LoraStackerAnchor:
    """``Lora Stacker (LoraManager)``: appends its rows to an incoming LORA_STACK without loading anything."""

    CATEGORY = STACKERS
    DESCRIPTION = "Stack the LoRAs of the widget (rows switched on) onto an optional incoming LORA_STACK."
    RETURN_TYPES = ("LORA_STACK", "STRING", "STRING")
    RETURN_NAMES = ("LORA_STACK", "trigger_words", "active_loras")
    FUNCTION = "stack_loras"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {"text": _loras_text_input(), "loras": LORAS_INPUT},
            "optional": FlexibleInputs({"lora_stack": ("LORA_STACK",)}),
        }

    VALIDATE_INPUTS = classmethod(_validate)

    def stack_loras(self, text: str = "", loras: Any = None, lora_stack: Any = None,
                    **_: Any) -> tuple[list[tuple[str, float, float]], str, str]:
        own = requests_from_entries(lora_entries(loras))
        incoming = list(lora_stack or [])
        requests_from_stack(incoming)  # a malformed incoming stack fails here, clearly
        view = library_view() if own else _optional_view()
        plan = plan_loras(own, view) if own else LoraPlan()
        stack = incoming + [(relative_name(p.record).replace("/", os.sep), p.model_strength, p.clip_strength)
                            for p in plan.loras]
        words = anchor_trigger_text([*_stack_trigger_words(view, incoming), *(p.record.trigger_words for p in plan.loras)])
        return stack, words, plan.syntax


def _optional_view() -> LibraryView | None:
    try:
        return library_view()
    except NodeInputError:
        return None


_STACK_SLOT = r"lora_stack(?:_[ab]|\d+)"
_STACK_TOOLTIP = "A LoRA stack to combine. Connect to add more inputs."


def _stack_slot(name: str) -> int:
    """Order of the combiner's inputs: ``lora_stack1``, ``lora_stack2``...; the old ``_a``/``_b`` are 1 and 2."""
    tail = name[len("lora_stack"):]
    if tail in ("_a", "_b"):
        return 1 if tail == "_a" else 2
    return int(tail) if tail.isdigit() else 0


class LoraStackCombinerAnchor:
    """``Lora Stack Combiner (LoraManager)``: one LORA_STACK from many, in input order."""

    CATEGORY = STACKERS
    DESCRIPTION = "Combine LoRA stacks into one; connect a stack to add another input."
    RETURN_TYPES = ("LORA_STACK",)
    RETURN_NAMES = ("LORA_STACK",)
    FUNCTION = "combine_stacks"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        spec = ("LORA_STACK", {"tooltip": _STACK_TOOLTIP})
        return {"required": {}, "optional": NumberedInputs({"lora_stack1": spec, "lora_stack2": spec}, _STACK_SLOT, spec)}

    def combine_stacks(self, **stacks: Any) -> tuple[list[Any]]:
        combined: list[Any] = []
        for name in sorted((n for n in stacks if n.startswith("lora_stack")), key=_stack_slot):
            value = stacks[name]
            if value:
                requests_from_stack(value)  # refuse a value that is not a stack, naming the problem
                combined.extend(value)
        return (combined,)


def _wan_item(record: Any, strength: float, blocks: Any, low_mem_load: bool, merge_loras: bool) -> dict[str, Any]:
    """One WANVIDLORA entry as ComfyUI-WanVideoWrapper reads it."""
    blocks = blocks if isinstance(blocks, dict) else {}
    return {
        "path": record.file_path.replace("/", os.sep),
        "strength": strength,
        "name": relative_name(record, extension=False),
        "blocks": blocks.get("selected_blocks", {}),
        "layer_filter": blocks.get("layer_filter", ""),
        "low_mem_load": low_mem_load,
        "merge_loras": merge_loras,
    }


def _wan_select(requests: list[LoraRequest], prev_lora: Any, blocks: Any, low_mem_load: bool,
                merge_loras: bool) -> tuple[list[dict[str, Any]], str, str]:
    if prev_lora is not None and not isinstance(prev_lora, (list, tuple)):
        raise NodeInputError(f"prev_lora must be a WANVIDLORA list, got {type(prev_lora).__name__}")
    if not merge_loras:
        low_mem_load = False  # unmerged LoRAs are loaded on the fly: low_mem_load does not apply
    items = list(prev_lora or [])
    records = []
    active: list[tuple[str, float, float]] = []
    if requests:
        view = library_view()
        for request in requests:
            record = view.resolve(request.name)
            items.append(_wan_item(record, request.model_strength, blocks, bool(low_mem_load), bool(merge_loras)))
            records.append(record)
            active.append((request.name, request.model_strength, request.clip_strength))
    return items, anchor_trigger_text(r.trigger_words for r in records), anchor_syntax(active)


_WAN_LOW_MEM = ("BOOLEAN", {"default": False, "tooltip": "Load LoRA models with less VRAM, slower; affects all LoRAs. "
                                                         "No effect when merging is off"})
_WAN_MERGE = ("BOOLEAN", {"default": True, "tooltip": "Merge LoRAs into the model, otherwise they are applied on the "
                                                      "fly; affects all LoRAs"})


class WanVideoLoraSelectAnchor:
    """``WanVideo Lora Select (LoraManager)``: a WANVIDLORA list for ComfyUI-WanVideoWrapper from the rows."""

    CATEGORY = STACKERS
    DESCRIPTION = "LoRAs for ComfyUI-WanVideoWrapper (WANVIDLORA), with their trigger words."
    RETURN_TYPES = ("WANVIDLORA", "STRING", "STRING")
    RETURN_NAMES = ("lora", "trigger_words", "active_loras")
    FUNCTION = "process_loras"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {"low_mem_load": _WAN_LOW_MEM, "merge_loras": _WAN_MERGE, "text": _loras_text_input(),
                         "loras": LORAS_INPUT},
            "optional": FlexibleInputs({"prev_lora": ("WANVIDLORA",), "blocks": ("SELECTEDBLOCKS",)}),
        }

    VALIDATE_INPUTS = classmethod(_validate)

    def process_loras(self, text: str = "", loras: Any = None, low_mem_load: bool = False, merge_loras: bool = True,
                      prev_lora: Any = None, blocks: Any = None, **_: Any) -> tuple[list[dict[str, Any]], str, str]:
        return _wan_select(requests_from_entries(lora_entries(loras)), prev_lora, blocks, low_mem_load, merge_loras)


class WanVideoLoraTextSelectAnchor:
    """``WanVideo Lora Select From Text (LoraManager)``: the same from a linked ``<lora:...>`` text."""

    CATEGORY = STACKERS
    DESCRIPTION = "LoRAs for ComfyUI-WanVideoWrapper (WANVIDLORA) from <lora:name:strength> text."
    RETURN_TYPES = ("WANVIDLORA", "STRING", "STRING")
    RETURN_NAMES = ("lora", "trigger_words", "active_loras")
    FUNCTION = "process_loras_from_syntax"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "low_mem_load": _WAN_LOW_MEM,
                "merge_lora": _WAN_MERGE,
                "lora_syntax": ("STRING", {"multiline": True, "forceInput": True,
                                           "tooltip": "Connect a text holding <lora:name:strength>"}),
            },
            "optional": {"prev_lora": ("WANVIDLORA",), "blocks": ("BLOCKS",)},
        }

    def process_loras_from_syntax(self, lora_syntax: str = "", low_mem_load: bool = False, merge_lora: bool = True,
                                  prev_lora: Any = None, blocks: Any = None) -> tuple[list[dict[str, Any]], str, str]:
        return _wan_select(requests_from_text(lora_syntax), prev_lora, blocks, low_mem_load, merge_lora)


class CreateHookLoraAnchor:
    """``Create Hook LoRA (LoraManager)``: ComfyUI ``HOOKS`` applying the rows' LoRAs, chained after ``prev_hooks``."""

    CATEGORY = HOOKS
    DESCRIPTION = "Hook LoRAs (ComfyUI HOOKS) from the widget's rows, chained with prev_hooks."
    RETURN_TYPES = ("HOOKS", "STRING", "STRING")
    RETURN_NAMES = ("HOOKS", "trigger_words", "active_loras")
    FUNCTION = "create_hook"

    def __init__(self) -> None:
        self.weights = WeightCache()

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        text = autocomplete_text("LORAS", SEARCH_PLACEHOLDER, "Search and select LoRAs; each has its own model and "
                                                                "clip strength. Hooks chain with prev_hooks.")
        return {"required": {"text": text, "loras": LORAS_INPUT}, "optional": FlexibleInputs({"prev_hooks": ("HOOKS",)})}

    VALIDATE_INPUTS = classmethod(_validate)

    def create_hook(self, text: str = "", loras: Any = None, prev_hooks: Any = None, **_: Any) -> tuple[Any, str, str]:
        import comfy.hooks  # type: ignore[import-not-found]
        import comfy.utils  # type: ignore[import-not-found]

        group = prev_hooks.clone() if prev_hooks is not None else comfy.hooks.HookGroup()
        plan = plan_loras(requests_from_entries(lora_entries(loras)))

        def load(path: str) -> Any:
            return comfy.utils.load_torch_file(path, safe_load=True)

        for planned in plan.loras:
            hooks = comfy.hooks.create_hook_lora(lora=self.weights.get(planned.path, load),
                                                 strength_model=planned.model_strength,
                                                 strength_clip=planned.clip_strength)
            group = group.clone_and_combine(hooks)
        self.weights.keep_only({p.path for p in plan.loras})
        words, syntax = _plan_outputs(plan)
        return group, words, syntax


class LoraSyntaxToPath:
    """``LoRA Syntax → Path (LoraManager)``: the absolute file of every LoRA a ``<lora:...>`` text names."""

    CATEGORY = UTILS
    DESCRIPTION = "One absolute LoRA path per line for the <lora:...> tags of a text (loaded_loras / active_loras)."
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("paths",)
    FUNCTION = "resolve"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"lora_syntax": ("STRING", {"forceInput": True, "multiline": True,
                                                        "tooltip": "<lora:name:strength> text from loaded_loras / "
                                                                   "active_loras"})}}

    def resolve(self, lora_syntax: str = "") -> tuple[str]:
        requests = requests_from_text(lora_syntax)
        if not requests:
            return ("",)
        view = library_view()
        paths = dict.fromkeys(view.resolve(r.name).file_path.replace("/", os.sep) for r in requests)
        return ("\n".join(paths),)

