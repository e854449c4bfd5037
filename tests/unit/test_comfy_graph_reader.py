from __future__ import annotations

import pytest

from lora_manager.py.services.recipes.parsers.comfy_graph import read_prompt_graph


def node(class_type: str, **inputs) -> dict:
    return {"class_type": class_type, "inputs": inputs}


def base_graph(model_link=("4", 0), positive="a cat", negative="blurry") -> dict:
    """Checkpoint 4 -> KSampler 3, prompts 6/7, latent 5."""
    return {
        "3": node("KSampler", seed=42, steps=25, cfg=6.5, sampler_name="dpmpp_2m", scheduler="karras", denoise=1.0,
                  model=list(model_link), positive=["6", 0], negative=["7", 0], latent_image=["5", 0]),
        "4": node("CheckpointLoaderSimple", ckpt_name="sdxl/juggernaut.safetensors"),
        "5": node("EmptyLatentImage", width=832, height=1216, batch_size=1),
        "6": node("CLIPTextEncode", text=positive, clip=["4", 1]),
        "7": node("CLIPTextEncode", text=negative, clip=["4", 1]),
        "8": node("VAEDecode", samples=["3", 0], vae=["4", 2]),
        "9": node("SaveImage", images=["8", 0], filename_prefix="x"),
    }


def loras(result) -> list[tuple[str, float, float | None]]:
    return [(lora.name, lora.strength_model, lora.strength_clip) for lora in result.loras]


def test_plain_ksampler_graph():
    result = read_prompt_graph(base_graph())
    assert result.source_format == "comfyui-prompt"
    assert result.loras == []
    assert result.checkpoint.name == "sdxl/juggernaut.safetensors"
    assert result.checkpoint.file_name == "juggernaut"
    assert result.gen_params == {
        "prompt": "a cat", "negative_prompt": "blurry", "steps": 25, "sampler": "dpmpp_2m", "scheduler": "karras",
        "cfg_scale": 6.5, "seed": 42, "size": "832x1216", "denoising_strength": 1.0, "width": 832, "height": 1216,
    }
    assert result.to_dict()["checkpoint"]["name"] == "sdxl/juggernaut.safetensors"


def test_lora_chain_is_ordered_from_the_sampler_back():
    graph = base_graph(model_link=("11", 0))
    graph["10"] = node("LoraLoader", lora_name="inner.safetensors", strength_model=0.5, strength_clip=0.25,
                       model=["4", 0], clip=["4", 1])
    graph["12"] = node("LoraLoaderModelOnly", lora_name="sub\\mid.safetensors", strength_model=0.7, model=["10", 0])
    graph["11"] = node("LoraLoader", lora_name="outer.safetensors", strength_model=1.0, strength_clip=1.0,
                       model=["13", 0], clip=["10", 1])
    graph["13"] = node("ModelSamplingDiscrete", sampling="eps", zsnr=False, model=["12", 0])
    result = read_prompt_graph(graph)
    assert loras(result) == [("outer.safetensors", 1.0, 1.0), ("sub\\mid.safetensors", 0.7, None),
                             ("inner.safetensors", 0.5, 0.25)]
    assert [lora.file_name for lora in result.loras] == ["outer", "mid", "inner"]


def test_power_lora_loader_and_lora_manager_nodes():
    graph = base_graph(model_link=("21", 0))
    graph["20"] = node(
        "Power Lora Loader (rgthree)", model=["4", 0], clip=["4", 1],
        PowerLoraLoaderHeaderWidget={"type": "PowerLoraLoaderHeaderWidget"},
        lora_2={"on": True, "lora": "b.safetensors", "strength": 0.6, "strengthTwo": 0.3},
        lora_1={"on": True, "lora": "a.safetensors", "strength": 0.9},
        lora_3={"on": False, "lora": "off.safetensors", "strength": 1},
        lora_10={"on": True, "lora": "j.safetensors", "strength": "bad"},
        **{"➕ Add Lora": ""},
    )
    graph["22"] = node("Lora Stacker (LoraManager)", text="", loras={"__value__": [
        {"name": "stacked", "strength": 0.4, "active": True},
    ]})
    graph["21"] = node("Lora Loader (LoraManager)", model=["20", 0], clip=["20", 1], lora_stack=["22", 0],
                       text="<lora:ignored:1>", loras=[
                           {"name": "lm_one", "strength": 0.8, "clipStrength": 0.6, "active": True},
                           {"name": "lm_off", "strength": 1.0, "active": False},
                           {"name": "", "strength": 1.0},
                           "junk",
                       ])
    result = read_prompt_graph(graph)
    assert loras(result) == [
        ("stacked", 0.4, 0.4), ("lm_one", 0.8, 0.6),
        ("a.safetensors", 0.9, 0.9), ("b.safetensors", 0.6, 0.3), ("j.safetensors", 1.0, 1.0),
    ]


def test_lora_manager_text_input_and_syntax_string():
    graph = base_graph(model_link=("30", 0))
    graph["30"] = node("LoraManagerLoader", model=["31", 0], text="<lora:t1:0.5> <lora:t2:1:0.5>")
    graph["31"] = node("LoraLoaderLM", model=["4", 0], loras="<lora:from_string:0.3>")
    result = read_prompt_graph(graph)
    assert loras(result) == [("t1", 0.5, 0.5), ("t2", 1.0, 0.5), ("from_string", 0.3, 0.3)]


def test_lora_text_loader_reads_linked_syntax():
    graph = base_graph(model_link=("32", 0))
    graph["32"] = node("LoRA Text Loader (LoraManager)", model=["4", 0], lora_syntax=["33", 0])
    graph["33"] = node("String Literal", string="<lora:linked:0.25>")
    assert loras(read_prompt_graph(graph)) == [("linked", 0.25, 0.25)]


def test_indexed_stacker_nodes():
    graph = base_graph(model_link=("40", 0))
    graph["41"] = node("CR LoRA Stack", switch_1="On", lora_name_1="x.safetensors", model_weight_1=0.5,
                       clip_weight_1=0.4, switch_2="Off", lora_name_2="y.safetensors", model_weight_2=1,
                       clip_weight_2=1, switch_3="On", lora_name_3="None", model_weight_3=1, clip_weight_3=1)
    graph["42"] = node("LoRA Stacker", input_mode="simple", lora_count=1, lora_name_1="e.safetensors",
                       lora_wt_1=0.7, lora_name_2="beyond.safetensors", lora_wt_2=1, lora_stack=["41", 0])
    graph["40"] = node("CR Apply LoRA Stack", model=["4", 0], clip=["4", 1], lora_stack=["42", 0])
    result = read_prompt_graph(graph)
    assert loras(result) == [("x.safetensors", 0.5, 0.4), ("e.safetensors", 0.7, 0.7)]


def test_prompt_lora_tags_are_added_after_the_chain_and_stripped():
    graph = base_graph(model_link=("10", 0), positive="<lora:loaded:0.5>, a cat, <lora:extra:0.7:0.2>")
    graph["10"] = node("LoraLoader", lora_name="loaded.safetensors", strength_model=1, strength_clip=1,
                       model=["4", 0], clip=["4", 1])
    result = read_prompt_graph(graph)
    assert loras(result) == [("loaded.safetensors", 1.0, 1.0), ("extra", 0.7, 0.2)]
    assert result.gen_params["prompt"] == "a cat"


def test_values_linked_from_primitive_and_string_nodes():
    graph = base_graph()
    graph["3"]["inputs"].update(seed=["50", 0], steps=["51", 0], sampler_name=["52", 0])
    graph["50"] = node("Seed (rgthree)", seed=777)
    graph["51"] = node("PrimitiveInt", value=33)
    graph["52"] = node("Sampler Selector", sampler_name="euler_a")
    graph["6"]["inputs"]["text"] = ["53", 0]
    graph["53"] = node("Text Concatenate", text_a=["54", 0], text_b="b", delimiter=" | ", clean_whitespace="true")
    graph["54"] = node("String Literal", string="a")
    graph["7"]["inputs"]["text"] = ["55", 0]
    graph["55"] = node("StringConcatenate", string_a="x", string_b="y")
    result = read_prompt_graph(graph)
    assert result.gen_params["seed"] == 777
    assert result.gen_params["steps"] == 33
    assert result.gen_params["sampler"] == "euler_a"
    assert result.gen_params["prompt"] == "a | b"
    assert result.gen_params["negative_prompt"] == "x, y"


def test_conditioning_nodes_are_followed():
    graph = base_graph()
    graph["3"]["inputs"].update(positive=["60", 0], negative=["60", 1])
    graph["60"] = node("ControlNetApplyAdvanced", positive=["61", 0], negative=["7", 0], control_net=["62", 0],
                       image=["63", 0], strength=1.0)
    graph["61"] = node("ConditioningCombine", conditioning_1=["6", 0], conditioning_2=["64", 0])
    graph["64"] = node("FluxGuidance", guidance=3.5, conditioning=["65", 0])
    graph["65"] = node("CLIPTextEncodeSDXL", text_g="sdxl g", text_l="sdxl l", clip=["4", 1], width=1024,
                       height=1024, crop_w=0, crop_h=0, target_width=1024, target_height=1024)
    result = read_prompt_graph(graph)
    assert result.gen_params["prompt"] == "a cat, sdxl g, sdxl l"
    assert result.gen_params["negative_prompt"] == "blurry"
    assert result.raw["guidance"] == 3.5


def test_zero_out_negative_is_empty():
    graph = base_graph()
    graph["3"]["inputs"]["negative"] = ["70", 0]
    graph["70"] = node("ConditioningZeroOut", conditioning=["6", 0])
    assert read_prompt_graph(graph).gen_params["negative_prompt"] == ""


def test_clip_skip_from_clip_set_last_layer():
    graph = base_graph()
    graph["6"]["inputs"]["clip"] = ["80", 0]
    graph["80"] = node("CLIPSetLastLayer", stop_at_clip_layer=-2, clip=["4", 1])
    assert read_prompt_graph(graph).gen_params["clip_skip"] == 2


def test_sampler_custom_advanced_with_guider_scheduler_noise():
    graph = {
        "1": node("UNETLoader", unet_name="flux1-dev.safetensors", weight_dtype="default"),
        "2": node("LoraLoaderModelOnly", lora_name="flux_style.safetensors", strength_model=0.9, model=["1", 0]),
        "3": node("CLIPTextEncode", text="a fox", clip=["9", 0]),
        "4": node("FluxGuidance", guidance=3.5, conditioning=["3", 0]),
        "5": node("BasicGuider", model=["2", 0], conditioning=["4", 0]),
        "6": node("RandomNoise", noise_seed=1234),
        "7": node("KSamplerSelect", sampler_name="euler"),
        "8": node("BasicScheduler", scheduler="simple", steps=28, denoise=1.0, model=["2", 0]),
        "10": node("EmptySD3LatentImage", width=1024, height=768, batch_size=1),
        "11": node("SamplerCustomAdvanced", noise=["6", 0], guider=["5", 0], sampler=["7", 0], sigmas=["8", 0],
                   latent_image=["10", 0]),
    }
    result = read_prompt_graph(graph)
    assert loras(result) == [("flux_style.safetensors", 0.9, None)]
    assert result.checkpoint.name == "flux1-dev.safetensors"
    assert result.gen_params == {
        "prompt": "a fox", "steps": 28, "sampler": "euler", "scheduler": "simple", "seed": 1234,
        "size": "1024x768", "denoising_strength": 1.0, "width": 1024, "height": 768,
    }
    assert result.raw == {"sampler_class": "SamplerCustomAdvanced", "guidance": 3.5}


def test_sampler_custom_and_cfg_guider():
    graph = base_graph()
    graph["3"] = node("SamplerCustom", model=["4", 0], add_noise=True, noise_seed=5, cfg=4.0, positive=["6", 0],
                      negative=["7", 0], sampler=["90", 0], sigmas=["91", 0], latent_image=["5", 0])
    graph["90"] = node("KSamplerSelect", sampler_name="dpmpp_sde")
    graph["91"] = node("BasicScheduler", scheduler="karras", steps=12, denoise=0.6, model=["4", 0])
    result = read_prompt_graph(graph)
    assert result.gen_params["seed"] == 5
    assert result.gen_params["cfg_scale"] == 4.0
    assert result.gen_params["sampler"] == "dpmpp_sde"
    assert result.gen_params["steps"] == 12
    assert result.gen_params["denoising_strength"] == 0.6


def test_hires_fix_uses_first_pass_and_collects_second_pass_loras():
    graph = base_graph()
    graph["20"] = node("LatentUpscale", upscale_method="nearest-exact", width=1664, height=2432, crop="disabled",
                       samples=["3", 0])
    graph["21"] = node("LoraLoader", lora_name="refine.safetensors", strength_model=0.3, strength_clip=0.3,
                       model=["4", 0], clip=["4", 1])
    graph["2"] = node("KSampler", seed=9, steps=10, cfg=5, sampler_name="euler", scheduler="normal", denoise=0.5,
                      model=["21", 0], positive=["6", 0], negative=["7", 0], latent_image=["20", 0])
    graph["8"]["inputs"]["samples"] = ["2", 0]
    # An unrelated second generation in the same graph is ignored.
    graph["30"] = node("LoraLoader", lora_name="unrelated.safetensors", strength_model=1, strength_clip=1,
                       model=["4", 0], clip=["4", 1])
    graph["31"] = node("KSampler", seed=1, steps=1, cfg=1, sampler_name="euler", scheduler="normal", denoise=1,
                       model=["30", 0], positive=["6", 0], negative=["7", 0], latent_image=["5", 0])
    result = read_prompt_graph(graph)
    assert result.gen_params["seed"] == 42
    assert result.gen_params["size"] == "832x1216"
    assert loras(result) == [("refine.safetensors", 0.3, 0.3)]


def test_output_node_selects_its_own_generation():
    graph = base_graph()
    graph["30"] = node("LoraLoader", lora_name="second.safetensors", strength_model=1, strength_clip=1,
                       model=["4", 0], clip=["4", 1])
    graph["31"] = node("KSampler", seed=1, steps=1, cfg=1, sampler_name="euler", scheduler="normal", denoise=1,
                       model=["30", 0], positive=["6", 0], negative=["7", 0], latent_image=["5", 0])
    graph["32"] = node("VAEDecode", samples=["31", 0], vae=["4", 2])
    graph["33"] = node("SaveImage", images=["32", 0])
    assert read_prompt_graph(graph).gen_params["seed"] == 42
    assert read_prompt_graph(graph, output_node="9").gen_params["seed"] == 42
    second = read_prompt_graph(graph, output_node="33")
    assert second.gen_params["seed"] == 1
    assert loras(second) == [("second.safetensors", 1.0, 1.0)]
    assert read_prompt_graph(graph, output_node="missing").gen_params["seed"] == 42
    assert read_prompt_graph(graph, output_node="4").loras == []


def test_generic_sampler_class_with_model_positive_and_latent():
    graph = base_graph()
    graph["3"]["class_type"] = "KSampler (Efficient)"
    result = read_prompt_graph(graph)
    assert result.gen_params["seed"] == 42
    assert result.raw["sampler_class"] == "KSampler (Efficient)"


@pytest.mark.parametrize(
    "graph",
    [
        None,
        [],
        {},
        {"1": "x", "2": {"class_type": 5}, "3": {"class_type": "KSampler", "inputs": "nope"}},
        {"3": node("KSampler", model=["404", 0], positive=["3", 0], negative=[True, 0], latent_image=["3", 0])},
    ],
)
def test_broken_graphs_never_raise(graph):
    result = read_prompt_graph(graph)  # type: ignore[arg-type]
    assert result.loras == [] and result.checkpoint is None


def test_cycles_are_cut():
    graph = base_graph(model_link=("10", 0))
    graph["10"] = node("LoraLoader", lora_name="a.safetensors", strength_model=1, strength_clip=1, model=["11", 0])
    graph["11"] = node("LoraLoader", lora_name="b.safetensors", strength_model=1, strength_clip=1, model=["10", 0])
    graph["6"]["inputs"]["text"] = ["12", 0]
    graph["12"] = node("ConditioningCombine", conditioning_1=["12", 0], conditioning_2=["6", 0])
    graph["7"]["inputs"]["text"] = ["13", 0]
    graph["13"] = node("Text Concatenate", text_a=["13", 0])
    graph["3"]["inputs"]["seed"] = ["14", 0]
    graph["14"] = node("PrimitiveInt", value=["14", 0])
    graph["3"]["inputs"]["latent_image"] = ["15", 0]
    graph["15"] = node("LatentBlend", samples=["15", 0])
    result = read_prompt_graph(graph)
    assert loras(result) == [("a.safetensors", 1.0, 1.0), ("b.safetensors", 1.0, 1.0)]
    assert result.checkpoint is None
    assert "seed" not in result.gen_params
    assert "size" not in result.gen_params


def test_odd_values_are_ignored():
    graph = base_graph(model_link=("10", 0))
    graph["10"] = node("LoraLoader", lora_name=["99", 0], strength_model="abc", strength_clip=None, model=["4", 0])
    graph["3"]["inputs"].update(seed="not a number", steps=True, cfg=float("nan"), sampler_name=None)
    graph["5"]["inputs"].update(width=-1)
    graph["4"]["inputs"]["ckpt_name"] = 12
    result = read_prompt_graph(graph)
    assert result.loras == []
    assert result.checkpoint is None
    for key in ("seed", "steps", "cfg_scale", "sampler", "size"):
        assert key not in result.gen_params


def test_long_chain_is_capped():
    graph = base_graph(model_link=("L0", 0))
    for index in range(400):
        graph[f"L{index}"] = node("LoraLoader", lora_name=f"l{index}", strength_model=1, strength_clip=1,
                                  model=[f"L{index + 1}", 0])
    result = read_prompt_graph(graph)
    assert 0 < len(result.loras) <= 256
    assert result.checkpoint is None


def test_model_merge_and_single_literal_nodes_are_followed():
    graph = base_graph(model_link=("90", 0))
    graph["90"] = node("ModelMergeSimple", model1=["91", 0], model2=["4", 0], ratio=0.5)
    graph["91"] = node("LoraLoaderModelOnly", lora_name="merged.safetensors", strength_model=["92", 0],
                       model=["4", 0])
    graph["92"] = node("Float Literal (custom)", number_value=0.35)
    result = read_prompt_graph(graph)
    assert loras(result) == [("merged.safetensors", 0.35, None)]
    assert result.checkpoint.name == "sdxl/juggernaut.safetensors"


def test_clip_skip_absent_or_positive_is_ignored():
    graph = base_graph()
    graph["6"]["inputs"]["clip"] = ["80", 0]
    graph["80"] = node("CLIPSetLastLayer", stop_at_clip_layer=3, clip=["80", 0])
    assert "clip_skip" not in read_prompt_graph(graph).gen_params
