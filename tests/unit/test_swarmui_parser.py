from __future__ import annotations

import json

from lora_manager.py.services.recipes.parsers.swarmui import parse_swarmui, parse_swarmui_params

SHA = "a" * 64


def swarm(**params) -> dict:
    base = {
        "prompt": "a lighthouse at dusk",
        "negativeprompt": "blurry",
        "model": "OfficialStableDiffusion/sd_xl_base_1.0",
        "seed": 1234,
        "steps": 28,
        "cfgscale": 6.5,
        "width": 1024,
        "height": 768,
        "sampler": "dpmpp_2m",
        "scheduler": "karras",
        "loras": ["styles/watercolor", "detail"],
        "loraweights": ["0.8", 0.5],
        "clipstopatlayer": -2,
        "swarm_version": "0.9.5",
    }
    base.update(params)
    return {
        "sui_image_params": base,
        "sui_models": [
            {"name": "sd_xl_base_1.0.safetensors", "param": "model", "hash": "0x" + SHA},
            {"name": "watercolor.safetensors", "param": "loras", "hash": "0x" + "b" * 64},
            {"name": "no-hash", "param": "loras"},
            "junk",
        ],
    }


def test_swarmui_parameters():
    result = parse_swarmui({"parameters": json.dumps(swarm())})
    assert result.source_format == "swarmui"
    assert result.gen_params == {
        "prompt": "a lighthouse at dusk", "negative_prompt": "blurry", "steps": 28, "sampler": "dpmpp_2m",
        "scheduler": "karras", "cfg_scale": 6.5, "seed": 1234, "size": "1024x768", "clip_skip": 2, "width": 1024,
        "height": 768,
    }
    assert [(l.name, l.strength_model, l.file_name) for l in result.loras] == [
        ("styles/watercolor", 0.8, "watercolor"), ("detail", 0.5, "detail"),
    ]
    assert result.loras[0].hashes == {"sha256": "b" * 64}
    assert result.loras[1].hashes == {}
    assert result.checkpoint.name == "OfficialStableDiffusion/sd_xl_base_1.0"
    assert result.checkpoint.hashes == {"sha256": SHA}
    assert result.raw == {"version": "0.9.5"}


def test_comma_separated_lists_missing_weights_and_text_encoder_weights():
    data = swarm(loras="a, b,", loraweights="0.3", loratencweights=[0.1, "x"], model=None)
    result = parse_swarmui_params(data)
    assert [(l.name, l.strength_model, l.strength_clip) for l in result.loras] == [("a", 0.3, 0.1), ("b", 1.0, None)]
    assert result.checkpoint is None


def test_not_swarmui():
    assert parse_swarmui({"parameters": '{"other": 1}'}) is None
    assert parse_swarmui({"parameters": "sui_image_params but not json"}) is None
    assert parse_swarmui({"parameters": '{"sui_image_params": [1]}'}) is None
    assert parse_swarmui({}) is None
    assert parse_swarmui_params(None) is None  # type: ignore[arg-type]
