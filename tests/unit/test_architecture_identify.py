"""identify(): base model, network type, rank, trigger words, from real headers written to tmp_path."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lora_manager.py.library.architecture import ModelIdentity, identify
from lora_manager.py.library.safetensors import read_header, write_safetensors_header

R = 8


def lora(prefix: str, rank: int = R, width: int = 320, *, kind: str = "lora_down", out: int = 320) -> dict[str, tuple[str, tuple[int, ...]]]:
    up = {"lora_down": "lora_up", "lora_A": "lora_B"}[kind]
    return {
        f"{prefix}.{kind}.weight": ("F16", (rank, width)),
        f"{prefix}.{up}.weight": ("F16", (out, rank)),
        f"{prefix}.alpha": ("F16", ()),
    }


SD15_TE = lora("lora_te_text_model_encoder_layers_0_mlp_fc1", width=768, out=3072) | lora(
    "lora_te_text_model_encoder_layers_0_mlp_fc2", width=3072, out=768
)
SD15_UNET = lora("lora_unet_down_blocks_0_attentions_0_proj_in") | lora(
    "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", width=768
)
SD2_TE = lora("lora_te_text_model_encoder_layers_0_self_attn_q_proj", width=1024, out=1024)
SDXL_TE = lora("lora_te1_text_model_encoder_layers_0_self_attn_q_proj", width=768, out=768) | lora(
    "lora_te2_text_model_encoder_layers_0_self_attn_q_proj", width=1280, out=1280
)
SDXL_UNET = lora("lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k", width=2048, out=640)
FLUX = lora("lora_unet_double_blocks_0_img_attn_qkv", width=3072, out=9216) | lora(
    "lora_unet_single_blocks_37_linear1", width=3072, out=21504
)


def ident(tmp_path: Path, tensors: dict[str, Any], metadata: dict[str, Any] | None = None, *, name: str = "model.safetensors", model_type: str = "lora") -> ModelIdentity:
    path = tmp_path / name
    write_safetensors_header(path, tensors, metadata, fill_data=False)
    header = read_header(path)
    return identify(header, file_name=path.name, file_size=header.file_size, model_type=model_type)


# ------------------------------------------------------------------ base model from shapes and keys


def test_sd15_lora_from_text_encoder_width(tmp_path: Path) -> None:
    result = ident(tmp_path, SD15_TE | lora("lora_unet_down_blocks_0_attentions_0_proj_in"))
    assert (result.base_model, result.base_model_source) == ("SD 1.5", "shapes:text_encoder_width=768")


def test_unet_only_lora_from_cross_attention_width(tmp_path: Path) -> None:
    sd15 = ident(tmp_path, SD15_UNET)
    assert (sd15.base_model, sd15.base_model_source) == ("SD 1.5", "shapes:cross_attention_width=768")
    sdxl = ident(tmp_path, SDXL_UNET, name="xl.safetensors")
    assert (sdxl.base_model, sdxl.base_model_source) == ("SDXL 1.0", "shapes:cross_attention_width=2048")


def test_sd2_lora_from_text_encoder_width(tmp_path: Path) -> None:
    result = ident(tmp_path, SD2_TE | SD15_UNET)
    assert (result.base_model, result.base_model_source) == ("SD 2.1", "shapes:text_encoder_width=1024")


def test_sdxl_lora_from_kohya_te_prefixes(tmp_path: Path) -> None:
    assert ident(tmp_path, SDXL_TE | SDXL_UNET).base_model_source == "keys:lora_te2"
    only_te1 = ident(tmp_path, lora("lora_te1_text_model_encoder_layers_0_mlp_fc1", width=768), name="te1.safetensors")
    assert (only_te1.base_model, only_te1.base_model_source) == ("SDXL 1.0", "keys:lora_te1")


def test_flux_lora_wins_over_its_clip_weights(tmp_path: Path) -> None:
    result = ident(tmp_path, FLUX | lora("lora_te1_text_model_encoder_layers_0_mlp_fc1", width=768))
    assert (result.base_model, result.base_model_source) == ("Flux.1 D", "keys:flux double_blocks")


def test_flux_diffusers_lora(tmp_path: Path) -> None:
    tensors = lora("transformer.single_transformer_blocks.0.attn.to_q", width=3072, out=3072, kind="lora_A")
    result = ident(tmp_path, tensors)
    assert result.base_model == "Flux.1 D"
    assert (result.network_type, result.network_type_source) == ("LoRA", "keys:lora_down")


def test_flux_checkpoints_dev_and_schnell(tmp_path: Path) -> None:
    base = {
        "img_in.weight": ("BF16", (3072, 64)),
        "double_blocks.0.img_attn.qkv.weight": ("BF16", (9216, 8)),
        "single_blocks.0.linear1.weight": ("BF16", (8, 8)),
    }
    dev = ident(tmp_path, base | {"guidance_in.in_layer.weight": ("BF16", (3072, 256))}, name="d.safetensors", model_type="checkpoint")
    assert (dev.base_model, dev.base_model_source) == ("Flux.1 D", "keys:flux guidance_in")
    assert (dev.network_type, dev.network_type_source) == ("Full", "model_type:checkpoint")
    assert dev.rank is None
    schnell = ident(tmp_path, base, name="s.safetensors", model_type="checkpoint")
    assert (schnell.base_model, schnell.base_model_source) == ("Flux.1 S", "keys:flux without guidance_in")
    chroma = ident(tmp_path, base | {"distilled_guidance_layer.in_proj.weight": ("BF16", (8, 8))}, name="c.safetensors", model_type="checkpoint")
    assert chroma.base_model == "Chroma"


def test_hunyuan_video_has_more_blocks_than_flux(tmp_path: Path) -> None:
    tensors = lora("lora_unet_double_blocks_19_img_attn_qkv", width=3072, out=9216)
    assert ident(tmp_path, tensors).base_model_source == "keys:more than 19 double_blocks"
    refiner = lora("transformer.context_embedder.token_refiner.blocks.0.attn", kind="lora_A") | lora("transformer.single_transformer_blocks.0.proj", kind="lora_A")
    assert ident(tmp_path, refiner, name="h.safetensors").base_model_source == "keys:token_refiner"


def test_sd3_family_from_joint_blocks(tmp_path: Path) -> None:
    sd3 = ident(tmp_path, lora("lora_unet_joint_blocks_0_context_block_attn_qkv", width=1536, out=4608))
    assert (sd3.base_model, sd3.base_model_source) == ("SD 3", "keys:sd3 joint_blocks")
    large = ident(tmp_path, lora("lora_unet_joint_blocks_37_x_block_attn_qkv", width=2432), name="l.safetensors")
    assert large.base_model == "SD 3.5 Large"
    medium = ident(tmp_path, lora("lora_unet_joint_blocks_3_x_block_attn2_qkv", width=1536), name="m.safetensors")
    assert medium.base_model == "SD 3.5 Medium"


def test_wan_video_lora(tmp_path: Path) -> None:
    tensors = lora("diffusion_model.blocks.0.cross_attn.k", width=5120, out=5120, kind="lora_A")
    result = ident(tmp_path, tensors)
    assert (result.base_model, result.base_model_source) == ("Wan Video", "keys:wan blocks.cross_attn")
    kohya = ident(tmp_path, lora("lora_unet_blocks_0_self_attn_q", width=5120, out=5120), name="k.safetensors")
    assert kohya.base_model == "Wan Video"
    pixart = ident(tmp_path, lora("blocks.0.cross_attn.q_linear", width=1152, out=1152), name="p.safetensors")
    assert pixart.base_model != "Wan Video"


def test_checkpoint_families_from_token_embeddings(tmp_path: Path) -> None:
    sd15 = {"cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": ("F16", (49408, 768)), "model.diffusion_model.input_blocks.0.0.weight": ("F16", (320, 4, 3, 3))}
    result = ident(tmp_path, sd15, name="v1-5.safetensors", model_type="checkpoint")
    assert (result.base_model, result.base_model_source) == ("SD 1.5", "shapes:token_embedding_width=768")
    sd2 = {"cond_stage_model.model.token_embedding.weight": ("F16", (49408, 1024))}
    assert ident(tmp_path, sd2, name="v2.safetensors", model_type="checkpoint").base_model == "SD 2.1"
    sdxl = {"conditioner.embedders.1.model.token_embedding.weight": ("F16", (49408, 1280))}
    result = ident(tmp_path, sdxl, name="xl.safetensors", model_type="checkpoint")
    assert (result.base_model, result.base_model_source) == ("SDXL 1.0", "keys:conditioner.embedders")


def test_checkpoint_unet_cross_attention_width(tmp_path: Path) -> None:
    unet = {"model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": ("F16", (320, 1024))}
    result = ident(tmp_path, unet, model_type="checkpoint")
    assert (result.base_model, result.base_model_source) == ("SD 2.1", "shapes:cross_attention_width=1024")


def test_embeddings(tmp_path: Path) -> None:
    sd15 = ident(tmp_path, {"emb_params": ("F32", (4, 768))}, name="bad_hands.safetensors", model_type="embedding")
    assert (sd15.base_model, sd15.base_model_source) == ("SD 1.5", "shapes:embedding_width=768")
    assert (sd15.network_type, sd15.network_type_source) == ("Embedding", "model_type:embedding")
    assert sd15.rank is None and sd15.alpha is None
    sdxl = ident(tmp_path, {"clip_g": ("F32", (4, 1280)), "clip_l": ("F32", (4, 768))}, name="x.safetensors", model_type="embedding")
    assert (sdxl.base_model, sdxl.base_model_source) == ("SDXL 1.0", "keys:clip_g")


def test_unknown_when_nothing_matches(tmp_path: Path) -> None:
    result = ident(tmp_path, {"something.weight": ("F16", (3, 3))}, name="mystery.safetensors")
    assert (result.base_model, result.base_model_source) == ("Unknown", "unknown")
    assert (result.network_type, result.network_type_source) == ("Unknown", "unknown")
    assert (result.rank, result.rank_source) == (None, "unknown")


def test_file_name_is_the_last_resort(tmp_path: Path) -> None:
    result = ident(tmp_path, {"something.weight": ("F16", (3, 3))}, name="cool_style_SDXL_v2.safetensors")
    assert (result.base_model, result.base_model_source) == ("SDXL 1.0", "name:sdxl")


# ------------------------------------------------------------------ base model from metadata


@pytest.mark.parametrize(
    "value, expected",
    [
        ("sd_v1", "SD 1.5"),
        ("sd_v2", "SD 2.1"),
        ("sd_v2_v", "SD 2.1 768"),
        ("sdxl_base_v1-0", "SDXL 1.0"),
        ("flux1", "Flux.1 D"),
        ("sd3", "SD 3"),
        ("sd3.5_large", "SD 3.5 Large"),
        ("chroma", "Chroma"),
        ("hunyuan_video", "Hunyuan Video"),
        ("lumina2", "Lumina"),
    ],
)
def test_kohya_base_model_version(tmp_path: Path, value: str, expected: str) -> None:
    result = ident(tmp_path, SD15_TE, {"ss_base_model_version": value})
    assert (result.base_model, result.base_model_source) == (expected, "metadata:ss_base_model_version")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("stable-diffusion-v1/lora", "SD 1.5"),
        ("stable-diffusion-v2-512/lora", "SD 2.1"),
        ("stable-diffusion-v2-768-v/lora", "SD 2.1 768"),
        ("stable-diffusion-xl-v1-base/lora", "SDXL 1.0"),
        ("stable-diffusion-xl-v1-base", "SDXL 1.0"),
        ("flux-1-dev/lora", "Flux.1 D"),
        ("flux-1-schnell", "Flux.1 S"),
        ("Flux.1-schnell/lycoris", "Flux.1 S"),
        ("flux-1-kontext-dev/lora", "Flux.1 Kontext"),
        ("stable-diffusion-3-medium", "SD 3"),
        ("stable-diffusion-3.5-large", "SD 3.5 Large"),
        ("stable-diffusion-3.5-medium/lora", "SD 3.5 Medium"),
        ("hunyuan-video/lora", "Hunyuan Video"),
        ("wan2.1-t2v-14b/lora", "Wan Video"),
    ],
)
def test_modelspec_architecture(tmp_path: Path, value: str, expected: str) -> None:
    result = ident(tmp_path, SD15_TE, {"modelspec.architecture": value})
    assert (result.base_model, result.base_model_source) == (expected, "metadata:modelspec.architecture")


def test_metadata_priority_and_fallthrough(tmp_path: Path) -> None:
    both = ident(tmp_path, SD15_TE, {"modelspec.architecture": "flux-1-schnell/lora", "ss_base_model_version": "flux1"})
    assert both.base_model == "Flux.1 S"
    unknown_spec = ident(tmp_path, SD15_TE, {"modelspec.architecture": "some-new-thing/lora", "ss_base_model_version": "sdxl_base_v1-0"})
    assert (unknown_spec.base_model, unknown_spec.base_model_source) == ("SDXL 1.0", "metadata:ss_base_model_version")
    placeholder = ident(tmp_path, SD15_TE, {"ss_base_model_version": "None", "modelspec.architecture": ""})
    assert placeholder.base_model_source == "shapes:text_encoder_width=768"
    unknown_version = ident(tmp_path, SD15_TE, {"ss_base_model_version": "mystery"})
    assert unknown_version.base_model_source == "shapes:text_encoder_width=768"


def test_old_kohya_v2_flag(tmp_path: Path) -> None:
    assert ident(tmp_path, SD15_UNET, {"ss_v2": "True"}).base_model_source == "metadata:ss_v2"
    assert ident(tmp_path, SDXL_UNET, {"ss_v2": "False"}).base_model == "SDXL 1.0"


@pytest.mark.parametrize(
    "metadata, expected, source",
    [
        ({"ss_sd_model_name": "ponyDiffusionV6XL_v6StartWithThisOne.safetensors"}, "Pony", "metadata:ss_sd_model_name"),
        ({"ss_sd_model_name": "Illustrious-XL-v0.1.safetensors"}, "Illustrious", "metadata:ss_sd_model_name"),
        ({"ss_sd_model_name": "noobaiXLNAIXL_vPred10Version.safetensors"}, "NoobAI", "metadata:ss_sd_model_name"),
        ({"modelspec.title": "Cool Style PDXL"}, "Pony", "metadata:modelspec.title"),
        ({"ss_output_name": "char_illustriousXL_v2"}, "Illustrious", "metadata:ss_output_name"),
    ],
)
def test_sdxl_fine_tunes_named_by_metadata(tmp_path: Path, metadata: dict[str, str], expected: str, source: str) -> None:
    result = ident(tmp_path, SDXL_TE, {"ss_base_model_version": "sdxl_base_v1-0"} | metadata)
    assert result.base_model == expected
    assert result.base_model_source == f"{source} over metadata:ss_base_model_version"


def test_fine_tune_hints_are_conservative(tmp_path: Path) -> None:
    pony_character = ident(tmp_path, SDXL_TE, {"modelspec.title": "Rainbow pony character", "ss_sd_model_name": "sd_xl_base_1.0.safetensors"})
    assert pony_character.base_model == "SDXL 1.0"
    sd15_pony = ident(tmp_path, SD15_TE, {"ss_sd_model_name": "pony.ckpt"}, name="p.safetensors")
    assert sd15_pony.base_model == "SD 1.5"  # only SDXL models are refined


# ------------------------------------------------------------------ network type


@pytest.mark.parametrize(
    "metadata, expected",
    [
        ({"ss_network_module": "networks.lora"}, "LoRA"),
        ({"ss_network_module": "networks.lora", "ss_network_args": '{"conv_dim": "4", "conv_alpha": "1"}'}, "LoCon"),
        ({"ss_network_module": "networks.lora", "ss_network_args": '{"conv_dim": "None"}'}, "LoRA"),
        ({"ss_network_module": "networks.lora_flux"}, "LoRA"),
        ({"ss_network_module": "networks.lora", "ss_network_args": '{"use_dora": true}'}, "DoRA"),
        ({"ss_network_module": "networks.dylora"}, "DyLoRA"),
        ({"ss_network_module": "networks.oft"}, "OFT"),
        ({"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "loha"}'}, "LoHa"),
        ({"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "lokr", "factor": -1}'}, "LoKr"),
        ({"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "locon"}'}, "LoCon"),
        ({"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "lora", "conv_dim": 8}'}, "LoCon"),
        ({"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "lora"}'}, "LoRA"),
        ({"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "lora", "dora_wd": "True"}'}, "DoRA"),
        ({"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "full"}'}, "Full"),
        ({"ss_network_module": "lycoris.kohya", "ss_network_args": "not json"}, "LoRA"),
    ],
)
def test_network_type_from_metadata(tmp_path: Path, metadata: dict[str, str], expected: str) -> None:
    result = ident(tmp_path, SD15_TE, metadata)
    assert result.network_type == expected
    assert result.network_type_source.startswith("metadata:")


def test_unknown_network_module_falls_back_to_keys(tmp_path: Path) -> None:
    result = ident(tmp_path, SD15_TE, {"ss_network_module": "someone.else", "ss_network_args": "[1]"})
    assert (result.network_type, result.network_type_source) == ("LoRA", "keys:lora_down")
    lycoris_unknown = ident(tmp_path, SD15_TE, {"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "new"}'})
    assert lycoris_unknown.network_type_source == "keys:lora_down"


def test_dora_scale_upgrades_a_metadata_lora(tmp_path: Path) -> None:
    tensors = SD15_TE | {"lora_te_text_model_encoder_layers_0_mlp_fc1.dora_scale": ("F16", (1, 768))}
    result = ident(tmp_path, tensors, {"ss_network_module": "networks.lora"})
    assert (result.network_type, result.network_type_source) == ("DoRA", "keys:dora_scale")


@pytest.mark.parametrize(
    "tensors, expected, source",
    [
        ({"lora_unet_a.hada_w1_a": ("F16", (320, 8)), "lora_unet_a.hada_w1_b": ("F16", (8, 768))}, "LoHa", "keys:hada_w1_a"),
        ({"lora_unet_a.lokr_w1": ("F16", (4, 4)), "lora_unet_a.lokr_w2": ("F16", (80, 192))}, "LoKr", "keys:lokr_w1"),
        (SD15_TE | {"lora_te_text_model_encoder_layers_0_mlp_fc1.dora_scale": ("F16", (1, 768))}, "DoRA", "keys:dora_scale"),
        ({"lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight": ("F16", (8, 320, 3, 3))} | SD15_UNET, "LoCon", "keys:lora_down on conv layers"),
        ({"lora_unet_proj_in.lora_down.weight": ("F16", (8, 320, 1, 1))}, "LoRA", "keys:lora_down"),
        ({"lora_unet_a.oft_blocks": ("F16", (4, 8, 8))}, "OFT", "keys:oft_blocks"),
        ({"lora_unet_a.diff": ("F16", (4, 4)), "lora_unet_a.diff_b": ("F16", (4,))}, "Full", "keys:diff"),
        ({"model.diffusion_model.out.2.weight": ("F16", (4, 320, 3, 3))}, "Full", "keys:model.diffusion_model"),
    ],
)
def test_network_type_from_keys(tmp_path: Path, tensors: dict[str, Any], expected: str, source: str) -> None:
    result = ident(tmp_path, tensors)
    assert (result.network_type, result.network_type_source) == (expected, source)


# ------------------------------------------------------------------ rank and alpha


def test_rank_and_alpha_from_metadata(tmp_path: Path) -> None:
    result = ident(tmp_path, SD15_TE, {"ss_network_dim": "32", "ss_network_alpha": "16.0"})
    assert (result.rank, result.rank_source) == (32, "metadata:ss_network_dim")
    assert (result.alpha, result.alpha_source) == (16.0, "metadata:ss_network_alpha")


def test_rank_from_shapes_alpha_unknown(tmp_path: Path) -> None:
    tensors = lora("lora_unet_a", rank=16) | lora("lora_unet_b", rank=16) | lora("lora_unet_c", rank=4)
    result = ident(tmp_path, tensors, {"ss_network_dim": "None", "ss_network_alpha": "nan"})
    assert (result.rank, result.rank_source) == (16, "shapes:lora_down")
    assert result.alpha is None
    assert result.alpha_source.startswith("unknown")


@pytest.mark.parametrize("value", ["0", "-4", "2.5", "abc", "inf"])
def test_bad_rank_metadata_is_ignored(tmp_path: Path, value: str) -> None:
    assert ident(tmp_path, SD15_TE, {"ss_network_dim": value}).rank_source == "shapes:lora_down"


def test_loha_rank_from_hada_shapes(tmp_path: Path) -> None:
    tensors = {"lora_unet_a.hada_w1_a": ("F16", (320, 6)), "lora_unet_a.hada_w1_b": ("F16", (6, 768))}
    result = ident(tmp_path, tensors)
    assert (result.rank, result.rank_source) == (6, "shapes:lora_down")
    prefix = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    cross = {f"{prefix}.hada_w1_a": ("F16", (320, 6)), f"{prefix}.hada_w1_b": ("F16", (6, 768))}
    result = ident(tmp_path, cross, name="loha.safetensors")
    assert (result.base_model, result.base_model_source) == ("SD 1.5", "shapes:cross_attention_width=768")
    assert result.network_type == "LoHa"


# ------------------------------------------------------------------ trigger words


def test_trigger_words_from_tag_frequency(tmp_path: Path) -> None:
    frequency = {
        "10_ohwx": {" ohwx": 40, "1girl": 30, "smile": 5, " Smile ": 6, "": 99, "solo": 30},
        "5_extra": {"1girl": 1, "outdoors": 12, "rare": "x"},
    }
    frequency["5_extra"].update({f"tag{i}": 2 for i in range(10)})
    result = ident(tmp_path, SD15_TE, {"ss_tag_frequency": json.dumps(frequency)})
    assert result.trigger_words_source == "metadata:ss_tag_frequency"
    assert result.trigger_words[:5] == ["ohwx", "1girl", "solo", "outdoors", "smile"]
    assert len(result.trigger_words) == 10
    assert result.trigger_words[5:] == ["tag0", "tag1", "tag2", "tag3", "tag4"]


def test_trigger_words_from_datasets(tmp_path: Path) -> None:
    datasets = [
        {"subsets": [{"class_tokens": "sks dog"}, {"class_tokens": None}, "junk"], "tag_frequency": {"d": {"dog": 3, "grass": 9}}},
        "junk",
    ]
    result = ident(tmp_path, SD15_TE, {"ss_tag_frequency": "{bad json", "ss_datasets": json.dumps(datasets)})
    assert result.trigger_words == ["sks dog", "grass", "dog"]
    assert result.trigger_words_source == "metadata:ss_datasets"


def test_trigger_phrase_from_modelspec_comes_first(tmp_path: Path) -> None:
    result = ident(tmp_path, SD15_TE, {"modelspec.trigger_phrase": "ohwx man, photo ,", "ss_tag_frequency": '{"a": {"x": 1}}'})
    assert (result.trigger_words, result.trigger_words_source) == (["ohwx man", "photo"], "metadata:modelspec.trigger_phrase")


def test_no_trigger_words(tmp_path: Path) -> None:
    result = ident(tmp_path, SD15_TE, {"ss_tag_frequency": "[]", "ss_datasets": '{"not": "a list"}', "modelspec.trigger_phrase": " , "})
    assert (result.trigger_words, result.trigger_words_source) == ([], "none")


# ------------------------------------------------------------------ descriptive fields and output


def test_descriptive_fields_name_their_sources(tmp_path: Path) -> None:
    metadata = {
        "sshs_model_hash": "ABCDEF0123",
        "modelspec.title": "My Style",
        "modelspec.author": "someone",
        "modelspec.description": "A style.",
        "modelspec.resolution": "1024x1024",
        "ss_training_comment": "None",
    }
    result = ident(tmp_path, SD15_TE, metadata)
    assert result.sshs_model_hash == "abcdef0123"
    assert (result.title, result.author, result.description, result.resolution) == ("My Style", "someone", "A style.", "1024x1024")
    assert result.training_comment is None
    assert result.field_sources == {
        "sshs_model_hash": "metadata:sshs_model_hash",
        "title": "metadata:modelspec.title",
        "author": "metadata:modelspec.author",
        "description": "metadata:modelspec.description",
        "resolution": "metadata:modelspec.resolution",
    }


def test_vram_estimate_and_json_ready_dict(tmp_path: Path) -> None:
    result = ident(tmp_path, SD15_TE, {"ss_network_dim": "8"})
    assert result.vram_estimate_bytes == round(result.to_dict()["vram_estimate_bytes"])
    size = (tmp_path / "model.safetensors").stat().st_size
    assert result.vram_estimate_bytes == round(size * 1.2)
    data = result.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["base_model"] == "SD 1.5" and data["rank"] == 8


# ------------------------------------------------------------------ files that are not safetensors


@pytest.mark.parametrize(
    "name, model_type, base, network",
    [
        ("v1-5-pruned-emaonly.ckpt", "checkpoint", "SD 1.5", "Full"),
        ("sd_xl_base_1.0.pt", "checkpoint", "SDXL 1.0", "Full"),
        ("flux1-schnell-Q4_K_S.gguf", "checkpoint", "Flux.1 S", "Full"),
        ("flux1-dev-fp8.gguf", "checkpoint", "Flux.1 D", "Full"),
        ("easynegative.pt", "embedding", "Unknown", "Embedding"),
        ("style_pdxl.pt", "lora", "Pony", "LoRA"),
        ("my_lora_v15.bin", "lora", "Unknown", "LoRA"),
        ("wan2.1_t2v_lora.pth", "lora", "Wan Video", "LoRA"),
        ("ae.sft", "checkpoint", "Unknown", "Full"),
    ],
)
def test_non_safetensors_identity_from_name_and_size(name: str, model_type: str, base: str, network: str) -> None:
    result = identify(None, file_name=name, file_size=1000, model_type=model_type)
    assert (result.base_model, result.network_type) == (base, network)
    assert result.vram_estimate_bytes == 1200
    suffix = name[name.rindex("."):]
    if base == "Unknown":
        assert result.base_model_source == f"unknown ({suffix} file: name only)"
    else:
        assert result.base_model_source.startswith("name:")
    assert result.network_type_source == f"model_type:{model_type} ({suffix} file not read)"
    assert suffix in result.rank_source and suffix in result.trigger_words_source
    assert result.rank is None and result.trigger_words == []


def test_non_safetensors_with_unexpected_model_type() -> None:
    result = identify(None, file_name="thing", file_size=0, model_type="vae")
    assert (result.network_type, result.base_model) == ("Unknown", "Unknown")
    assert "no extension" in result.base_model_source
