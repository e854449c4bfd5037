"""LORA_STACK values and the LoRA Stacker node.

A LORA_STACK is the list convention ComfyUI node packs share: ``[(lora_name, model_strength, clip_strength),
...]`` with ``lora_name`` relative to the loras folder (extension included). Stackers chain: each appends its
own LoRAs to the stack it received, and a loader applies the whole stack before its own text.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from ..services.recipes.lora_syntax import format_lora_syntax, LoraSyntaxEntry, parse_lora_syntax
from .resolve import LibraryView, NodeInputError, relative_name

__all__ = ["LoraRequest", "MAX_STRENGTH", "requests_from_text", "requests_from_stack", "LoraStackerLM",
           "CATEGORY"]

CATEGORY = "LoRA Manager"
MAX_STRENGTH = 100.0  # the range of ComfyUI's own LoRA loader widgets


@dataclass(frozen=True)
class LoraRequest:
    """One LoRA asked for by a node input, before it is resolved against the library."""

    name: str
    model_strength: float
    clip_strength: float
    source: str  # "text" or "stack": where the request came from, for error messages


def check_strength(value: Any, what: str, name: str) -> float:
    """A LoRA strength as a finite number within ±MAX_STRENGTH, else a NodeInputError naming the LoRA."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NodeInputError(f"LoRA '{name}': {what} strength must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or abs(number) > MAX_STRENGTH:
        raise NodeInputError(f"LoRA '{name}': {what} strength {value} is outside -{MAX_STRENGTH:g}..{MAX_STRENGTH:g}")
    return number


def requests_from_text(text: Any) -> list[LoraRequest]:
    """Every ``<lora:...>`` tag of a node's text; other text is ignored, malformed tags are skipped."""
    if text is None:
        return []
    if not isinstance(text, str):
        raise NodeInputError(f"LoRA text must be a string, got {type(text).__name__}")
    return [
        LoraRequest(e.name, check_strength(e.model_strength, "model", e.name), check_strength(e.clip_strength, "clip", e.name),
                    "text")
        for e in parse_lora_syntax(text)
    ]


def requests_from_stack(stack: Any) -> list[LoraRequest]:
    """The entries of a LORA_STACK input (None or empty means no LoRAs)."""
    if stack is None:
        return []
    if not isinstance(stack, (list, tuple)):
        raise NodeInputError(f"LORA_STACK must be a list of (name, model_strength, clip_strength), got "
                             f"{type(stack).__name__}")
    requests: list[LoraRequest] = []
    for index, entry in enumerate(stack):
        if not isinstance(entry, (list, tuple)) or len(entry) not in (2, 3) or not isinstance(entry[0], str):
            raise NodeInputError(f"LORA_STACK entry {index + 1} is not (name, model_strength, clip_strength): "
                                 f"{entry!r}")
        name = entry[0].strip()
        if not name or name.lower() == "none":
            continue
        model = check_strength(entry[1], "model", name)
        clip = check_strength(entry[2], "clip", name) if len(entry) == 3 else model
        requests.append(LoraRequest(name, model, clip, "stack"))
    return requests


def syntax_name(view: LibraryView, record: Any) -> str:
    """The shortest name that resolves back to ``record``: the file name, or its folder path when needed."""
    if view.find(record.file_name) is record:
        return record.file_name
    return relative_name(record, extension=False)


def format_requests(view: LibraryView, resolved: Iterable[tuple[Any, float, float]]) -> str:
    """Normalised syntax of resolved LoRAs, one tag per LoRA, space separated."""
    return " ".join(
        format_lora_syntax(LoraSyntaxEntry(syntax_name(view, record), model, clip, (0, 0)))
        for record, model, clip in resolved
    )


class LoraStackerLM:
    """Builds a LORA_STACK from ``<lora:...>`` text, appended to an incoming stack (chainable)."""

    CATEGORY = CATEGORY
    DESCRIPTION = "Stack LoRAs by name (<lora:name:strength>) for a LoRA loader; chain stackers to combine stacks."
    RETURN_TYPES = ("LORA_STACK", "STRING", "STRING")
    RETURN_NAMES = ("lora_stack", "trigger_words", "active_loras")
    FUNCTION = "stack"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "lora_syntax": ("STRING", {"multiline": True, "default": "", "dynamicPrompts": False,
                                           "tooltip": "LoRAs as <lora:name:strength> or "
                                                      "<lora:name:model_strength:clip_strength>"}),
            },
            "optional": {"lora_stack": ("LORA_STACK", {"tooltip": "A stack to extend"})},
        }

    def stack(self, lora_syntax: str = "", lora_stack: Any = None) -> tuple[list[tuple[str, float, float]], str, str]:
        from .lora_loader import plan_loras
        from .trigger_words import join_trigger_groups

        plan = plan_loras(requests_from_stack(lora_stack) + requests_from_text(lora_syntax))
        stack = [(relative_name(p.record), p.model_strength, p.clip_strength) for p in plan.loras]
        return stack, join_trigger_groups(p.record.trigger_words for p in plan.loras), plan.syntax
