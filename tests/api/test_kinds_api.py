"""GET /api/lm/kinds: every kind of the table with its label and file count, 0 for a kind without files;
diffusion models are counted among the checkpoints that serve them."""
from __future__ import annotations

import json

from lora_manager.py.library.kinds import KINDS
from lora_manager.py.library.safetensors import write_safetensors_header
from support.kinds_library import get_json, kinds_client  # noqa: F401 - fixture


async def test_kinds_lists_every_kind_with_its_count(kinds_client, snapshot):
    data = await get_json(kinds_client, "/api/lm/kinds")
    counts = {k["name"]: k["count"] for k in data["kinds"]}
    assert [k["name"] for k in data["kinds"]] == [k.name for k in KINDS]
    assert counts["vae"] == 2 and counts["upscale_models"] == 1 and counts["ipadapter"] == 0
    assert data == snapshot


async def test_kinds_counts_diffusion_models_among_the_checkpoints(lib_env, make_client):
    unet = lib_env.tmp / "models" / "unet"
    unet.mkdir(parents=True)
    write_safetensors_header(unet / "flux1-dev.safetensors",
                             {"double_blocks.0.img_attn.qkv.weight": ("BF16", [96, 32])}, {"format": "pt"})
    write_safetensors_header(lib_env.checkpoints / "sd15.safetensors",
                             {"input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": ("F16", [320, 768])})
    lib_env.write_settings()
    doc = json.loads(lib_env.settings_path.read_text(encoding="utf-8"))
    doc["libraries"]["default"]["roots"]["checkpoint"].append(str(unet))
    lib_env.settings_path.write_text(json.dumps(doc), encoding="utf-8")
    client = await make_client(lib_env)
    kinds = {k["name"]: k for k in (await get_json(client, "/api/lm/kinds"))["kinds"]}
    assert (kinds["checkpoint"]["count"], kinds["diffusion_models"]["count"]) == (2, 1)
    assert kinds["diffusion_models"]["api"] == "/api/lm/checkpoints"
    missing = await client.get("/api/lm/diffusion_models/list")
    assert missing.status == 404


async def test_empty_library_lists_every_kind_with_zero(client, snapshot):
    data = await get_json(client, "/api/lm/kinds")
    assert {k["count"] for k in data["kinds"]} == {0}
    assert [k for k in data["kinds"] if k["name"] == "vae"] == snapshot


async def test_each_new_kind_has_a_page_and_an_unknown_kind_none(client):
    page = await client.get("/kinds/vae")
    assert page.status == 200 and "text/html" in page.headers["Content-Type"]
    for name in ("lora", "diffusion_models", "nope", "..%2Fsettings"):
        missing = await client.get(f"/kinds/{name}")
        assert missing.status == 404, name


async def test_statistics_count_and_size_the_new_kinds(kinds_client):
    stats = await get_json(kinds_client, "/api/lm/stats")
    per_type = {row["model_type"]: (row["count"], row["size"]) for row in stats["per_type"]}
    assert per_type["vae"][0] == 2 and per_type["upscale_models"][0] == 1 and per_type["text_encoders"][1] > 0
