from __future__ import annotations

import copy
import json

from lora_manager.py.services.recipes.parsers.comfyui import (
    parse_comfyui,
    parse_comfyui_prompt,
    parse_comfyui_workflow,
    workflow_to_prompt,
)

MUTED, BYPASSED = 2, 4


class Workflow:
    """Minimal UI-format workflow builder: nodes with typed slots and [id, from, slot, to, slot, type] links."""

    def __init__(self) -> None:
        self.nodes: dict[int, dict] = {}
        self.edges: list[tuple[int, int, int, str]] = []

    def add(self, node_id, node_type, widgets=None, *, inputs=(), outputs=(), mode=0, widget_inputs=()):
        slots = [{"name": name, "type": kind, "link": None} for name, kind in inputs]
        slots += [{"name": name, "type": kind, "link": None, "widget": {"name": name}} for name, kind in widget_inputs]
        self.nodes[node_id] = {
            "id": node_id, "type": node_type, "mode": mode, "inputs": slots,
            "outputs": [{"name": kind, "type": kind, "links": []} for kind in outputs],
            "widgets_values": widgets if widgets is not None else [],
        }
        return self

    def connect(self, src, src_slot, dst, input_name):
        self.edges.append((src, src_slot, dst, input_name))
        return self

    def disconnect(self, dst, input_name):
        self.edges = [edge for edge in self.edges if (edge[2], edge[3]) != (dst, input_name)]

    def data(self, **extra) -> dict:
        nodes = copy.deepcopy(self.nodes)
        links = []
        for link_id, (src, src_slot, dst, input_name) in enumerate(self.edges, start=1):
            kind = nodes[src]["outputs"][src_slot]["type"]
            inputs = nodes[dst]["inputs"]
            index = next(i for i, slot in enumerate(inputs) if slot["name"] == input_name)
            inputs[index]["link"] = link_id
            nodes[src]["outputs"][src_slot]["links"].append(link_id)
            links.append([link_id, src, src_slot, dst, index, kind])
        return {"nodes": list(nodes.values()), "links": links, "groups": [], "version": 0.4, **extra}


def txt2img(model_src=(4, 0), clip_src=(4, 1)) -> Workflow:
    wf = Workflow()
    wf.add(4, "CheckpointLoaderSimple", ["ckpt/base.safetensors"], outputs=("MODEL", "CLIP", "VAE"))
    wf.add(5, "EmptyLatentImage", [640, 896, 1], outputs=("LATENT",))
    wf.add(6, "CLIPTextEncode", ["a red fox"], inputs=[("clip", "CLIP")], outputs=("CONDITIONING",))
    wf.add(7, "CLIPTextEncode", ["lowres"], inputs=[("clip", "CLIP")], outputs=("CONDITIONING",))
    wf.add(3, "KSampler", [99, "randomize", 30, 7, "euler", "karras", 1],
           inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                   ("latent_image", "LATENT")], outputs=("LATENT",))
    wf.connect(*model_src, 3, "model").connect(6, 0, 3, "positive").connect(7, 0, 3, "negative")
    wf.connect(5, 0, 3, "latent_image").connect(*clip_src, 6, "clip").connect(*clip_src, 7, "clip")
    return wf


def lora_node(wf, node_id, name, strength, mode=0, model_only=False):
    if model_only:
        wf.add(node_id, "LoraLoaderModelOnly", [name, strength], inputs=[("model", "MODEL")], outputs=("MODEL",),
               mode=mode)
    else:
        wf.add(node_id, "LoraLoader", [name, strength, strength], inputs=[("model", "MODEL"), ("clip", "CLIP")],
               outputs=("MODEL", "CLIP"), mode=mode)
    return wf


def loras(result):
    return [(lora.name, lora.strength_model, lora.strength_clip) for lora in result.loras]


def parse(wf: Workflow, **extra):
    return parse_comfyui_workflow({"workflow": json.dumps(wf.data(**extra))})


def test_plain_workflow():
    result = parse(txt2img())
    assert result.source_format == "comfyui-workflow"
    assert result.checkpoint.name == "ckpt/base.safetensors"
    assert result.gen_params == {
        "prompt": "a red fox", "negative_prompt": "lowres", "steps": 30, "sampler": "euler", "scheduler": "karras",
        "cfg_scale": 7.0, "seed": 99, "size": "640x896", "denoising_strength": 1.0, "width": 640, "height": 896,
    }


def test_bypassed_lora_passes_through_and_muted_nodes_are_ignored():
    wf = txt2img(model_src=(12, 0), clip_src=(12, 1))
    lora_node(wf, 10, "first.safetensors", 0.6)
    lora_node(wf, 11, "bypassed.safetensors", 0.9, mode=BYPASSED)
    lora_node(wf, 12, "last.safetensors", 0.4)
    wf.connect(4, 0, 10, "model").connect(4, 1, 10, "clip")
    wf.connect(10, 0, 11, "model").connect(10, 1, 11, "clip")
    wf.connect(11, 0, 12, "model").connect(11, 1, 12, "clip")
    # A muted second sampler must not be read.
    wf.add(20, "KSampler", [1, "fixed", 1, 1, "ddim", "normal", 1], mode=MUTED,
           inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                   ("latent_image", "LATENT")], outputs=("LATENT",))
    wf.connect(12, 0, 20, "model")
    result = parse(wf)
    assert loras(result) == [("last.safetensors", 0.4, 0.4), ("first.safetensors", 0.6, 0.6)]
    assert result.checkpoint.name == "ckpt/base.safetensors"
    assert result.gen_params["seed"] == 99
    prompt = workflow_to_prompt(wf.data())
    assert "11" not in prompt and "20" not in prompt
    assert prompt["12"]["inputs"]["model"] == ["10", 0]


def test_muted_lora_cuts_the_chain():
    wf = txt2img(model_src=(11, 0), clip_src=(11, 1))
    lora_node(wf, 10, "muted.safetensors", 1.0, mode=MUTED)
    lora_node(wf, 11, "kept.safetensors", 1.0)
    wf.connect(4, 0, 10, "model").connect(10, 0, 11, "model").connect(10, 1, 11, "clip")
    result = parse(wf)
    assert loras(result) == [("kept.safetensors", 1.0, 1.0)]
    assert result.checkpoint is None


def test_bypassed_node_with_mismatched_slots_uses_first_input_of_the_type():
    wf = txt2img(model_src=(10, 0))
    wf.add(10, "ModelPatcher", [], inputs=[("clip", "CLIP"), ("model", "MODEL")], outputs=("MODEL",), mode=BYPASSED)
    wf.connect(4, 1, 10, "clip").connect(4, 0, 10, "model")
    assert parse(wf).checkpoint.name == "ckpt/base.safetensors"


def test_reroute_primitive_and_set_get_nodes():
    wf = txt2img(model_src=(30, 0))
    wf.add(30, "Reroute", [], inputs=[("", "*")], outputs=("MODEL",))
    wf.add(31, "GetNode", ["model_ref"], outputs=("MODEL",))
    wf.add(32, "SetNode", ["model_ref"], inputs=[("MODEL", "MODEL")], outputs=("MODEL",))
    lora_node(wf, 33, "via_set_get.safetensors", 0.5, model_only=True)
    wf.connect(4, 0, 33, "model").connect(33, 0, 32, "MODEL").connect(31, 0, 30, "")
    wf.add(34, "PrimitiveNode", [123456, "fixed"], outputs=("INT",))
    wf.nodes[3]["inputs"].append({"name": "seed", "type": "INT", "link": None, "widget": {"name": "seed"}})
    wf.connect(34, 0, 3, "seed")
    wf.add(35, "Note", ["just a note"])
    result = parse(wf)
    assert loras(result) == [("via_set_get.safetensors", 0.5, None)]
    assert result.checkpoint.name == "ckpt/base.safetensors"
    assert result.gen_params["seed"] == 123456


def test_power_lora_loader_and_lora_manager_widgets():
    wf = txt2img(model_src=(41, 0), clip_src=(41, 1))
    wf.add(40, "Power Lora Loader (rgthree)", [
        {}, {"type": "PowerLoraLoaderHeaderWidget"},
        {"on": True, "lora": "p1.safetensors", "strength": 0.8, "strengthTwo": None},
        {"on": False, "lora": "p2.safetensors", "strength": 1},
        {"on": True, "lora": "p3.safetensors", "strength": 0.5, "strengthTwo": 0.2},
        {}, "",
    ], inputs=[("model", "MODEL"), ("clip", "CLIP")], outputs=("MODEL", "CLIP"))
    wf.add(41, "Lora Loader (LoraManager)", [
        "<lora:lm:0.7>",
        [{"name": "lm", "strength": 0.7, "active": True, "expanded": False},
         {"name": "lm_inactive", "strength": 1, "active": False}],
    ], inputs=[("model", "MODEL"), ("clip", "CLIP")], outputs=("MODEL", "CLIP"))
    wf.connect(4, 0, 40, "model").connect(4, 1, 40, "clip").connect(40, 0, 41, "model").connect(40, 1, 41, "clip")
    result = parse(wf)
    assert loras(result) == [("lm", 0.7, 0.7), ("p1.safetensors", 0.8, 0.8), ("p3.safetensors", 0.5, 0.2)]


def test_subgraph_is_expanded():
    wf = txt2img(model_src=(50, 0))
    wf.add(50, "sub-uuid-1", [], inputs=[("model", "MODEL"), ("clip", "CLIP")], outputs=("MODEL", "CONDITIONING"))
    wf.connect(4, 0, 50, "model").connect(4, 1, 50, "clip")
    wf.disconnect(3, "positive")
    wf.connect(50, 1, 3, "positive")
    subgraph = {
        "id": "sub-uuid-1",
        "name": "LoRA block",
        "inputs": [{"name": "model", "type": "MODEL", "linkIds": [101]},
                   {"name": "clip", "type": "CLIP", "linkIds": [102]}],
        "outputs": [{"name": "MODEL", "type": "MODEL", "linkIds": [104]},
                    {"name": "CONDITIONING", "type": "CONDITIONING", "linkIds": [105]}],
        "nodes": [
            {"id": 1, "type": "LoraLoader", "mode": 0, "widgets_values": ["inner.safetensors", 0.75, 0.5],
             "inputs": [{"name": "model", "type": "MODEL", "link": 101}, {"name": "clip", "type": "CLIP", "link": 102}],
             "outputs": [{"name": "MODEL", "type": "MODEL", "links": [104]},
                         {"name": "CLIP", "type": "CLIP", "links": [106]}]},
            {"id": 2, "type": "CLIPTextEncode", "mode": 0, "widgets_values": ["from the subgraph"],
             "inputs": [{"name": "clip", "type": "CLIP", "link": 106}],
             "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [105]}]},
            {"id": 3, "type": "sub-uuid-1", "mode": 0, "inputs": [], "outputs": []},  # self-nesting is cut
        ],
        "links": [
            {"id": 101, "origin_id": -10, "origin_slot": 0, "target_id": 1, "target_slot": 0, "type": "MODEL"},
            {"id": 102, "origin_id": -10, "origin_slot": 1, "target_id": 1, "target_slot": 1, "type": "CLIP"},
            {"id": 104, "origin_id": 1, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "MODEL"},
            {"id": 106, "origin_id": 1, "origin_slot": 1, "target_id": 2, "target_slot": 0, "type": "CLIP"},
            {"id": 105, "origin_id": 2, "origin_slot": 0, "target_id": -20, "target_slot": 1, "type": "CONDITIONING"},
        ],
    }
    result = parse(wf, definitions={"subgraphs": [subgraph]})
    assert loras(result) == [("inner.safetensors", 0.75, 0.5)]
    assert result.checkpoint.name == "ckpt/base.safetensors"
    assert result.gen_params["prompt"] == "from the subgraph"
    prompt = workflow_to_prompt(wf.data(definitions={"subgraphs": [subgraph]}))
    assert prompt["50:1"]["inputs"]["model"] == ["4", 0]


def test_unknown_node_uses_widget_inputs_order_and_dict_widgets():
    wf = txt2img()
    del wf.nodes[3]
    wf.edges = [edge for edge in wf.edges if edge[2] != 3]
    wf.add(3, "FancySampler", [314, "increment", 18, 4.5, "heun", "exponential", 0.9],
           inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                   ("latent_image", "LATENT")],
           widget_inputs=[("seed", "INT"), ("steps", "INT"), ("cfg", "FLOAT"), ("sampler_name", "COMBO"),
                          ("scheduler", "COMBO"), ("denoise", "FLOAT")], outputs=("LATENT",))
    wf.connect(4, 0, 3, "model").connect(6, 0, 3, "positive").connect(7, 0, 3, "negative")
    wf.connect(5, 0, 3, "latent_image")
    wf.add(60, "VHS_LoadVideo", {"video": "x.mp4", "force_rate": 0})
    result = parse(wf)
    assert result.gen_params["seed"] == 314
    assert result.gen_params["steps"] == 18
    assert result.gen_params["scheduler"] == "exponential"
    assert result.raw["sampler_class"] == "FancySampler"
    assert workflow_to_prompt(wf.data())["60"]["inputs"] == {"video": "x.mp4", "force_rate": 0}


def test_ksampler_widgets_without_control_value_and_object_links():
    wf = txt2img()
    wf.nodes[3]["widgets_values"] = [5, 12, 3, "ddim", "normal", 0.5]
    data = wf.data()
    data["links"] = [{"id": l[0], "origin_id": l[1], "origin_slot": l[2], "target_id": l[3], "target_slot": l[4],
                      "type": l[5]} for l in data["links"]]
    result = parse_comfyui_workflow({"workflow": json.dumps(data)})
    assert result.gen_params["seed"] == 5
    assert result.gen_params["steps"] == 12
    assert result.gen_params["denoising_strength"] == 0.5


def test_parse_comfyui_prefers_prompt_then_workflow():
    workflow = json.dumps(txt2img().data())
    prompt = json.dumps({"3": {"class_type": "KSampler", "inputs": {"seed": 1, "model": ["4", 0]}},
                         "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "api.ckpt"}}})
    assert parse_comfyui({"prompt": prompt, "workflow": workflow}).checkpoint.name == "api.ckpt"
    assert parse_comfyui({"prompt": "{broken", "workflow": workflow}).source_format == "comfyui-workflow"
    assert parse_comfyui({"prompt": "{}", "workflow": workflow}).source_format == "comfyui-workflow"
    assert parse_comfyui({"prompt": "[1, 2]"}) is None
    assert parse_comfyui({}) is None
    assert parse_comfyui_prompt("nope") is None  # type: ignore[arg-type]
    assert parse_comfyui_workflow({"workflow": json.dumps({"nodes": "x", "links": {}})}) is None


def test_garbage_workflow_shapes_do_not_raise():
    shapes = [
        {"nodes": [None, 1, {"id": [1]}, {"id": 1, "type": 2}, {"id": 2, "type": "KSampler", "mode": True,
                                                               "inputs": [1, {"name": "model", "link": 77}],
                                                               "outputs": "x", "widgets_values": "y"}],
         "links": [[1], "x", [1, 2, "a", 3, 0], {"id": 2}]},
        {"nodes": [{"id": 1, "type": "KSampler", "inputs": [{"name": "model", "link": 5}]}],
         "links": [[5, 1, 0, 1, 0, "MODEL"]]},
        {"definitions": {"subgraphs": [None, {"id": 5}]}, "nodes": []},
        {"definitions": "x"},
    ]
    for shape in shapes:
        assert isinstance(workflow_to_prompt(shape), dict)
    assert workflow_to_prompt("nope") == {}  # type: ignore[arg-type]


def test_dangling_virtual_nodes_resolve_to_nothing():
    wf = txt2img(model_src=(30, 0))
    wf.add(30, "Reroute", [], inputs=[("", "*")], outputs=("MODEL",))  # unconnected reroute
    wf.add(31, "GetNode", ["nobody_sets_this"], outputs=("INT",))
    wf.add(32, "PrimitiveNode", [], outputs=("INT",))
    wf.nodes[3]["inputs"] += [{"name": "seed", "type": "INT", "link": None, "widget": {"name": "seed"}},
                              {"name": "steps", "type": "INT", "link": None, "widget": {"name": "steps"}}]
    wf.connect(31, 0, 3, "seed").connect(32, 0, 3, "steps")
    result = parse(wf)
    assert result.checkpoint is None
    assert result.gen_params["seed"] == 99  # the widget value stays when the link leads nowhere
    assert result.gen_params["steps"] == 30


def test_subgraph_input_link_at_top_level_and_missing_links_are_ignored():
    wf = txt2img()
    data = wf.data()
    data["links"].append([500, -10, 0, 3, 0, "MODEL"])
    data["nodes"][-1]["inputs"][0]["link"] = 500
    data["nodes"][-1]["inputs"][1]["link"] = 999
    prompt = workflow_to_prompt(data)
    assert "model" not in prompt["3"]["inputs"] and "positive" not in prompt["3"]["inputs"]
