"""analyze-image on ComfyUI images through HTTP against the real app: which LoRAs ran, how sure, matched by hash."""
from __future__ import annotations

import pytest
from aiohttp import FormData

from support.comfy_workflows import (LIGHTNING, UIGraph, api_node, base_api, base_ui, png_with_graph,
                                     webp_with_graph, workflow_with_block)
from support.library import lm_sidecar, write_lora
from support.snap import scrub

SHA_RENAMED = "c" * 64


@pytest.fixture
async def gclient(lib_env, make_client):
    write_lora(lib_env.loras, "qwen/Qwen-Image-Lightning-8steps-V1.0.safetensors",
               sidecar=lm_sidecar("Qwen-Image-Lightning-8steps-V1.0", sha256="d" * 64))
    write_lora(lib_env.loras, "styles/new_name.safetensors", sidecar=lm_sidecar("new_name", sha256=SHA_RENAMED))
    client = await make_client(lib_env)
    client.env = lib_env
    await client.lm_context.components["recipes"].wait_ready()
    return client


async def analyze(client, data: bytes, filename: str = "image.png"):
    form = FormData()
    form.add_field("image", data, filename=filename, content_type="image/png")
    resp = await client.post("/api/lm/recipes/analyze-image", data=form)
    return resp.status, scrub(await resp.json(), client.env.tmp)


@pytest.mark.parametrize("value", [True, False])
async def test_subgraph_toggle_decides_the_listed_lora(gclient, snapshot, value):
    status, body = await analyze(gclient, png_with_graph(workflow=workflow_with_block(value)))
    assert status == 200
    if value:
        lora = body["loras"][0]
        assert (lora["file_name"], lora["confidence"], lora["nodeId"]) == \
            ("Qwen-Image-Lightning-8steps-V1.0", "exact", "50:1")
        assert lora["existsLocally"] is True
    else:
        assert body["loras"] == []
    assert body["gen_params"]["steps"] == (8 if value else 20)
    assert body == snapshot


async def test_clip_only_and_ambiguous_loras_say_why(gclient, snapshot):
    prompt = base_api(model_link=("31", 0))
    prompt["20"] = api_node("LoraLoader", lora_name="te_style.safetensors", strength_model=1.0, strength_clip=0.8,
                            model=["4", 0], clip=["4", 1])
    prompt["21"] = api_node("TextGenerate", clip=["20", 1], prompt="describe a lighthouse")
    prompt["6"] = api_node("CLIPTextEncode", text=["21", 0], clip=["4", 1])
    prompt["30"] = api_node("LoraLoaderModelOnly", lora_name=LIGHTNING, strength_model=1.0, model=["4", 0])
    prompt["32"] = api_node("ComfyMathExpression", expression="a > 8", **{"values.a": ["5", 0]})
    prompt["31"] = api_node("ComfySwitchNode", switch=["32", 2], on_false=["4", 0], on_true=["30", 0])
    status, body = await analyze(gclient, webp_with_graph(prompt=prompt, frames=2), "clip.webp")
    assert status == 200
    assert [(l["file_name"], l["confidence"]) for l in body["loras"]] == [
        ("Qwen-Image-Lightning-8steps-V1.0", "ambiguous"), ("te_style", "exact")]
    assert body == snapshot


async def test_renamed_lora_is_found_by_the_hash_in_the_workflow(gclient, snapshot):
    graph = base_ui(UIGraph(), model_src=(20, 0))
    graph.add(20, "LoraLoaderModelOnly", ["old_name.safetensors", 0.8], inputs=[("model", "MODEL")],
              outputs=("MODEL",), properties={"models": [
                  {"name": "old_name.safetensors", "directory": "loras", "hash": SHA_RENAMED, "hash_type": "SHA256"}]})
    graph.connect(4, 0, 20, "model")
    prompt = base_api(model_link=("20", 0))
    prompt["20"] = api_node("LoraLoaderModelOnly", lora_name="old_name.safetensors", strength_model=0.8,
                            model=["4", 0])
    status, body = await analyze(gclient, png_with_graph(workflow=graph.data(), prompt=prompt))
    assert status == 200
    lora = body["loras"][0]
    assert (lora["existsLocally"], lora["matchedBy"], lora["file_name"]) == (True, "sha256", "new_name")
    assert body == snapshot


async def test_a_hash_listed_under_a_display_name_finds_the_renamed_file(gclient, snapshot):
    """Civitai re-exports name the LoRA by its display name; the one unpaired hash belongs to the one bare LoRA."""
    prompt = base_api(model_link=("20", 0))
    prompt["20"] = api_node("LoraLoaderModelOnly", lora_name="old_name.safetensors", strength_model=0.8,
                            model=["4", 0])
    parameters = ('a lighthouse\nNegative prompt: blurry\nSteps: 24, Seed: 7, '
                  f'Lora hashes: "Fancy Style XL v2: {SHA_RENAMED[:12]}"')
    status, body = await analyze(gclient, png_with_graph(prompt=prompt, extra={"parameters": parameters}))
    assert status == 200
    assert [(l["file_name"], l["existsLocally"], l["matchedBy"]) for l in body["loras"]] == [
        ("new_name", True, "short")]
    assert "Fancy Style XL v2" in body["loras"][0]["reason"]
    assert body == snapshot


async def test_a_workflow_only_image_with_an_anything_everywhere_broadcast_lists_the_lora(gclient, snapshot):
    """cg-use-everywhere leaves the sampler's model unconnected in the saved workflow; the broadcast feeds it."""
    graph = base_ui(UIGraph(), model_src=(4, 0))
    graph.edges = [edge for edge in graph.edges if (edge[2], edge[3]) != (3, "model")]
    graph.add(20, "LoraLoaderModelOnly", ["styles/new_name.safetensors", 0.55], inputs=[("model", "MODEL")],
              outputs=("MODEL",))
    graph.add(21, "Anything Everywhere", [], inputs=[("anything", "*")],
              properties={"ue_properties": {"version": "7.2"}})
    graph.connect(4, 0, 20, "model").connect(20, 0, 21, "anything")
    status, body = await analyze(gclient, png_with_graph(workflow=graph.data()))
    assert status == 200
    assert [(l["file_name"], l["weight"], l["existsLocally"], l["nodeId"]) for l in body["loras"]] == [
        ("new_name", 0.55, True, "20")]
    assert body == snapshot
