"""UI-only workflows that route MODEL/CLIP/prompts through cg-use-everywhere's broadcaster nodes.

The saved graph leaves the sampler's inputs unconnected; the broadcast decides which LoRA chain ran. Each test
builds the workflow as the pack saves it (an "Anything Everywhere" node whose input is linked from the chain).
"""
from __future__ import annotations

import json
import logging

from support.comfy_workflows import BYPASSED, MUTED, UIGraph as Workflow

from lora_manager.py.services.recipes.parsers.comfyui import parse_comfyui_workflow, workflow_to_prompt


def parse(wf: Workflow):
    return parse_comfyui_workflow({"workflow": json.dumps(wf.data())})


def loras(result):
    return [(lora.name, lora.strength_model, lora.strength_clip) for lora in result.loras]


def broadcast_workflow(*, mode: int = 0, second: bool = False, restricted_second: bool = False) -> Workflow:
    """checkpoint -> LoRA a -> Anything Everywhere(MODEL, CLIP); sampler and encoders left unconnected."""
    wf = Workflow()
    wf.add(4, "CheckpointLoaderSimple", ["base.safetensors"], outputs=("MODEL", "CLIP", "VAE"))
    wf.add(10, "LoraLoader", ["style_a.safetensors", 0.7, 0.6], inputs=[("model", "MODEL"), ("clip", "CLIP")],
           outputs=("MODEL", "CLIP"))
    wf.connect(4, 0, 10, "model").connect(4, 1, 10, "clip")
    wf.add(20, "Anything Everywhere3", [], inputs=[("anything", "*"), ("anything2", "*"), ("anything3", "*")],
           mode=mode)
    wf.connect(10, 0, 20, "anything").connect(10, 1, 20, "anything2")
    if second:
        wf.add(11, "LoraLoaderModelOnly", ["detail_b.safetensors", 0.4], inputs=[("model", "MODEL")],
               outputs=("MODEL",))
        wf.connect(4, 0, 11, "model")
        wf.add(21, "Anything Everywhere?", [".*", "model" if restricted_second else "", ""],
               inputs=[("anything", "*")])
        wf.connect(11, 0, 21, "anything")
    wf.add(5, "EmptyLatentImage", [512, 768, 1], outputs=("LATENT",))
    wf.add(6, "CLIPTextEncode", ["a lighthouse at dusk"], inputs=[("clip", "CLIP")], outputs=("CONDITIONING",))
    wf.add(7, "CLIPTextEncode", ["blurry"], inputs=[("clip", "CLIP")], outputs=("CONDITIONING",))
    wf.add(3, "KSampler", [7, "fixed", 20, 6.5, "euler", "normal", 1],
           inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                   ("latent_image", "LATENT")], outputs=("LATENT",))
    wf.connect(6, 0, 3, "positive").connect(7, 0, 3, "negative").connect(5, 0, 3, "latent_image")
    return wf


def test_a_lora_broadcast_to_the_sampler_is_listed_with_its_prompt():
    result = parse(broadcast_workflow())
    assert loras(result) == [("style_a.safetensors", 0.7, 0.6)]
    assert result.gen_params["prompt"] == "a lighthouse at dusk"
    prompt = workflow_to_prompt(broadcast_workflow().data())
    assert prompt["3"]["inputs"]["model"] == ["10", 0]
    assert prompt["6"]["inputs"]["clip"] == ["10", 1]
    assert "20" not in prompt  # the broadcaster is a front-end node: it never reaches the API graph


def test_a_muted_or_bypassed_broadcaster_sends_nothing():
    for mode in (MUTED, BYPASSED):
        prompt = workflow_to_prompt(broadcast_workflow(mode=mode).data())
        assert "model" not in prompt["3"]["inputs"], mode
        assert loras(parse(broadcast_workflow(mode=mode))) == []


def test_connected_inputs_keep_their_own_link():
    wf = broadcast_workflow()
    wf.connect(4, 0, 3, "model")  # the sampler takes the checkpoint directly: the broadcast does not override it
    prompt = workflow_to_prompt(wf.data())
    assert prompt["3"]["inputs"]["model"] == ["4", 0]
    assert loras(parse(wf)) == [("style_a.safetensors", 0.7, 0.6)]  # its CLIP still reaches both encoders
    wf.connect(4, 1, 6, "clip").connect(4, 1, 7, "clip")
    assert loras(parse(wf)) == []


def test_two_unrestricted_broadcasts_of_one_type_are_ambiguous_and_guess_nothing(caplog):
    with caplog.at_level(logging.INFO):
        prompt = workflow_to_prompt(broadcast_workflow(second=True).data())
    assert "model" not in prompt["3"]["inputs"]
    assert prompt["6"]["inputs"]["clip"] == ["10", 1]  # CLIP still has a single source
    assert "could take 2 Anything Everywhere broadcasts" in caplog.text


def test_an_unrestricted_broadcast_wins_over_a_restricted_one_we_cannot_evaluate():
    prompt = workflow_to_prompt(broadcast_workflow(second=True, restricted_second=True).data())
    assert prompt["3"]["inputs"]["model"] == ["10", 0]


def test_prompts_everywhere_sends_positive_and_negative_by_name():
    wf = broadcast_workflow()
    wf.add(22, "Prompts Everywhere", [], inputs=[("CONDITIONING", "*"), ("CONDITIONING", "*")])
    wf.edges = [e for e in wf.edges if e[2] != 3 or e[3] == "latent_image"]
    wf.connect(6, 0, 22, "CONDITIONING")
    data = wf.data()
    # the second input has the same name: link it by hand, as the pack saves it
    data["links"].append([99, 7, 0, 22, 1, "CONDITIONING"])
    node = next(n for n in data["nodes"] if n["id"] == 22)
    node["inputs"][1]["link"] = 99
    prompt = workflow_to_prompt(data)
    assert prompt["3"]["inputs"]["positive"] == ["6", 0]
    assert prompt["3"]["inputs"]["negative"] == ["7", 0]


def test_v7_properties_restrictions_and_widget_inputs():
    wf = broadcast_workflow()
    data = wf.data()
    node = next(n for n in data["nodes"] if n["id"] == 20)
    node["properties"] = {"ue_properties": {"group_restricted": 1, "version": "7.2"}}
    sampler = next(n for n in data["nodes"] if n["id"] == 3)
    sampler["inputs"].append({"name": "seed", "type": "INT", "link": None, "widget": {"name": "seed"}})
    prompt = workflow_to_prompt(data)
    assert prompt["3"]["inputs"]["model"] == ["10", 0]  # the only (restricted) source of a MODEL
    assert prompt["3"]["inputs"]["seed"] == 7  # a widget input keeps its value, never a broadcast


def test_hostile_broadcaster_shapes_do_not_raise():
    data = broadcast_workflow().data()
    node = next(n for n in data["nodes"] if n["id"] == 20)
    node["inputs"] = [{"name": "anything", "type": 5, "link": 12345}, {"link": "x"}, {}]
    node["properties"] = {"ue_properties": ["not", "a", "dict"]}
    node["widgets_values"] = {"odd": True}
    prompt = workflow_to_prompt(data)
    assert "model" not in prompt["3"]["inputs"]
