"""Build ComfyUI workflows the way the frontend saves them, and images that carry them.

``UIGraph`` writes the UI format (nodes with typed input/output slots, ``[id, from, slot, to, slot, type]`` links,
``mode`` 2 = muted, 4 = bypassed); ``subgraph_definition`` writes a ``definitions.subgraphs`` entry with its
-10 (inputs) and -20 (outputs) boundary links. ``png_with_graph`` / ``webp_with_graph`` embed a workflow and/or an
API prompt as ComfyUI's savers do (PNG tEXt ``prompt``/``workflow``; WebP EXIF Model "prompt:" / Make "workflow:").
"""
from __future__ import annotations

import copy
import io
import json
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

MUTED, BYPASSED = 2, 4
SUBGRAPH_IN, SUBGRAPH_OUT = -10, -20
EXIF_MAKE, EXIF_MODEL = 0x010F, 0x0110


class UIGraph:
    """Nodes and links of one graph level (the workflow or a subgraph definition)."""

    def __init__(self) -> None:
        self.nodes: dict[int, dict[str, Any]] = {}
        self.edges: list[tuple[int, int, int, str]] = []

    def add(self, node_id: int, node_type: str, widgets: Any = None, *, inputs=(), outputs=(), mode: int = 0,
            widget_inputs=(), properties: dict | None = None) -> "UIGraph":
        slots = [{"name": name, "type": kind, "link": None} for name, kind in inputs]
        slots += [{"name": name, "type": kind, "link": None, "widget": {"name": name}} for name, kind in widget_inputs]
        self.nodes[node_id] = {
            "id": node_id, "type": node_type, "mode": mode, "inputs": slots,
            "outputs": [{"name": kind, "type": kind, "links": []} for kind in outputs],
            "widgets_values": widgets if widgets is not None else [], "properties": properties or {},
        }
        return self

    def connect(self, src: int, src_slot: int, dst: int, input_name: str) -> "UIGraph":
        self.edges.append((src, src_slot, dst, input_name))
        return self

    def data(self, **extra: Any) -> dict[str, Any]:
        nodes = copy.deepcopy(self.nodes)
        links = []
        for link_id, (src, src_slot, dst, input_name) in enumerate(self.edges, start=1):
            inputs = nodes[dst]["inputs"]
            index = next(i for i, slot in enumerate(inputs) if slot["name"] == input_name)
            if src == SUBGRAPH_IN:
                kind = inputs[index]["type"]
            else:
                kind = nodes[src]["outputs"][src_slot]["type"]
                nodes[src]["outputs"][src_slot]["links"].append(link_id)
            inputs[index]["link"] = link_id
            links.append([link_id, src, src_slot, dst, index, kind])
        return {"nodes": list(nodes.values()), "links": links, **extra}


def subgraph_definition(uid: str, graph: UIGraph, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]],
                        exits: list[tuple[int, int]], name: str = "Block") -> dict[str, Any]:
    """A subgraph definition: ``graph`` may link from ``SUBGRAPH_IN`` slot i; ``exits[j] = (node, slot)`` feeds
    output j. Links are written as objects, as the frontend writes them inside definitions."""
    body = graph.data()
    links = [{"id": l[0], "origin_id": l[1], "origin_slot": l[2], "target_id": l[3], "target_slot": l[4],
              "type": l[5]} for l in body["links"]]
    next_id = max((l["id"] for l in links), default=0) + 1000
    for index, (node_id, slot) in enumerate(exits):
        links.append({"id": next_id + index, "origin_id": node_id, "origin_slot": slot, "target_id": SUBGRAPH_OUT,
                      "target_slot": index, "type": outputs[index][1]})
    return {
        "id": uid, "name": name,
        "inputs": [{"name": n, "type": t, "linkIds": [l["id"] for l in links if l["origin_id"] == SUBGRAPH_IN
                                                      and l["origin_slot"] == i]} for i, (n, t) in enumerate(inputs)],
        "outputs": [{"name": n, "type": t, "linkIds": [next_id + i]} for i, (n, t) in enumerate(outputs)],
        "nodes": body["nodes"], "links": links,
    }


def png_with_graph(*, workflow: dict | None = None, prompt: dict | None = None,
                   extra: dict[str, str] | None = None) -> bytes:
    info = PngInfo()
    if prompt is not None:
        info.add_text("prompt", json.dumps(prompt))
    if workflow is not None:
        info.add_text("workflow", json.dumps(workflow))
    for key, value in (extra or {}).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), (40, 90, 160)).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def webp_with_graph(*, workflow: dict | None = None, prompt: dict | None = None, frames: int = 1) -> bytes:
    """A WebP as ComfyUI's SaveAnimatedWEBP writes it: EXIF Make = "workflow:{json}", Model = "prompt:{json}"."""
    exif = Image.Exif()
    if workflow is not None:
        exif[EXIF_MAKE] = "workflow:" + json.dumps(workflow)
    if prompt is not None:
        exif[EXIF_MODEL] = "prompt:" + json.dumps(prompt)
    images = [Image.new("RGB", (24, 16), (10 * i, 90, 160)) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "WEBP", exif=exif.tobytes(), save_all=frames > 1, append_images=images[1:],
                   duration=100, loop=0)
    return buffer.getvalue()


def base_ui(graph: UIGraph, model_src: tuple[int, int] = (4, 0), clip_src: tuple[int, int] = (4, 1)) -> UIGraph:
    """Checkpoint 4, prompts 6/7, latent 5, KSampler 3, decode 8, SaveImage 9."""
    graph.add(4, "CheckpointLoaderSimple", ["sdxl/base.safetensors"], outputs=("MODEL", "CLIP", "VAE"))
    graph.add(5, "EmptyLatentImage", [832, 1216, 1], outputs=("LATENT",))
    graph.add(6, "CLIPTextEncode", ["a lighthouse at dusk"], inputs=[("clip", "CLIP")], outputs=("CONDITIONING",))
    graph.add(7, "CLIPTextEncode", ["blurry"], inputs=[("clip", "CLIP")], outputs=("CONDITIONING",))
    graph.add(3, "KSampler", [7, "fixed", 24, 6.5, "euler", "normal", 1.0],
              inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                      ("latent_image", "LATENT")], outputs=("LATENT",))
    graph.add(8, "VAEDecode", [], inputs=[("samples", "LATENT"), ("vae", "VAE")], outputs=("IMAGE",))
    graph.add(9, "SaveImage", ["out"], inputs=[("images", "IMAGE")])
    graph.connect(*model_src, 3, "model").connect(6, 0, 3, "positive").connect(7, 0, 3, "negative")
    graph.connect(5, 0, 3, "latent_image").connect(*clip_src, 6, "clip").connect(*clip_src, 7, "clip")
    graph.connect(3, 0, 8, "samples").connect(4, 2, 8, "vae").connect(8, 0, 9, "images")
    return graph


def api_node(class_type: str, **inputs: Any) -> dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs}


def base_api(model_link=("4", 0), clip_link=("4", 1)) -> dict[str, Any]:
    """The API-format twin of ``base_ui``."""
    return {
        "3": api_node("KSampler", seed=7, steps=24, cfg=6.5, sampler_name="euler", scheduler="normal", denoise=1.0,
                      model=list(model_link), positive=["6", 0], negative=["7", 0], latent_image=["5", 0]),
        "4": api_node("CheckpointLoaderSimple", ckpt_name="sdxl/base.safetensors"),
        "5": api_node("EmptyLatentImage", width=832, height=1216, batch_size=1),
        "6": api_node("CLIPTextEncode", text="a lighthouse at dusk", clip=list(clip_link)),
        "7": api_node("CLIPTextEncode", text="blurry", clip=list(clip_link)),
        "8": api_node("VAEDecode", samples=["3", 0], vae=["4", 2]),
        "9": api_node("SaveImage", filename_prefix="out", images=["8", 0]),
    }


# -- the shape of ComfyUI's Qwen/Wan templates: a subgraph whose promoted boolean switches a LoRA in and out ----

LIGHTNING = "Qwen-Image-Lightning-8steps-V1.0.safetensors"


def lora_switch_block(uid: str = "sub-lightning", stale: bool = False) -> dict:
    """Inner: LoraLoaderModelOnly 1; ComfySwitchNode 2 (on_false: the model as it came in, on_true: the LoRA);
    PrimitiveBoolean 3 whose value is wired to the subgraph input ``value``; steps switch 4 between PrimitiveInts
    5 (8 steps, LoRA) and 6 (20 steps). Inner widgets hold ``stale``, as a subgraph saved before the user flipped
    the instance's toggle does."""
    inner = UIGraph()
    inner.add(1, "LoraLoaderModelOnly", [LIGHTNING, 1.0], inputs=[("model", "MODEL")], outputs=("MODEL",),
              widget_inputs=[("lora_name", "COMBO")])
    inner.add(2, "ComfySwitchNode", [stale], inputs=[("on_false", "MODEL"), ("on_true", "MODEL")],
              widget_inputs=[("switch", "BOOLEAN")], outputs=("MODEL",))
    inner.add(3, "PrimitiveBoolean", [stale], widget_inputs=[("value", "BOOLEAN")], outputs=("BOOLEAN",))
    inner.add(4, "ComfySwitchNode", [stale], inputs=[("on_false", "INT"), ("on_true", "INT")],
              widget_inputs=[("switch", "BOOLEAN")], outputs=("INT",))
    inner.add(5, "PrimitiveInt", [8, "fixed"], outputs=("INT",))
    inner.add(6, "PrimitiveInt", [20, "fixed"], outputs=("INT",))
    inner.connect(SUBGRAPH_IN, 0, 1, "model").connect(SUBGRAPH_IN, 0, 2, "on_false").connect(1, 0, 2, "on_true")
    inner.connect(SUBGRAPH_IN, 1, 3, "value").connect(3, 0, 2, "switch").connect(3, 0, 4, "switch")
    inner.connect(6, 0, 4, "on_false").connect(5, 0, 4, "on_true")
    return subgraph_definition(uid, inner, inputs=[("model", "MODEL"), ("value", "BOOLEAN")],
                               outputs=[("MODEL", "MODEL"), ("INT", "INT")], exits=[(2, 0), (4, 0)])


def workflow_with_block(value: bool | None, *, stale: bool | None = None, proxy: bool = False,
                        linked_value: bool | None = None) -> dict:
    stale = (not value) if stale is None else stale
    graph = base_ui(UIGraph(), model_src=(50, 0))
    graph.nodes[3]["inputs"].append({"name": "steps", "type": "INT", "link": None, "widget": {"name": "steps"}})
    graph.add(50, "sub-lightning", [] if proxy or value is None else [value],
              inputs=[("model", "MODEL")], widget_inputs=[] if proxy else [("value", "BOOLEAN")],
              outputs=("MODEL", "INT"),
              properties={"proxyWidgets": [["1", "lora_name"], ["3", "value"]]} if proxy else {})
    graph.connect(4, 0, 50, "model").connect(50, 1, 3, "steps")
    if linked_value is not None:
        graph.add(60, "PrimitiveBoolean", [linked_value], widget_inputs=[("value", "BOOLEAN")], outputs=("BOOLEAN",))
        graph.connect(60, 0, 50, "value")
    return graph.data(definitions={"subgraphs": [lora_switch_block(stale=stale)]})
