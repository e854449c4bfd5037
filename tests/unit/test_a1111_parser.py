from __future__ import annotations

import pytest

from lora_manager.py.services.recipes.parsers.a1111 import (
    parse_a1111,
    parse_a1111_civitai,
    parse_a1111_lora_n,
    parse_a1111_text,
    parse_air,
    parse_settings_line,
)

FULL = (
    "masterpiece, <lora:detail_tweaker:0.8>, 1girl, <lora:styles/ink:0.5:0.3>\n"
    "second prompt line\n"
    "Negative prompt: lowres, bad hands\n"
    "extra negative line\n"
    'Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x768, '
    'Model hash: ABCD1234EF, Model: juggernautXL_v9, Clip skip: 2, Denoising strength: 0.4, '
    'ADetailer prompt: "face, smile: happy", '
    'Lora hashes: "detail_tweaker: 0123456789ab, ink: 111111111111", '
    'Hashes: {"model": "abcd1234ef", "lora:detail_tweaker": "0123456789ab", "embed:bad": "ffffffffff"}, '
    "Version: f2.0.1v1.10.1"
)


def loras(result):
    return [(l.name, l.strength_model, l.strength_clip) for l in result.loras]


def test_full_a1111_text():
    result = parse_a1111_text(FULL)
    assert result.source_format == "a1111"
    assert result.gen_params == {
        "prompt": "masterpiece, <lora:detail_tweaker:0.8>, 1girl, <lora:styles/ink:0.5:0.3>\nsecond prompt line",
        "negative_prompt": "lowres, bad hands\nextra negative line",
        "steps": 30, "sampler": "DPM++ 2M", "scheduler": "Karras", "cfg_scale": 7.0, "seed": 1, "size": "512x768",
        "clip_skip": 2, "denoising_strength": 0.4, "width": 512, "height": 768,
    }
    assert loras(result) == [("detail_tweaker", 0.8, 0.8), ("styles/ink", 0.5, 0.3)]
    assert result.loras[0].hashes == {"autov3": "0123456789ab"}
    assert result.loras[1].hashes == {"autov3": "111111111111"}
    assert result.loras[1].file_name == "ink"
    assert result.checkpoint.name == "juggernautXL_v9"
    assert result.checkpoint.hashes == {"autov2": "abcd1234ef"}
    assert result.raw == {"version": "f2.0.1v1.10.1"}


def test_settings_line_values_with_quotes_commas_and_json():
    settings = parse_settings_line(
        'Steps: 20, Note: "a, b: c \\"quoted\\"", Hashes: {"lora:a": "1, 2", "x": [1, {"y": "}"}]}, '
        'Civitai resources: [{"type":"lora","weight":0.8}], Broken: {"unterminated, Empty: , '
    )
    assert settings["Steps"] == "20"
    assert settings["Note"] == 'a, b: c "quoted"'
    assert settings["Hashes"] == {"lora:a": "1, 2", "x": [1, {"y": "}"}]}
    assert settings["Civitai resources"] == [{"type": "lora", "weight": 0.8}]
    assert isinstance(settings["Broken"], str)


def test_settings_line_skips_junk():
    assert parse_settings_line("Steps: 5, ,, 12345, junk without colon, Seed: 3") == {"Steps": "5", "Seed": "3"}
    assert parse_settings_line('Bad: "unterminated') == {"Bad": "unterminated"}
    assert parse_settings_line('Bad: "bad \\x escape", Seed: 2') == {"Bad": "bad \\x escape", "Seed": "2"}


def test_civitai_resources_attach_version_ids():
    text = (
        "a castle <lora:Detail_Tweaker:0.6>\n"
        "Steps: 25, Sampler: Euler a, CFG scale: 5, Seed: 7, Size: 832x1216, "
        'Civitai resources: [{"type":"checkpoint","modelVersionId":128078,"modelName":"SDXL","modelVersionName":"v1"},'
        '{"type":"lora","weight":0.6,"modelVersionId":135867,"modelName":"Detail Tweaker","modelVersionName":"v1.0"},'
        '{"type":"lora","weight":0.9,"air":"urn:air:sdxl:lora:civitai:111@222","modelName":"Other"},'
        '{"type":"embed","modelVersionId":5}, "junk"]'
    )
    result = parse_a1111_civitai({"parameters": text})
    assert result.source_format == "a1111-civitai"
    assert loras(result) == [("Detail_Tweaker", 0.6, 0.6), ("Other", 0.9, None)]
    assert result.loras[0].model_version_id == 135867
    assert result.loras[0].version_name == "v1.0"
    assert result.loras[0].model_name == "Detail Tweaker"
    assert (result.loras[1].model_id, result.loras[1].model_version_id) == (111, 222)
    assert result.loras[1].file_name is None
    assert result.checkpoint.model_version_id == 128078
    assert result.checkpoint.name == "SDXL"


def test_civitai_resources_pair_by_order_when_names_differ():
    text = ("x <lora:abc:0.5> <lora:def:0.7>\nSteps: 10, "
            'Civitai resources: [{"type":"lora","weight":0.5,"modelVersionId":1,"modelName":"First"},'
            '{"type":"lora","weight":0.7,"modelVersionId":2,"modelName":"Second"}]')
    result = parse_a1111_text(text)
    assert [l.model_version_id for l in result.loras] == [1, 2]
    assert [l.name for l in result.loras] == ["abc", "def"]


def test_lora_n_format_from_civitai_comfy_images():
    text = (
        "a cat\nNegative prompt: dog\n"
        "Steps: 20, Sampler: euler, CFG scale: 3.5, Seed: 9, Size: 1024x1024, "
        "Lora_0 Model name: ArtVador I.safetensors, Lora_0 Model hash: 08f7133a58, Lora_0 Strength model: 0.7, "
        "Lora_0 Strength clip: 0.6, Lora_1 Model name: second.safetensors, Lora_1 Model hash: 1234567890, "
        "Lora_1 Strength model: bad, Lora_2 Model name: , Model: flux_dev"
    )
    result = parse_a1111_lora_n({"exif_user_comment": text})
    assert result.source_format == "a1111-comfyui-civitai"
    assert loras(result) == [("ArtVador I.safetensors", 0.7, 0.6), ("second.safetensors", 1.0, None)]
    assert result.loras[0].file_name == "ArtVador I"
    assert result.loras[0].hashes == {"autov2": "08f7133a58"}
    assert parse_a1111_civitai({"exif_user_comment": text}) is None
    assert parse_a1111({"exif_user_comment": text}).source_format == "a1111-comfyui-civitai"


def test_lora_hashes_without_prompt_tags_become_loras():
    result = parse_a1111_text('p\nSteps: 5, Lora hashes: "one: 0123456789ab, broken, : x, two:"')
    assert loras(result) == [("one", 1.0, None)]


def test_prompt_only_with_negative_and_no_settings():
    result = parse_a1111_text("a dog\nNegative prompt: cat")
    assert result.gen_params == {"prompt": "a dog", "negative_prompt": "cat"}
    assert result.checkpoint is None


def test_recipe_marker_is_removed_before_parsing():
    text = 'a dog\nSteps: 5, Seed: 1 \n Recipe metadata: {"loras": [], "title": "x"}'
    result = parse_a1111_text(text)
    assert result.gen_params["seed"] == 1
    assert "Recipe" not in result.gen_params["prompt"]


def test_model_hash_only_checkpoint():
    result = parse_a1111_text('p\nSteps: 5, Hashes: {"model": "ABCDEF0123"}')
    assert result.checkpoint.name == "" and result.checkpoint.hashes == {"autov2": "abcdef0123"}


@pytest.mark.parametrize("text", ["", "   ", "just a prompt", "Steps without number: x", None, 12])
def test_not_a1111(text):
    assert parse_a1111_text(text) is None  # type: ignore[arg-type]


def test_entry_points_scan_text_fields():
    assert parse_a1111({}) is None
    assert parse_a1111({"parameters": "nothing"}) is None
    assert parse_a1111({"comment": "x\nSteps: 3"}).gen_params["steps"] == 3


def test_parse_air():
    assert parse_air("urn:air:flux1:checkpoint:civitai:618692@691639") == {
        "ecosystem": "flux1", "type": "checkpoint", "model_id": 618692, "model_version_id": 691639,
    }
    assert parse_air("urn:air:sd1:lora:civitai:5") == {"ecosystem": "sd1", "type": "lora", "model_id": 5,
                                                       "model_version_id": None}
    assert parse_air("nope") is None
    assert parse_air(None) is None
