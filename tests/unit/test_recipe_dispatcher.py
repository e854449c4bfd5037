from __future__ import annotations

import json
import logging

import pytest

from lora_manager.py.services.recipes.parsers import dispatcher
from lora_manager.py.services.recipes.parsers import (
    ImageReadError,
    NoGenerationMetadata,
    PARSER_ORDER,
    parse_image,
    parse_metadata_text,
    recipe_metadata_text,
)
from support.recipe_images import EXIF_MAKE, EXIF_MODEL, exif_image, png_bytes, unicode_comment

A1111 = "a cat <lora:cute:0.5>\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, Seed: 3, Size: 512x512"
COMFY_PROMPT = {
    "3": {"class_type": "KSampler", "inputs": {"seed": 8, "steps": 4, "model": ["4", 0], "positive": ["6", 0],
                                                "latent_image": ["5", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "prompt.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "from prompt"}},
}
COMFY_WORKFLOW = {
    "nodes": [{"id": 1, "type": "CheckpointLoaderSimple", "widgets_values": ["workflow.safetensors"],
               "outputs": [{"name": "MODEL", "type": "MODEL", "links": [1]}]},
              {"id": 2, "type": "KSampler", "widgets_values": [1, "fixed", 2, 3, "euler", "normal", 1],
               "inputs": [{"name": "model", "type": "MODEL", "link": 1},
                          {"name": "positive", "type": "CONDITIONING", "link": None},
                          {"name": "latent_image", "type": "LATENT", "link": None}]}],
    "links": [[1, 1, 0, 2, 0, "MODEL"]],
}
SWARM = {"sui_image_params": {"prompt": "swarm", "model": "m", "seed": 1, "loras": ["l"], "loraweights": [0.5]}}


def test_parser_order_is_most_specific_first():
    assert [name for name, _ in PARSER_ORDER] == [
        "lora-manager-recipe", "comfyui-prompt", "comfyui-workflow", "swarmui", "a1111-comfyui-civitai",
        "a1111-civitai", "a1111", "civitai-meta",
    ]


def test_recipe_wins_over_a1111_text_in_the_same_image():
    recipe = recipe_metadata_text({"title": "t", "loras": [{"file_name": "from_recipe", "strength": 0.9}]})
    result = parse_image(png_bytes({"parameters": f"{A1111} \n {recipe}"}))
    assert result.source_format == "lora-manager-recipe"
    assert [l.name for l in result.loras] == ["from_recipe"]


def test_comfyui_image_yields_the_prompt_graph_not_the_workflow():
    data = png_bytes({"prompt": json.dumps(COMFY_PROMPT), "workflow": json.dumps(COMFY_WORKFLOW),
                      "parameters": A1111})
    result = parse_image(data)
    assert result.source_format == "comfyui-prompt"
    assert result.checkpoint.name == "prompt.safetensors"


def test_workflow_only_image():
    result = parse_image(png_bytes({"workflow": json.dumps(COMFY_WORKFLOW)}))
    assert (result.source_format, result.checkpoint.name) == ("comfyui-workflow", "workflow.safetensors")


def test_comfyui_webp_with_exif_graph():
    data = exif_image("WEBP", ifd0={EXIF_MODEL: "prompt:" + json.dumps(COMFY_PROMPT),
                                    EXIF_MAKE: "workflow:" + json.dumps(COMFY_WORKFLOW)})
    assert parse_image(data).source_format == "comfyui-prompt"


def test_swarmui_before_a1111():
    assert parse_image(png_bytes({"parameters": json.dumps(SWARM)})).source_format == "swarmui"


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_a1111_in_exif_user_comment(fmt):
    result = parse_image(exif_image(fmt, user_comment=unicode_comment(A1111)))
    assert result.source_format == "a1111"
    assert [l.name for l in result.loras] == ["cute"]
    assert result.gen_params["seed"] == 3


def test_civitai_resources_and_lora_n_variants():
    civitai = A1111 + ', Civitai resources: [{"type":"lora","weight":0.5,"modelVersionId":9,"modelName":"cute"}]'
    assert parse_metadata_text({"parameters": civitai}).source_format == "a1111-civitai"
    lora_n = A1111 + ", Lora_0 Model name: x.safetensors, Lora_0 Model hash: 0123456789, Lora_0 Strength model: 1"
    assert parse_metadata_text({"parameters": lora_n}).source_format == "a1111-comfyui-civitai"


def test_civitai_meta_json_is_last():
    meta = {"prompt": "meta", "resources": [{"name": "r", "type": "lora", "weight": 1, "hash": "0123456789"}]}
    result = parse_image(exif_image("JPEG", user_comment=unicode_comment(json.dumps(meta))))
    assert result.source_format == "civitai-meta"


def test_no_metadata():
    with pytest.raises(NoGenerationMetadata) as info:
        parse_image(png_bytes({"Software": "paint", "parameters": "just words"}))
    assert info.value.reason == "no generation metadata found"
    with pytest.raises(NoGenerationMetadata):
        parse_image(png_bytes())
    with pytest.raises(NoGenerationMetadata):
        parse_metadata_text({})
    with pytest.raises(NoGenerationMetadata):
        parse_metadata_text("x")  # type: ignore[arg-type]
    with pytest.raises(NoGenerationMetadata):
        parse_metadata_text({"parameters": 5, 3: "x"})  # type: ignore[dict-item]


def test_unreadable_image():
    with pytest.raises(ImageReadError):
        parse_image(b"GIF89a truncated")


def test_truncated_png_still_parses_its_text():
    data = png_bytes({"parameters": A1111}, size=(64, 64))
    assert parse_image(data[: data.index(b"IDAT") + 8]).source_format == "a1111"


def test_a_failing_parser_does_not_hide_the_others(monkeypatch, caplog):
    def broken(text):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(dispatcher, "PARSER_ORDER", (("broken", broken), *PARSER_ORDER))
    with caplog.at_level(logging.WARNING):
        assert parse_metadata_text({"parameters": A1111}).source_format == "a1111"
    assert "broken" in caplog.text
