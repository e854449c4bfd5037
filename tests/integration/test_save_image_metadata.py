"""What Save Image records: the prompt that reached the encoder through links, no LoRA at strength 0, the
checkpoint's ``Model hash`` (hashed on first use when lazy hashing left it pending)."""
from __future__ import annotations

import asyncio

import pytest
from PIL import Image

from lora_manager.py.nodes import NODE_CLASS_MAPPINGS
from support.comfy_executor import Executor
from support.comfy_stubs import comfy_stubs, node_context  # noqa: F401 - fixtures
from support.node_library import build_node_library


@pytest.fixture(autouse=True)
def _files(lib_env):
    build_node_library(lib_env.loras, lib_env.checkpoints)


@pytest.fixture
async def library(lib_env, comfy_stubs, node_context):  # noqa: F811
    return node_context


def graph(positive, loader_text="<lora:detail_tweaker:0.8> <lora:plain:0>", saver="SaveImageLM", extra=None):
    prompt = {
        "1": {"class_type": "Checkpoint Loader (LoraManager)", "inputs": {"ckpt_name": "sd15_base.safetensors",
                                                                          "base_model": "Any"}},
        "2": {"class_type": "LoraLoaderLM", "inputs": {"model": ["1", 0], "clip": ["1", 1], "text": loader_text}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": positive, "clip": ["2", 1]}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "lowres", "clip": ["2", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "6": {"class_type": "KSampler", "inputs": {"model": ["2", 0], "positive": ["3", 0], "negative": ["4", 0],
                                                   "latent_image": ["5", 0], "seed": 42, "steps": 12, "cfg": 5.0,
                                                   "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
        "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["1", 2]}},
        "8": {"class_type": saver, "inputs": {"images": ["7", 0], "filename_prefix": "t", "file_format": "png"}},
    }
    prompt.update(extra or {})
    return prompt


async def parameters(comfy_stubs, prompt):
    run = await asyncio.to_thread(Executor(NODE_CLASS_MAPPINGS).run, prompt)
    (saved,) = run.ui["8"]["images"]
    with Image.open(comfy_stubs.output_dir / saved["subfolder"] / saved["filename"]) as image:
        return image.text["parameters"]


async def test_prompt_from_a_text_node_with_wildcards_is_recorded(library, comfy_stubs):
    text = await parameters(comfy_stubs, graph(["9", 0], extra={
        "9": {"class_type": "Text (LoraManager)", "inputs": {"text": "a {red|red} castle", "seed": 3}}}))
    assert text.split("\n")[0] == "a red castle <lora:detail_tweaker:0.8>"


async def test_prompt_from_a_trigger_word_toggle_is_recorded(library, comfy_stubs):
    text = await parameters(comfy_stubs, graph(["9", 0], extra={
        "9": {"class_type": "TriggerWordToggleLM", "inputs": {
            "trigger_words": ["2", 2], "group_mode": True, "default_active": True,
            "toggle_state": '[{"text": "detailed, sharp focus", "active": true}]'}}}))
    assert text.split("\n")[0] == "detailed, sharp focus <lora:detail_tweaker:0.8>"


async def test_a_lora_at_strength_zero_is_left_out(library, comfy_stubs):
    text = await parameters(comfy_stubs, graph("a castle"))
    assert "plain" not in text
    assert "Lora hashes: \"detail_tweaker: " in text


async def test_model_hash_is_written_for_a_checkpoint_not_hashed_yet(lib_env, library, comfy_stubs):
    path = (lib_env.checkpoints / "sd15_base.safetensors").as_posix()
    service = library.service("checkpoint")
    assert service.index.get(path).sha256 == ""  # checkpoints hash lazily
    text = await parameters(comfy_stubs, graph("a castle", saver="Save Image (LoraManager)"))
    sha256 = service.index.get(path).sha256
    assert sha256 and f"Model hash: {sha256[:10]}, Model: sd15_base" in text
    assert text.split("\n")[0] == "a castle"  # that project's Save Image leaves <lora:> tags out by default


async def test_metadata_overwrite_values_win(library, comfy_stubs):
    overwrite = {"prompt": "", "negative_prompt": "", "seed": 7, "steps": 0, "cfg_scale": 0.0, "sampler": "dpmpp_2m",
                 "scheduler": "", "model": "other_model.safetensors", "loras": "<lora:plain:0.3>", "size": "640x960",
                 "clip_skip": -2, "additional_data": ""}
    text = await parameters(comfy_stubs, graph("a castle", extra={
        "9": {"class_type": "Metadata Overwrite (LoraManager)", "inputs": overwrite}}))
    first, _negative, settings = text.split("\n")
    assert first == "a castle <lora:plain:0.3>"
    for field in ("Sampler: DPM++ 2M", "Seed: 7", "Size: 640x960", "Model: other_model", "Clip skip: 2"):
        assert field in settings
    assert "detail_tweaker" not in settings
