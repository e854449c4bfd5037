"""ComfyUI graphs evaluated as ComfyUI runs them, from images built the way users meet them (PNG/WebP chunks).

Each test writes a workflow that uses one construct (a subgraph whose promoted boolean switches a LoRA in or out,
nested subgraphs, a CLIP-only LoRA, mute/bypass, pack switches and loaders...) and reads it back through
``parse_image``, the parser's public entry.
"""
from __future__ import annotations

import pytest

from lora_manager.py.services.recipes.parsers import parse_image
from support.comfy_workflows import (BYPASSED, LIGHTNING, MUTED, SUBGRAPH_IN, UIGraph, api_node, base_api,
                                     base_ui, lora_switch_block, png_with_graph, subgraph_definition,
                                     webp_with_graph, workflow_with_block)


def loras(result):
    return [(lora.name, lora.strength_model, lora.confidence) for lora in result.loras]


def names(result):
    return [lora.name for lora in result.loras]


# -- a subgraph whose promoted boolean switches a LoRA in and out ---------------------------------------------

@pytest.mark.parametrize("value", [True, False])
def test_promoted_boolean_on_the_instance_decides(value):
    result = parse_image(png_with_graph(workflow=workflow_with_block(value)))
    assert result.source_format == "comfyui-workflow"
    assert loras(result) == ([(LIGHTNING, 1.0, "exact")] if value else [])
    assert result.loras[0].node_id == "50:1" if value else True
    assert result.gen_params["steps"] == (8 if value else 20)
    assert result.checkpoint.name == "sdxl/base.safetensors"


@pytest.mark.parametrize("value", [True, False])
def test_legacy_proxy_widget_reads_the_inner_value(value):
    result = parse_image(png_with_graph(workflow=workflow_with_block(value, stale=value, proxy=True)))
    assert names(result) == ([LIGHTNING] if value else [])


def test_legacy_proxy_widget_values_follow_the_proxy_list():
    workflow = workflow_with_block(True, stale=False, proxy=True)
    instance = next(node for node in workflow["nodes"] if node["id"] == 50)
    instance["widgets_values"] = ["renamed_lightning.safetensors", True]
    result = parse_image(png_with_graph(workflow=workflow))
    assert names(result) == ["renamed_lightning.safetensors"]


@pytest.mark.parametrize("value", [True, False])
def test_a_value_linked_into_the_instance_wins(value):
    result = parse_image(png_with_graph(workflow=workflow_with_block(not value, linked_value=value)))
    assert names(result) == ([LIGHTNING] if value else [])


@pytest.mark.parametrize("value", [True, False])
def test_nested_subgraph_takes_the_outer_instance_value(value):
    middle = UIGraph()
    middle.add(1, "sub-lightning", [], inputs=[("model", "MODEL")], widget_inputs=[("value", "BOOLEAN")],
               outputs=("MODEL", "INT"))
    middle.connect(SUBGRAPH_IN, 0, 1, "model").connect(SUBGRAPH_IN, 1, 1, "value")
    outer_def = subgraph_definition("sub-outer", middle, inputs=[("model", "MODEL"), ("value", "BOOLEAN")],
                                    outputs=[("MODEL", "MODEL"), ("INT", "INT")], exits=[(1, 0), (1, 1)])
    graph = base_ui(UIGraph(), model_src=(70, 0))
    graph.add(70, "sub-outer", [value], inputs=[("model", "MODEL")], widget_inputs=[("value", "BOOLEAN")],
              outputs=("MODEL", "INT"))
    graph.connect(4, 0, 70, "model")
    workflow = graph.data(definitions={"subgraphs": [outer_def, lora_switch_block(stale=not value)]})
    result = parse_image(png_with_graph(workflow=workflow))
    assert names(result) == ([LIGHTNING] if value else [])
    if value:
        assert result.loras[0].node_id == "70:1:1"


@pytest.mark.parametrize("value", [True, False])
def test_api_prompt_switch_linked_to_a_primitive_boolean(value):
    """What ComfyUI executed: the frontend flattens the subgraph; the switch's input links to the boolean."""
    prompt = base_api(model_link=("50:2", 0))
    prompt.update({
        "50:1": api_node("LoraLoaderModelOnly", lora_name=LIGHTNING, strength_model=1.0, model=["4", 0]),
        "50:2": api_node("ComfySwitchNode", switch=["50:3", 0], on_false=["4", 0], on_true=["50:1", 0]),
        "50:3": api_node("PrimitiveBoolean", value=value),
    })
    result = parse_image(webp_with_graph(prompt=prompt, workflow=workflow_with_block(not value)))
    assert result.source_format == "comfyui-prompt"
    assert names(result) == ([LIGHTNING] if value else [])
    assert result.checkpoint.name == "sdxl/base.safetensors"


# -- CLIP-only LoRAs, mute, bypass, strength zero -------------------------------------------------------------

def test_lora_whose_clip_output_alone_is_used_counts():
    """A text-encoder LoRA feeding a prompt-enhancer (TextGenerate) whose text reaches the sampler."""
    prompt = base_api()
    prompt["20"] = api_node("LoraLoader", lora_name="te_style.safetensors", strength_model=1.0, strength_clip=0.8,
                            model=["4", 0], clip=["4", 1])
    prompt["21"] = api_node("TextGenerate", clip=["20", 1], prompt="describe a lighthouse", max_length=256)
    prompt["6"] = api_node("CLIPTextEncode", text=["21", 0], clip=["4", 1])
    result = parse_image(png_with_graph(prompt=prompt))
    assert loras(result) == [("te_style.safetensors", 1.0, "exact")]
    assert "CLIP output" in result.loras[0].reason and result.loras[0].node_id == "20"


def test_lora_whose_outputs_go_nowhere_or_with_zero_strength_does_not_count():
    prompt = base_api(model_link=("22", 0))
    prompt["20"] = api_node("LoraLoader", lora_name="dangling.safetensors", strength_model=1.0, strength_clip=1.0,
                            model=["4", 0], clip=["4", 1])
    prompt["21"] = api_node("LoraLoader", lora_name="clip_zero.safetensors", strength_model=1.0, strength_clip=0.0,
                            model=["4", 0], clip=["4", 1])
    prompt["22"] = api_node("LoraLoaderModelOnly", lora_name="zero.safetensors", strength_model=0.0, model=["4", 0])
    prompt["6"]["inputs"]["clip"] = ["21", 1]
    assert names(parse_image(png_with_graph(prompt=prompt))) == []


def test_muted_and_bypassed_loaders_in_a_workflow():
    graph = base_ui(UIGraph(), model_src=(12, 0), clip_src=(12, 1))
    for node_id, name, mode in ((10, "kept.safetensors", 0), (11, "bypassed.safetensors", BYPASSED),
                                (12, "last.safetensors", 0)):
        graph.add(node_id, "LoraLoader", [name, 0.7, 0.7], inputs=[("model", "MODEL"), ("clip", "CLIP")],
                  outputs=("MODEL", "CLIP"), mode=mode)
    graph.connect(4, 0, 10, "model").connect(4, 1, 10, "clip").connect(10, 0, 11, "model")
    graph.connect(10, 1, 11, "clip").connect(11, 0, 12, "model").connect(11, 1, 12, "clip")
    graph.add(13, "LoraLoader", ["muted_side.safetensors", 1, 1], inputs=[("model", "MODEL"), ("clip", "CLIP")],
              outputs=("MODEL", "CLIP"), mode=MUTED)
    graph.add(14, "PreviewImage", [], inputs=[("images", "IMAGE")], mode=MUTED)
    graph.connect(4, 0, 13, "model").connect(4, 1, 13, "clip").connect(8, 0, 14, "images")
    result = parse_image(png_with_graph(workflow=graph.data()))
    assert names(result) == ["last.safetensors", "kept.safetensors"]


def test_undecidable_switch_keeps_both_branches_and_says_why():
    prompt = base_api(model_link=("31", 0))
    prompt["30"] = api_node("LoraLoaderModelOnly", lora_name="maybe.safetensors", strength_model=1.0,
                            model=["4", 0])
    prompt["32"] = api_node("ComfyMathExpression", expression="a > 8", **{"values.a": ["5", 0]})
    prompt["31"] = api_node("ComfySwitchNode", switch=["32", 2], on_false=["4", 0], on_true=["30", 0])
    result = parse_image(png_with_graph(prompt=prompt))
    assert loras(result) == [("maybe.safetensors", 1.0, "ambiguous")]
    assert "switch node 31" in result.loras[0].reason and "branches were kept" in result.loras[0].reason


def test_a_lora_needed_by_every_branch_of_an_undecidable_switch_is_certain():
    prompt = base_api(model_link=("31", 0))
    prompt["30"] = api_node("LoraLoaderModelOnly", lora_name="always.safetensors", strength_model=1.0,
                            model=["4", 0])
    prompt["33"] = api_node("ModelSamplingAuraFlow", shift=3.1, model=["30", 0])
    prompt["32"] = api_node("SomeCustomBoolean", seed=1)
    prompt["31"] = api_node("ComfySwitchNode", switch=["32", 0], on_false=["30", 0], on_true=["33", 0])
    assert loras(parse_image(png_with_graph(prompt=prompt))) == [("always.safetensors", 1.0, "exact")]


def test_lora_feeding_only_one_of_two_saved_images_is_ambiguous():
    prompt = base_api()
    prompt["20"] = api_node("LoraLoaderModelOnly", lora_name="second_only.safetensors", strength_model=1.0,
                            model=["4", 0])
    prompt["21"] = api_node("KSampler", seed=1, steps=10, cfg=5, sampler_name="euler", scheduler="normal",
                            denoise=0.5, model=["20", 0], positive=["6", 0], negative=["7", 0],
                            latent_image=["3", 0])
    prompt["22"] = api_node("VAEDecode", samples=["21", 0], vae=["4", 2])
    prompt["23"] = api_node("SaveImage", filename_prefix="hires", images=["22", 0])
    result = parse_image(png_with_graph(prompt=prompt))
    assert loras(result) == [("second_only.safetensors", 1.0, "ambiguous")]
    assert "only some of the saved outputs" in result.loras[0].reason


# -- switches of popular packs --------------------------------------------------------------------------------

@pytest.mark.parametrize("switch,expected", [
    (api_node("Any Switch (rgthree)", any_02=["40", 0], any_03=["4", 0]), ["a.safetensors"]),
    (api_node("ImpactSwitch", select=2, sel_mode=False, input1=["4", 0], input2=["41", 0]), ["b.safetensors"]),
    (api_node("easy anythingIndexSwitch", index=0, value0=["40", 0], value1=["41", 0]), ["a.safetensors"]),
    (api_node("easy ifElse", boolean=False, on_true=["40", 0], on_false=["41", 0]), ["b.safetensors"]),
    (api_node("Switch any [Crystools]", boolean=True, on_true=["40", 0], on_false=["41", 0]), ["a.safetensors"]),
    (api_node("CR Model Input Switch", Input=2, model1=["40", 0], model2=["41", 0]), ["b.safetensors"]),
    (api_node("ComfySoftSwitchNode", switch=True, on_false=["41", 0]), ["b.safetensors"]),
])
def test_pack_switches_pass_on_the_selected_branch(switch, expected):
    prompt = base_api(model_link=("42", 0))
    prompt["40"] = api_node("LoraLoaderModelOnly", lora_name="a.safetensors", strength_model=1.0, model=["4", 0])
    prompt["41"] = api_node("LoraLoaderModelOnly", lora_name="b.safetensors", strength_model=1.0, model=["4", 0])
    prompt["42"] = switch
    result = parse_image(png_with_graph(prompt=prompt))
    assert names(result) == expected
    assert all(lora.confidence == "exact" for lora in result.loras)


def test_switch_selector_through_logic_nodes():
    prompt = base_api(model_link=("42", 0))
    prompt["40"] = api_node("LoraLoaderModelOnly", lora_name="a.safetensors", strength_model=1.0, model=["4", 0])
    prompt["43"] = api_node("PrimitiveBoolean", value=False)
    prompt["44"] = api_node("ComfyNotNode", value=["43", 0])
    prompt["45"] = api_node("ComfyAndNode", **{"values.value0": ["44", 0], "values.value1": True})
    prompt["42"] = api_node("ComfySwitchNode", switch=["45", 0], on_false=["4", 0], on_true=["40", 0])
    assert names(parse_image(png_with_graph(prompt=prompt))) == ["a.safetensors"]


# -- loaders of popular packs, with the widget values they save ------------------------------------------------

def pack_workflow(node_type: str, widgets, *, inputs, outputs, extra=None) -> dict:
    graph = base_ui(UIGraph(), model_src=(40, 0), clip_src=(40, 1) if "CLIP" in outputs else (4, 1))
    graph.add(40, node_type, widgets, inputs=inputs, outputs=outputs)
    for name, _kind in inputs:
        if name == "model":
            graph.connect(4, 0, 40, "model")
        if name == "clip":
            graph.connect(4, 1, 40, "clip")
    if extra:
        extra(graph)
    return graph.data()


MODEL_CLIP = [("model", "MODEL"), ("clip", "CLIP")]


@pytest.mark.parametrize("node_type,widgets,expected", [
    ("Power Lora Loader (rgthree)",
     [{}, {"type": "PowerLoraLoaderHeaderWidget"}, {"on": True, "lora": "p1.safetensors", "strength": 0.8},
      {"on": False, "lora": "p2.safetensors", "strength": 1}, {"on": True, "lora": "p3.safetensors",
                                                               "strength": 0.5, "strengthTwo": 0.2}, {}, ""],
     [("p1.safetensors", 0.8, 0.8), ("p3.safetensors", 0.5, 0.2)]),
    ("Lora Loader Stack (rgthree)", ["s1.safetensors", 0.6, "None", 1, "s3.safetensors", 1.0, "None", 1],
     [("s1.safetensors", 0.6, 0.6), ("s3.safetensors", 1.0, 1.0)]),
    ("LoraLoader|pysssss", [{"content": "pys.safetensors", "image": "loras/pys.png"}, 0.9, 0.7],
     [("pys.safetensors", 0.9, 0.7)]),
    ("Lora Loader (LoraManager)",
     ["<lora:lm:0.7>", [{"name": "lm", "strength": 0.7, "active": True},
                        {"name": "lm_off", "strength": 1, "active": False}]], [("lm", 0.7, 0.7)]),
    ("LoraLoaderLM", ["<lora:ours:0.4:0.3>"], [("ours", 0.4, 0.3)]),
])
def test_pack_loaders_with_model_and_clip(node_type, widgets, expected):
    if node_type == "Lora Loader Stack (rgthree)":
        workflow = pack_workflow(node_type, [], inputs=MODEL_CLIP, outputs=("MODEL", "CLIP"))
        node = next(n for n in workflow["nodes"] if n["id"] == 40)
        names_ = ["lora_01", "strength_01", "lora_02", "strength_02", "lora_03", "strength_03", "lora_04",
                  "strength_04"]
        node["inputs"] += [{"name": n, "type": "COMBO", "link": None, "widget": {"name": n}} for n in names_]
        node["widgets_values"] = widgets
    elif node_type in ("LoraLoader|pysssss",):
        workflow = pack_workflow(node_type, widgets, inputs=MODEL_CLIP, outputs=("MODEL", "CLIP"))
        node = next(n for n in workflow["nodes"] if n["id"] == 40)
        node["inputs"] += [{"name": n, "type": "COMBO", "link": None, "widget": {"name": n}}
                           for n in ("lora_name", "strength_model", "strength_clip")]
    elif node_type == "LoraLoaderLM":
        workflow = pack_workflow(node_type, widgets, inputs=MODEL_CLIP, outputs=("MODEL", "CLIP", "STRING", "STRING"))
        node = next(n for n in workflow["nodes"] if n["id"] == 40)
        node["inputs"].append({"name": "text", "type": "STRING", "link": None, "widget": {"name": "text"}})
    else:
        workflow = pack_workflow(node_type, widgets, inputs=MODEL_CLIP, outputs=("MODEL", "CLIP"))
    result = parse_image(png_with_graph(workflow=workflow))
    assert [(l.name, l.strength_model, l.strength_clip) for l in result.loras] == expected


@pytest.mark.parametrize("stacker,applier", [
    (api_node("LoRA Stacker", input_mode="simple", lora_count=2, lora_name_1="eff1.safetensors", lora_wt_1=0.6,
              model_str_1=1, clip_str_1=1, lora_name_2="eff2.safetensors", lora_wt_2=0.4, model_str_2=1,
              clip_str_2=1, lora_name_3="eff3.safetensors", lora_wt_3=1),
     api_node("Efficient Loader", ckpt_name="sdxl/base.safetensors", lora_name="None", lora_model_strength=1,
              lora_clip_strength=1, lora_stack=["50", 0])),
    (api_node("CR LoRA Stack", switch_1="On", lora_name_1="eff1.safetensors", model_weight_1=0.6, clip_weight_1=0.6,
              switch_2="On", lora_name_2="eff2.safetensors", model_weight_2=0.4, clip_weight_2=0.4,
              switch_3="Off", lora_name_3="eff3.safetensors", model_weight_3=1, clip_weight_3=1),
     api_node("CR Apply LoRA Stack", model=["4", 0], clip=["4", 1], lora_stack=["50", 0])),
])
def test_stackers_and_their_appliers(stacker, applier):
    prompt = base_api(model_link=("51", 0), clip_link=("51", 1))
    prompt["50"], prompt["51"] = stacker, applier
    result = parse_image(png_with_graph(prompt=prompt))
    assert [(l.name, l.strength_model) for l in result.loras] == [("eff1.safetensors", 0.6),
                                                                   ("eff2.safetensors", 0.4)]


def test_nunchaku_wanvideo_and_hook_loras():
    prompt = base_api(model_link=("60", 0), clip_link=("63", 0))
    prompt["60"] = api_node("NunchakuFluxLoraLoader", lora_name="nunchaku.safetensors", lora_strength=0.9,
                            model=["4", 0])
    prompt["61"] = api_node("CreateHookLora", lora_name="hook.safetensors", strength_model=1.0, strength_clip=0.5)
    prompt["62"] = api_node("CreateHookLoraModelOnly", lora_name="hook2.safetensors", strength_model=0.7,
                            prev_hooks=["61", 0])
    prompt["63"] = api_node("SetClipHooks", apply_to_conds=True, schedule_clip=False, clip=["4", 1],
                            hooks=["62", 0])
    result = parse_image(png_with_graph(prompt=prompt))
    assert [(l.name, l.strength_model) for l in result.loras] == [
        ("nunchaku.safetensors", 0.9), ("hook.safetensors", 1.0), ("hook2.safetensors", 0.7)]
    wan = {
        "1": api_node("WanVideoLoraSelect", lora="wan_style.safetensors", strength=0.8, low_mem_load=False),
        "2": api_node("WanVideoLoraSelectMulti", lora_0="wan_a.safetensors", strength_0=1.0, lora_1="none",
                      strength_1=1.0, prev_lora=["1", 0]),
        "3": api_node("WanVideoModelLoader", model="wan2.1_t2v_14B.safetensors", base_precision="bf16",
                      lora=["2", 0]),
        "4": api_node("WanVideoSampler", model=["3", 0], steps=6, cfg=1.0, seed=3, image_embeds=["5", 0]),
        "5": api_node("WanVideoEmptyEmbeds", width=832, height=480, num_frames=81),
        "6": api_node("WanVideoDecode", samples=["4", 0], vae=["7", 0]),
        "7": api_node("WanVideoVAELoader", model_name="wan_vae.safetensors"),
        "8": api_node("VHS_VideoCombine", frame_rate=16, images=["6", 0]),
    }
    result = parse_image(png_with_graph(prompt=wan))
    assert [(l.name, l.strength_model) for l in result.loras] == [("wan_style.safetensors", 0.8),
                                                                   ("wan_a.safetensors", 1.0)]


# -- prompts through links; hashes beside the graph ------------------------------------------------------------

def test_prompts_through_primitives_concatenation_and_trigger_toggles():
    prompt = base_api()
    prompt["30"] = api_node("PrimitiveStringMultiline", value="a lighthouse")
    prompt["31"] = api_node("TriggerWord Toggle (LoraManager)", group_mode=True, default_active=True,
                            toggle_trigger_words=[{"text": "glowstyle", "active": True},
                                                  {"text": "unused", "active": False}])
    prompt["32"] = api_node("StringConcatenate", string_a=["31", 0], string_b=["30", 0], delimiter=", ")
    prompt["33"] = api_node("ComfySwitchNode", switch=True, on_true=["32", 0], on_false="ignored")
    prompt["6"]["inputs"]["text"] = ["33", 0]
    prompt["34"] = api_node("Text (LoraManager)", text="lowres, watermark")
    prompt["7"]["inputs"]["text"] = ["34", 0]
    result = parse_image(png_with_graph(prompt=prompt))
    assert result.gen_params["prompt"] == "glowstyle, a lighthouse"
    assert result.gen_params["negative_prompt"] == "lowres, watermark"


def test_hashes_beside_the_graph_are_attached():
    prompt = base_api(model_link=("20", 0))
    prompt["20"] = api_node("LoraLoaderModelOnly", lora_name="styles/old_name.safetensors", strength_model=0.8,
                            model=["4", 0])
    parameters = ('a lighthouse\nNegative prompt: blurry\nSteps: 24, Seed: 7, '
                  'Lora hashes: "old_name: 0123456789ab", Model hash: abcdef0123')
    result = parse_image(png_with_graph(prompt=prompt, extra={"parameters": parameters}))
    assert result.source_format == "comfyui-prompt"
    assert result.loras[0].hashes == {"autov3": "0123456789ab"}
    graph = base_ui(UIGraph(), model_src=(20, 0))
    graph.add(20, "LoraLoaderModelOnly", ["old_name.safetensors", 1.0], inputs=[("model", "MODEL")],
              outputs=("MODEL",), properties={"models": [
                  {"name": "old_name.safetensors", "directory": "loras", "hash": "f" * 64, "hash_type": "SHA256",
                   "url": "https://civitai.com/api/download/models/4242"}]})
    graph.connect(4, 0, 20, "model")
    result = parse_image(png_with_graph(workflow=graph.data()))
    assert result.loras[0].hashes == {"sha256": "f" * 64}
    assert result.loras[0].model_version_id == 4242


def test_animated_webp_is_read_like_an_image():
    data = webp_with_graph(workflow=workflow_with_block(True), frames=3)
    assert names(parse_image(data)) == [LIGHTNING]


def _two_lora_prompt(strengths=(0.8, 0.5)):
    prompt = base_api(model_link=("21", 0))
    prompt["20"] = api_node("LoraLoaderModelOnly", lora_name="a_file.safetensors", strength_model=strengths[0],
                            model=["4", 0])
    prompt["21"] = api_node("LoraLoaderModelOnly", lora_name="b_file.safetensors", strength_model=strengths[1],
                            model=["20", 0])
    return prompt


def test_hashes_under_other_names_pair_by_a_strength_only_one_lora_has():
    parameters = ('a lighthouse <lora:Alpha Display:0.8> <lora:Beta Display:0.5>\nNegative prompt: x\nSteps: 20, '
                  'Lora hashes: "Alpha Display: aaaaaaaaaaaa, Beta Display: bbbbbbbbbbbb"')
    result = parse_image(png_with_graph(prompt=_two_lora_prompt(), extra={"parameters": parameters}))
    assert {l.file_name: l.hashes for l in result.loras} == {
        "a_file": {"autov3": "aaaaaaaaaaaa"}, "b_file": {"autov3": "bbbbbbbbbbbb"}}


def test_hashes_under_other_names_stay_unpaired_when_the_strengths_do_not_tell():
    parameters = ('a lighthouse\nNegative prompt: x\nSteps: 20, '
                  'Lora hashes: "Alpha Display: aaaaaaaaaaaa, Beta Display: bbbbbbbbbbbb"')
    result = parse_image(png_with_graph(prompt=_two_lora_prompt((0.7, 0.7)), extra={"parameters": parameters}))
    assert sorted((l.file_name, l.hashes) for l in result.loras) == [("a_file", {}), ("b_file", {})]
