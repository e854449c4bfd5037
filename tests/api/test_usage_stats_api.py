"""Usage statistics as a user meets them: ``sort_by=usage`` puts the most used first, and a rename, a move or a
restart never resets a model's count (hashed or still waiting for its hash)."""
from __future__ import annotations

import pytest

from support.library import write_lora

TYPES = {"lora": ("loras", "lora_root"), "checkpoint": ("checkpoints", "checkpoint_root")}


async def record_uses(client, model_type: str, path, times: int) -> int:
    """What a loader node does on each run (it schedules exactly this call)."""
    usage = client.lm_context.components["usage"]
    counts = {}
    for _ in range(times):
        counts = await usage.record([(model_type, str(path))])
    return counts[str(path).replace("\\", "/")]


async def items(client, page_type: str, **params) -> list[dict]:
    response = await client.get(f"/api/lm/{page_type}/list", params={"page_size": "100", **params})
    assert response.status == 200
    return (await response.json())["items"]


def usage_of(found: list[dict]) -> dict[str, int]:
    return {item["file_name"]: item["usage_count"] for item in found}


async def test_sort_by_usage_without_a_direction_is_most_used_first(lib_env, make_client):
    for stem in ("rare", "often", "never", "sometimes"):
        write_lora(lib_env.loras, f"{stem}.safetensors", metadata={"ss_output_name": stem})
    client = await make_client(lib_env)
    for stem, times in (("rare", 1), ("often", 5), ("sometimes", 2)):
        await record_uses(client, "lora", lib_env.loras / f"{stem}.safetensors", times)

    found = await items(client, "loras", sort_by="usage")
    assert [i["file_name"] for i in found] == ["often", "sometimes", "rare", "never"]
    assert [i["usage_count"] for i in found] == [5, 2, 1, 0]
    assert [i["file_name"] for i in await items(client, "loras", sort_by="usage:desc")] == [
        "often", "sometimes", "rare", "never"]
    assert [i["file_name"] for i in await items(client, "loras", sort_by="usage:asc")] == [
        "never", "rare", "sometimes", "often"]
    paged = await items(client, "loras", sort_by="usage", page_size="1", page="2")
    assert [i["file_name"] for i in paged] == ["sometimes"]


@pytest.mark.parametrize("model_type", ["lora", "checkpoint"])  # hashed at once / hashed lazily (pending)
async def test_rename_move_and_restart_keep_the_usage_count(lib_env, make_client, model_type):
    page, _ = TYPES[model_type]
    root = lib_env.loras if model_type == "lora" else lib_env.checkpoints
    path = write_lora(root, "sub/model.safetensors")
    (root / "elsewhere").mkdir()
    client = await make_client(lib_env)
    [item] = await items(client, page)
    assert item["hash_status"] == ("done" if model_type == "lora" else "pending")
    assert await record_uses(client, model_type, path, 3) == 3

    renamed = await client.post(f"/api/lm/{page}/rename", json={"file_path": str(path), "new_file_name": "renamed"})
    assert renamed.status == 200, await renamed.json()
    path = root / "sub" / "renamed.safetensors"
    assert usage_of(await items(client, page, sort_by="usage")) == {"renamed": 3}
    assert await record_uses(client, model_type, path, 1) == 4

    moved = await client.post(f"/api/lm/{page}/move_model",
                              json={"file_path": str(path), "target_path": str(root / "elsewhere")})
    assert moved.status == 200, await moved.json()
    path = root / "elsewhere" / "renamed.safetensors"
    assert usage_of(await items(client, page, sort_by="usage")) == {"renamed": 4}
    assert await record_uses(client, model_type, path, 1) == 5

    await client.close()
    again = await make_client(lib_env)
    assert usage_of(await items(again, page, sort_by="usage")) == {"renamed": 5}
    assert await record_uses(again, model_type, path, 1) == 6


async def test_a_new_file_at_a_used_path_starts_from_zero(lib_env, make_client):
    """The count belongs to the model that was used, not to the name a later file happens to take."""
    lib_env.write_settings(hash_checkpoints_lazily=True)
    old = write_lora(lib_env.checkpoints, "a.safetensors", metadata={"ss_output_name": "a"})
    write_lora(lib_env.checkpoints, "b.safetensors", metadata={"ss_output_name": "b"})
    client = await make_client(lib_env)
    assert await record_uses(client, "checkpoint", old, 2) == 2
    moved = await client.post("/api/lm/checkpoints/rename", json={"file_path": str(old), "new_file_name": "a2"})
    assert moved.status == 200
    renamed = await client.post("/api/lm/checkpoints/rename",
                                json={"file_path": str(lib_env.checkpoints / "b.safetensors"), "new_file_name": "a"})
    assert renamed.status == 200
    assert usage_of(await items(client, "checkpoints", sort_by="usage")) == {"a2": 2, "a": 0}
    assert await record_uses(client, "checkpoint", lib_env.checkpoints / "a.safetensors", 1) == 1
