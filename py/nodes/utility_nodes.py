"""ComfyUI-Lora-Manager's utility nodes: TriggerWord Toggle, Lora Info, Debug Metadata, Metadata Overwrite.

The toggle keeps that project's saved state (``toggle_trigger_words`` rows with ``text``/``active``, groups with
``items``, optional ``(word:1.20)`` strengths) and its ``orinalMessage`` (the words the rows were built from,
spelled as that project spells it). Metadata Overwrite's values are read by Save Image from the prompt graph.
"""
from __future__ import annotations

import json
import logging
import os
import re
from typing import Any

from . import runtime
from .anchor_inputs import ANCHOR_CATEGORY, ANY, FlexibleInputs, unwrap_widget
from .resolve import NodeInputError
from .trigger_words import filter_trigger_words

logger = logging.getLogger(__name__)

__all__ = ["TriggerWordToggleAnchor", "LoraInfoAnchor", "DebugMetadataAnchor", "MetadataOverwriteAnchor",
           "toggle_output", "collect_overrides", "CLIP_SKIP_UNSET", "OVERWRITE_CLASS"]

UTILS = f"{ANCHOR_CATEGORY}/utils"
CLIP_SKIP_UNSET = -25
OVERWRITE_CLASS = "Metadata Overwrite (LoraManager)"
OVERWRITE_FIELDS = ("prompt", "negative_prompt", "seed", "steps", "cfg_scale", "sampler", "scheduler", "model", "loras",
                    "size", "clip_skip", "additional_data")
_STRENGTH = re.compile(r"^\((.+):([\d.]+)\)$")


def _words(text: Any) -> set[str]:
    if not isinstance(text, str):
        return set()
    return {w.strip() for group in re.split(r",{2,}", text) for w in group.split(",") if w.strip()}


def _item(row: Any, allow_strength: bool) -> tuple[str, bool, float | None]:
    if not isinstance(row, dict):
        return "", False, None
    text = str(row.get("text") or "").strip()
    strength = row.get("strength")
    match = _STRENGTH.match(text)
    if match:
        text = match.group(1).strip()
        if strength is None:
            try:
                strength = float(match.group(2))
            except ValueError:
                strength = None
    if not isinstance(strength, (int, float)) or isinstance(strength, bool):
        strength = None
    return text, bool(row.get("active", False)), (float(strength) if allow_strength and strength is not None else None)


def _spelled(text: str, strength: float | None) -> str:
    return f"({text}:{strength:.2f})" if strength is not None else text


def _rows(state: Any) -> list[Any] | None:
    state = unwrap_widget(state)
    if isinstance(state, str):
        if not state.strip():
            return None
        try:
            state = unwrap_widget(json.loads(state))
        except ValueError as exc:
            raise NodeInputError(f"Trigger word toggle state is not valid JSON: {exc}") from exc
    return state if isinstance(state, list) else None


def toggle_output(rows: list[Any], *, group_mode: bool, allow_strength: bool) -> str:
    """The active rows (and, in groups, their active items) joined with ", "."""
    out: list[str] = []
    for row in rows:
        text, active, strength = _item(row, allow_strength)
        if not text or not active:
            continue
        items = row.get("items") if group_mode and isinstance(row, dict) else None
        if isinstance(items, list):
            kept = [t for t, a, _ in (_item(i, False) for i in items) if t and a]
            if not kept:
                continue
            text = ", ".join(kept)
        out.append(_spelled(text, strength))
    return ", ".join(out)


class TriggerWordToggleAnchor:
    """``TriggerWord Toggle (LoraManager)``: passes on the trigger words left switched on."""

    CATEGORY = UTILS
    DESCRIPTION = "Toggle trigger words on/off"
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("filtered_trigger_words",)
    FUNCTION = "process_trigger_words"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "group_mode": ("BOOLEAN", {"default": True, "tooltip": "Treat each group of trigger words as one "
                                                                       "toggle"}),
                "default_active": ("BOOLEAN", {"default": True, "tooltip": "State of trigger words when they are "
                                                                           "added"}),
                "allow_strength_adjustment": ("BOOLEAN", {"default": False, "tooltip": "Adjust each word's strength "
                                                                                      "with the mouse wheel"}),
            },
            "optional": FlexibleInputs({"trigger_words": ("STRING", {"forceInput": True})}),
            "hidden": {"id": "UNIQUE_ID", "prompt": "PROMPT"},
        }

    def process_trigger_words(self, id: Any = None, group_mode: Any = True, default_active: Any = True,
                              allow_strength_adjustment: Any = False, prompt: Any = None, **kwargs: Any) -> tuple[str]:
        result = (self._filtered(group_mode, default_active, allow_strength_adjustment, kwargs),)
        runtime.remember_outputs(prompt, id, result)
        return result

    def _filtered(self, group_mode: Any, default_active: Any, allow_strength_adjustment: Any,
                  kwargs: dict[str, Any]) -> str:
        original = unwrap_widget(kwargs.get("orinalMessage"))
        original = original if isinstance(original, str) else ""
        incoming = unwrap_widget(kwargs.get("trigger_words"))
        rows = _rows(kwargs.get("toggle_trigger_words"))
        group_mode, allow = bool(group_mode), bool(allow_strength_adjustment)
        if isinstance(incoming, str) and incoming.strip() and _words(incoming) != _words(original):
            # The loader's words changed since the rows were built: rows still say what the user switched off.
            state = [{"text": _item(r, False)[0], "active": _item(r, False)[1]} for r in rows or []]
            return filter_trigger_words(incoming, state, group_mode=group_mode, default_active=bool(default_active))
        if rows is None:
            groups = re.split(r",{2,}", original) if group_mode else original.split(",")
            return ", ".join(g.strip() for g in groups if g.strip())
        return toggle_output(rows, group_mode=group_mode, allow_strength=allow)


class LoraInfoAnchor:
    """``Lora Info (LoraManager)``: a display node (its frontend shows a LoRA's file and notes); never runs."""

    CATEGORY = UTILS
    DESCRIPTION = "Shows the file name and notes of the LoRA selected in a connected loader; does not run."
    RETURN_TYPES = ()
    RETURN_NAMES = ()
    FUNCTION = "noop"
    OUTPUT_NODE = False

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {}, "optional": FlexibleInputs({"lora_source": (ANY,)})}

    def noop(self, **_: Any) -> tuple[()]:
        return ()


class DebugMetadataAnchor:
    """``Debug Metadata (LoraManager)``: shows what Save Image would record for this run."""

    CATEGORY = UTILS
    DESCRIPTION = "Show the generation metadata (prompt, sampler, seed, model, LoRAs) read from the running workflow."
    RETURN_TYPES = ()
    FUNCTION = "process_metadata"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"images": ("IMAGE",)}, "hidden": {"id": "UNIQUE_ID", "prompt": "PROMPT"}}

    def process_metadata(self, images: Any = None, id: Any = None, prompt: Any = None) -> dict[str, Any]:
        from .save_image import generation_info

        try:
            info = generation_info(prompt, id)
        except Exception as exc:  # noqa: BLE001 - a debugging aid must show the problem, not stop the run
            logger.warning("Debug Metadata could not read the workflow: %s", exc)
            return {"ui": {"metadata": [{"error": str(exc)}]}, "result": ()}
        return {"ui": {"metadata": [info.as_dict()]}, "result": ()}


def _model_name(value: Any) -> str | None:
    """A MODEL input's file name, from the loader ComfyUI recorded on the patcher (``cached_patcher_init``)."""
    init = getattr(value, "cached_patcher_init", None)
    if isinstance(init, tuple) and len(init) == 2 and isinstance(init[1], tuple) and init[1]:
        first = init[1][0]
        if isinstance(first, str) and first:
            return os.path.basename(first)
    return None


def _sampler_name(value: Any) -> str | None:
    function = getattr(value, "sampler_function", None)
    name = getattr(function, "__name__", "")
    return name.removeprefix("sample_") or None


def collect_overrides(values: dict[str, Any]) -> dict[str, Any]:
    """The values that overwrite the recorded ones: non-empty, non-zero; ``clip_skip`` unless -25 (unset)."""
    result: dict[str, Any] = {}
    for key in OVERWRITE_FIELDS:
        value = values.get(key)
        if key == "model" and value is not None and not isinstance(value, str):
            value = _model_name(value)
        elif key == "sampler" and value is not None and not isinstance(value, str):
            value = _sampler_name(value)
        if isinstance(value, (list, tuple)):
            continue  # a link ComfyUI did not resolve (only in a raw prompt graph)
        if key == "clip_skip":
            if value is not None and value != CLIP_SKIP_UNSET:
                result[key] = value
        elif value:
            result[key] = value
    return result


class MetadataOverwriteAnchor:
    """``Metadata Overwrite (LoraManager)``: generation values Save Image records instead of what it read."""

    CATEGORY = UTILS
    DESCRIPTION = "Set generation metadata by hand (prompt, seed, model, LoRAs...); empty fields change nothing."
    RETURN_TYPES = ("METADATA",)
    RETURN_NAMES = ("metadata",)
    FUNCTION = "collect_metadata"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        text = {"default": "", "multiline": True}
        return {"optional": {
            "prompt": ("STRING", {**text, "tooltip": "Positive prompt. Only overwrites when non-empty."}),
            "negative_prompt": ("STRING", {**text, "tooltip": "Negative prompt. Only overwrites when non-empty."}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF, "control_after_generate": False,
                             "tooltip": "Seed. Only overwrites when > 0."}),
            "steps": ("INT", {"default": 0, "min": 0, "max": 10000, "tooltip": "Steps. Only overwrites when > 0."}),
            "cfg_scale": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 100.0,
                                    "tooltip": "CFG scale. Only overwrites when > 0."}),
            "sampler": ("STRING,SAMPLER", {"default": "", "widgetType": "STRING",
                                           "tooltip": "Sampler name, or a connected SAMPLER."}),
            "scheduler": ("STRING", {"default": "", "tooltip": "Scheduler name. Only overwrites when non-empty."}),
            "model": ("STRING,MODEL", {"default": "", "widgetType": "STRING",
                                       "tooltip": "Checkpoint or diffusion model name, or a connected MODEL."}),
            "loras": ("STRING", {**text, "tooltip": "LoRAs as <lora:name:strength> ...; only overwrites when "
                                                    "non-empty."}),
            "size": ("STRING", {"default": "", "tooltip": "WIDTHxHEIGHT, e.g. 512x768."}),
            "clip_skip": ("INT", {"default": CLIP_SKIP_UNSET, "min": -25, "max": 24,
                                  "tooltip": "Clip skip; -25 means not set."}),
            "additional_data": ("STRING", {**text, "tooltip": "Extra text for the parameters line, e.g. "
                                                              "\"Copyright\": \"...\""}),
        }}

    def collect_metadata(self, **values: Any) -> tuple[dict[str, Any]]:
        return (collect_overrides(values),)
