"""Workflows saved with ComfyUI-Lora-Manager run here unchanged, against a real library through stubbed ComfyUI.

Both fixtures (``support.anchor_workflows``) are queued in the API format, and from the UI format through the
frontend stand-in, into ``support.comfy_executor`` (ComfyUI's validation and execution rules); every node of
that project's 22 types runs and its outputs are checked.
"""
from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from lora_manager.py.library.safetensors import write_safetensors_header
from lora_manager.py.nodes import NODE_CLASS_MAPPINGS
from lora_manager.py.nodes.pool_nodes import filter_pool, pool_filters
from support.anchor_workflows import POOL_FILTERS, basic_workflow, suite_workflow, ui_to_api
from support.comfy_executor import Executor, ValidationError
from support.comfy_stubs import FakeHookGroup, FakeModel, comfy_stubs, node_context  # noqa: F401 - fixtures
from support.node_library import build_node_library


@pytest.fixture(autouse=True)
def _files(lib_env):
    build_node_library(lib_env.loras, lib_env.checkpoints)
    unets = lib_env.tmp / "models" / "diffusion_models"
    unets.mkdir(parents=True)
    write_safetensors_header(unets / "flux_dev.safetensors",
                             {"double_blocks.0.img_attn.qkv.weight": ("F16", [9216, 3072])})
    doc = json.loads(lib_env.settings_path.read_text(encoding="utf-8"))
    doc["libraries"]["default"]["roots"]["checkpoint"].append(str(unets))
    lib_env.settings_path.write_text(json.dumps(doc), encoding="utf-8")


@pytest.fixture
async def library(lib_env, comfy_stubs, node_context):  # noqa: F811
    return node_context


def definitions() -> dict[str, dict]:
    return {name: json.loads(json.dumps(cls.INPUT_TYPES())) for name, cls in NODE_CLASS_MAPPINGS.items()}


async def execute(prompt, workflow=None):
    executor = Executor(NODE_CLASS_MAPPINGS)
    return await asyncio.to_thread(executor.run, prompt, {"workflow": workflow} if workflow else None)


def lora(env, rel):
    return (env.loras / rel).as_posix()


@pytest.mark.parametrize("source", ["api", "ui"])
async def test_basic_workflow_runs_unchanged(lib_env, library, comfy_stubs, source):
    wf = basic_workflow()
    ui = wf.ui()
    prompt = wf.api() if source == "api" else ui_to_api(json.loads(json.dumps(ui)), definitions())
    run = await execute(prompt, ui)

    assert run.outputs["2"][0] == [("plain.safetensors", 0.4, 0.4)]
    model, clip, words, loaded = run.outputs["3"]
    assert comfy_stubs.applied == [(lora(lib_env, "plain.safetensors"), 0.4, 0.4),
                                   (lora(lib_env, "detail_tweaker.safetensors"), 0.8, 0.8),
                                   (lora(lib_env, "style/anime_style.safetensors"), 0.5, 0.25)]  # the off row is not
    assert model.name == "model:sd15_base.safetensors" and clip.name == "clip:sd15_base.safetensors"
    assert words == "detailed,, sharp focus,, anime"
    assert loaded == "<lora:plain:0.4> <lora:detail_tweaker:0.8> <lora:style/anime_style:0.5:0.25>"
    assert run.outputs["4"] == ("detailed, anime",)  # "sharp focus" is switched off in the toggle
    assert ("trigger_word_update", {"id": "4", "message": words}) in comfy_stubs.sent  # the toggle's frontend
    conditioning, encoded = run.outputs["5"]
    assert encoded in ("detailed, anime, a castle on a hill, dawn", "detailed, anime, a castle on a hill, dusk")
    assert conditioning[0][0][3] == encoded
    assert run.outputs["13"] == ({"additional_data": '"Copyright": "CC-BY"'},)
    assert run.outputs["12"] == ()  # Lora Info only displays

    saved = run.ui["10"]["images"]
    assert saved == [{"filename": "1234_00001_.png", "subfolder": "castle", "type": "output"}]
    with Image.open(comfy_stubs.output_dir / "castle" / "1234_00001_.png") as image:
        text = image.text
    parameters = text["parameters"]
    first, negative, settings = parameters.split("\n")
    assert first == encoded  # the prompt that reached the encoder through links, no <lora:> tags appended
    assert negative == "Negative prompt: blurry, lowres"
    checkpoint = library.service("checkpoint").index.get((lib_env.checkpoints / "sd15_base.safetensors").as_posix())
    assert checkpoint.sha256  # hashed on first use for its Model hash
    for field in ("Steps: 20", "Sampler: Euler a", "Schedule type: Karras", "CFG scale: 7", "Seed: 1234",
                  "Size: 512x768", f"Model hash: {checkpoint.sha256[:10]}", "Model: sd15_base", '"Copyright": "CC-BY"'):
        assert field in settings
    assert "Lora hashes: " in settings and "other" not in settings.split("Lora hashes: ")[1].split('"')[0]
    assert json.loads(text["workflow"])["nodes"][0]["type"] == "Checkpoint Loader (LoraManager)"
    assert json.loads(text["prompt"])["3"]["class_type"] == "Lora Loader (LoraManager)"
    shown = run.ui["11"]["metadata"][0]
    assert shown["parameters"].split("\n")[2] == settings and shown["gen_params"]["seed"] == 1234


@pytest.mark.parametrize("source", ["api", "ui"])
async def test_suite_workflow_runs_unchanged(lib_env, library, comfy_stubs, source):
    wf = suite_workflow()
    prompt = wf.api() if source == "api" else ui_to_api(json.loads(json.dumps(wf.ui())), definitions())
    run = await execute(prompt)
    unet = (lib_env.tmp / "models" / "diffusion_models" / "flux_dev.safetensors").as_posix()

    assert run.outputs["20"][0].name == "unet:flux_dev.safetensors"
    assert ("diffusion_model", unet, {"dtype": "float8_e4m3fn"}) in comfy_stubs.loaded_models
    assert run.outputs["21"][3] == "sd15_base.safetensors"
    assert run.outputs["22"][1] == "flux_dev.safetensors"  # the only diffusion model: the random pick
    assert run.outputs["23"] == ("<lora:detail_tweaker:0.7> portrait",)

    filters = run.outputs["24"][0]
    assert filters["baseModels"] == ["SD 1.5"] and filters["namePatterns"]["exclude"] == ["old"]
    pool = filter_pool(library.service("lora").all_records(), pool_filters(POOL_FILTERS))
    assert "other" not in {r.folder for r in pool}  # "Anime Style Old" is excluded by name
    randomized = run.outputs["25"][0]
    assert randomized[0] == ("plain.safetensors", 0.5, 0.5)  # the locked row stays, first
    assert len(randomized) == 2 and 0.2 <= randomized[1][1] <= 0.8
    shown = run.ui["25"]
    assert shown["last_used"][0]["name"] == "plain" and len(shown["loras"]) == 2
    cycled = run.outputs["26"][0]
    second = pool[1]
    assert cycled == [(os.path.join(second.folder, second.file_name + ".safetensors") if second.folder
                       else second.file_name + ".safetensors", 0.9, 0.9)]
    assert run.ui["26"]["current_index"] == [2] and run.ui["26"]["next_index"] == [1 if len(pool) == 2 else 3]
    assert run.outputs["27"][0] == randomized + cycled

    _, _, _, loaded = run.outputs["28"]
    assert "<lora:detail_tweaker:0.7>" in loaded
    paths = run.outputs["29"][0].split("\n")
    assert lora(lib_env, "detail_tweaker.safetensors") in paths and all(Path(p).is_file() for p in paths)

    wan, wan_words, wan_active = run.outputs["30"]
    assert wan == [{"path": lora(lib_env, "detail_tweaker.safetensors"), "strength": 1.0, "name": "detail_tweaker",
                    "blocks": {}, "layer_filter": "", "low_mem_load": False, "merge_loras": True}]
    assert wan_words == "detailed,, sharp focus" and wan_active == "<lora:detail_tweaker:1>"
    chained = run.outputs["31"][0]
    assert chained[0] == wan[0] and chained[1]["strength"] == 0.7
    assert chained[1]["merge_loras"] is False and chained[1]["low_mem_load"] is False  # unmerged: no low-mem load

    hooks, hook_words, hook_active = run.outputs["32"]
    assert hooks == FakeHookGroup(((lora(lib_env, "style/anime_style.safetensors"), 0.6, 0.3),))
    assert hook_words == "anime,, detailed" and hook_active == "<lora:style/anime_style:0.6:0.3>"


async def test_randomizer_repeats_with_its_seed(library, comfy_stubs):
    prompt = suite_workflow().api()
    first = await execute(prompt)
    again = await execute(prompt)
    assert first.outputs["25"] == again.outputs["25"] and first.ui["25"] == again.ui["25"]


async def test_a_missing_lora_is_refused_at_queue_time_naming_it(library, comfy_stubs):
    wf = basic_workflow()
    wf.nodes[3].values["loras"].append({"name": "detial_tweaker", "strength": 1, "active": True})
    with pytest.raises(ValidationError) as err:
        await execute(wf.api())
    assert "Missing LoRA(s) in local library: detial_tweaker" in str(err.value)


async def test_a_missing_checkpoint_is_refused_as_comfyui_refuses_a_combo_value(library, comfy_stubs):
    wf = basic_workflow()
    wf.nodes[1].values["ckpt_name"] = "gone.safetensors"
    with pytest.raises(ValidationError) as err:
        await execute(wf.api())
    assert "ckpt_name 'gone.safetensors' not in" in str(err.value)


async def test_a_saved_base_model_the_library_lacks_still_queues(library, comfy_stubs):
    wf = basic_workflow()
    wf.nodes[1].values["base_model"] = "Illustrious"
    run = await execute(wf.api())
    assert run.outputs["1"][0] == FakeModel("model:sd15_base.safetensors")
