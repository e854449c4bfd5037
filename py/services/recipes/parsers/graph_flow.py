"""Which nodes of an API-format prompt fed the saved image, output slot by output slot.

Why a backward walk from the outputs: ComfyUI runs only what its output nodes need, and a switch passes on only
the branch its selector picks (lazily for the core switch, by choice for the packs' ones), so a LoRA counts when
one of its outputs (MODEL or CLIP) is demanded on the way back from a saved output. A switch whose selector
cannot be told keeps every branch; the nodes reached only through it are marked doubtful with the reason.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .graph_values import GraphValues
from .lora_nodes import slot_inputs
from .prompt_graph import Node, PromptGraph
from .switches import choose

__all__ = ["Flow", "analyse_flow", "is_sampler", "SAMPLER_CLASSES", "ROOT_SLOT"]

ROOT_SLOT = -1
MAX_FLOW_VISITS = 50000

SAMPLER_CLASSES = frozenset({
    "KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced", "KSampler (Efficient)",
    "KSampler Adv. (Efficient)", "KSamplerAdvanced (Efficient)", "WanVideoSampler", "KSampler_inspire",
    "ClownsharKSampler_Beta", "easy fullkSampler", "easy kSampler", "KSamplerBasicPipe", "KSamplerAdvancedBasicPipe",
})
_MEDIA_SAVERS = frozenset({
    "SaveImage", "SaveAnimatedWEBP", "SaveAnimatedPNG", "SaveVideo", "SaveWEBM", "VHS_VideoCombine", "Image Save",
    "SaveImageLM", "Save Image (LoraManager)", "Image Saver", "SaveImageWithMetaData", "easy imageSave",
    "SaveImageExtended", "Save Image w/Metadata", "SaveImage|pysssss",
})
_PREVIEWS = frozenset({"PreviewImage", "PreviewAnimation", "Image Comparer (rgthree)", "easy imagePreview"})
_OTHER_OUTPUTS = frozenset({
    "PreviewAny", "ShowText|pysssss", "Display Any (rgthree)", "easy showAnything", "SaveLatent", "CheckpointSave",
    "SaveAudio", "SaveAudioMP3", "SaveAudioOpus", "PreviewAudio", "Save3D", "Preview3D", "SaveGLB",
})
_SAVER_RE = re.compile(r"save|combine|export|write", re.IGNORECASE)
_PREVIEW_RE = re.compile(r"preview|show|display|compar", re.IGNORECASE)
_LATENT_KEYS = ("latent_image", "samples", "latent", "latent_a")


def is_sampler(node: Node) -> bool:
    if node.class_type in SAMPLER_CLASSES:
        return True
    inputs = node.inputs
    has_latent = any(key in inputs for key in _LATENT_KEYS)
    return has_latent and (("model" in inputs and "positive" in inputs) or "guider" in inputs)


def _output_kind(node: Node) -> str | None:
    """``saver``, ``preview``, ``other`` for output nodes, None for the rest."""
    name = node.class_type
    if name in _MEDIA_SAVERS:
        return "saver"
    if name in _PREVIEWS:
        return "preview"
    if name in _OTHER_OUTPUTS:
        return "other"
    if _SAVER_RE.search(name) and ("images" in node.inputs or "image" in node.inputs or "video" in node.inputs):
        return "saver"
    if _PREVIEW_RE.search(name) and ("images" in node.inputs or "image" in node.inputs):
        return "preview"
    return None


@dataclass
class Flow:
    """``used``: node id -> demanded output slots (ROOT_SLOT for an output node); ``certain``: nodes reached
    along a path on which every switch was decided; ``doubt``: why the others were kept; ``reach``: node id ->
    the candidate outputs (saved generated media) it feeds; ``fallback``: no output node was recognised."""

    used: dict[str, set[int]] = field(default_factory=dict)
    certain: set[str] = field(default_factory=set)
    doubt: dict[str, str] = field(default_factory=dict)
    reach: dict[str, set[str]] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)
    fallback: bool = False
    undecided: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # undecided switch -> branch sources


def _roots(graph: PromptGraph, output_node: str | None) -> tuple[list[str], bool]:
    if output_node is not None and output_node in graph.nodes:
        return [output_node], False
    roots = [node.id for node in graph.nodes.values() if _output_kind(node) is not None]
    if roots:
        return roots, False
    samplers = [node.id for node in graph.nodes.values() if is_sampler(node)]
    finals = [sid for sid in samplers
              if not any(is_sampler(graph.nodes[c]) for c in _downstream(graph, sid))]
    return (finals or [node.id for node in graph.nodes.values() if graph.is_sink(node)]), True


def _downstream(graph: PromptGraph, start: str) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack and len(seen) < MAX_FLOW_VISITS:
        for consumer, _key, _slot in graph.consumers.get(stack.pop(), ()):
            if consumer not in seen:
                seen.add(consumer)
                stack.append(consumer)
    return seen


class _Walker:
    def __init__(self, graph: PromptGraph, values: GraphValues, flow: Flow) -> None:
        self.graph, self.values, self.flow = graph, values, flow
        self.budget = MAX_FLOW_VISITS

    def demanded(self, node: Node, slot: int) -> list[tuple[str, str]]:
        """``(input key, doubt)`` pairs the given output of ``node`` needs; doubt is "" on decided paths."""
        links = [key for key, _ in self.graph.links(node)]
        if slot == ROOT_SLOT:
            return [(key, "") for key in links]
        choice = choose(node, self.values.read)
        if choice is not None:
            doubt = "" if choice.decided else \
                f"behind switch node {node.id} ({node.class_type}): {choice.reason}; all its branches were kept"
            wanted = [(key, "") for key in choice.control if key in links]
            wanted += [(key, doubt) for key in choice.selected if key in links]
            return wanted
        keys = slot_inputs(node, slot)
        return [(key, "") for key in links if keys is None or key in keys]

    def walk(self, root: str, candidate: bool) -> None:
        seen: set[tuple[str, int, bool]] = set()
        stack: list[tuple[str, int, str]] = [(root, ROOT_SLOT, "")]
        while stack and self.budget > 0:
            node_id, slot, doubt = stack.pop()
            if (node_id, slot, not doubt) in seen:
                continue
            seen.add((node_id, slot, not doubt))
            self.budget -= 1
            node = self.graph.nodes[node_id]
            self.flow.used.setdefault(node_id, set()).add(slot)
            if doubt:
                self.flow.doubt.setdefault(node_id, doubt)
            else:
                self.flow.certain.add(node_id)
            if candidate:
                self.flow.reach.setdefault(node_id, set()).add(root)
            demanded = self.demanded(node, slot)
            branches = [self.graph.source(node.inputs[key]) for key, why in demanded if why]
            if len(branches) > 1:
                self.flow.undecided[node_id] = [(src[0].id, src[1]) for src in branches if src is not None]
            for key, why in demanded:
                source = self.graph.source(node.inputs[key])
                if source is not None:
                    stack.append((source[0].id, source[1], doubt or why))

    def upstream(self, start: tuple[str, int]) -> set[str]:
        """The nodes one output needs, switches resolved as far as they can be."""
        seen: set[tuple[str, int]] = set()
        stack = [start]
        while stack and self.budget > 0:
            node_id, slot = stack.pop()
            if (node_id, slot) in seen:
                continue
            seen.add((node_id, slot))
            self.budget -= 1
            node = self.graph.nodes[node_id]
            for key, why in self.demanded(node, slot):
                source = self.graph.source(node.inputs[key])
                if source is not None and not why:
                    stack.append((source[0].id, source[1]))
        return {node_id for node_id, _ in seen}

    def settle_undecided(self) -> None:
        """What every branch of a surely reached undecided switch needs (on decided paths) ran whichever branch
        was taken; repeated, as that can make an inner undecided switch sure in turn."""
        settled: set[str] = set()
        for _ in range(64):
            ready = [sid for sid in self.flow.undecided if sid in self.flow.certain and sid not in settled]
            if not ready:
                return
            for switch_id in ready[:64]:
                settled.add(switch_id)
                branches = self.flow.undecided[switch_id]
                common = set.intersection(*(self.upstream(branch) for branch in branches)) if branches else set()
                self.flow.certain |= common


def analyse_flow(graph: PromptGraph, values: GraphValues, output_node: str | None = None) -> Flow:
    roots, fallback = _roots(graph, output_node)
    flow = Flow(roots=roots, fallback=fallback)
    walker = _Walker(graph, values, flow)
    kinds = {root: _output_kind(graph.nodes[root]) for root in roots}
    generated = {root for root in roots if _feeds_sampler(graph, root)}
    for wanted in ("saver", "preview"):
        flow.outputs = [root for root in roots if kinds[root] == wanted and root in generated]
        if flow.outputs:
            break
    if not flow.outputs:
        flow.outputs = [root for root in roots if root in generated] or list(roots)
    for root in roots:
        walker.walk(root, root in flow.outputs)
    walker.settle_undecided()
    return flow


def _feeds_sampler(graph: PromptGraph, root: str) -> bool:
    seen: set[str] = set()
    stack = [root]
    while stack and len(seen) < MAX_FLOW_VISITS:
        node = graph.nodes[stack.pop()]
        if is_sampler(node) and node.id != root:
            return True
        for _key, (source, _slot) in graph.links(node):
            if source.id not in seen:
                seen.add(source.id)
                stack.append(source.id)
    return is_sampler(graph.nodes[root])
