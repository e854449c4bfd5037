"""Arbitrary input to every parser: only NoGenerationMetadata / ImageReadError may escape, results stay sane."""
from __future__ import annotations

import io
import json
import logging
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from lora_manager.py.services.recipes.parsers import (
    GEN_PARAM_KEYS,
    ImageReadError,
    NoGenerationMetadata,
    PARSER_ORDER,
    parse_civitai_meta,
    parse_image,
    parse_metadata_text,
    read_prompt_graph,
    workflow_to_prompt,
)
from lora_manager.py.services.recipes.parsers.a1111 import parse_a1111_text, parse_settings_line
from lora_manager.py.services.recipes.parsers.recipe_json import recipe_from_dict, recipe_metadata_text
from lora_manager.py.services.recipes.parsers.swarmui import parse_swarmui_params

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12)
json_like = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=25,
)

CLASSES = ["KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced", "LoraLoader",
           "LoraLoaderModelOnly", "Power Lora Loader (rgthree)", "Lora Loader (LoraManager)", "CheckpointLoaderSimple",
           "UNETLoader", "CLIPTextEncode", "CLIPTextEncodeSDXL", "ConditioningCombine", "FluxGuidance",
           "ControlNetApplyAdvanced", "EmptyLatentImage", "PrimitiveNode", "String Literal", "CLIPSetLastLayer",
           "BasicGuider", "CFGGuider", "RandomNoise", "KSamplerSelect", "BasicScheduler", "Reroute", "Unknown",
           "ConditioningZeroOut", "Text Concatenate", "CR LoRA Stack"]
INPUTS = ["model", "clip", "positive", "negative", "latent_image", "samples", "conditioning", "conditioning_1",
          "text", "text_g", "text_l", "string", "value", "seed", "noise_seed", "steps", "cfg", "sampler_name",
          "scheduler", "denoise", "width", "height", "lora_name", "strength_model", "strength_clip", "ckpt_name",
          "unet_name", "loras", "lora_stack", "lora_1", "lora_2", "guider", "noise", "sampler", "sigmas",
          "stop_at_clip_layer", "lora_name_1", "switch_1", "lora_count", "text_a", "delimiter", "guidance"]
IDS = [str(i) for i in range(1, 8)]

links = st.tuples(st.sampled_from(IDS + ["99"]), st.integers(0, 2)).map(list)
input_values = links | json_like | st.fixed_dictionaries(
    {"on": st.booleans(), "lora": st.text(max_size=8), "strength": scalars}
)
api_graphs = st.dictionaries(
    st.sampled_from(IDS),
    st.fixed_dictionaries({
        "class_type": st.sampled_from(CLASSES),
        "inputs": st.dictionaries(st.sampled_from(INPUTS), input_values, max_size=8),
    }),
    max_size=7,
)

UI_TYPES = ["KSampler", "LoraLoader", "LoraLoaderModelOnly", "CheckpointLoaderSimple", "CLIPTextEncode",
            "EmptyLatentImage", "PrimitiveNode", "Reroute", "GetNode", "SetNode", "Power Lora Loader (rgthree)",
            "Lora Loader (LoraManager)", "sub-1", "Mystery"]
slots = st.lists(st.fixed_dictionaries({"name": st.sampled_from(INPUTS), "type": st.sampled_from(["MODEL", "*", "X"]),
                                        "link": st.none() | st.integers(0, 12)}), max_size=4)
ui_nodes = st.lists(st.fixed_dictionaries({
    "id": st.integers(-20, 8),
    "type": st.sampled_from(UI_TYPES),
    "mode": st.sampled_from([0, 0, 2, 4]),
    "inputs": slots,
    "outputs": st.lists(st.fixed_dictionaries({"type": st.sampled_from(["MODEL", "CLIP", "*"])}), max_size=3),
    "widgets_values": st.lists(scalars | st.fixed_dictionaries({"on": st.booleans(), "lora": st.text(max_size=5)}),
                               max_size=8) | st.dictionaries(st.text(max_size=5), scalars, max_size=3),
}), max_size=8)
ui_links = st.lists(st.tuples(st.integers(0, 12), st.integers(-20, 8), st.integers(0, 2), st.integers(-20, 8),
                              st.integers(0, 3), st.sampled_from(["MODEL", "CLIP"])).map(list), max_size=12)
workflows = st.fixed_dictionaries({
    "nodes": ui_nodes,
    "links": ui_links,
    "definitions": st.fixed_dictionaries({"subgraphs": st.lists(
        st.fixed_dictionaries({"id": st.just("sub-1"), "nodes": ui_nodes, "links": ui_links}), max_size=1)}),
})

FRAGMENTS = ["Steps: ", "Negative prompt:", "<lora:", ">", ":", ",", ", ", "\n", '"', "{", "}", "[", "]", "0.5",
             "12", "x", "Lora_0 Model name: ", "Lora_0 Strength model: ", "Civitai resources: ", "Hashes: ",
             "Lora hashes: ", "Recipe metadata: ", "Size: ", "512x768", "Model: ", "\\", "sui_image_params",
             '{"type":"lora"}', "urn:air:sdxl:lora:civitai:1@2"]
structured_text = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=5), max_size=40).map("".join)
any_text = st.text(max_size=300) | structured_text


def check_result(result) -> None:
    json.dumps(result.to_dict(), allow_nan=False)
    assert set(result.gen_params) <= set(GEN_PARAM_KEYS)
    for lora in result.loras:
        assert lora.kind == "lora" and isinstance(lora.name, str)
        assert math.isfinite(lora.strength_model)
        assert all(isinstance(v, str) and v == v.lower() for v in lora.hashes.values())


@SETTINGS
@given(any_text)
def test_a1111_text_never_raises(text):
    parse_settings_line(text)
    result = parse_a1111_text(text)
    if result is not None:
        check_result(result)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["parameters", "exif_user_comment", "prompt", "workflow", "recipe", "comment",
                                        "xmp", "other"]), any_text, max_size=4))
def test_every_parser_and_the_dispatcher_on_arbitrary_text(text):
    for name, parser in PARSER_ORDER:
        result = parser(text)
        if result is not None:
            check_result(result)
    try:
        check_result(parse_metadata_text(text))
    except NoGenerationMetadata:
        pass


@SETTINGS
@given(json_like)
def test_json_like_values_to_every_parser(value):
    encoded = json.dumps(value)
    text = {"parameters": encoded, "prompt": encoded, "workflow": encoded, "recipe": encoded,
            "exif_user_comment": "Recipe metadata: " + encoded}
    for name, parser in PARSER_ORDER:
        result = parser(text)
        if result is not None:
            check_result(result)
    try:
        check_result(parse_civitai_meta(value))
    except NoGenerationMetadata:
        pass
    for direct in (parse_swarmui_params({"sui_image_params": value, "sui_models": value}), recipe_from_dict(value)):
        if direct is not None:
            check_result(direct)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["prompt", "negativePrompt", "cfgScale", "steps", "seed", "Size", "Model",
                                        "Model hash", "resources", "civitaiResources", "additionalResources",
                                        "hashes", "comfy", "Lora_0 Model name", "Lora_0 Strength model"]),
                       json_like, min_size=1, max_size=8))
def test_civitai_meta_shaped_dicts(meta):
    check_result(parse_civitai_meta(meta))


@SETTINGS
@given(api_graphs)
def test_api_graphs_never_raise(graph):
    check_result(read_prompt_graph(graph))


@SETTINGS
@given(workflows)
def test_ui_workflows_never_raise(workflow):
    prompt = workflow_to_prompt(workflow)
    json.dumps(prompt)
    check_result(read_prompt_graph(prompt))


@settings(max_examples=60, deadline=None)
@given(st.fixed_dictionaries({
    "title": scalars, "base_model": scalars, "tags": st.lists(st.text(max_size=5), max_size=3),
    "gen_params": st.dictionaries(st.sampled_from(list(GEN_PARAM_KEYS)), scalars.filter(
        lambda v: not (isinstance(v, float) and not math.isfinite(v))), max_size=5),
    "loras": st.lists(st.fixed_dictionaries({
        "file_name": st.text(max_size=8), "hash": st.text(alphabet="0123456789abcdefABCDEF", max_size=64),
        "strength": st.floats(-5, 5), "modelVersionId": st.integers(0, 10**6)}), max_size=4),
}))
def test_recipe_text_round_trip(recipe):
    text = recipe_metadata_text(recipe)
    result = parse_metadata_text({"parameters": text})
    assert result.source_format == "lora-manager-recipe"
    expected = [lora for lora in recipe["loras"] if lora["file_name"].strip()]
    assert [lora.strength_model for lora in result.loras] == [lora["strength"] for lora in expected]


def _png_with_text() -> bytes:
    info = PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Seed: 1")
    info.add_text("prompt", json.dumps({"3": {"class_type": "KSampler", "inputs": {"seed": 1}}}))
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


PNG = _png_with_text()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600) | st.builds(
    lambda cut, flips: bytes(b ^ flips.get(i, 0) for i, b in enumerate(PNG[:cut])),
    st.integers(0, len(PNG)),
    st.dictionaries(st.integers(0, len(PNG) - 1), st.integers(1, 255), max_size=3),
))
def test_random_and_damaged_bytes(data):
    logging.disable(logging.WARNING)
    try:
        check_result(parse_image(data))
    except (NoGenerationMetadata, ImageReadError):
        pass
    finally:
        logging.disable(logging.NOTSET)
