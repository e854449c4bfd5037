"""Read a ComfyUI API-format prompt graph: sampler settings, prompts, LoRA chain and checkpoint.

Why public and separate: the recipe importer and the Save Image node both need "what made this image" from the
same graph, so the walk lives in one place. The graph is untrusted: links may point nowhere, form cycles or hold
odd values, so every walk is bounded and every value is type-checked. Node titles are never used.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from ..lora_syntax import parse_lora_syntax, strip_lora_syntax
from ._util import add_unique, as_float, as_int, file_stem, normalise_gen_params
from .model import ParsedGeneration, ResourceRef

logger = logging.getLogger(__name__)

__all__ = [
    "read_prompt_graph",
    "SAMPLER_CLASSES",
    "CHECKPOINT_CLASSES",
    "LORA_LOADER_CLASSES",
    "SOURCE_FORMAT",
]

SOURCE_FORMAT = "comfyui-prompt"

SAMPLER_CLASSES = frozenset({"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"})
CHECKPOINT_CLASSES = frozenset(
    {
        "CheckpointLoaderSimple",
        "CheckpointLoader",
        "UNETLoader",
        "UnetLoaderGGUF",
        "ImageOnlyCheckpointLoader",
        "unCLIPCheckpointLoader",
    }
)
LORA_LOADER_CLASSES = frozenset(
    {
        "LoraLoader",
        "LoraLoaderModelOnly",
        "LoraLoaderLM",
        "LoraManagerLoader",
        "Lora Loader (LoraManager)",
        "LoRA Text Loader (LoraManager)",
        "Power Lora Loader (rgthree)",
    }
)
_MODEL_ONLY_CLASSES = frozenset({"LoraLoaderModelOnly"})
_CHECKPOINT_NAME_KEYS = ("ckpt_name", "unet_name")
_TEXT_KEYS = ("text", "text_g", "text_l", "t5xxl", "clip_l", "prompt")
_STRING_NODE_KEYS = ("text", "string", "value", "prompt", "STRING", "Text")
_LATENT_KEYS = ("latent_image", "samples", "latent", "latent_a")
_AUX_KEYS = ("guider", "noise", "sampler", "sigmas")
_STRENGTH_KEYS = ("strength_model", "strength", "lora_strength", "model_strength", "weight")
_CLIP_STRENGTH_KEYS = ("strength_clip", "clip_strength")
_INDEXED_LORA_RE = re.compile(r"^lora_name_(\d{1,4})$")
_POWER_LORA_RE = re.compile(r"^lora_(\d{1,4})$")
_CONCAT_RE = re.compile(r"^(?:text|string)_[a-z0-9]{1,3}$")

MAX_CHAIN = 256  # nodes followed along one model / latent / clip chain
MAX_DEPTH = 48  # nesting of conditioning and string lookups
MAX_VISITS = 20000  # nodes touched while ordering samplers


@dataclass(frozen=True)
class _Node:
    id: str
    class_type: str
    inputs: dict[str, Any]


def _is_link(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and isinstance(value[0], (str, int))
        and not isinstance(value[0], bool)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


class _Graph:
    """Index of the prompt dict with bounded, cycle-safe lookups."""

    def __init__(self, prompt: Any) -> None:
        self.nodes: dict[str, _Node] = {}
        self.guidance: float | None = None
        if not isinstance(prompt, dict):
            return
        for key, value in prompt.items():
            if not isinstance(value, dict):
                continue
            class_type = value.get("class_type")
            if not isinstance(class_type, str) or not isinstance(key, (str, int)):
                continue
            inputs = value.get("inputs")
            self.nodes[str(key)] = _Node(str(key), class_type, inputs if isinstance(inputs, dict) else {})

    def source(self, value: Any) -> tuple[_Node, int] | None:
        if not _is_link(value):
            return None
        node = self.nodes.get(str(value[0]))
        return (node, value[1]) if node else None

    # -- scalar and string values -------------------------------------------------------------------------

    def scalar(self, value: Any, key: str = "") -> Any:
        """A literal, or the literal a chain of primitive nodes feeds; None when it cannot be told."""
        seen: set[str] = set()
        for _ in range(MAX_CHAIN):
            if not _is_link(value):
                break
            src = self.source(value)
            if src is None or src[0].id in seen:
                return None
            node = src[0]
            seen.add(node.id)
            for candidate in (key, "value", "seed", "noise_seed", "int", "float", "number", "string", "text"):
                if candidate and candidate in node.inputs:
                    value = node.inputs[candidate]
                    break
            else:
                literals = [v for v in node.inputs.values() if isinstance(v, (str, int, float))]
                if len(node.inputs) == 1 and literals:
                    value = literals[0]
                else:
                    return None
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return value
        return None

    def text(self, value: Any, budget: list[int] | None = None) -> str | None:
        """A string literal or the string a string/primitive/concatenation node produces.

        ``budget`` caps the nodes visited across the whole (possibly branching) lookup.
        """
        if isinstance(value, str):
            return value
        budget = budget if budget is not None else [MAX_CHAIN]
        src = self.source(value)
        if src is None or budget[0] <= 0:
            return None
        budget[0] -= 1
        node = src[0]
        for key in _STRING_NODE_KEYS:
            if key in node.inputs:
                return self.text(node.inputs[key], budget)
        parts = [key for key in node.inputs if isinstance(key, str) and _CONCAT_RE.match(key)]
        if parts:
            delimiter = self.text(node.inputs.get("delimiter"), budget)
            pieces = [self.text(node.inputs[key], budget) for key in parts]
            joined = [piece for piece in pieces if piece]
            return (", " if delimiter is None else delimiter).join(joined)
        return None

    # -- conditioning ---------------------------------------------------------------------------------------

    def cond_text(self, value: Any, encoders: list[_Node], seen: set[str], depth: int = 0) -> str | None:
        """Prompt text behind a conditioning link; ``encoders`` collects the text-encoder nodes reached."""
        src = self.source(value)
        if src is None or depth > MAX_DEPTH:
            return None
        node, out_index = src
        if node.id in seen:
            return None
        seen.add(node.id)
        if node.class_type == "ConditioningZeroOut":
            return ""
        if node.class_type == "FluxGuidance" and self.guidance is None:
            self.guidance = as_float(self.scalar(node.inputs.get("guidance"), "guidance"))
        texts: list[str] = []
        for key in _TEXT_KEYS:
            if key in node.inputs:
                text = self.text(node.inputs[key])
                if text is not None and text not in texts:
                    texts.append(text)
        if texts:
            encoders.append(node)
            non_empty = [text for text in texts if text.strip()]
            return ", ".join(non_empty) if non_empty else ""
        if "positive" in node.inputs or "negative" in node.inputs:
            key = "negative" if out_index == 1 else "positive"
            return self.cond_text(node.inputs.get(key), encoders, seen, depth + 1)
        pieces: list[str] = []
        found = False
        for key, link in node.inputs.items():
            if isinstance(key, str) and "cond" in key.lower() and _is_link(link):
                piece = self.cond_text(link, encoders, seen, depth + 1)
                if piece is not None:
                    found = True
                    if piece.strip() and piece not in pieces:
                        pieces.append(piece)
        return ", ".join(pieces) if found else None

    def clip_skip(self, encoder: _Node) -> int | None:
        value = encoder.inputs.get("clip")
        seen: set[str] = set()
        for _ in range(MAX_CHAIN):
            src = self.source(value)
            if src is None or src[0].id in seen:
                return None
            node = src[0]
            seen.add(node.id)
            if node.class_type == "CLIPSetLastLayer":
                layer = as_int(self.scalar(node.inputs.get("stop_at_clip_layer"), "stop_at_clip_layer"))
                return -layer if layer is not None and layer < 0 else None
            value = node.inputs.get("clip")
        return None

    # -- model chain ----------------------------------------------------------------------------------------

    def checkpoint_of(self, node: _Node) -> ResourceRef | None:
        for key in _CHECKPOINT_NAME_KEYS:
            if key in node.inputs:
                name = self.text(node.inputs[key])
                if name and name.strip():
                    return ResourceRef(kind="checkpoint", name=name, file_name=file_stem(name))
                return None
        return None

    def is_checkpoint_loader(self, node: _Node) -> bool:
        if node.class_type in CHECKPOINT_CLASSES:
            return True
        return "model" not in node.inputs and any(key in node.inputs for key in _CHECKPOINT_NAME_KEYS)

    def loras_of(self, node: _Node, depth: int = 0) -> list[ResourceRef]:
        """LoRAs one loader node applies, in the order it applies them (stacked input first)."""
        loras: list[ResourceRef] = []
        if depth > MAX_DEPTH:
            return loras
        stack = self.source(node.inputs.get("lora_stack"))
        if stack is not None and stack[0].id != node.id:
            loras.extend(self.loras_of(stack[0], depth + 1))
        inputs = node.inputs
        if "lora_name" in inputs:
            lora = self._single_lora(node)
            if lora:
                loras.append(lora)
        if "loras" in inputs:
            loras.extend(self._listed_loras(inputs["loras"]))
        elif isinstance(inputs.get("text"), str) and node.class_type in LORA_LOADER_CLASSES:
            loras.extend(_syntax_loras(inputs["text"]))
        if "lora_syntax" in inputs:
            loras.extend(_syntax_loras(self.text(inputs["lora_syntax"]) or ""))
        loras.extend(self._power_loras(inputs))
        loras.extend(self._indexed_loras(inputs))
        return loras

    def _single_lora(self, node: _Node) -> ResourceRef | None:
        name = self.text(node.inputs.get("lora_name"))
        if not name or not name.strip() or name.strip().lower() == "none":
            return None
        model = _first_number(self, node.inputs, _STRENGTH_KEYS)
        clip = _first_number(self, node.inputs, _CLIP_STRENGTH_KEYS)
        if node.class_type in _MODEL_ONLY_CLASSES:
            clip = None
        return _lora(name, 1.0 if model is None else model, clip)

    def _listed_loras(self, value: Any) -> list[ResourceRef]:
        if isinstance(value, dict):
            value = value.get("__value__")
        if isinstance(value, str):
            return _syntax_loras(value)
        if not isinstance(value, list):
            return []
        loras: list[ResourceRef] = []
        for item in value:
            if not isinstance(item, dict) or item.get("active", True) is False:
                continue
            name = item.get("name")
            if not isinstance(name, str) or not name.strip():
                continue
            strength = as_float(item.get("strength"))
            clip = as_float(item.get("clipStrength"))
            strength = 1.0 if strength is None else strength
            loras.append(_lora(name, strength, strength if clip is None else clip))
        return loras

    def _power_loras(self, inputs: dict[str, Any]) -> list[ResourceRef]:
        slots: list[tuple[int, dict[str, Any]]] = []
        for key, value in inputs.items():
            match = _POWER_LORA_RE.match(key) if isinstance(key, str) else None
            if match and isinstance(value, dict) and "lora" in value:
                slots.append((int(match.group(1)), value))
        loras: list[ResourceRef] = []
        for _, slot in sorted(slots, key=lambda item: item[0]):
            name = slot.get("lora")
            if slot.get("on", True) is False or not isinstance(name, str) or name.strip().lower() in ("", "none"):
                continue
            strength = as_float(slot.get("strength"))
            strength = 1.0 if strength is None else strength
            clip = as_float(slot.get("strengthTwo"))
            loras.append(_lora(name, strength, strength if clip is None else clip))
        return loras

    def _indexed_loras(self, inputs: dict[str, Any]) -> list[ResourceRef]:
        """Stacker nodes (``lora_name_1``, ``model_weight_1``, ``switch_1``...) of common node packs."""
        indices = sorted(
            int(match.group(1))
            for key in inputs
            if isinstance(key, str) and (match := _INDEXED_LORA_RE.match(key))
        )
        count = as_int(self.scalar(inputs.get("lora_count"), "lora_count"))
        loras: list[ResourceRef] = []
        for index in indices:
            if count is not None and index > count:
                continue
            name = self.text(inputs.get(f"lora_name_{index}"))
            switch = self.scalar(inputs.get(f"switch_{index}"), f"switch_{index}")
            if switch is not None and str(switch).strip().lower() not in ("on", "true", "1"):
                continue
            if not name or name.strip().lower() in ("", "none"):
                continue
            model_keys = (f"model_weight_{index}", f"model_str_{index}", f"lora_wt_{index}", f"strength_{index}")
            clip_keys = (f"clip_weight_{index}", f"clip_str_{index}", f"lora_wt_{index}")
            model = _first_number(self, inputs, model_keys)
            clip = _first_number(self, inputs, clip_keys)
            loras.append(_lora(name, 1.0 if model is None else model, clip))
        return loras

    def model_chain(self, value: Any) -> tuple[list[tuple[str, list[ResourceRef]]], ResourceRef | None]:
        """Walk ``model`` links from a sampler to the loader: (loader id, LoRAs), the loader nearest the sampler
        first (the order ComfyUI-Lora-Manager reports and ComfyUI's examples list them)."""
        groups: list[tuple[str, list[ResourceRef]]] = []
        checkpoint: ResourceRef | None = None
        seen: set[str] = set()
        for _ in range(MAX_CHAIN):
            src = self.source(value)
            if src is None or src[0].id in seen:
                break
            node = src[0]
            seen.add(node.id)
            if self.is_checkpoint_loader(node):
                checkpoint = self.checkpoint_of(node)
                break
            loras = self.loras_of(node)
            if loras:
                groups.append((node.id, loras))
            value = _next_model_link(node.inputs)
        return groups, checkpoint

    # -- samplers -------------------------------------------------------------------------------------------

    def samplers(self) -> list[_Node]:
        return [node for node in self.nodes.values() if _is_sampler(node)]

    def upstream_ids(self, node: _Node, budget: list[int]) -> set[str]:
        """Ids of every node feeding ``node`` (bounded by a shared visit budget)."""
        found: set[str] = set()
        stack = [node]
        while stack and budget[0] > 0:
            current = stack.pop()
            budget[0] -= 1
            for value in current.inputs.values():
                src = self.source(value)
                if src is not None and src[0].id not in found:
                    found.add(src[0].id)
                    stack.append(src[0])
        return found

    def aux_nodes(self, sampler: _Node) -> list[_Node]:
        nodes = []
        for key in _AUX_KEYS:
            src = self.source(sampler.inputs.get(key))
            if src is not None:
                nodes.append(src[0])
        return nodes

    def lookup(self, sampler: _Node, aux: list[_Node], keys: tuple[str, ...]) -> Any:
        for node in (sampler, *aux):
            for key in keys:
                if key in node.inputs:
                    value = self.scalar(node.inputs[key], key)
                    if value is not None:
                        return value
        return None

    def link_of(self, sampler: _Node, aux: list[_Node], keys: tuple[str, ...]) -> Any:
        for node in (sampler, *aux):
            for key in keys:
                if _is_link(node.inputs.get(key)):
                    return node.inputs[key]
        return None

    def latent_size(self, value: Any) -> tuple[int, int] | None:
        seen: set[str] = set()
        for _ in range(MAX_CHAIN):
            src = self.source(value)
            if src is None or src[0].id in seen:
                return None
            node = src[0]
            seen.add(node.id)
            if "width" in node.inputs and "height" in node.inputs:
                width = as_int(self.scalar(node.inputs["width"], "width"))
                height = as_int(self.scalar(node.inputs["height"], "height"))
                if width and height and width > 0 and height > 0:
                    return width, height
                return None
            value = next((node.inputs[key] for key in _LATENT_KEYS if _is_link(node.inputs.get(key))), None)
        return None


def _first_number(graph: _Graph, inputs: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        if key in inputs:
            number = as_float(graph.scalar(inputs[key], key))
            if number is not None:
                return number
    return None


def _lora(name: str, model: float, clip: float | None) -> ResourceRef:
    return ResourceRef(kind="lora", name=name, file_name=file_stem(name), strength_model=model, strength_clip=clip)


def _syntax_loras(text: str) -> list[ResourceRef]:
    return [_lora(e.name, e.model_strength, e.clip_strength) for e in parse_lora_syntax(text)]


def _next_model_link(inputs: dict[str, Any]) -> Any:
    if _is_link(inputs.get("model")):
        return inputs["model"]
    for key, value in inputs.items():
        if isinstance(key, str) and "model" in key.lower() and _is_link(value):
            return value
    return None


def _is_sampler(node: _Node) -> bool:
    if node.class_type in SAMPLER_CLASSES:
        return True
    inputs = node.inputs
    has_latent = any(key in inputs for key in _LATENT_KEYS)
    return has_latent and (("model" in inputs and "positive" in inputs) or "guider" in inputs)


def _sort_key(node_id: str) -> tuple[int, int | str]:
    number = as_int(node_id) if node_id.isdecimal() else None
    return (0, number) if number is not None else (1, node_id)


def _order_samplers(graph: _Graph, samplers: list[_Node]) -> list[_Node]:
    """First-pass sampler first, then the samplers fed by it (hires fix, refiner); unrelated ones dropped."""
    budget = [MAX_VISITS]
    upstream = {node.id: graph.upstream_ids(node, budget) for node in samplers}
    ids = {node.id for node in samplers}
    by_id = sorted(samplers, key=lambda node: _sort_key(node.id))
    first_pass = [node for node in by_id if not (upstream[node.id] & (ids - {node.id}))]
    primary = first_pass[0] if first_pass else by_id[0]
    later = [node for node in by_id if node is not primary and primary.id in upstream[node.id]]
    return [primary, *later]


def read_prompt_graph(prompt: dict, output_node: str | None = None) -> ParsedGeneration:
    """Parse an API-format prompt graph; an unusable graph gives an empty result, never an exception.

    ``output_node`` (e.g. the id of the Save Image node doing the saving) limits the reading to the samplers
    that feed that node, for graphs holding several independent generations.
    """
    graph = _Graph(prompt)
    result = ParsedGeneration(source_format=SOURCE_FORMAT)
    samplers = graph.samplers()
    target = graph.nodes.get(str(output_node)) if output_node is not None else None
    if target is not None:
        feeding = graph.upstream_ids(target, [MAX_VISITS])
        samplers = [node for node in samplers if node.id in feeding or node.id == target.id]
    if not samplers:
        return result
    ordered = _order_samplers(graph, samplers)
    primary = ordered[0]
    aux = graph.aux_nodes(primary)
    loader_ids: set[str] = set()
    for index, sampler in enumerate(ordered):
        # SamplerCustomAdvanced has no model input: its guider node carries the model link.
        sampler_aux = aux if index == 0 else graph.aux_nodes(sampler)
        groups, checkpoint = graph.model_chain(graph.link_of(sampler, sampler_aux, ("model",)))
        for loader_id, loras in groups:
            if loader_id not in loader_ids:
                loader_ids.add(loader_id)
                result.loras.extend(loras)
        if result.checkpoint is None and checkpoint is not None:
            result.checkpoint = checkpoint

    params: dict[str, Any] = {
        "seed": graph.lookup(primary, aux, ("seed", "noise_seed")),
        "steps": graph.lookup(primary, aux, ("steps",)),
        "cfg_scale": graph.lookup(primary, aux, ("cfg",)),
        "sampler": graph.lookup(primary, aux, ("sampler_name",)),
        "scheduler": graph.lookup(primary, aux, ("scheduler",)),
        "denoising_strength": graph.lookup(primary, aux, ("denoise",)),
    }
    encoders: list[_Node] = []
    positive = graph.cond_text(graph.link_of(primary, aux, ("positive", "conditioning")), encoders, set())
    negative = graph.cond_text(graph.link_of(primary, aux, ("negative",)), [], set())
    if positive is not None:
        tagged = _syntax_loras(positive)
        if tagged:
            add_unique(result.loras, tagged)
            positive = strip_lora_syntax(positive)
        params["prompt"] = positive
    if negative is not None:
        params["negative_prompt"] = negative
    if encoders:
        params["clip_skip"] = graph.clip_skip(encoders[0])
    size = graph.latent_size(graph.link_of(primary, aux, ("latent_image",)))
    if size:
        params["width"], params["height"] = size
    result.gen_params = normalise_gen_params(params)
    result.raw = {"sampler_class": primary.class_type}
    if graph.guidance is not None:
        result.raw["guidance"] = graph.guidance
    return result
