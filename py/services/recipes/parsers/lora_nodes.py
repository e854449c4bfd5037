"""The LoRAs one node of an API-format prompt applies, for the loader nodes of ComfyUI and popular packs.

Why one table: a LoRA can be applied by a core loader, a pack's loader or stacker (rgthree, Efficiency,
Comfyroll, pysssss, Nunchaku, WanVideo), a hook (``CreateHookLora*``) or this project's nodes under either
naming scheme; each is read here into ``ResourceRef``s, together with which of the node's outputs carry the LoRA,
so the flow analysis can tell whether the output that reached the image had it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from ..lora_syntax import parse_lora_syntax
from ._util import as_float, as_int, file_stem
from .graph_values import GraphValues
from .model import ResourceRef
from .prompt_graph import Node

__all__ = ["LoraRead", "read_loras", "stack_inputs", "slot_inputs", "MODEL_SLOT", "CLIP_SLOT"]

# How a node's LoRAs reach the image: through MODEL/CLIP outputs, MODEL only, or a stack/hook/WanVideo LoRA list
# that another node applies.
Carrier = Literal["model_clip", "model", "passed_on"]

MODEL_SLOT, CLIP_SLOT = 0, 1

_MODEL_CLIP = frozenset({
    "LoraLoader", "LoraLoader|pysssss", "LoraLoaderLM", "LoraTextLoaderLM", "Lora Loader (LoraManager)",
    "LoRA Text Loader (LoraManager)", "Power Lora Loader (rgthree)", "Lora Loader Stack (rgthree)", "LoraTagLoader",
    "Efficient Loader", "Eff. Loader SDXL", "LoraManagerLoader",
})
_MODEL_ONLY = frozenset({
    "LoraLoaderModelOnly", "NunchakuFluxLoraLoader", "NunchakuQwenImageLoraLoader", "NunchakuZImageLoraLoader",
    "LoraModelLoader",
})
_PASSED_ON = frozenset({
    "LoraStackerLM", "Lora Stacker (LoraManager)", "LoRA Stacker", "CR LoRA Stack", "CreateHookLora",
    "CreateHookLoraModelOnly", "Create Hook LoRA (LoraManager)", "WanVideoLoraSelect", "WanVideoLoraSelectMulti",
    "WanVideo Lora Select (LoraManager)", "WanVideo Lora Select From Text (LoraManager)", "NunchakuFluxLoraStack",
    "Lora Randomizer (LoraManager)", "Lora Stack Combiner (LoraManager)", "easy loraStack",
})
# Inputs through which a node takes LoRAs applied before its own (stacks, hook chains, WanVideo LoRA lists).
_STACK_KEYS = ("lora_stack", "prev_lora", "prev_hooks", "lora_stack1", "lora_stack2", "optional_lora_stack")
_SYNTAX_TEXT = frozenset({"LoraLoaderLM", "LoraManagerLoader", "LoraTextLoaderLM", "LoraStackerLM", "LoRA Text Loader (LoraManager)",
                          "WanVideo Lora Select From Text (LoraManager)", "LoraTagLoader"})
_STRENGTH_KEYS = ("strength_model", "strength", "lora_strength", "model_strength", "weight",
                  "lora_model_strength")
_CLIP_STRENGTH_KEYS = ("strength_clip", "clip_strength", "lora_clip_strength")
_INDEXED_LORA_RE = re.compile(r"^lora_name_(\d{1,4})$")
_NUMBERED_LORA_RE = re.compile(r"^lora_(\d{1,4})$", re.IGNORECASE)
_NONE_NAMES = {"", "none"}


@dataclass
class LoraRead:
    """A node's own LoRAs (in the order it applies them) and how they travel on."""

    refs: list[ResourceRef] = field(default_factory=list)
    carrier: Carrier = "model_clip"
    known: bool = True


def _name(values: GraphValues, value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("content"), str):  # pysssss loaders with previews
        value = value["content"]
    name = values.text(value)
    if not name or name.strip().lower() in _NONE_NAMES:
        return None
    return name


def _number(values: GraphValues, inputs: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        if key in inputs:
            number = as_float(values.scalar(inputs[key], key))
            if number is not None:
                return number
    return None


def lora_ref(name: str, model: float, clip: float | None) -> ResourceRef:
    return ResourceRef(kind="lora", name=name, file_name=file_stem(name), strength_model=model, strength_clip=clip)


def syntax_loras(text: str) -> list[ResourceRef]:
    return [lora_ref(e.name, e.model_strength, e.clip_strength) for e in parse_lora_syntax(text)]


def _single(node: Node, values: GraphValues, name_key: str = "lora_name") -> ResourceRef | None:
    name = _name(values, node.inputs.get(name_key))
    if name is None:
        return None
    model = _number(values, node.inputs, _STRENGTH_KEYS)
    clip = None if node.class_type in _MODEL_ONLY or node.class_type == "CreateHookLoraModelOnly" else \
        _number(values, node.inputs, _CLIP_STRENGTH_KEYS)
    return lora_ref(name, 1.0 if model is None else model, clip)


def _listed(value: Any) -> list[ResourceRef]:
    """The ``loras`` widget of ComfyUI-Lora-Manager's nodes: ``[{name, strength, clipStrength, active}]``."""
    if isinstance(value, dict):
        value = value.get("__value__")
    if isinstance(value, str):
        return syntax_loras(value)
    if not isinstance(value, list):
        return []
    refs: list[ResourceRef] = []
    for item in value:
        if not isinstance(item, dict) or item.get("active", True) is False:
            continue
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            continue
        strength = as_float(item.get("strength"))
        clip = as_float(item.get("clipStrength"))
        strength = 1.0 if strength is None else strength
        refs.append(lora_ref(name, strength, strength if clip is None else clip))
    return refs


def _power(inputs: dict[str, Any]) -> list[ResourceRef]:
    """rgthree Power Lora Loader: ``lora_N = {on, lora, strength, strengthTwo}``."""
    slots: list[tuple[int, dict[str, Any]]] = []
    for key, value in inputs.items():
        match = _NUMBERED_LORA_RE.match(key) if isinstance(key, str) else None
        if match and isinstance(value, dict) and "lora" in value:
            slots.append((int(match.group(1)), value))
    refs: list[ResourceRef] = []
    for _, slot in sorted(slots, key=lambda item: item[0]):
        name = slot.get("lora")
        if slot.get("on", True) is False or not isinstance(name, str) or name.strip().lower() in _NONE_NAMES:
            continue
        strength = as_float(slot.get("strength"))
        strength = 1.0 if strength is None else strength
        clip = as_float(slot.get("strengthTwo"))
        refs.append(lora_ref(name, strength, strength if clip is None else clip))
    return refs


def _numbered_pairs(node: Node, values: GraphValues, name_fmt: str, strength_fmt: str,
                    start: int) -> list[ResourceRef]:
    """rgthree Lora Loader Stack (``lora_01``/``strength_01``) and WanVideo multi-select (``lora_0``)."""
    refs: list[ResourceRef] = []
    for index in range(start, start + 64):
        key = name_fmt.format(index)
        if key not in node.inputs:
            if index > start + 1:
                break
            continue
        name = _name(values, node.inputs[key])
        if name is None:
            continue
        strength = _number(values, node.inputs, (strength_fmt.format(index),))
        strength = 1.0 if strength is None else strength
        refs.append(lora_ref(name, strength, strength if node.class_type in _MODEL_CLIP else None))
    return refs


def _indexed(node: Node, values: GraphValues) -> list[ResourceRef]:
    """Stacker nodes (``lora_name_1``, ``model_weight_1``, ``switch_1``...) of Efficiency, Comfyroll, Nunchaku."""
    inputs = node.inputs
    indices = sorted(int(match.group(1)) for key in inputs
                     if isinstance(key, str) and (match := _INDEXED_LORA_RE.match(key)))
    count = as_int(values.scalar(inputs.get("lora_count"), "lora_count"))
    mode = values.text(inputs.get("input_mode"))
    refs: list[ResourceRef] = []
    for index in indices:
        if count is not None and index > count:
            continue
        switch = values.scalar(inputs.get(f"switch_{index}"), f"switch_{index}")
        if switch is not None and str(switch).strip().lower() not in ("on", "true", "1"):
            continue
        name = _name(values, inputs.get(f"lora_name_{index}"))
        if name is None:
            continue
        if mode == "simple":
            model_keys = clip_keys = (f"lora_wt_{index}",)
        else:
            model_keys = (f"model_weight_{index}", f"model_str_{index}", f"lora_strength_{index}",
                          f"lora_wt_{index}", f"strength_{index}")
            clip_keys = (f"clip_weight_{index}", f"clip_str_{index}", f"lora_wt_{index}")
        model = _number(values, inputs, model_keys)
        clip = _number(values, inputs, clip_keys)
        refs.append(lora_ref(name, 1.0 if model is None else model, clip))
    return refs


def _carrier(node: Node) -> Carrier:
    if node.class_type in _MODEL_CLIP:
        return "model_clip"
    if node.class_type in _MODEL_ONLY:
        return "model"
    if node.class_type in _PASSED_ON:
        return "passed_on"
    if "model" in node.inputs:
        return "model_clip" if "clip" in node.inputs else "model"
    return "passed_on"


def read_loras(node: Node, values: GraphValues) -> LoraRead | None:
    """The LoRAs ``node`` itself applies (stacked inputs excluded); None when it is no LoRA node."""
    inputs = node.inputs
    known = node.class_type in _MODEL_CLIP or node.class_type in _MODEL_ONLY or node.class_type in _PASSED_ON
    refs: list[ResourceRef] = []
    if node.class_type == "Lora Loader Stack (rgthree)":
        refs = _numbered_pairs(node, values, "lora_{:02d}", "strength_{:02d}", 1)
    elif node.class_type == "WanVideoLoraSelectMulti":
        refs = _numbered_pairs(node, values, "lora_{}", "strength_{}", 0)
    elif node.class_type == "WanVideoLoraSelect":
        single = _single(node, values, "lora")
        refs = [single] if single else []
    else:
        if "lora_name" in inputs:
            single = _single(node, values)
            if single is not None:
                refs.append(single)
        if "loras" in inputs:
            refs.extend(_listed(inputs["loras"]))
        elif node.class_type in _SYNTAX_TEXT:
            text = values.text(inputs.get("text")) or values.text(inputs.get("lora_syntax")) or ""
            refs.extend(syntax_loras(text))
        if "lora_syntax" in inputs and "loras" not in inputs and node.class_type not in _SYNTAX_TEXT:
            refs.extend(syntax_loras(values.text(inputs["lora_syntax"]) or ""))
        refs.extend(_power(inputs))
        refs.extend(_indexed(node, values))
    if not refs and not known:
        return None
    return LoraRead(refs=refs, carrier=_carrier(node), known=known)


def stack_inputs(node: Node) -> list[str]:
    """Inputs bringing LoRAs applied before the node's own (in application order)."""
    return [key for key in _STACK_KEYS if key in node.inputs]


def slot_inputs(node: Node, slot: int) -> set[str] | None:
    """The inputs one output of a MODEL+CLIP loader depends on (MODEL: not the clip; CLIP: not the model);
    None when every input may matter."""
    if node.class_type not in _MODEL_CLIP and not ("model" in node.inputs and "clip" in node.inputs
                                                    and read_lora_names(node)):
        return None
    if slot == MODEL_SLOT:
        return {key for key in node.inputs if key != "clip"}
    if slot == CLIP_SLOT:
        return {key for key in node.inputs if key != "model"}
    return None


def read_lora_names(node: Node) -> bool:
    return "lora_name" in node.inputs or "loras" in node.inputs
