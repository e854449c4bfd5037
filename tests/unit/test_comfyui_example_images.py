"""Real images saved by ComfyUI (../shared/fixtures/comfyui-examples), parsed from ``prompt`` and ``workflow``."""
from __future__ import annotations

from pathlib import Path

import pytest

from lora_manager.py.services.recipes.parsers import extract_image_metadata, parse_image, parse_metadata_text

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "comfyui-examples"

pytestmark = pytest.mark.shared

SD15 = "v1-5-pruned-emaonly.ckpt"
EXPECTED = {
    "lora.png": {
        "loras": [("epiNoiseoffset_v2.safetensors", 1.0, 1.0)],
        "checkpoint": SD15,
        "params": {"prompt": "masterpiece best quality girl", "negative_prompt": "bad hands", "seed": 851616030078638,
                   "steps": 20, "cfg_scale": 8.0, "sampler": "euler", "scheduler": "normal", "size": "512x512"},
    },
    # Chain: checkpoint -> theovercomer8sContrastFix (node 11) -> epiNoiseoffset (node 10) -> KSampler;
    # listed from the sampler back, as ../shared/fixtures/README.md and ComfyUI-Lora-Manager list them.
    "lora_multiple.png": {
        "loras": [("epiNoiseoffset_v2.safetensors", 1.0, 1.0),
                  ("theovercomer8sContrastFix_sd15.safetensors", 1.0, 1.0)],
        "checkpoint": SD15,
        "params": {"prompt": "masterpiece best quality girl", "negative_prompt": "bad hands", "seed": 513173432917412,
                   "steps": 20, "cfg_scale": 8.0, "sampler": "euler", "scheduler": "normal", "size": "512x512"},
    },
    "flux_depth_lora_example.png": {
        "loras": [("flux1-depth-dev-lora.safetensors", 1.0, None)],
        "checkpoint": "flux1-dev.safetensors",
        "params": {"prompt": "a photograph of a shark in the sea", "negative_prompt": "", "seed": 91050358797301,
                   "steps": 20, "cfg_scale": 1.0, "sampler": "euler", "scheduler": "normal"},
    },
    "hypernetwork_example.png": {
        "loras": [],
        "checkpoint": SD15,
        "params": {"prompt": "woman (fennec ears fox ears:1.1), marble statue, museum",
                   "negative_prompt": "text, watermark", "seed": 572636856966402, "steps": 20, "cfg_scale": 8.0,
                   "sampler": "uni_pc_bh2", "scheduler": "normal", "size": "512x512"},
    },
    "img2img_workflow.png": {
        "loras": [],
        "checkpoint": SD15,
        "params": {"prompt": "photograph of victorian woman with wings, sky clouds, meadow grass\n",
                   "negative_prompt": "watermark, text\n", "seed": 280823642470253, "steps": 20, "cfg_scale": 8.0,
                   "sampler": "dpmpp_2m", "scheduler": "normal", "denoising_strength": 0.8700000000000001},
    },
}


def example(name: str) -> bytes:
    if not EXAMPLES.is_dir():
        pytest.skip(f"../shared not present: {EXAMPLES}")
    return (EXAMPLES / name).read_bytes()


def check(result, expected) -> None:
    assert [(l.name, l.strength_model, l.strength_clip) for l in result.loras] == expected["loras"]
    assert result.checkpoint is not None and result.checkpoint.name == expected["checkpoint"]
    for key, value in expected["params"].items():
        assert result.gen_params[key] == value, key


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_prompt_chunk(name):
    result = parse_image(example(name))
    assert result.source_format == "comfyui-prompt"
    check(result, EXPECTED[name])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_workflow_chunk_only(name):
    text = extract_image_metadata(example(name)).text
    text.pop("prompt")
    result = parse_metadata_text(text)
    assert result.source_format == "comfyui-workflow"
    check(result, EXPECTED[name])


def test_image_without_loras_has_no_size_when_latent_comes_from_an_image():
    result = parse_image(example("img2img_workflow.png"))
    assert "size" not in result.gen_params
