"""Warm start, hash reuse, .civitai.info import and an existing ComfyUI-Lora-Manager library."""
from __future__ import annotations

import hashlib
import json

from support.library import lm_sidecar, write_image, write_lora


async def test_existing_library_opens_intact_without_hashing(lib_env, make_client):
    stated = "ff" * 32  # not the real hash: if anything were hashed, it would differ
    sidecar = lm_sidecar("old_friend", sha256=stated, model_name="Old Friend", base_model="Illustrious",
                         tags=["anime", "style"], favorite=True)
    write_lora(lib_env.loras, "old_friend.safetensors", sidecar=sidecar, preview=".preview.jpeg")
    client = await make_client(lib_env)
    item = (await (await client.get("/api/lm/loras/list")).json())["items"][0]
    assert item["sha256"] == stated and item["hash_status"] == "done"
    assert (item["model_name"], item["base_model"], item["tags"], item["favorite"]) == (
        "Old Friend", "Illustrious", ["anime", "style"], True)
    assert item["civitai"]["trainedWords"] == ["trigger"] and item["preview_url"]
    on_disk = json.loads((lib_env.loras / "old_friend.metadata.json").read_text())
    assert on_disk == sidecar  # opening the library changed nothing


async def test_warm_start_serves_the_index_and_reuses_hashes(lib_env, make_client, snapshot):
    path = write_lora(lib_env.loras, "a.safetensors")
    first = await make_client(lib_env)
    item = (await (await first.get("/api/lm/loras/list")).json())["items"][0]
    assert item["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    await first.close()
    second = await make_client(lib_env, idle=False)
    body = await (await second.get("/api/lm/loras/list")).json()
    assert body["total"] == 1 and body["items"][0]["sha256"] == item["sha256"]
    scan = await (await second.get("/api/lm/loras/scan")).json()
    assert (scan["added"], scan["updated"], scan["unchanged"]) == (0, 0, 1)
    assert scan == snapshot


async def test_civitai_info_is_imported_when_no_sidecar(lib_env, make_client):
    path = write_lora(lib_env.loras, "helper.safetensors")
    info = {"id": 55, "modelId": 5, "name": "v2", "baseModel": "SDXL 1.0", "trainedWords": ["hlpr"],
            "model": {"name": "Helper Model", "type": "LORA", "tags": ["tool"]},
            "files": [{"name": "helper.safetensors", "primary": True, "hashes": {"SHA256": "AB" * 32}}]}
    path.with_name("helper.civitai.info").write_text(json.dumps(info))
    client = await make_client(lib_env)
    item = (await (await client.get("/api/lm/loras/list")).json())["items"][0]
    assert (item["model_name"], item["base_model"], item["civitai"]["trainedWords"]) == (
        "Helper Model", "SDXL 1.0", ["hlpr"])
    assert item["sha256"] == "ab" * 32


async def test_preview_added_later_is_picked_up(lib_env, make_client):
    write_lora(lib_env.loras, "late.safetensors")
    client = await make_client(lib_env)
    assert (await (await client.get("/api/lm/loras/list")).json())["items"][0]["preview_url"] == ""
    write_image(lib_env.loras / "late.png")
    await client.get("/api/lm/loras/scan")
    assert (await (await client.get("/api/lm/loras/list")).json())["items"][0]["preview_url"]


async def test_embeddings_and_diffusion_models(lib_env, make_client):
    from lora_manager.py.library.safetensors import write_safetensors_header

    write_safetensors_header(lib_env.embeddings / "neg.safetensors", {"emb_params": ("F32", [2, 768])})
    client = await make_client(lib_env)
    item = (await (await client.get("/api/lm/embeddings/list")).json())["items"][0]
    assert item["sub_type"] == "embedding" and "usage_tips" not in item


async def test_large_scans_read_in_worker_processes(lib_env, make_client, monkeypatch):
    import lora_manager.py.services.model_service as model_service

    monkeypatch.setattr(model_service, "PROCESS_POOL_MIN", 1)
    for i in range(150):
        write_lora(lib_env.loras, f"bulk/model_{i:03d}.safetensors", family="sdxl" if i % 2 else "sd15")
    (lib_env.loras / "bulk" / "broken.safetensors").write_bytes(b"garbage")
    client = await make_client(lib_env)
    body = await (await client.get("/api/lm/loras/list", params={"page_size": "500"})).json()
    assert body["total"] == 151
    by_name = {i["file_name"]: i for i in body["items"]}
    assert by_name["model_001"]["base_model"] == "SDXL 1.0" and by_name["model_000"]["base_model"] == "SD 1.5"
    assert by_name["broken"]["status"] == "invalid"
    assert (lib_env.loras / "bulk" / "model_149.metadata.json").is_file()


async def test_worker_pool_falls_back_to_threads(lib_env, make_client, monkeypatch):
    import lora_manager.py.services.model_service as model_service
    from lora_manager.py.library import worker_pool

    monkeypatch.setattr(model_service, "PROCESS_POOL_MIN", 1)
    monkeypatch.setattr(worker_pool, "BOOT", "import sys; sys.exit(3)")  # workers die at once
    for i in range(5):
        write_lora(lib_env.loras, f"m{i}.safetensors")
    client = await make_client(lib_env)
    assert (await (await client.get("/api/lm/loras/list")).json())["total"] == 5
