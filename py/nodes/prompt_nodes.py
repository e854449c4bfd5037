"""``Prompt (LoraManager)`` and ``Text (LoraManager)``: text with wildcards, trigger words prepended.

Why the trigger inputs are numbered: that project's frontend adds ``trigger_words2``, ``trigger_words3`` ...
as each one is connected; the backend accepts any of them (and the unnumbered ``trigger_words`` of old
workflows). The encode step is what ComfyUI's CLIPTextEncode does (``clip.tokenize`` then
``encode_from_tokens_scheduled``), called on the CLIP object itself so no ComfyUI module is imported here.
"""
from __future__ import annotations

import re
from typing import Any

from . import runtime
from .anchor_inputs import ANCHOR_CATEGORY, NumberedInputs, autocomplete_text
from .resolve import NodeInputError
from .wildcards import WildcardSet, contains_dynamic_syntax, wildcard_folders

__all__ = ["PromptAnchor", "TextAnchor", "encode_text", "trigger_inputs"]

_TRIGGER = r"trigger_words\d*"
_TRIGGER_NUMBER = re.compile(r"trigger_words(\d*)")
_SEED = ("INT", {"forceInput": True, "tooltip": "Seed for wildcard expansion; unconnected means a new pick per run"})
_TRIGGER_SPEC = ("STRING", {"forceInput": True, "tooltip": "Trigger words to prepend. Connect to add more inputs."})


def encode_text(clip: Any, text: str) -> Any:
    """CONDITIONING for ``text``, as ComfyUI's CLIPTextEncode builds it."""
    if clip is None:
        raise NodeInputError("Prompt needs a CLIP input: connect the CLIP output of a checkpoint or LoRA loader")
    tokens = clip.tokenize(text)
    if hasattr(clip, "encode_from_tokens_scheduled"):
        return clip.encode_from_tokens_scheduled(tokens)
    cond, pooled = clip.encode_from_tokens(tokens, return_pooled=True)  # ComfyUI before scheduled encoding
    return [[cond, {"pooled_output": pooled}]]


def trigger_inputs(kwargs: dict[str, Any]) -> list[str]:
    """The non-empty trigger-word inputs in slot order (``trigger_words`` first, then 1, 2 ...)."""
    found: list[tuple[int, str]] = []
    for name, value in kwargs.items():
        match = _TRIGGER_NUMBER.fullmatch(name)
        if match and isinstance(value, str) and value.strip():
            found.append((int(match.group(1) or 0), value.strip()))
    return [value for _, value in sorted(found)]


class _WildcardNode:
    def __init__(self) -> None:
        self._wildcards: WildcardSet | None = None

    def wildcards(self) -> WildcardSet:
        bound = runtime.current()
        folders = wildcard_folders(bound.context if bound is not None else None)
        if self._wildcards is None or self._wildcards.folders != folders:
            self._wildcards = WildcardSet(folders)
        return self._wildcards


class PromptAnchor(_WildcardNode):
    """Encodes text (trigger words first) with a CLIP model; wildcards expand at run time."""

    CATEGORY = f"{ANCHOR_CATEGORY}/conditioning"
    DESCRIPTION = ("Encode a prompt with a CLIP model; connected trigger words are prepended and wildcards "
                   "(__name__, {a|b}) expand at run time.")
    RETURN_TYPES = ("CONDITIONING", "STRING")
    RETURN_NAMES = ("CONDITIONING", "PROMPT")
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "text": autocomplete_text("PROMPT", "Enter prompt... /character, /artist, /wildcard for quick search",
                                          "The text to encode; wildcards expand at run time."),
                "clip": ("CLIP", {"tooltip": "The CLIP model used for encoding the text."}),
            },
            "optional": NumberedInputs({"seed": _SEED, "trigger_words1": _TRIGGER_SPEC}, _TRIGGER, _TRIGGER_SPEC),
            "hidden": {"unique_id": "UNIQUE_ID", "prompt": "PROMPT"},
        }

    @classmethod
    def IS_CHANGED(cls, text: str = "", clip: Any = None, seed: int | None = None, **_: Any) -> Any:
        return float("nan") if contains_dynamic_syntax(text) and seed is None else False

    def encode(self, text: str = "", clip: Any = None, seed: int | None = None, unique_id: Any = None,
               prompt: Any = None, **kwargs: Any) -> tuple[Any, str]:
        if not isinstance(text, str):
            raise NodeInputError(f"Prompt text must be a string, got {type(text).__name__}")
        expanded = self.wildcards().expand(text, seed)
        triggers = trigger_inputs(kwargs)
        encoded = ", ".join([*triggers, expanded]) if triggers else expanded
        conditioning = encode_text(clip, encoded)
        runtime.remember_outputs(prompt, unique_id, (None, encoded))
        return conditioning, encoded


class TextAnchor(_WildcardNode):
    """A text value; wildcards expand at run time."""

    CATEGORY = f"{ANCHOR_CATEGORY}/utils"
    DESCRIPTION = "A text value with wildcard expansion (__name__, {a|b})."
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("STRING",)
    FUNCTION = "process"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {"text": autocomplete_text("PROMPT", "Enter text... /character, /artist, /wildcard for quick "
                                                            "search", "The text output; wildcards expand at run time.")},
            "optional": {"seed": _SEED},
            "hidden": {"unique_id": "UNIQUE_ID", "prompt": "PROMPT"},
        }

    @classmethod
    def IS_CHANGED(cls, text: str = "", seed: int | None = None, **_: Any) -> Any:
        return float("nan") if contains_dynamic_syntax(text) and seed is None else False

    def process(self, text: str = "", seed: int | None = None, unique_id: Any = None,
                prompt: Any = None) -> tuple[str]:
        if not isinstance(text, str):
            raise NodeInputError(f"Text must be a string, got {type(text).__name__}")
        result = (self.wildcards().expand(text, seed),)
        runtime.remember_outputs(prompt, unique_id, result)
        return result
