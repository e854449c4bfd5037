"""LoRA Loader, Text Loader and Stacker against a real library index, applying through stubbed ComfyUI."""
from __future__ import annotations

import asyncio
import os
import sqlite3

import pytest

from lora_manager.py.nodes import runtime
from lora_manager.py.nodes.lora_loader import LoraLoaderLM, LoraTextLoaderLM, plan_loras
from lora_manager.py.nodes.resolve import NodeInputError
from lora_manager.py.nodes.stacker import LoraStackerLM, requests_from_text
from lora_manager.py.nodes.trigger_words import EVENT, TriggerWordToggleLM
from lora_manager.py.nodes.usage import usage_key
from support.comfy_stubs import FakeModel, comfy_stubs, node_context  # noqa: F401 - fixtures
from support.node_library import build_node_library

MODEL, CLIP = FakeModel("model"), FakeModel("clip")


@pytest.fixture
async def library(lib_env, comfy_stubs, node_context):  # noqa: F811
    return node_context


@pytest.fixture(autouse=True)
def _files(lib_env):
    build_node_library(lib_env.loras, lib_env.checkpoints)


def lora(env, rel):
    return (env.loras / rel).as_posix()


async def run(node, **kwargs):
    return await asyncio.to_thread(getattr(node, node.FUNCTION), **kwargs)


async def test_loader_resolves_names_applies_in_order_and_returns_trigger_words(lib_env, library, comfy_stubs):
    node = LoraLoaderLM()
    model, clip, words, loaded = await run(
        node, model=MODEL, clip=CLIP,
        text="a castle <lora:detail_tweaker:0.8> <lora:style/anime_style:0.5:0.25> <lora:Plain:1>")
    assert comfy_stubs.applied == [(lora(lib_env, "detail_tweaker.safetensors"), 0.8, 0.8),
                                   (lora(lib_env, "style/anime_style.safetensors"), 0.5, 0.25),
                                   (lora(lib_env, "plain.safetensors"), 1.0, 1.0)]
    assert [p[1] for p in model.patches] == [0.8, 0.5, 1.0] and [p[1] for p in clip.patches] == [0.8, 0.25, 1.0]
    assert words == "detailed, sharp focus,, anime"  # "detailed" is not repeated for the second LoRA
    assert loaded == "<lora:detail_tweaker:0.8> <lora:style/anime_style:0.5:0.25> <lora:plain:1>"


async def test_model_name_and_extension_resolve(lib_env, library, comfy_stubs):
    _, _, _, loaded = await run(LoraLoaderLM(), model=MODEL, clip=CLIP,
                                text="<lora:Detail Tweaker:1> <lora:other/anime_style.safetensors:0.7>")
    assert loaded == "<lora:detail_tweaker:1> <lora:other/anime_style:0.7>"


async def test_ambiguous_name_lists_candidates(library, comfy_stubs):
    with pytest.raises(NodeInputError) as err:
        await run(LoraLoaderLM(), model=MODEL, clip=CLIP, text="<lora:anime_style:1>")
    message = str(err.value)
    assert "ambiguous" in message
    assert "other/anime_style.safetensors" in message and "style/anime_style.safetensors" in message
    assert comfy_stubs.applied == []


async def test_unknown_name_suggests_close_names(library, comfy_stubs):
    with pytest.raises(NodeInputError, match=r"'detail_tweeker' was not found.*Did you mean: detail_tweaker"):
        await run(LoraLoaderLM(), model=MODEL, clip=CLIP, text="<lora:detail_tweeker:1>")


async def test_strength_rules(lib_env, library, comfy_stubs):
    node = LoraLoaderLM()
    # both zero: skipped entirely; the text overrides a stacked strength for the same file (first position kept)
    _, _, words, loaded = await run(
        node, model=MODEL, clip=CLIP, lora_stack=[("detail_tweaker.safetensors", 0.3, 0.3), ("plain.safetensors", 1, 1)],
        text="<lora:style/anime_style:0:0> <lora:detail_tweaker:0.9>")
    assert loaded == "<lora:detail_tweaker:0.9> <lora:plain:1>"
    assert "anime" not in words
    # model 0 with a clip strength still applies (clip only)
    comfy_stubs.applied.clear()
    _, _, _, loaded = await run(node, model=MODEL, clip=CLIP, text="<lora:plain:0:0.5>")
    assert comfy_stubs.applied == [(lora(lib_env, "plain.safetensors"), 0.0, 0.5)] and loaded == "<lora:plain:0:0.5>"
    # without a CLIP input the clip strength is applied as 0, and model 0 means nothing to do
    comfy_stubs.applied.clear()
    model, clip, _, loaded = await run(node, model=MODEL, text="<lora:plain:0:0.5> <lora:detail_tweaker:0.4>")
    assert clip is None and loaded == "<lora:detail_tweaker:0.4>"
    assert comfy_stubs.applied == [(lora(lib_env, "detail_tweaker.safetensors"), 0.4, 0.0)]
    with pytest.raises(NodeInputError, match="outside -100..100"):
        await run(node, model=MODEL, clip=CLIP, text="<lora:plain:250>")


async def test_weights_are_cached_between_runs_and_reloaded_when_the_file_changes(lib_env, library, comfy_stubs):
    node = LoraLoaderLM()
    text = "<lora:plain:1> <lora:detail_tweaker:1>"
    await run(node, model=MODEL, clip=CLIP, text=text)
    await run(node, model=MODEL, clip=CLIP, text=text)
    assert len(comfy_stubs.loads) == 2
    path = lib_env.loras / "plain.safetensors"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    await run(node, model=MODEL, clip=CLIP, text="<lora:plain:1>")
    assert comfy_stubs.loads[-1] == path.as_posix() and len(comfy_stubs.loads) == 3
    assert len(node.weights) == 1  # the LoRA no longer used was released
    await run(node, model=MODEL, clip=CLIP, text="")
    assert len(node.weights) == 0


async def test_stackers_chain_into_the_loader(lib_env, library, comfy_stubs):
    first, _, _ = await run(LoraStackerLM(), lora_syntax="<lora:detail_tweaker:0.6>")
    stack, words, active = await run(LoraStackerLM(), lora_syntax="<lora:style/anime_style:0.5>", lora_stack=first)
    assert stack == [("detail_tweaker.safetensors", 0.6, 0.6), ("style/anime_style.safetensors", 0.5, 0.5)]
    assert words == "detailed, sharp focus,, anime"
    assert active == "<lora:detail_tweaker:0.6> <lora:style/anime_style:0.5>"
    _, _, _, loaded = await run(LoraTextLoaderLM(), model=MODEL, clip=CLIP, lora_stack=stack,
                                lora_syntax="prompt <lora:plain:0.2>")
    assert loaded == "<lora:detail_tweaker:0.6> <lora:style/anime_style:0.5> <lora:plain:0.2>"
    assert [a[0] for a in comfy_stubs.applied] == [lora(lib_env, r) for r in (
        "detail_tweaker.safetensors", "style/anime_style.safetensors", "plain.safetensors")]


async def test_bad_stack_entries_are_clear_errors(library, comfy_stubs):
    node = LoraLoaderLM()
    for stack, message in ((("x",), "LORA_STACK entry 1"), ("text", "must be a list"),
                           ([("plain.safetensors", "high", 1)], "must be a number")):
        with pytest.raises(NodeInputError, match=message):
            await run(node, model=MODEL, clip=CLIP, text="", lora_stack=stack)
    # "None" entries (empty slots of other node packs) are ignored
    _, _, _, loaded = await run(node, model=MODEL, clip=CLIP, text="", lora_stack=[("None", 1, 1)])
    assert loaded == ""


async def test_trigger_words_pushed_to_connected_toggles_only_when_they_change(library, comfy_stubs):
    prompt = {"5": {"class_type": "LoraLoaderLM", "inputs": {"model": ["4", 0], "text": "<lora:plain:1>"}},
              "9": {"class_type": "TriggerWordToggleLM", "inputs": {"trigger_words": ["5", 2]}},
              "10": {"class_type": "TriggerWordToggleLM", "inputs": {"trigger_words": ["6", 2]}}}
    node = LoraLoaderLM()
    await run(node, model=MODEL, clip=CLIP, text="<lora:detail_tweaker:1>", unique_id="5", prompt=prompt)
    await run(node, model=MODEL, clip=CLIP, text="<lora:detail_tweaker:0.5>", unique_id="5", prompt=prompt)
    await run(node, model=MODEL, clip=CLIP, text="<lora:plain:1>", unique_id="5", prompt=prompt)
    assert comfy_stubs.sent == [(EVENT, {"id": "9", "message": "detailed, sharp focus"}),
                                (EVENT, {"id": "9", "message": ""})]
    (filtered,) = await run(TriggerWordToggleLM(), trigger_words="detailed, sharp focus,, anime",
                            toggle_state='[{"text": "anime", "active": false}]')
    assert filtered == "detailed, sharp focus"


async def test_usage_is_recorded_for_loras_and_the_checkpoint(lib_env, library, comfy_stubs):
    prompt = {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15_base.safetensors"}},
              "5": {"class_type": "LoraLoaderLM", "inputs": {"model": ["4", 0], "text": ""}}}
    node = LoraLoaderLM()
    for _ in range(2):
        await run(node, model=MODEL, clip=CLIP, text="<lora:plain:1> <lora:detail_tweaker:1>", unique_id="5",
                  prompt=prompt)
    usage = library.components["usage"]
    for _ in range(100):
        async with usage._lock:
            counts = await asyncio.to_thread(usage.store.counts)
        if sum(counts.values()) == 6:
            break
        await asyncio.sleep(0.01)
    loras = library.service("lora")
    assert loras.index.get(lora(lib_env, "plain.safetensors")).usage_count == 2
    assert loras.index.get(lora(lib_env, "detail_tweaker.safetensors")).usage_count == 2
    ckpt = library.service("checkpoint").all_records()[0]
    assert ckpt.usage_count == 2
    assert counts[usage_key(ckpt)] == 2  # keyed by path while the checkpoint is not hashed (lazy hashing)
    db = lib_env.data_dir / "db" / "usage.sqlite"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT sum(count) FROM usage").fetchone()[0] == 6


async def test_without_a_running_library_names_cannot_resolve(lib_env, library, comfy_stubs):
    runtime.unbind()
    with pytest.raises(NodeInputError, match="not running"):
        plan_loras(requests_from_text("<lora:plain:1>"))
    # no LoRAs: nothing to resolve, the model passes through untouched
    model, clip, words, loaded = await run(LoraLoaderLM(), model=MODEL, clip=CLIP, text="just a prompt")
    assert (model, clip, words, loaded) == (MODEL, CLIP, "", "")
