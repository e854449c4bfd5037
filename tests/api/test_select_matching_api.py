"""``file-paths``: every model a list filter matches, for "select all matching" in bulk mode, bounded."""
from __future__ import annotations

import pytest

from support.library import lm_sidecar, write_lora
from support.snap import scrub


@pytest.fixture
async def few(lib_env, make_client):
    for number in range(12):
        write_lora(lib_env.loras, f"{'sub/' if number % 3 == 0 else ''}m{number:02d}.safetensors",
                   sidecar=lm_sidecar(f"m{number:02d}", tags=["odd"] if number % 2 else ["even"],
                                      base_model="SDXL 1.0" if number % 2 else "SD 1.5"))
    client = await make_client(lib_env)
    client.env = lib_env
    return client


async def get(client, params):
    resp = await client.get("/api/lm/loras/file-paths", params=params)
    return resp.status, scrub(await resp.json(), client.env.tmp)


async def test_every_match_across_list_pages_in_list_order(lib_env, make_client):
    for number in range(503):  # one more page than the list's 500
        write_lora(lib_env.loras, f"m{number:04d}.safetensors")
    client = await make_client(lib_env)
    resp = await client.get("/api/lm/loras/file-paths", params={"sort_by": "name:desc"})
    body = await resp.json()
    assert resp.status == 200 and body["total"] == 503 and body["truncated"] is False
    assert [p.rsplit("/", 1)[-1] for p in body["file_paths"]] == [f"m{n:04d}.safetensors" for n in range(502, -1, -1)]


async def test_filters_combine_and_limit_truncates(few, snapshot):
    status, body = await get(few, {"tag_include": "odd", "folder": "sub", "sort_by": "name"})
    assert status == 200
    listed = await (await few.get("/api/lm/loras/list", params={"tag_include": "odd", "folder": "sub",
                                                                 "sort_by": "name"})).json()
    assert body["file_paths"] == [scrub(item["file_path"], few.env.tmp) for item in listed["items"]]
    status, limited = await get(few, {"base_model": "SD 1.5", "limit": "2"})
    assert status == 200
    assert {"filtered": body, "limited": limited} == snapshot


async def test_bad_parameter_is_a_400(few, snapshot):
    status, body = await get(few, {"limit": "many"})
    assert status == 400
    assert body == snapshot
    status, body = await get(few, {"tag_logic": "some"})
    assert status == 400 and body["success"] is False
