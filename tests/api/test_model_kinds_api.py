"""VAEs, ControlNets, text encoders and upscalers are served through the same routes as LoRAs: a tmp library
holding generated files of each (real safetensors and GGUF headers, a pickled .pth), listed with what their
header says, edited, rescanned, moved, deleted and restored; their roots survive a settings round trip."""
from __future__ import annotations

import json

import pytest

from lora_manager.py.library.safetensors import write_safetensors_header
from support.kinds_library import NEW_KINDS, get_json, kinds_client  # noqa: F401 - fixture
from support.snap import scrub

@pytest.mark.parametrize("kind", NEW_KINDS)
async def test_list_of_each_new_kind_carries_its_identity(kinds_client, kind, snapshot):
    data = await get_json(kinds_client, f"/api/lm/{kind}/list", sort_by="name")
    assert data["total"] == len(data["items"]) > 0
    assert all(item["sub_type"] == kind for item in data["items"])
    assert scrub(data, kinds_client.env.tmp) == snapshot


async def test_identity_fields_per_kind(kinds_client):
    items = {}
    for kind in NEW_KINDS:
        for item in (await get_json(kinds_client, f"/api/lm/{kind}/list"))["items"]:
            items[item["file_name"]] = item
    fields = {name: (i["architecture"], i["base_model"], i["format"], i["precision"], i["status"])
              for name, i in items.items()}
    assert fields["sdxl_vae"] == ("SDXL VAE", "SDXL 1.0", "safetensors", "F16", "ok")
    assert fields["flux_cn"] == ("Flux ControlNet", "Flux.1 D", "safetensors", "BF16", "ok")
    assert fields["t5xxl-Q8_0"] == ("T5-XXL", "Flux.1 D", "gguf", "Q8_0", "ok")
    assert fields["4x-UltraSharp"][2:] == ("pickle", "", "ok")
    assert fields["broken"][2] == "unknown" and fields["broken"][4] == "invalid"
    assert items["broken"]["status_reason"]
    assert items["flux_cn"]["folder"] == "flux"


async def test_info_of_a_vae_holds_the_whole_header_report(kinds_client, snapshot):
    path = str(kinds_client.roots["vae"] / "sdxl_vae.safetensors")
    data = await get_json(kinds_client, "/api/lm/vae/info", file_path=path)
    identity = data["identity"]
    assert (identity["family"], identity["format"], identity["precision"]) == ("SDXL VAE", "safetensors", "F16")
    assert identity["base_models"] == ["SDXL 1.0", "Pony", "Illustrious"]  # every base model it fits
    assert data["vram_estimate_bytes"] == 512 * 4 * 3 * 3 * 2  # its tensor bytes
    assert scrub(data, kinds_client.env.tmp) == snapshot


async def test_edits_and_rescan_of_a_new_kind_use_the_same_routes(kinds_client):
    path = kinds_client.roots["controlnet"] / "flux" / "flux_cn.safetensors"
    response = await kinds_client.post("/api/lm/controlnet/save-metadata",
                                       json={"file_path": str(path), "notes": "strength 0.6", "tags": ["depth"]})
    assert response.status == 200, await response.json()
    sidecar = json.loads(path.with_name("flux_cn.metadata.json").read_text(encoding="utf-8"))
    assert sidecar["notes"] == "strength 0.6" and sidecar["tags"] == ["depth"] and sidecar["sub_type"] == "controlnet"
    write_safetensors_header(kinds_client.roots["controlnet"] / "cn_sd15.safetensors",
                             {"input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": ("F16", [320, 768])},
                             {"format": "pt"})
    scan = await get_json(kinds_client, "/api/lm/controlnet/scan")
    assert scan["success"] is True
    from support.fixtures import wait_idle

    await wait_idle(kinds_client.lm_context)
    listing = await get_json(kinds_client, "/api/lm/controlnet/list", sort_by="name")
    by_name = {i["file_name"]: i for i in listing["items"]}
    assert by_name["cn_sd15"]["architecture"] == "SD1.5 ControlNet"
    assert by_name["flux_cn"]["notes"] == "strength 0.6" and by_name["flux_cn"]["tags"] == ["depth"]
    other = await get_json(kinds_client, "/api/lm/vae/get-notes", status=403, file_path=str(path))
    assert other["success"] is False and other["error"]  # a ControlNet is not inside the VAE roots


async def test_settings_round_trip_keeps_new_roots_and_unknown_keys(kinds_client):
    settings = (await get_json(kinds_client, "/api/lm/settings"))["settings"]
    library = settings["libraries"]["default"]
    assert library["roots"]["vae"] == [str(kinds_client.roots["vae"])]
    assert library["a_future_library_key"] == {"kept": True} and settings["a_future_key"] == [1, 2]
    response = await kinds_client.post("/api/lm/settings", json={"language": "de"})
    assert response.status == 200, await response.json()
    on_disk = json.loads(kinds_client.env.settings_path.read_text(encoding="utf-8"))
    assert on_disk["libraries"]["default"]["roots"]["text_encoders"] == [str(kinds_client.roots["text_encoders"])]
    assert on_disk["libraries"]["default"]["a_future_library_key"] == {"kept": True}
    assert on_disk["a_future_key"] == [1, 2] and on_disk["language"] == "de"
    ipadapter = kinds_client.env.tmp / "ip"
    ipadapter.mkdir()
    response = await kinds_client.post("/api/lm/settings", json={"libraries": {"default": {"roots": {
        **on_disk["libraries"]["default"]["roots"], "ipadapter": [str(ipadapter)]}}}})
    assert response.status == 200, await response.json()
    on_disk = json.loads(kinds_client.env.settings_path.read_text(encoding="utf-8"))
    assert on_disk["libraries"]["default"]["roots"]["ipadapter"] == [str(ipadapter)]
    assert on_disk["libraries"]["default"]["roots"]["vae"] == [str(kinds_client.roots["vae"])]
    assert on_disk["a_future_key"] == [1, 2]


@pytest.mark.parametrize("roots", [{"vae": ["relative/vae"]}, {"vaes": ["/models/vae"]}, {"controlnet": "/x"}],
                         ids=["relative", "unknown-kind", "not-a-list"])
async def test_a_bad_root_is_a_clear_error_and_nothing_changes(kinds_client, roots, snapshot):
    before = kinds_client.env.settings_path.read_bytes()
    response = await kinds_client.post("/api/lm/settings", json={"libraries": {"default": {"roots": roots}}})
    data = await response.json()
    assert response.status == 400 and data["success"] is False
    assert data == snapshot
    assert kinds_client.env.settings_path.read_bytes() == before


async def test_move_delete_and_undo_of_an_upscaler(kinds_client):
    root = kinds_client.roots["upscale_models"]
    src = root / "4x-UltraSharp.pth"
    before = src.read_bytes()
    response = await kinds_client.post("/api/lm/upscale_models/move_model",
                                       json={"file_path": str(src), "target_path": "esrgan"})
    moved = await response.json()
    assert response.status == 200, moved
    moved_path = root / "esrgan" / "4x-UltraSharp.pth"
    assert moved_path.read_bytes() == before and not src.exists()
    response = await kinds_client.post("/api/lm/upscale_models/delete", json={"file_path": str(moved_path)})
    deleted = await response.json()
    assert response.status == 200 and not moved_path.exists(), deleted
    listing = await get_json(kinds_client, "/api/lm/upscale_models/list")
    assert listing["total"] == 0
    trash = await get_json(kinds_client, "/api/lm/trash")
    assert [b["model_types"] for b in trash["batches"]] == [["upscale_models"]]
    response = await kinds_client.post("/api/lm/undo-delete", json={"batch_id": deleted["batch_id"]})
    assert response.status == 200, await response.json()
    assert moved_path.read_bytes() == before  # nothing lost
    listing = await get_json(kinds_client, "/api/lm/upscale_models/list")
    assert [(i["file_name"], i["folder"], i["format"]) for i in listing["items"]] == [
        ("4x-UltraSharp", "esrgan", "pickle")]


async def test_a_truncated_gguf_and_a_corrupt_sidecar_are_clear_and_nothing_is_lost(lib_env, make_client):
    from support.gguf_files import gguf_bytes
    from support.kinds_library import build_kinds_library

    roots = build_kinds_library(lib_env)
    whole = gguf_bytes({"general.architecture": "t5encoder"},
                       [("encoder.block.0.layer.0.SelfAttention.q.weight", (4096, 4096), "Q8_0")])
    cut = roots["text_encoders"] / "cut-Q4.gguf"
    cut.write_bytes(whole[:40])
    sidecar = roots["vae"] / "sdxl_vae.metadata.json"
    sidecar.write_text("{not json", encoding="utf-8")
    client = await make_client(lib_env)
    items = {i["file_name"]: i for i in (await get_json(client, "/api/lm/text_encoders/list"))["items"]}
    assert items["cut-Q4"]["status"] == "invalid" and items["cut-Q4"]["format"] == "gguf"
    assert items["cut-Q4"]["status_reason"]
    assert items["t5xxl-Q8_0"]["status"] == "ok"
    assert cut.read_bytes() == whole[:40]  # the user's file is left as it is
    vae = {i["file_name"]: i for i in (await get_json(client, "/api/lm/vae/list"))["items"]}
    assert vae["sdxl_vae"]["architecture"] == "SDXL VAE"
    aside = [p for p in roots["vae"].iterdir() if p.name.startswith("sdxl_vae.metadata.json") and p != sidecar]
    assert aside and aside[0].read_text(encoding="utf-8") == "{not json"  # set aside, never overwritten


async def test_an_unknown_name_of_a_new_kind_is_a_clear_404(kinds_client):
    for kind in ("controlnet", "vae"):
        response = await kinds_client.get(f"/api/lm/{kind}/info/0")
        assert response.status == 404
        assert await response.json() == {"success": False, "error": "Model not found"}
