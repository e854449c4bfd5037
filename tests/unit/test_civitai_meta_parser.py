from __future__ import annotations

import json

import pytest

from lora_manager.py.services.recipes.parsers.civitai_meta import parse_civitai_meta, parse_civitai_meta_text
from lora_manager.py.services.recipes.parsers.errors import NoGenerationMetadata

META = {
    "prompt": "portrait of a knight",
    "negativePrompt": "blurry",
    "cfgScale": 5,
    "steps": 30,
    "sampler": "DPM++ 2M Karras",
    "seed": 42,
    "Size": "832x1216",
    "clipSkip": 2,
    "Model": "ponyDiffusionV6XL",
    "Model hash": "67AB2FD8EC",
    "baseModel": "Pony",
    "resources": [
        {"name": "add_detail", "type": "lora", "weight": 0.7, "hash": "AAAAAAAAAA"},
        {"name": "style_lora", "type": "lora", "weight": 0.4},
        {"name": "ponyDiffusionV6XL", "type": "model", "hash": "67ab2fd8ec"},
        {"name": "", "type": "lora"},
        {"name": "emb", "type": "embed"},
        "junk",
    ],
    "hashes": {"model": "67ab2fd8ec", "LORA:style_lora": "bbbbbbbbbbbb", "lora:add_detail": "cccccccccccc", "x": 1},
    "civitaiResources": [
        {"type": "lora", "weight": 0.7, "modelVersionId": 1001, "modelVersionName": "v2", "modelName": "Add Detail"},
        {"type": "checkpoint", "modelVersionId": 290640, "modelVersionName": "V6"},
        {"type": "lora", "weight": 1, "modelVersionId": 3003, "modelName": "Brand New"},
    ],
    "additionalResources": [
        {"name": "urn:air:sdxl:lora:civitai:77@88", "type": "lora", "strength": 0.3, "strengthClip": 0.2},
        {"name": "plain_extra.safetensors", "strength": 0.9},
        {"name": "urn:air:sdxl:embedding:civitai:1@2"},
    ],
}


def test_full_meta():
    result = parse_civitai_meta(META)
    assert result.source_format == "civitai-meta"
    assert result.base_model == "Pony"
    assert result.gen_params == {
        "prompt": "portrait of a knight", "negative_prompt": "blurry", "steps": 30, "sampler": "DPM++ 2M Karras",
        "cfg_scale": 5.0, "seed": 42, "size": "832x1216", "clip_skip": 2, "width": 832, "height": 1216,
    }
    names = [(l.name, l.strength_model, l.strength_clip) for l in result.loras]
    assert names == [
        ("add_detail", 0.7, None), ("style_lora", 0.4, None), ("urn:air:sdxl:lora:civitai:77@88", 0.3, 0.2),
        ("plain_extra.safetensors", 0.9, None), ("Brand New", 1.0, None),
    ]
    add_detail, style, air, plain, new = result.loras
    assert add_detail.hashes == {"autov2": "aaaaaaaaaa", "autov3": "cccccccccccc"}
    assert add_detail.model_version_id == 1001 and add_detail.version_name == "v2"
    assert style.hashes == {"autov3": "bbbbbbbbbbbb"}
    assert (air.model_id, air.model_version_id, air.file_name) == (77, 88, None)
    assert plain.file_name == "plain_extra"
    assert new.model_version_id == 3003 and new.file_name is None
    assert result.checkpoint.name == "ponyDiffusionV6XL"
    assert result.checkpoint.hashes == {"autov2": "67ab2fd8ec"}
    assert result.checkpoint.model_version_id == 290640


def test_lora_n_keys_and_model_only_checkpoint():
    meta = {"prompt": "x", "Model": "flux_dev.safetensors", "Lora_0 Model name": "a.safetensors",
            "Lora_0 Model hash": "0123456789", "Lora_0 Strength model": "0.6", "Lora_0 Strength clip": 0.5,
            "Lora_1 Model name": "", "Lora_2 Model name": "after_empty", "Lora_4 Model name": "after_gap"}
    result = parse_civitai_meta(meta)
    assert [(l.name, l.strength_model, l.strength_clip) for l in result.loras] == [
        ("a.safetensors", 0.6, 0.5), ("after_empty", 1.0, None),
    ]
    assert result.checkpoint.file_name == "flux_dev"
    assert result.base_model is None


def test_nested_comfy_graph_supplies_loras_and_params():
    prompt = {
        "3": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 9, "model": ["10", 0], "positive": ["6", 0],
                                                    "latent_image": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "base.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "graph prompt"}},
        "10": {"class_type": "LoraLoader", "inputs": {"lora_name": "g.safetensors", "strength_model": 0.5,
                                                       "strength_clip": 0.5, "model": ["4", 0]}},
    }
    meta = {"prompt": "meta prompt", "comfy": json.dumps({"prompt": prompt, "workflow": {}})}
    result = parse_civitai_meta(meta)
    assert [l.name for l in result.loras] == ["g.safetensors"]
    assert result.checkpoint.name == "base.safetensors"
    assert result.gen_params["prompt"] == "meta prompt"
    assert result.gen_params["seed"] == 5
    assert result.raw == {"comfy": True}


def test_nested_comfy_workflow_only():
    workflow = {
        "nodes": [
            {"id": 1, "type": "CheckpointLoaderSimple", "widgets_values": ["wf.safetensors"],
             "outputs": [{"name": "MODEL", "type": "MODEL", "links": [1]}]},
            {"id": 2, "type": "KSampler", "widgets_values": [1, "fixed", 2, 3, "euler", "normal", 1],
             "inputs": [{"name": "model", "type": "MODEL", "link": 1},
                        {"name": "positive", "type": "CONDITIONING", "link": None},
                        {"name": "latent_image", "type": "LATENT", "link": None}]},
        ],
        "links": [[1, 1, 0, 2, 0, "MODEL"]],
    }
    result = parse_civitai_meta({"comfy": {"prompt": "{bad", "workflow": json.dumps(workflow)}})
    assert result.checkpoint.name == "wf.safetensors"
    assert parse_civitai_meta({"comfy": "not json", "seed": 1}).raw == {}


def test_image_record_wrapper_is_unwrapped():
    assert parse_civitai_meta({"id": 5, "meta": {"prompt": "wrapped"}}).gen_params["prompt"] == "wrapped"


@pytest.mark.parametrize("meta", [None, [], {}, {"unrelated": 1}, {"id": 1, "meta": {"nothing": 1}}, "x"])
def test_not_civitai_meta(meta):
    with pytest.raises(NoGenerationMetadata):
        parse_civitai_meta(meta)  # type: ignore[arg-type]


def test_meta_json_in_text_fields():
    assert parse_civitai_meta_text({"exif_user_comment": json.dumps(META)}).source_format == "civitai-meta"
    assert parse_civitai_meta_text({"parameters": '{"unrelated": true}'}) is None
    assert parse_civitai_meta_text({"parameters": "not json"}) is None
    assert parse_civitai_meta_text({"parameters": '{"resources": []}'}) is None
