"""Real ComfyUI-saved images (../shared/fixtures/comfyui-examples) saved as recipes and imported back."""
from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import FormData

from support.library import write_lora

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "comfyui-examples"
pytestmark = pytest.mark.shared


def example(name: str) -> bytes:
    if not EXAMPLES.is_dir():
        pytest.skip(f"../shared not present: {EXAMPLES}")
    return (EXAMPLES / name).read_bytes()


def form(data: bytes, filename: str, **fields: str) -> FormData:
    out = FormData()
    out.add_field("image", data, filename=filename, content_type="image/png")
    for key, value in fields.items():
        out.add_field(key, value)
    return out


@pytest.mark.parametrize("name,loras", [
    ("lora.png", ["epiNoiseoffset_v2"]),
    ("lora_multiple.png", ["epiNoiseoffset_v2", "theovercomer8sContrastFix_sd15"]),
    ("flux_depth_lora_example.png", ["flux1-depth-dev-lora"]),
    ("hypernetwork_example.png", []),
])
async def test_example_image_to_recipe_and_back(lib_env, make_client, name, loras):
    import json

    data = example(name)
    write_lora(lib_env.loras, "noise/epiNoiseoffset_v2.safetensors")
    client = await make_client(lib_env)
    await client.lm_context.components["recipes"].wait_ready()
    analyzed = await (await client.post("/api/lm/recipes/analyze-image", data=form(data, name))).json()
    assert [l["file_name"] for l in analyzed["loras"]] == loras
    assert analyzed["checkpoint"]["type"] == "checkpoint"
    statuses = {l["file_name"]: l["matchStatus"] for l in analyzed["loras"]}
    if "epiNoiseoffset_v2" in statuses:
        assert statuses["epiNoiseoffset_v2"] == "in_library"
    metadata = {k: analyzed[k] for k in ("base_model", "loras", "gen_params", "checkpoint")}
    saved = await (await client.post("/api/lm/recipes/save", data=form(
        data, name, name=name, metadata=json.dumps(metadata)))).json()
    assert saved["success"] is True
    image = Path(saved["image_path"]).read_bytes()
    again = await (await client.post("/api/lm/recipes/analyze-image", data=form(image, "saved.webp"))).json()
    assert again["source_format"] == "lora-manager-recipe"
    assert [l["file_name"] for l in again["loras"]] == loras
    assert again["gen_params"]["seed"] == analyzed["gen_params"]["seed"]
    assert again["gen_params"]["prompt"] == analyzed["gen_params"]["prompt"]
    syntax = await client.get(f"/api/lm/recipe/{saved['recipe_id']}/syntax")
    if loras:
        text = (await syntax.json())["syntax"]
        assert all(f"{lora}:" in text for lora in loras)
        if "epiNoiseoffset_v2" in loras:
            assert "<lora:noise/epiNoiseoffset_v2:1>" in text
    else:
        assert syntax.status == 400
