"""Read a ComfyUI API-format prompt graph: sampler settings, prompts, the LoRAs that ran and the checkpoint.

Why public and separate: the recipe importer and the Save Image node both need "what made this image" from the
same graph, so the reading lives in one place. The graph is evaluated the way ComfyUI runs it (``graph_flow``:
only what the outputs need, only the branch a switch picks), so a LoRA is listed when one of its outputs (MODEL or
CLIP) reached the image; each one says how sure the reading is and which node it came from. The graph is
untrusted: links may point nowhere, form cycles or hold odd values, so every walk is bounded and every value is
type-checked. Node titles are never used.
"""
from __future__ import annotations

import logging
from typing import Any

from ..lora_syntax import strip_lora_syntax
from ._util import MODEL_EXTENSIONS, add_unique, as_float, as_int, file_stem, match_key, normalise_gen_params
from .graph_flow import ROOT_SLOT, SAMPLER_CLASSES, Flow, analyse_flow, is_sampler
from .graph_values import GraphValues
from .lora_nodes import CLIP_SLOT, MODEL_SLOT, LoraRead, read_loras, stack_inputs, syntax_loras
from .model import ParsedGeneration, ResourceRef
from .prompt_graph import Node, PromptGraph, is_link
from .switches import choose

logger = logging.getLogger(__name__)

__all__ = [
    "read_prompt_graph",
    "SAMPLER_CLASSES",
    "CHECKPOINT_CLASSES",
    "LORA_LOADER_CLASSES",
    "SOURCE_FORMAT",
]

SOURCE_FORMAT = "comfyui-prompt"

CHECKPOINT_CLASSES = frozenset(
    {
        "CheckpointLoaderSimple",
        "CheckpointLoader",
        "UNETLoader",
        "UnetLoaderGGUF",
        "ImageOnlyCheckpointLoader",
        "unCLIPCheckpointLoader",
        "CheckpointLoaderLM",
        "UNETLoaderLM",
        "Checkpoint Loader (LoraManager)",
        "Unet Loader (LoraManager)",
        "NunchakuFluxDiTLoader",
        "NunchakuQwenImageDiTLoader",
        "WanVideoModelLoader",
        "Efficient Loader",
        "Eff. Loader SDXL",
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
_CHECKPOINT_NAME_KEYS = ("ckpt_name", "unet_name", "model_path", "model_name", "gguf_name", "model")
_TEXT_KEYS = ("text", "text_g", "text_l", "t5xxl", "clip_l", "prompt")
_LATENT_KEYS = ("latent_image", "samples", "latent", "latent_a")
_AUX_KEYS = ("guider", "noise", "sampler", "sigmas")
_INFERRED_CLASSES = frozenset({"Lora Randomizer (LoraManager)", "Lora Cycler (LoraManager)"})

MAX_CHAIN = 256  # nodes followed along one model / latent / clip chain
MAX_DEPTH = 48  # nesting of conditioning lookups
MAX_VISITS = 20000  # nodes touched while ordering samplers
MAX_LORAS = 256  # LoRAs listed for one image

EXACT, INFERRED, AMBIGUOUS = "exact", "inferred", "ambiguous"


class _Reader:
    """Sampler settings, prompts and the model chain of one prompt graph."""

    def __init__(self, graph: PromptGraph, values: GraphValues) -> None:
        self.graph = graph
        self.values = values
        self.guidance: float | None = None

    def source(self, value: Any) -> tuple[Node, int] | None:
        return self.graph.source(value)

    # -- conditioning ---------------------------------------------------------------------------------------

    def cond_text(self, value: Any, encoders: list[Node], seen: set[str], depth: int = 0) -> str | None:
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
            self.guidance = as_float(self.values.scalar(node.inputs.get("guidance"), "guidance"))
        choice = choose(node, self.values.read)
        if choice is not None:
            if not choice.selected:
                return None
            return self.cond_text(node.inputs[choice.selected[0]], encoders, seen, depth + 1)
        texts: list[str] = []
        for key in _TEXT_KEYS:
            if key in node.inputs:
                text = self.values.text(node.inputs[key])
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
            if isinstance(key, str) and "cond" in key.lower() and is_link(link):
                piece = self.cond_text(link, encoders, seen, depth + 1)
                if piece is not None:
                    found = True
                    if piece.strip() and piece not in pieces:
                        pieces.append(piece)
        return ", ".join(pieces) if found else None

    def clip_skip(self, encoder: Node) -> int | None:
        value = encoder.inputs.get("clip")
        seen: set[str] = set()
        for _ in range(MAX_CHAIN):
            src = self.source(value)
            if src is None or src[0].id in seen:
                return None
            node = src[0]
            seen.add(node.id)
            if node.class_type == "CLIPSetLastLayer":
                layer = as_int(self.values.scalar(node.inputs.get("stop_at_clip_layer"), "stop_at_clip_layer"))
                return -layer if layer is not None and layer < 0 else None
            value = _next_link(node, self.values, "clip")
        return None

    # -- model chain ----------------------------------------------------------------------------------------

    def checkpoint_of(self, node: Node) -> ResourceRef | None:
        for key in _CHECKPOINT_NAME_KEYS:
            if key in node.inputs:
                name = self.values.text(node.inputs[key])
                if key == "model" and not (name and name.lower().endswith(MODEL_EXTENSIONS)):
                    continue
                if name and name.strip() and name.strip().lower() != "none":
                    return ResourceRef(kind="checkpoint", name=name, file_name=file_stem(name))
                return None
        return None

    def is_checkpoint_loader(self, node: Node) -> bool:
        if node.class_type in CHECKPOINT_CLASSES:
            return True
        has_name = any(isinstance(node.inputs.get(key), str) for key in _CHECKPOINT_NAME_KEYS if key != "model")
        return not is_link(node.inputs.get("model")) and has_name

    def model_chain(self, value: Any) -> tuple[list[str], ResourceRef | None]:
        """Walk ``model`` links from a sampler to the loader: the node ids met, nearest the sampler first (the
        order ComfyUI-Lora-Manager reports LoRAs in), and the checkpoint at the end."""
        order: list[str] = []
        seen: set[str] = set()
        for _ in range(MAX_CHAIN):
            src = self.source(value)
            if src is None or src[0].id in seen:
                break
            node = src[0]
            seen.add(node.id)
            order.append(node.id)
            if self.is_checkpoint_loader(node):
                return order, self.checkpoint_of(node)
            value = _next_link(node, self.values, "model")
        return order, None

    # -- samplers -------------------------------------------------------------------------------------------

    def upstream_ids(self, node: Node, budget: list[int]) -> set[str]:
        """Ids of every node feeding ``node`` (bounded by a shared visit budget)."""
        found: set[str] = set()
        stack = [node]
        while stack and budget[0] > 0:
            current = stack.pop()
            budget[0] -= 1
            for _key, (source, _slot) in self.graph.links(current):
                if source.id not in found:
                    found.add(source.id)
                    stack.append(source)
        return found

    def aux_nodes(self, sampler: Node) -> list[Node]:
        nodes = []
        for key in _AUX_KEYS:
            src = self.source(sampler.inputs.get(key))
            if src is not None:
                nodes.append(src[0])
        return nodes

    def lookup(self, sampler: Node, aux: list[Node], keys: tuple[str, ...]) -> Any:
        for node in (sampler, *aux):
            for key in keys:
                if key in node.inputs:
                    value = self.values.scalar(node.inputs[key], key)
                    if value is not None:
                        return value
        return None

    def link_of(self, sampler: Node, aux: list[Node], keys: tuple[str, ...]) -> Any:
        for node in (sampler, *aux):
            for key in keys:
                if is_link(node.inputs.get(key)):
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
                width = as_int(self.values.scalar(node.inputs["width"], "width"))
                height = as_int(self.values.scalar(node.inputs["height"], "height"))
                if width and height and width > 0 and height > 0:
                    return width, height
                return None
            choice = choose(node, self.values.read)
            if choice is not None:
                value = node.inputs[choice.selected[0]] if choice.selected else None
                continue
            value = next((node.inputs[key] for key in _LATENT_KEYS if is_link(node.inputs.get(key))), None)
        return None


def _next_link(node: Node, values: GraphValues, kind: str) -> Any:
    """The input a chain of ``kind`` (model, clip) goes on through: the picked branch of a switch."""
    choice = choose(node, values.read)
    if choice is not None:
        return node.inputs[choice.selected[0]] if choice.selected else None
    if is_link(node.inputs.get(kind)):
        return node.inputs[kind]
    for key, value in node.inputs.items():
        if isinstance(key, str) and kind in key.lower() and is_link(value):
            return value
    return None


def _sort_key(node_id: str) -> tuple[int, ...]:
    parts = node_id.split(":")
    if all(part.isdecimal() for part in parts):
        return (0, *(int(part) for part in parts))
    return (1, len(node_id))


def _order_samplers(reader: _Reader, samplers: list[Node]) -> list[Node]:
    """First-pass sampler first, then the samplers fed by it (hires fix, refiner); unrelated ones dropped."""
    budget = [MAX_VISITS]
    upstream = {node.id: reader.upstream_ids(node, budget) for node in samplers}
    ids = {node.id for node in samplers}
    by_id = sorted(samplers, key=lambda node: _sort_key(node.id))
    first_pass = [node for node in by_id if not (upstream[node.id] & (ids - {node.id}))]
    primary = first_pass[0] if first_pass else by_id[0]
    later = [node for node in by_id if node is not primary and primary.id in upstream[node.id]]
    return [primary, *later]


# -- LoRAs ---------------------------------------------------------------------------------------------------

def _applied(read: LoraRead, slots: set[int]) -> tuple[list[ResourceRef], str]:
    """The LoRAs of a used node that changed what its used outputs carry, and which outputs those are."""
    model_on = MODEL_SLOT in slots or ROOT_SLOT in slots
    clip_on = CLIP_SLOT in slots
    if read.carrier == "model_clip":
        used = "its MODEL and CLIP outputs are used" if model_on and clip_on else \
            "its MODEL output is used" if model_on else \
            "only its CLIP output is used (a text encoder reads it)" if clip_on else ""
        refs = [ref for ref in read.refs
                if (model_on and ref.strength_model != 0)
                or (clip_on and (ref.strength_model if ref.strength_clip is None else ref.strength_clip) != 0)]
        return refs, used
    if read.carrier == "model":
        return ([ref for ref in read.refs if ref.strength_model != 0] if model_on else []), "its MODEL output is used"
    refs = [ref for ref in read.refs if ref.strength_model != 0 or (ref.strength_clip or 0) != 0]
    return (refs if model_on else []), "its LoRA list is applied by the node it feeds"


def _judge(nodes: list[Node], known: bool, flow: Flow, used: str) -> tuple[str, str]:
    """Confidence and reason for a LoRA applied by ``nodes`` (one node, or several applying the same LoRA at the
    same strengths, as repeated subgraphs do)."""
    first = nodes[0]
    where = f"{first.class_type} node {first.id}" + (f" (and {len(nodes) - 1} more)" if len(nodes) > 1 else "")
    reason = f"{where}: {used}"
    if flow.fallback:
        return INFERRED, reason + "; no output node was recognised, so the last samplers were taken as outputs"
    if not any(node.id in flow.certain for node in nodes):
        return AMBIGUOUS, f"{where} is {flow.doubt.get(first.id, 'behind an undecided switch')}"
    reach = set().union(*(flow.reach.get(node.id, set()) for node in nodes))
    if len(flow.outputs) > 1 and not set(flow.outputs) <= reach:
        fed = ", ".join(sorted(reach & set(flow.outputs), key=_sort_key)) or "none"
        return AMBIGUOUS, reason + f"; it feeds only some of the saved outputs ({fed} of " \
                                   f"{', '.join(sorted(flow.outputs, key=_sort_key))})"
    if not known or any(node.class_type in _INFERRED_CLASSES for node in nodes):
        return INFERRED, reason + "; read from a node whose LoRA inputs are guessed from their names"
    return EXACT, reason


def _collect_loras(graph: PromptGraph, values: GraphValues, flow: Flow, chain_order: list[str]) -> list[ResourceRef]:
    reads: dict[str, LoraRead] = {}
    for node_id in flow.used:
        read = read_loras(graph.nodes[node_id], values)
        if read is not None:
            reads[node_id] = read
    emitted: set[str] = set()
    groups: dict[tuple[Any, ...], tuple[ResourceRef, list[Node], bool, str]] = {}

    def emit(node_id: str, depth: int = 0) -> None:
        if node_id in emitted or depth > MAX_DEPTH:
            return
        emitted.add(node_id)
        node = graph.nodes[node_id]
        for key in stack_inputs(node):
            source = graph.source(node.inputs[key])
            if source is not None and source[0].id in reads:
                emit(source[0].id, depth + 1)
        read = reads.get(node_id)
        if read is None:
            return
        refs, used = _applied(read, flow.used.get(node_id, set()))
        for ref in refs:
            key = (match_key(ref.file_name or ref.name), ref.strength_model, ref.strength_clip)
            if key in groups:
                groups[key][1].append(node)
            elif len(groups) < MAX_LORAS:
                groups[key] = (ref, [node], read.known, used)

    for node_id in chain_order:
        if node_id in reads:
            emit(node_id)
    for node_id in sorted(reads, key=_sort_key):
        emit(node_id)
    loras: list[ResourceRef] = []
    for ref, nodes, known, used in groups.values():
        ref.node_id = nodes[0].id
        ref.confidence, ref.reason = _judge(nodes, known, flow, used)
        loras.append(ref)
    return loras


def read_prompt_graph(prompt: dict, output_node: str | None = None) -> ParsedGeneration:
    """Parse an API-format prompt graph; an unusable graph gives an empty result, never an exception.

    ``output_node`` (e.g. the id of the Save Image node doing the saving) limits the reading to what feeds that
    node, for graphs holding several independent generations.
    """
    graph = PromptGraph(prompt)
    values = GraphValues(graph)
    reader = _Reader(graph, values)
    result = ParsedGeneration(source_format=SOURCE_FORMAT)
    if not graph.nodes:
        return result
    flow = analyse_flow(graph, values, str(output_node) if output_node is not None else None)
    samplers = [node for node in graph.nodes.values() if is_sampler(node) and node.id in flow.used]
    chain_order: list[str] = []
    ordered = _order_samplers(reader, samplers) if samplers else []
    for sampler in ordered:
        # SamplerCustomAdvanced has no model input: its guider node carries the model link.
        order, checkpoint = reader.model_chain(reader.link_of(sampler, reader.aux_nodes(sampler), ("model",)))
        chain_order.extend(order)
        if result.checkpoint is None and checkpoint is not None:
            result.checkpoint = checkpoint
    result.loras = _collect_loras(graph, values, flow, chain_order)
    if not ordered:
        return result
    primary = ordered[0]
    aux = reader.aux_nodes(primary)
    params: dict[str, Any] = {
        "seed": reader.lookup(primary, aux, ("seed", "noise_seed")),
        "steps": reader.lookup(primary, aux, ("steps",)),
        "cfg_scale": reader.lookup(primary, aux, ("cfg",)),
        "sampler": reader.lookup(primary, aux, ("sampler_name",)),
        "scheduler": reader.lookup(primary, aux, ("scheduler",)),
        "denoising_strength": reader.lookup(primary, aux, ("denoise",)),
    }
    encoders: list[Node] = []
    positive = reader.cond_text(reader.link_of(primary, aux, ("positive", "conditioning")), encoders, set())
    negative = reader.cond_text(reader.link_of(primary, aux, ("negative",)), [], set())
    if positive is not None:
        tagged = syntax_loras(positive)
        if tagged:
            encoder = encoders[0].id if encoders else None
            for ref in tagged:
                ref.node_id, ref.confidence = encoder, INFERRED
                ref.reason = "named in the positive prompt as <lora:...>; applied by a node that reads the prompt"
            add_unique(result.loras, tagged)
            positive = strip_lora_syntax(positive)
        params["prompt"] = positive
    if negative is not None:
        params["negative_prompt"] = negative
    if encoders:
        params["clip_skip"] = reader.clip_skip(encoders[0])
    size = reader.latent_size(reader.link_of(primary, aux, ("latent_image",)))
    if size:
        params["width"], params["height"] = size
    result.gen_params = normalise_gen_params(params)
    result.raw = {"sampler_class": primary.class_type}
    if reader.guidance is not None:
        result.raw["guidance"] = reader.guidance
    return result
