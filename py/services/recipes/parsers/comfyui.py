"""ComfyUI PNG text: the ``prompt`` chunk (API graph) or, failing that, the ``workflow`` chunk (UI graph).

Why convert the UI graph: images re-saved by other tools often keep only ``workflow``; turning it into the API
shape lets one reader (``comfy_graph``) serve both. Muted nodes vanish, bypassed nodes pass their input through,
reroutes, primitives and Set/Get pairs are resolved, and subgraph instances are expanded with the values their
promoted widgets hold (``subgraph_widgets``); Anything Everywhere broadcasts fill unconnected inputs
(``use_everywhere``). Backend nodes (switches, ``PrimitiveBoolean``...) stay nodes: the
graph reader evaluates them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from ._util import load_json
from .comfy_graph import read_prompt_graph
from .enrich import enrich_from_text
from .model import ParsedGeneration
from .subgraph_widgets import HostValues, host_values
from .use_everywhere import BROADCASTER_TYPES, Broadcast, broadcasts, pick

logger = logging.getLogger(__name__)

__all__ = ["parse_comfyui", "parse_comfyui_prompt", "parse_comfyui_workflow", "workflow_to_prompt", "WIDGET_NAMES"]

MODE_MUTED = 2
MODE_BYPASSED = 4
SUBGRAPH_INPUT_ID = -10
SUBGRAPH_OUTPUT_ID = -20
MAX_RESOLVE = 256  # links followed to resolve one input
MAX_SUBGRAPH_DEPTH = 8
MAX_NODES = 20000

_CONTROL = "control_after_generate"
_CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}

# widgets_values order per node type (ComfyUI's INPUT_TYPES order of the widget inputs).
WIDGET_NAMES: dict[str, tuple[str, ...]] = {
    "LoraLoader": ("lora_name", "strength_model", "strength_clip"),
    "LoraLoader|pysssss": ("lora_name", "strength_model", "strength_clip"),
    "LoraLoaderModelOnly": ("lora_name", "strength_model"),
    "CheckpointLoaderSimple": ("ckpt_name",),
    "CheckpointLoader|pysssss": ("ckpt_name",),
    "CheckpointLoader": ("config_name", "ckpt_name"),
    "ImageOnlyCheckpointLoader": ("ckpt_name",),
    "unCLIPCheckpointLoader": ("ckpt_name",),
    "UNETLoader": ("unet_name", "weight_dtype"),
    "UnetLoaderGGUF": ("unet_name",),
    "HypernetworkLoader": ("hypernetwork_name", "strength"),
    "CLIPTextEncode": ("text",),
    "CLIPTextEncodeSDXL": ("width", "height", "crop_w", "crop_h", "target_width", "target_height", "text_g", "text_l"),
    "CLIPTextEncodeSDXLRefiner": ("ascore", "width", "height", "text"),
    "CLIPTextEncodeFlux": ("clip_l", "t5xxl", "guidance"),
    "CLIPSetLastLayer": ("stop_at_clip_layer",),
    "FluxGuidance": ("guidance",),
    "KSampler": ("seed", _CONTROL, "steps", "cfg", "sampler_name", "scheduler", "denoise"),
    "KSamplerAdvanced": (
        "add_noise", "noise_seed", _CONTROL, "steps", "cfg", "sampler_name", "scheduler",
        "start_at_step", "end_at_step", "return_with_leftover_noise",
    ),
    "SamplerCustom": ("add_noise", "noise_seed", _CONTROL, "cfg"),
    "RandomNoise": ("noise_seed", _CONTROL),
    "KSamplerSelect": ("sampler_name",),
    "BasicScheduler": ("scheduler", "steps", "denoise"),
    "CFGGuider": ("cfg",),
    "EmptyLatentImage": ("width", "height", "batch_size"),
    "EmptySD3LatentImage": ("width", "height", "batch_size"),
    "LatentUpscale": ("upscale_method", "width", "height", "crop"),
    "LatentUpscaleBy": ("upscale_method", "scale_by"),
    "ControlNetApply": ("strength",),
    "ControlNetApplyAdvanced": ("strength", "start_percent", "end_percent"),
    "String Literal": ("string",),
    "Text Multiline": ("text",),
    "PrimitiveString": ("value",),
    "PrimitiveStringMultiline": ("value",),
    "PrimitiveInt": ("value", _CONTROL),
    "PrimitiveFloat": ("value",),
    "PrimitiveBoolean": ("value",),
    "ComfySwitchNode": ("switch",),
    "ComfySoftSwitchNode": ("switch",),
    "SaveImage": ("filename_prefix",),
}
_PASS_THROUGH_TYPES = {"Reroute", "Reroute (rgthree)"}
_LORA_MANAGER_TYPES = {"LoraLoaderLM", "LoraManagerLoader", "Lora Loader (LoraManager)", "Lora Stacker (LoraManager)"}


def _norm_id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    return str(value)


@dataclass
class _Link:
    origin: str
    origin_slot: int
    target: str
    target_slot: int
    type: str


@dataclass
class _UINode:
    id: str
    type: str
    mode: int
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    widgets: Any
    graph: "_UIGraph"
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class _UIGraph:
    """One graph level: the top-level workflow or one expanded subgraph instance."""

    prefix: str
    nodes: dict[str, _UINode] = field(default_factory=dict)
    links: dict[str, _Link] = field(default_factory=dict)
    parent: "_UIGraph | None" = None
    instance: _UINode | None = None
    inner: dict[str, "_UIGraph"] = field(default_factory=dict)  # instance node id -> expanded graph
    exits: dict[int, str] = field(default_factory=dict)  # subgraph output slot -> id of the link feeding it
    input_names: list[str] = field(default_factory=list)  # the subgraph's inputs, by slot
    host: HostValues = field(default_factory=HostValues)  # values the instance holds for its inner widgets


def _parse_links(raw: Any) -> dict[str, _Link]:
    links: dict[str, _Link] = {}
    if not isinstance(raw, list):
        return links
    for item in raw:
        if isinstance(item, list) and len(item) >= 5:
            key, origin, oslot, target, tslot = item[:5]
            ltype = item[5] if len(item) > 5 else ""
        elif isinstance(item, dict):
            key, origin, oslot = item.get("id"), item.get("origin_id"), item.get("origin_slot")
            target, tslot, ltype = item.get("target_id"), item.get("target_slot"), item.get("type", "")
        else:
            continue
        link_id, origin_id, target_id = _norm_id(key), _norm_id(origin), _norm_id(target)
        if link_id is None or origin_id is None or target_id is None:
            continue
        if not isinstance(oslot, int) or not isinstance(tslot, int):
            continue
        links[link_id] = _Link(origin_id, oslot, target_id, tslot, ltype if isinstance(ltype, str) else "")
    return links


def _slots(raw: Any) -> list[dict[str, Any]]:
    return [item if isinstance(item, dict) else {} for item in raw] if isinstance(raw, list) else []


class _Converter:
    def __init__(self, workflow: dict[str, Any]) -> None:
        definitions = workflow.get("definitions")
        subgraphs = definitions.get("subgraphs") if isinstance(definitions, dict) else None
        self.subgraphs: dict[str, dict[str, Any]] = {}
        for sub in subgraphs if isinstance(subgraphs, list) else []:
            if isinstance(sub, dict) and isinstance(sub.get("id"), str):
                self.subgraphs[sub["id"]] = sub
        self.count = 0
        # subgraph id -> (links, exits), parsed once and shared by every instance
        self._links: dict[str, tuple[dict[str, _Link], dict[int, str]]] = {}
        self.root = self._build(workflow, "", None, None, ())
        self.setters: dict[str, _UINode] = {}
        self._index_setters(self.root)
        self._broadcasts: dict[int, list[Broadcast]] = {}  # id(graph level) -> its broadcasts

    def _build(
        self, data: dict[str, Any], prefix: str, parent: _UIGraph | None, instance: _UINode | None,
        stack: tuple[str, ...], outer: dict[str, Any] | None = None,
    ) -> _UIGraph:
        key = instance.type if instance is not None else ""
        if key not in self._links:
            links = _parse_links(data.get("links"))
            exits: dict[int, str] = {}
            for link_id, link in links.items():
                if link.target == str(SUBGRAPH_OUTPUT_ID):
                    exits.setdefault(link.target_slot, link_id)
            self._links[key] = (links, exits)
        links, exits = self._links[key]
        graph = _UIGraph(prefix=prefix, links=links, exits=exits, parent=parent, instance=instance)
        if instance is not None:
            declared = data.get("inputs")
            graph.input_names = [item.get("name") if isinstance(item, dict) and isinstance(item.get("name"), str)
                                 else "" for item in (declared if isinstance(declared, list) else [])]
        nodes = data.get("nodes")
        for raw in nodes if isinstance(nodes, list) else []:
            if not isinstance(raw, dict) or self.count >= MAX_NODES:
                continue
            node_id, node_type = _norm_id(raw.get("id")), raw.get("type")
            if node_id is None or not isinstance(node_type, str):
                continue
            self.count += 1
            mode = raw.get("mode")
            node = _UINode(
                id=node_id,
                type=node_type,
                mode=mode if isinstance(mode, int) and not isinstance(mode, bool) else 0,
                inputs=_slots(raw.get("inputs")),
                outputs=_slots(raw.get("outputs")),
                widgets=raw.get("widgets_values"),
                graph=graph,
                properties=raw.get("properties") if isinstance(raw.get("properties"), dict) else {},
            )
            graph.nodes[node_id] = node
        if instance is not None:
            graph.host = host_values(instance.inputs, instance.widgets, instance.properties, _widget_inputs_of(graph))
            graph.host.merge_outer(outer or {})
        for node in graph.nodes.values():
            sub = self.subgraphs.get(node.type)
            if sub is not None and node.type not in stack and len(stack) < MAX_SUBGRAPH_DEPTH:
                graph.inner[node.id] = self._build(sub, f"{prefix}{node.id}:", graph, node, (*stack, node.type),
                                                   graph.host.widgets.get(node.id))
        return graph

    def _index_setters(self, graph: _UIGraph) -> None:
        for node in graph.nodes.values():
            if node.type == "SetNode" and isinstance(node.widgets, list) and node.widgets:
                name = node.widgets[0]
                if isinstance(name, str) and name not in self.setters and node.mode not in (MODE_MUTED,):
                    self.setters[name] = node
        for inner in graph.inner.values():
            self._index_setters(inner)

    # -- link resolution ----------------------------------------------------------------------------------

    def resolve(self, graph: _UIGraph, link_id: Any) -> tuple[str, Any] | None:
        """Follow a link to a real node output ``("link", [id, slot])`` or a literal ``("value", v)``."""
        key = _norm_id(link_id)
        for _ in range(MAX_RESOLVE):
            if key is None:
                return None
            link = graph.links.get(key)
            if link is None:
                return None
            if link.origin == str(SUBGRAPH_INPUT_ID):
                if graph.parent is None or graph.instance is None:
                    return None
                name = graph.input_names[link.origin_slot] if 0 <= link.origin_slot < len(graph.input_names) else ""
                slot = next((item for item in graph.instance.inputs if name and item.get("name") == name), None) \
                    or _slot(graph.instance.inputs, link.origin_slot)
                if (slot is None or slot.get("link") is None) and name in graph.host.inputs:
                    return ("value", graph.host.inputs[name])
                graph, key = graph.parent, _norm_id(slot.get("link")) if slot else None
                continue
            node = graph.nodes.get(link.origin)
            if node is None or node.mode == MODE_MUTED:
                return None
            if node.mode == MODE_BYPASSED or node.type in _PASS_THROUGH_TYPES or node.type == "SetNode":
                slot = _pass_through_input(node, link.origin_slot, link.type)
                key = _norm_id(slot.get("link")) if slot else None
                graph = node.graph
                continue
            inner = graph.inner.get(node.id)
            if inner is not None:
                key, graph = inner.exits.get(link.origin_slot), inner
                continue
            if node.type == "PrimitiveNode":
                values = node.widgets if isinstance(node.widgets, list) else []
                return ("value", values[0]) if values else None
            if node.type == "GetNode":
                name = node.widgets[0] if isinstance(node.widgets, list) and node.widgets else None
                setter = self.setters.get(name) if isinstance(name, str) else None
                slot = _slot(setter.inputs, 0) if setter else None
                if setter is None or slot is None:
                    return None
                graph, key = setter.graph, _norm_id(slot.get("link"))
                continue
            return ("link", [f"{graph.prefix}{node.id}", link.origin_slot])
        return None

    def broadcasts_of(self, graph: _UIGraph) -> list[Broadcast]:
        key = id(graph)
        if key not in self._broadcasts:
            active = [n.id for n in graph.nodes.values() if n.mode not in (MODE_MUTED, MODE_BYPASSED)]
            self._broadcasts[key] = broadcasts(graph.nodes, graph.links, active)
        return self._broadcasts[key]

    # -- API prompt -------------------------------------------------------------------------------------------

    def prompt(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        self._emit(self.root, out)
        return out

    def _emit(self, graph: _UIGraph, out: dict[str, Any]) -> None:
        for node in graph.nodes.values():
            if node.id in graph.inner:
                if node.mode not in (MODE_MUTED, MODE_BYPASSED):
                    self._emit(graph.inner[node.id], out)
                continue
            if node.mode in (MODE_MUTED, MODE_BYPASSED) or node.type in _VIRTUAL_TYPES:
                continue
            inputs = _widget_inputs(node)
            promoted = graph.host.widgets.get(node.id)
            if promoted:
                inputs.update({name: value for name, value in promoted.items() if name != _CONTROL})
            candidates = self.broadcasts_of(graph)
            for slot in node.inputs:
                name = slot.get("name")
                if not isinstance(name, str):
                    continue
                link = slot.get("link")
                if link is None and candidates:
                    link = pick(candidates, slot, f"{graph.prefix}{node.id}")
                if link is None:
                    continue
                resolved = self.resolve(graph, link)
                if resolved is not None:
                    inputs[name] = resolved[1]
            out[f"{graph.prefix}{node.id}"] = {"class_type": node.type, "inputs": inputs}


_WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


def _widget_inputs_of(graph: _UIGraph) -> list[str]:
    """The subgraph's inputs (in declared order) that feed an inner widget: those an instance holds values for."""
    targets: dict[int, tuple[str, int]] = {}
    for link in graph.links.values():
        if link.origin == str(SUBGRAPH_INPUT_ID):
            targets.setdefault(link.origin_slot, (link.target, link.target_slot))
    names: list[str] = []
    for index, name in enumerate(graph.input_names):
        target = targets.get(index)
        node = graph.nodes.get(target[0]) if target else None
        slot = _slot(node.inputs, target[1]) if node and target else None
        if slot is None:
            continue
        if isinstance(slot.get("widget"), dict) or slot.get("type") in _WIDGET_TYPES:
            names.append(name)
    return names


_VIRTUAL_TYPES = {"PrimitiveNode", "GetNode", "SetNode", "Note", "MarkdownNote", *_PASS_THROUGH_TYPES,
                  *BROADCASTER_TYPES}


def _slot(slots: list[dict[str, Any]], index: int) -> dict[str, Any] | None:
    return slots[index] if 0 <= index < len(slots) else None


def _pass_through_input(node: _UINode, out_slot: int, link_type: str) -> dict[str, Any] | None:
    """The input a bypassed node forwards: same slot index when the type matches, else the first of that type."""
    output = _slot(node.outputs, out_slot)
    wanted = output.get("type") if output and isinstance(output.get("type"), str) else link_type
    same = _slot(node.inputs, out_slot)
    if same is not None and (not wanted or same.get("type") in (wanted, "*")) and same.get("link") is not None:
        return same
    for slot in node.inputs:
        if slot.get("type") == wanted and slot.get("link") is not None:
            return slot
    if node.type in _PASS_THROUGH_TYPES or node.type == "SetNode":
        return next((slot for slot in node.inputs if slot.get("link") is not None), None)
    return None


def _is_control(value: Any) -> bool:
    return isinstance(value, bool) or (isinstance(value, str) and value in _CONTROL_VALUES)


def _map_widgets(names: tuple[str, ...] | list[str], values: list[Any], seed_controls: bool) -> dict[str, Any]:
    """Pair names with values, skipping a ``control_after_generate`` slot the list does not hold."""
    inputs: dict[str, Any] = {}
    index = 0
    for pos, name in enumerate(names):
        if index >= len(values):
            break
        if name == _CONTROL:
            if _is_control(values[index]):
                index += 1
            continue
        inputs[name] = values[index]
        index += 1
        if seed_controls and "seed" in name and (pos + 1 >= len(names) or names[pos + 1] != _CONTROL):
            if index < len(values) and _is_control(values[index]):
                index += 1
    return inputs


def _lora_manager_widgets(values: list[Any]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for value in values:
        if isinstance(value, list) and any(isinstance(item, dict) and "name" in item for item in value):
            inputs.setdefault("loras", value)
        elif isinstance(value, dict) and isinstance(value.get("__value__"), list):
            inputs.setdefault("loras", value)
        elif isinstance(value, str) and "text" not in inputs:
            inputs["text"] = value
    return inputs


def _power_lora_widgets(values: list[Any]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for value in values:
        if isinstance(value, dict) and "lora" in value:
            inputs[f"lora_{len(inputs) + 1}"] = value
    return inputs


_SPECIAL_WIDGETS: dict[str, Callable[[list[Any]], dict[str, Any]]] = {
    "Power Lora Loader (rgthree)": _power_lora_widgets,
    **{name: _lora_manager_widgets for name in _LORA_MANAGER_TYPES},
}


def _widget_inputs(node: _UINode) -> dict[str, Any]:
    widgets = node.widgets
    if isinstance(widgets, dict):
        return {key: value for key, value in widgets.items() if isinstance(key, str)}
    if not isinstance(widgets, list):
        return {}
    special = _SPECIAL_WIDGETS.get(node.type)
    if special is not None:
        return special(widgets)
    names = WIDGET_NAMES.get(node.type)
    if names is not None:
        return _map_widgets(names, widgets, seed_controls=False)
    # Newer frontends list every widget among the inputs with a "widget" key, in widgets_values order.
    widget_names = [
        slot["name"] for slot in node.inputs
        if isinstance(slot.get("widget"), dict) and isinstance(slot.get("name"), str)
    ]
    return _map_widgets(widget_names, widgets, seed_controls=True) if widget_names else {}


def workflow_to_prompt(workflow: dict[str, Any]) -> dict[str, Any]:
    """Convert a UI-format workflow to an API-format prompt dict (known widget layouts only)."""
    if not isinstance(workflow, dict):
        return {}
    return _Converter(workflow).prompt()


def _graph_json(text: dict[str, str], key: str) -> dict[str, Any] | None:
    if not isinstance(text, dict):
        return None
    data = load_json(text.get(key))
    return data if isinstance(data, dict) else None


def parse_comfyui_prompt(text: dict[str, str]) -> ParsedGeneration | None:
    prompt = _graph_json(text, "prompt")
    if prompt is None:
        return None
    result = read_prompt_graph(prompt)
    if not result.has_content():
        return None
    return enrich_from_text(result, text, _graph_json(text, "workflow"))


def parse_comfyui_workflow(text: dict[str, str]) -> ParsedGeneration | None:
    workflow = _graph_json(text, "workflow")
    if workflow is None:
        return None
    result = read_prompt_graph(workflow_to_prompt(workflow))
    if not result.has_content():
        return None
    result.source_format = "comfyui-workflow"
    return enrich_from_text(result, text, workflow)


def parse_comfyui(text: dict[str, str]) -> ParsedGeneration | None:
    """The ``prompt`` graph when it yields anything, else the ``workflow`` graph; None when neither does."""
    return parse_comfyui_prompt(text) or parse_comfyui_workflow(text)
