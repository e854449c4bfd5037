"""ComfyUI-Lora-Manager's node interfaces and workflows saved with them, for the compatibility tests.

``ANCHOR_NODES`` is read from that project's node sources and frontend: for each node type its sockets
(required and optional inputs that are not widgets, in order, including the sockets its frontend adds to the
"flexible" nodes), its outputs and its ``widgets_values`` layout (the widget names in saved order; an
``AUTOCOMPLETE_TEXT_*`` input saves a hidden ``__lm_autocomplete_meta_<name>`` value before its text, a combo
with ``control_after_generate`` saves the control's mode after its value).

``frontend_widgets`` is the test stand-in for what ComfyUI's frontend (with this project's
``web/comfyui/lm_anchor_nodes.js``) builds from our ``object_info``; the browser test checks the real frontend
agrees. ``AnchorWorkflow`` writes one workflow in both formats: the UI format (nodes, typed slots,
``widgets_values``, links) and the API format the frontend queues (``{"__value__": [...]}`` for list values,
no ``control_after_generate``).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

META = "__lm_autocomplete_meta_text"
META_VALUE = {"version": 1, "textWidgetName": "text"}
WIDGET_IDS = "__lm_widget_ids"
CUSTOM_WIDGET_TYPES = frozenset({"LORAS", "LORA_POOL_CONFIG", "RANDOMIZER_CONFIG", "CYCLER_CONFIG"})
AUTOCOMPLETE_TYPES = frozenset({"AUTOCOMPLETE_TEXT_LORAS", "AUTOCOMPLETE_TEXT_PROMPT"})
PLAIN_WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
# Widgets this project's frontend adds to a node beyond its inputs (as that project's frontend does).
JS_WIDGETS = {"TriggerWord Toggle (LoraManager)": ("toggle_trigger_words", "orinalMessage"),
              "Lora Info (LoraManager)": ("lora_info_display",)}


@dataclass(frozen=True)
class NodeSpec:
    sockets: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, str], ...]
    widgets: tuple[str, ...]
    output_node: bool = False


_LORA_OUTPUTS = (("MODEL", "MODEL"), ("CLIP", "CLIP"), ("STRING", "trigger_words"), ("STRING", "loaded_loras"))
_WAN_OUTPUTS = (("WANVIDLORA", "lora"), ("STRING", "trigger_words"), ("STRING", "active_loras"))
_SAVE_WIDGETS = ("filename_prefix", "file_format", "lossless_webp", "quality", "webp_method", "jpeg_subsampling",
                 "embed_workflow", "save_with_metadata", "add_loras_to_prompt", "add_counter_to_filename",
                 "save_as_recipe")
_OVERWRITE_WIDGETS = ("prompt", "negative_prompt", "seed", "steps", "cfg_scale", "sampler", "scheduler", "model", "loras",
                      "size", "clip_skip", "additional_data")

ANCHOR_NODES: dict[str, NodeSpec] = {
    "Prompt (LoraManager)": NodeSpec((("clip", "CLIP"), ("seed", "INT"), ("trigger_words1", "STRING")),
                                     (("CONDITIONING", "CONDITIONING"), ("STRING", "PROMPT")), (META, "text")),
    "Text (LoraManager)": NodeSpec((("seed", "INT"),), (("STRING", "STRING"),), (META, "text")),
    "Lora Loader (LoraManager)": NodeSpec((("model", "MODEL"), ("clip", "CLIP"), ("lora_stack", "LORA_STACK")),
                                          _LORA_OUTPUTS, (META, "text", "loras")),
    "LoRA Text Loader (LoraManager)": NodeSpec((("model", "MODEL"), ("lora_syntax", "STRING"), ("clip", "CLIP"),
                                                ("lora_stack", "LORA_STACK")), _LORA_OUTPUTS, ()),
    "Checkpoint Loader (LoraManager)": NodeSpec((), (("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")),
                                                ("ckpt_name", "control_after_generate", "base_model")),
    "Unet Loader (LoraManager)": NodeSpec((), (("MODEL", "MODEL"),),
                                          ("unet_name", "control_after_generate", "weight_dtype", "base_model")),
    "Random Checkpoint Loader (LoraManager)": NodeSpec(
        (), (("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE"), ("STRING", "model_name")),
        ("ckpt_name", "select_at_random", "base_model")),
    "Random Unet Loader (LoraManager)": NodeSpec((), (("MODEL", "MODEL"), ("STRING", "model_name")),
                                                 ("unet_name", "weight_dtype", "select_at_random", "base_model")),
    "TriggerWord Toggle (LoraManager)": NodeSpec(
        (("trigger_words", "STRING"),), (("STRING", "filtered_trigger_words"),),
        ("group_mode", "default_active", "allow_strength_adjustment", "toggle_trigger_words", "orinalMessage")),
    "Lora Stacker (LoraManager)": NodeSpec(
        (("lora_stack", "LORA_STACK"),), (("LORA_STACK", "LORA_STACK"), ("STRING", "trigger_words"),
                                          ("STRING", "active_loras")), (META, "text", "loras")),
    "Lora Stack Combiner (LoraManager)": NodeSpec((("lora_stack1", "LORA_STACK"), ("lora_stack2", "LORA_STACK")),
                                                  (("LORA_STACK", "LORA_STACK"),), ()),
    "Save Image (LoraManager)": NodeSpec((("images", "IMAGE"),), (("IMAGE", "images"),), _SAVE_WIDGETS, True),
    "Debug Metadata (LoraManager)": NodeSpec((("images", "IMAGE"),), (), (), True),
    "WanVideo Lora Select (LoraManager)": NodeSpec((("prev_lora", "WANVIDLORA"), ("blocks", "SELECTEDBLOCKS")),
                                                   _WAN_OUTPUTS, ("low_mem_load", "merge_loras", META, "text", "loras")),
    "WanVideo Lora Select From Text (LoraManager)": NodeSpec(
        (("lora_syntax", "STRING"), ("prev_lora", "WANVIDLORA"), ("blocks", "BLOCKS")), _WAN_OUTPUTS,
        ("low_mem_load", "merge_lora")),
    "Lora Pool (LoraManager)": NodeSpec((), (("POOL_CONFIG", "POOL_CONFIG"),), ("pool_config",)),
    "Lora Randomizer (LoraManager)": NodeSpec((("pool_config", "POOL_CONFIG"),), (("LORA_STACK", "LORA_STACK"),),
                                              ("randomizer_config", "loras")),
    "Lora Cycler (LoraManager)": NodeSpec((("pool_config", "POOL_CONFIG"),), (("LORA_STACK", "LORA_STACK"),),
                                          ("cycler_config",)),
    "Lora Info (LoraManager)": NodeSpec((("lora_source", "*"),), (), ("lora_info_display",)),
    "LoRA Syntax → Path (LoraManager)": NodeSpec((("lora_syntax", "STRING"),), (("STRING", "paths"),), ()),
    "Create Hook LoRA (LoraManager)": NodeSpec((("prev_hooks", "HOOKS"),), (("HOOKS", "HOOKS"), ("STRING", "trigger_words"),
                                                                          ("STRING", "active_loras")),
                                               (META, "text", "loras")),
    "Metadata Overwrite (LoraManager)": NodeSpec((), (("METADATA", "metadata"),), _OVERWRITE_WIDGETS, True),
}

# The core ComfyUI nodes the fixtures use: (name, type, is_widget) in input order, outputs.
CORE_NODES: dict[str, tuple[tuple[tuple[str, str, bool], ...], tuple[str, ...]]] = {
    "EmptyLatentImage": ((("width", "INT", True), ("height", "INT", True), ("batch_size", "INT", True)), ("LATENT",)),
    "KSampler": ((("model", "MODEL", False), ("seed", "INT", True), ("control_after_generate", "COMBO", True),
                  ("steps", "INT", True), ("cfg", "FLOAT", True), ("sampler_name", "COMBO", True),
                  ("scheduler", "COMBO", True), ("positive", "CONDITIONING", False),
                  ("negative", "CONDITIONING", False), ("latent_image", "LATENT", False),
                  ("denoise", "FLOAT", True)), ("LATENT",)),
    "VAEDecode": ((("samples", "LATENT", False), ("vae", "VAE", False)), ("IMAGE",)),
    "CLIPTextEncode": ((("text", "STRING", True), ("clip", "CLIP", False)), ("CONDITIONING",)),
}


def _spec_type(spec: Any) -> tuple[Any, dict[str, Any]]:
    kind = spec[0] if isinstance(spec, (list, tuple)) and spec else spec
    options = spec[1] if isinstance(spec, (list, tuple)) and len(spec) > 1 and isinstance(spec[1], dict) else {}
    return kind, options


def frontend_widgets(node_type: str, input_types: dict[str, Any]) -> list[str]:
    """The widget names, in order, ComfyUI's frontend builds for a node definition (with our extension)."""
    names: list[str] = []
    for section in ("required", "optional"):
        for name, spec in (input_types.get(section) or {}).items():
            kind, options = _spec_type(spec)
            if options.get("forceInput"):
                continue
            widget_type = options.get("widgetType") or kind
            if isinstance(kind, list):
                names.append(name)
                if options.get("control_after_generate"):
                    names.append("control_after_generate")
            elif widget_type in AUTOCOMPLETE_TYPES:
                names += [f"__lm_autocomplete_meta_{name}", name]
            elif widget_type in PLAIN_WIDGET_TYPES:
                names.append(name)
                control = options.get("control_after_generate", name in ("seed", "noise_seed"))
                if widget_type == "INT" and control:
                    names.append("control_after_generate")
            elif widget_type in CUSTOM_WIDGET_TYPES:
                names.append(name)
    names += JS_WIDGETS.get(node_type, ())
    return names


def frontend_sockets(input_types: dict[str, Any]) -> list[tuple[str, str]]:
    """The input sockets (inputs that are not widgets) a node definition gets, in order."""
    sockets = []
    for section in ("required", "optional"):
        for name, spec in (input_types.get(section) or {}).items():
            kind, options = _spec_type(spec)
            widget_type = options.get("widgetType") or kind
            is_widget = (isinstance(kind, list) or widget_type in PLAIN_WIDGET_TYPES | AUTOCOMPLETE_TYPES
                         | CUSTOM_WIDGET_TYPES)
            if not is_widget or options.get("forceInput"):
                sockets.append((name, "COMBO" if isinstance(kind, list) else str(kind)))
    return sockets


def api_value(value: Any) -> Any:
    """How the frontend sends a widget value in the API format (a list would read as a link)."""
    return {"__value__": copy.deepcopy(value)} if isinstance(value, list) else copy.deepcopy(value)


@dataclass
class _Node:
    node_id: int
    node_type: str
    values: dict[str, Any]
    links: dict[str, tuple[int, int]]
    title: str | None = None


@dataclass
class AnchorWorkflow:
    """A workflow of anchor and core nodes, written in both of ComfyUI's formats."""

    nodes: dict[int, _Node] = field(default_factory=dict)

    def add(self, node_id: int, node_type: str, values: dict[str, Any] | None = None,
            links: dict[str, tuple[int, int]] | None = None, title: str | None = None) -> int:
        self.nodes[node_id] = _Node(node_id, node_type, dict(values or {}), dict(links or {}), title)
        return node_id

    # -- layouts -------------------------------------------------------------------------------------

    def _widgets(self, node: _Node) -> list[str]:
        if node.node_type in ANCHOR_NODES:
            return list(ANCHOR_NODES[node.node_type].widgets)
        return [name for name, _kind, widget in CORE_NODES[node.node_type][0] if widget]

    def _sockets(self, node: _Node) -> list[tuple[str, str]]:
        if node.node_type in ANCHOR_NODES:
            return list(ANCHOR_NODES[node.node_type].sockets)
        return [(name, kind) for name, kind, widget in CORE_NODES[node.node_type][0] if not widget]

    def _outputs(self, node: _Node) -> list[tuple[str, str]]:
        if node.node_type in ANCHOR_NODES:
            return list(ANCHOR_NODES[node.node_type].outputs)
        return [(kind, kind) for kind in CORE_NODES[node.node_type][1]]

    def widget_values(self, node_id: int) -> list[Any]:
        node = self.nodes[node_id]
        return [copy.deepcopy(node.values[name]) for name in self._widgets(node)]

    # -- formats -------------------------------------------------------------------------------------

    def ui(self) -> dict[str, Any]:
        """The UI format: typed input and output slots, ``widgets_values`` in the saved layout, links."""
        links: list[list[Any]] = []
        out_links: dict[tuple[int, int], list[int]] = {}
        in_links: dict[tuple[int, str], int] = {}
        for node in self.nodes.values():
            for name, (source, slot) in node.links.items():
                link_id = len(links) + 1
                kind = self._outputs(self.nodes[source])[slot][0]
                target_slot = [n for n, _ in self._input_slots(node)].index(name)
                links.append([link_id, source, slot, node.node_id, target_slot, kind])
                out_links.setdefault((source, slot), []).append(link_id)
                in_links[(node.node_id, name)] = link_id
        nodes = []
        for order, node in enumerate(self.nodes.values()):
            inputs = []
            for name, kind in self._input_slots(node):
                entry: dict[str, Any] = {"name": name, "type": kind, "link": in_links.get((node.node_id, name))}
                if name in self._widgets(node):
                    entry["widget"] = {"name": name}
                inputs.append(entry)
            outputs = [{"name": out_name, "type": kind, "links": out_links.get((node.node_id, slot), [])}
                       for slot, (kind, out_name) in enumerate(self._outputs(node))]
            properties: dict[str, Any] = {"Node name for S&R": node.node_type}
            if node.node_type in ANCHOR_NODES:
                properties.update({"cnr_id": "comfyui-lora-manager", "ver": "1.2.1"})
                if META in self._widgets(node):
                    properties[WIDGET_IDS] = self._widgets(node)
            entry = {"id": node.node_id, "type": node.node_type, "pos": [40 + 320 * (order % 5), 40 + 360 * (order // 5)],
                     "size": [300, 200], "flags": {}, "order": order, "mode": 0, "inputs": inputs, "outputs": outputs,
                     "properties": properties, "widgets_values": self.widget_values(node.node_id)}
            if node.title:
                entry["title"] = node.title
            nodes.append(entry)
        return {"id": "00000000-0000-4000-8000-000000000015", "revision": 0, "last_node_id": max(self.nodes),
                "last_link_id": len(links), "nodes": nodes, "links": links, "groups": [], "config": {},
                "extra": {"ds": {"scale": 0.8, "offset": [0, 0]}}, "version": 0.4}

    def _input_slots(self, node: _Node) -> list[tuple[str, str]]:
        """Slots as the frontend saves them: sockets, then the widget inputs (which can take a link)."""
        slots = list(self._sockets(node))
        for name in self._widgets(node):
            if name.startswith("__lm_") or name == "control_after_generate" or name in JS_WIDGETS.get(node.node_type, ()):
                continue
            slots.append((name, _widget_type(node.node_type, name)))
        return slots

    def api(self) -> dict[str, Any]:
        """The API format the frontend queues: widget values (lists wrapped), links as [id, slot]."""
        prompt: dict[str, Any] = {}
        for node in self.nodes.values():
            inputs: dict[str, Any] = {}
            for name in self._widgets(node):
                if name == "control_after_generate":
                    continue
                inputs[name] = api_value(node.values[name])
            for name, (source, slot) in node.links.items():
                inputs[name] = [str(source), slot]
            prompt[str(node.node_id)] = {"inputs": inputs, "class_type": node.node_type,
                                         "_meta": {"title": node.title or node.node_type}}
        return prompt


_BOOLEANS = frozenset({"group_mode", "default_active", "allow_strength_adjustment", "select_at_random", "lossless_webp",
                       "embed_workflow", "save_with_metadata", "add_loras_to_prompt", "add_counter_to_filename",
                       "save_as_recipe", "low_mem_load", "merge_loras", "merge_lora"})
_INTS = frozenset({"quality", "webp_method", "jpeg_subsampling", "seed", "steps", "clip_skip", "width", "height",
                   "batch_size"})
_COMBOS = frozenset({"ckpt_name", "unet_name", "base_model", "weight_dtype", "file_format", "sampler_name"})
_CONFIGS = {"pool_config": "LORA_POOL_CONFIG", "randomizer_config": "RANDOMIZER_CONFIG", "cycler_config": "CYCLER_CONFIG"}


def _widget_type(node_type: str, name: str) -> str:
    """The type a widget input slot is saved with (that project's input types)."""
    if node_type == "Metadata Overwrite (LoraManager)":
        return {"sampler": "STRING,SAMPLER", "model": "STRING,MODEL", "cfg_scale": "FLOAT"}.get(
            name, "INT" if name in _INTS else "STRING")
    if name == "text" and node_type in ("Prompt (LoraManager)", "Text (LoraManager)"):
        return "AUTOCOMPLETE_TEXT_PROMPT,STRING"
    if name == "text" and node_type != "CLIPTextEncode":
        return "AUTOCOMPLETE_TEXT_LORAS"
    if name == "loras":
        return "LORAS"
    if name in _CONFIGS:
        return _CONFIGS[name]
    if name in _BOOLEANS:
        return "BOOLEAN"
    if name in _INTS:
        return "INT"
    if name in ("cfg", "denoise"):
        return "FLOAT"
    if name in _COMBOS or (name == "scheduler" and node_type == "KSampler"):
        return "COMBO"
    return "STRING"


def ui_to_api(workflow: dict[str, Any], definitions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the frontend queues for a UI-format workflow, given the server's node definitions: each saved
    value goes to the widget at its position in the definition's layout (``frontend_widgets``)."""
    links = {link[0]: link for link in workflow["links"]}
    prompt: dict[str, Any] = {}
    for node in workflow["nodes"]:
        if node.get("mode") in (2, 4):
            continue
        node_type = node["type"]
        if node_type in definitions:
            names = frontend_widgets(node_type, definitions[node_type])
        else:
            names = [name for name, _kind, widget in CORE_NODES[node_type][0] if widget]
        inputs: dict[str, Any] = {}
        for name, value in zip(names, node.get("widgets_values") or []):
            if name != "control_after_generate":
                inputs[name] = api_value(value)
        for slot in node.get("inputs") or []:
            if slot.get("link") is not None:
                link = links[slot["link"]]
                inputs[slot["name"]] = [str(link[1]), link[2]]
        prompt[str(node["id"])] = {"inputs": inputs, "class_type": node_type,
                                   "_meta": {"title": node.get("title") or node_type}}
    return prompt


# -- the fixtures ------------------------------------------------------------------------------------

POOL_FILTERS = {"baseModels": ["SD 1.5"], "tags": {"include": [], "exclude": []},
                "folders": {"include": [], "exclude": []}, "favoritesOnly": False,
                "license": {"noCreditRequired": False, "allowSelling": False},
                "namePatterns": {"include": [], "exclude": ["old"], "useRegex": False}}


def lora_row(name: str, strength: float, clip: float | None = None, *, active: bool = True,
             locked: bool = False) -> dict[str, Any]:
    """A row of the LORAS widget as that project saves it."""
    return {"name": name, "strength": strength, "active": active, "expanded": False,
            "clipStrength": strength if clip is None else clip, "selected": False, "locked": locked}


def basic_workflow() -> AnchorWorkflow:
    """Checkpoint -> Lora Stacker -> Lora Loader -> Prompt (trigger words through a toggle) -> KSampler -> Save
    Image, with Debug Metadata, Lora Info and Metadata Overwrite beside it."""
    wf = AnchorWorkflow()
    wf.add(1, "Checkpoint Loader (LoraManager)", {"ckpt_name": "sd15_base.safetensors",
                                                  "control_after_generate": "fixed", "base_model": "Any"})
    wf.add(2, "Lora Stacker (LoraManager)", {META: dict(META_VALUE), "text": "<lora:plain:0.4>",
                                             "loras": [lora_row("plain", 0.4)]})
    wf.add(3, "Lora Loader (LoraManager)", {
        META: dict(META_VALUE),
        "text": "<lora:detail_tweaker:0.8> <lora:style/anime_style:0.5:0.25> <lora:other/anime_style:1>",
        "loras": [lora_row("detail_tweaker", 0.8), lora_row("style/anime_style", 0.5, 0.25),
                  lora_row("other/anime_style", 1.0, active=False)]},
        links={"model": (1, 0), "clip": (1, 1), "lora_stack": (2, 0)})
    wf.add(4, "TriggerWord Toggle (LoraManager)", {
        "group_mode": True, "default_active": True, "allow_strength_adjustment": False,
        "toggle_trigger_words": [{"text": "detailed", "active": True, "strength": None, "highlighted": False},
                                 {"text": "sharp focus", "active": False, "strength": None, "highlighted": False},
                                 {"text": "anime", "active": True, "strength": None, "highlighted": False}],
        "orinalMessage": "detailed,, sharp focus,, anime"}, links={"trigger_words": (3, 2)})
    wf.add(5, "Prompt (LoraManager)", {META: dict(META_VALUE), "text": "a castle on a hill, {dawn|dusk}"},
           links={"clip": (3, 1), "trigger_words1": (4, 0)})
    wf.add(6, "Prompt (LoraManager)", {META: dict(META_VALUE), "text": "blurry, lowres"}, links={"clip": (3, 1)})
    wf.add(7, "EmptyLatentImage", {"width": 512, "height": 768, "batch_size": 1})
    wf.add(8, "KSampler", {"seed": 1234, "control_after_generate": "fixed", "steps": 20, "cfg": 7.0,
                           "sampler_name": "euler_ancestral", "scheduler": "karras", "denoise": 1.0},
           links={"model": (3, 0), "positive": (5, 0), "negative": (6, 0), "latent_image": (7, 0)})
    wf.add(9, "VAEDecode", {}, links={"samples": (8, 0), "vae": (1, 2)})
    wf.add(10, "Save Image (LoraManager)", {
        "filename_prefix": "castle/%seed%", "file_format": "png", "lossless_webp": False, "quality": 100,
        "webp_method": 6, "jpeg_subsampling": 0, "embed_workflow": True, "save_with_metadata": True,
        "add_loras_to_prompt": False, "add_counter_to_filename": True, "save_as_recipe": False},
        links={"images": (9, 0)})
    wf.add(11, "Debug Metadata (LoraManager)", {}, links={"images": (9, 0)})
    wf.add(12, "Lora Info (LoraManager)", {"lora_info_display": {
        "name": "detail_tweaker", "notes": "", "filePath": "", "activeTab": "notes"}}, links={"lora_source": (3, 0)})
    wf.add(13, "Metadata Overwrite (LoraManager)", {
        "prompt": "", "negative_prompt": "", "seed": 0, "steps": 0, "cfg_scale": 0.0, "sampler": "", "scheduler": "",
        "model": "", "loras": "", "size": "", "clip_skip": -25, "additional_data": '"Copyright": "CC-BY"'})
    return wf


def suite_workflow() -> AnchorWorkflow:
    """The other node types: model loaders, text loader, pools, randomizer, cycler, combiner, WanVideo, hooks."""
    wf = AnchorWorkflow()
    wf.add(20, "Unet Loader (LoraManager)", {"unet_name": "flux_dev.safetensors", "control_after_generate": "fixed",
                                             "weight_dtype": "fp8_e4m3fn", "base_model": "Any"})
    wf.add(21, "Random Checkpoint Loader (LoraManager)", {"ckpt_name": "sd15_base.safetensors",
                                                          "select_at_random": False, "base_model": "SD 1.5"})
    wf.add(22, "Random Unet Loader (LoraManager)", {"unet_name": "flux_dev.safetensors", "weight_dtype": "default",
                                                    "select_at_random": True, "base_model": "Any"})
    wf.add(23, "Text (LoraManager)", {META: dict(META_VALUE), "text": "<lora:detail_tweaker:0.7> portrait"})
    wf.add(24, "Lora Pool (LoraManager)", {"pool_config": {"version": 2, "filters": POOL_FILTERS,
                                                           "preview": {"matchCount": 2, "lastUpdated": 1775013745568}}})
    wf.add(25, "Lora Randomizer (LoraManager)", {
        "randomizer_config": {"count_mode": "fixed", "count_fixed": 2, "count_min": 1, "count_max": 3,
                              "model_strength_min": 0.2, "model_strength_max": 0.8, "use_same_clip_strength": True,
                              "clip_strength_min": 0, "clip_strength_max": 1, "roll_mode": "always",
                              "use_recommended_strength": False, "recommended_strength_scale_min": 0.5,
                              "recommended_strength_scale_max": 1, "execution_seed": 7, "next_seed": 8},
        "loras": [lora_row("plain", 0.5, locked=True)]}, links={"pool_config": (24, 0)})
    wf.add(26, "Lora Cycler (LoraManager)", {"cycler_config": {
        "current_index": 2, "total_count": 2, "model_strength": 0.9, "clip_strength": 1,
        "use_same_clip_strength": True, "use_preset_strength": False, "preset_strength_scale": 1,
        "sort_by": "filename", "current_lora_name": "", "current_lora_filename": "", "execution_index": None,
        "next_index": None, "repeat_count": 1, "repeat_used": 0, "is_paused": False, "include_no_lora": False}},
        links={"pool_config": (24, 0)})
    wf.add(27, "Lora Stack Combiner (LoraManager)", {}, links={"lora_stack1": (25, 0), "lora_stack2": (26, 0)})
    wf.add(28, "LoRA Text Loader (LoraManager)", {}, links={"model": (21, 0), "clip": (21, 1), "lora_syntax": (23, 0),
                                                            "lora_stack": (27, 0)})
    wf.add(29, "LoRA Syntax → Path (LoraManager)", {}, links={"lora_syntax": (28, 3)})
    wf.add(30, "WanVideo Lora Select (LoraManager)", {
        "low_mem_load": False, "merge_loras": True, META: dict(META_VALUE), "text": "<lora:detail_tweaker:1>",
        "loras": [lora_row("detail_tweaker", 1.0)]})
    wf.add(31, "WanVideo Lora Select From Text (LoraManager)", {"low_mem_load": True, "merge_lora": False},
           links={"lora_syntax": (23, 0), "prev_lora": (30, 0)})
    wf.add(32, "Create Hook LoRA (LoraManager)", {META: dict(META_VALUE), "text": "<lora:style/anime_style:0.6:0.3>",
                                                  "loras": [lora_row("style/anime_style", 0.6, 0.3)]})
    return wf
