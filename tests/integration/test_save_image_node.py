"""Save Image writes A1111 ``parameters`` that this project's parsers (and A1111's layout) read back."""
from __future__ import annotations

import asyncio
import io
import json
from datetime import datetime

import numpy as np
import pytest
from PIL import Image

from lora_manager.py.nodes.resolve import NodeInputError
from lora_manager.py.nodes.save_image import SaveImageLM
from lora_manager.py.services.recipes.parsers import extract_image_metadata, parse_image
from lora_manager.py.services.recipes.parsers.a1111 import parse_a1111_text
from support.comfy_stubs import comfy_stubs, node_context  # noqa: F401 - fixtures
from support.node_library import build_node_library


def graph(text="<lora:detail_tweaker:0.8>", stack="<lora:style/anime_style:0.5:0.25>", sampler="dpmpp_2m",
          scheduler="karras", ckpt="sd15_base.safetensors", positive="a castle, at dusk <lora:plain:0.5>"):
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "12": {"class_type": "LoraStackerLM", "inputs": {"lora_syntax": stack}},
        "10": {"class_type": "LoraLoaderLM", "inputs": {"model": ["4", 0], "clip": ["4", 1], "text": text,
                                                       "lora_stack": ["12", 0]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 768, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": positive,
                                                         "clip": ["10", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry, lowres", "clip": ["10", 1]}},
        "3": {"class_type": "KSampler", "_meta": {"title": "Main Sampler"},
              "inputs": {"model": ["10", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0],
                         "seed": 123456789, "steps": 25, "cfg": 6.5, "sampler_name": sampler,
                         "scheduler": scheduler, "denoise": 1.0}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImageLM", "inputs": {"images": ["8", 0]}},
    }


WORKFLOW = {"workflow": {"nodes": [{"id": 3, "title": "Sampler One", "type": "KSampler"}], "links": []}}
IMAGES = np.full((2, 16, 24, 3), 0.5, dtype="float32")


@pytest.fixture
async def library(lib_env, comfy_stubs, node_context):  # noqa: F811
    for record in node_context.service("checkpoint").all_records():  # checkpoints hash lazily: hash it now
        await node_context.service("checkpoint").hash_pending(paths=[record.file_path])
    return node_context


@pytest.fixture(autouse=True)
def _files(lib_env):
    build_node_library(lib_env.loras, lib_env.checkpoints)


async def save(**kwargs):
    node = SaveImageLM()
    kwargs.setdefault("images", IMAGES)
    kwargs.setdefault("unique_id", "9")
    return await asyncio.to_thread(node.save_images, **kwargs)


def records(context):
    loras = {r.file_path.rsplit("/loras/", 1)[1]: r for r in context.service("lora").all_records()}
    return loras, context.service("checkpoint").all_records()[0]


async def test_png_parameters_match_a1111_field_by_field(lib_env, library, comfy_stubs):
    out = await save(prompt=graph(), extra_pnginfo=WORKFLOW, filename_prefix="run/%seed%_%width%x%height%")
    assert out["ui"]["images"] == [{"filename": "123456789_512x768_00001_.png", "subfolder": "run", "type": "output"},
                                   {"filename": "123456789_512x768_00002_.png", "subfolder": "run", "type": "output"}]
    path = comfy_stubs.output_dir / "run" / "123456789_512x768_00001_.png"
    text = extract_image_metadata(path.read_bytes()).text
    loras, ckpt = records(library)
    anime, detail, plain = loras["style/anime_style.safetensors"], loras["detail_tweaker.safetensors"], loras[
        "plain.safetensors"]
    expected_settings = (
        f"Steps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 123456789, Size: 512x768, "
        f"Model hash: {ckpt.sha256[:10]}, Model: sd15_base, "
        f"Lora hashes: \"anime_style: {anime.autov3[:12]}, detail_tweaker: {detail.autov3[:12]}, "
        f"plain: {plain.autov3[:12]}\", Version: ComfyUI, "
        'Civitai resources: [{"type":"checkpoint","modelVersionId":2001,"modelName":"SD15 Base",'
        '"modelVersionName":"pruned"}]')
    assert text["parameters"].split("\n") == [
        "a castle, at dusk <lora:anime_style:0.5:0.25> <lora:detail_tweaker:0.8> <lora:plain:0.5>",
        "Negative prompt: blurry, lowres",
        expected_settings,
    ]
    assert json.loads(text["workflow"]) == WORKFLOW["workflow"]
    assert json.loads(text["prompt"])["3"]["inputs"]["seed"] == 123456789
    parsed = parse_a1111_text(text["parameters"])
    assert parsed.gen_params == {
        "prompt": "a castle, at dusk <lora:anime_style:0.5:0.25> <lora:detail_tweaker:0.8> <lora:plain:0.5>",
        "negative_prompt": "blurry, lowres", "steps": 25, "sampler": "DPM++ 2M", "scheduler": "Karras",
        "cfg_scale": 6.5, "seed": 123456789, "size": "512x768", "width": 512, "height": 768}
    assert [(l.name, l.strength_model, l.strength_clip, l.hashes) for l in parsed.loras] == [
        ("anime_style", 0.5, 0.25, {"autov3": anime.autov3[:12]}),
        ("detail_tweaker", 0.8, 0.8, {"autov3": detail.autov3[:12]}),
        ("plain", 0.5, 0.5, {"autov3": plain.autov3[:12]})]
    assert parsed.checkpoint.name == "sd15_base" and parsed.checkpoint.hashes == {"autov2": ckpt.sha256[:10]}
    assert parsed.checkpoint.model_version_id == 2001


async def test_civitai_resources_list_loras_when_all_are_identified(library, comfy_stubs):
    out = await save(images=IMAGES[:1], prompt=graph(text="", stack="<lora:detail_tweaker:0.7>", positive="a castle"),
                     file_format="webp", embed_workflow=False, add_counter=False, filename_prefix="w")
    assert out["ui"]["images"] == [{"filename": "w.webp", "subfolder": "", "type": "output"}]
    data = (comfy_stubs.output_dir / "w.webp").read_bytes()
    text = extract_image_metadata(data).text
    assert "workflow" not in text and "prompt" not in text
    parameters = text["exif_user_comment"]
    assert parameters.endswith(
        'Civitai resources: [{"type":"checkpoint","modelVersionId":2001,"modelName":"SD15 Base",'
        '"modelVersionName":"pruned"},{"type":"lora","weight":0.7,"modelVersionId":1001,'
        '"modelName":"Detail Tweaker","modelVersionName":"v1.0"}]')
    parsed = parse_image(data)  # the dispatcher finds the A1111 text in EXIF
    assert parsed.source_format == "a1111-civitai"
    assert [(l.name, l.strength_model, l.model_version_id) for l in parsed.loras] == [("detail_tweaker", 0.7, 1001)]
    assert parsed.checkpoint.model_version_id == 2001


async def test_jpeg_keeps_parameters_and_drops_an_oversized_workflow(library, comfy_stubs):
    huge = {"workflow": {"nodes": [], "blob": "x" * 70000}}
    await save(images=IMAGES[:1], prompt=graph(), extra_pnginfo=huge, file_format="jpeg", add_counter=False,
               filename_prefix="j")
    data = (comfy_stubs.output_dir / "j.jpg").read_bytes()
    assert Image.open(io.BytesIO(data)).format == "JPEG"
    text = extract_image_metadata(data).text
    assert "Steps: 25" in text["exif_user_comment"] and "workflow" not in text


async def test_graph_without_library_matches_still_saves_names(library, comfy_stubs):
    await save(images=IMAGES[:1], prompt=graph(text="<lora:unknown_lora:0.3>", stack="", sampler="weird",
                                                scheduler="normal", ckpt="missing.ckpt"),
               add_counter=False, filename_prefix="u/%model%")
    text = extract_image_metadata((comfy_stubs.output_dir / "u" / "missing.png").read_bytes()).text
    settings = text["parameters"].split("\n")[-1]
    assert settings.startswith("Steps: 25, Sampler: weird, CFG scale: 6.5, Seed: 123456789, Size: 512x768, "
                               "Model: missing, Lora hashes: \"plain: ")
    assert "<lora:unknown_lora:0.3>" in text["parameters"] and "Civitai resources" not in settings


async def test_filename_patterns_from_the_graph(library, comfy_stubs):
    now = datetime.now()
    out = await save(images=IMAGES[:1], prompt=graph(), extra_pnginfo=WORKFLOW,
                     filename_prefix="%date:yyyy-MM-dd%/%Main Sampler.steps%-%Sampler One.cfg%-%KSampler.seed%-"
                                     "%model:4%-%pprompt:8%-%nprompt:6%-%unknown%")
    image = out["ui"]["images"][0]
    assert image["subfolder"] in (now.strftime("%Y-%m-%d"), datetime.now().strftime("%Y-%m-%d"))
    assert image["filename"] == "25-6.5-123456789-sd15-a castle-blurry-%unknown%_00001_.png"


async def test_save_as_recipe_writes_a_recipe_that_reimports(lib_env, library, comfy_stubs):
    out = await save(images=IMAGES[:1], prompt=graph(), save_as_recipe=True, filename_prefix="r")
    (recipe_id,) = out["ui"]["recipes"]
    recipes_dir = library.recipes_dir
    recipe = json.loads((recipes_dir / f"{recipe_id}.recipe.json").read_text())
    loras, ckpt = records(library)
    assert [(l["file_name"], l["strength"], l["hash"], l["modelVersionId"]) for l in recipe["loras"]] == [
        ("anime_style", 0.5, loras["style/anime_style.safetensors"].sha256, 1002),
        ("detail_tweaker", 0.8, loras["detail_tweaker.safetensors"].sha256, 1001),
        ("plain", 0.5, loras["plain.safetensors"].sha256, 0)]
    assert recipe["gen_params"]["seed"] == 123456789 and recipe["checkpoint"]["hash"] == ckpt.sha256
    assert recipe["base_model"] == "SD 1.5" and recipe["fingerprint"].count("|") == 2
    image = recipes_dir / f"{recipe_id}.webp"
    assert recipe["file_path"].endswith(f"{recipe_id}.webp") and image.is_file()
    parsed = parse_image(image.read_bytes())
    assert parsed.source_format == "lora-manager-recipe"
    assert [(l.file_name, l.strength_model) for l in parsed.loras] == [
        ("anime_style", 0.5), ("detail_tweaker", 0.8), ("plain", 0.5)]


async def test_save_as_recipe_without_generation_metadata_is_a_clear_error(library, comfy_stubs):
    with pytest.raises(NodeInputError, match="no generation metadata"):
        await save(images=IMAGES[:1], prompt={}, save_as_recipe=True)


async def test_bad_inputs_are_clear_errors(library, comfy_stubs):
    with pytest.raises(NodeInputError, match="Unknown file format"):
        await save(prompt=graph(), file_format="bmp")
    with pytest.raises(NodeInputError, match="Quality"):
        await save(prompt=graph(), quality=0)
    with pytest.raises(NodeInputError, match="shape"):
        await save(prompt=graph(), images=np.zeros((1, 4, 4), dtype="float32"))
    assert (await save(prompt=graph(), images=[]))["ui"]["images"] == []
    assert list(comfy_stubs.output_dir.iterdir()) == []


async def test_save_as_recipe_without_a_running_recipe_store_writes_the_files(library, comfy_stubs):
    original = library.components.get("recipes")
    library.components["recipes"] = None  # e.g. the recipe area failed to start: the folder is the truth
    try:
        out = await save(images=IMAGES[:1], prompt=graph(), save_as_recipe=True, filename_prefix="r")
    finally:
        library.components["recipes"] = original
    (recipe_id,) = out["ui"]["recipes"]
    recipe = json.loads((library.recipes_dir / f"{recipe_id}.recipe.json").read_text())
    assert recipe["id"] == recipe_id and recipe["file_path"] == (library.recipes_dir / f"{recipe_id}.webp").as_posix()
    assert parse_image((library.recipes_dir / f"{recipe_id}.webp").read_bytes()).loras[0].file_name == "anime_style"


async def test_save_as_recipe_needs_the_library(library, comfy_stubs):
    from lora_manager.py.nodes import runtime

    runtime.unbind()
    with pytest.raises(NodeInputError, match="not running"):
        await save(images=IMAGES[:1], prompt=graph(), save_as_recipe=True)
