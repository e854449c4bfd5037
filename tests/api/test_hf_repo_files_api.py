"""``GET /api/lm/hf-repo-files`` through the real app against the fake HF's tree API: the repository's model
files, biggest first (the LFS size, not the pointer's), in ComfyUI-Lora-Manager's bare-list shape; the token
goes along; refusals and odd answers are clear errors."""
from __future__ import annotations

import pytest

from support.fake_hf import fake_hf, hf_client  # noqa: F401  (fixture)
from support.snap import scrub

TOKEN = "hf_listTOKEN5678"


async def test_model_files_biggest_first(lib_env, make_client, fake_hf, monkeypatch, snapshot):
    fake_hf.add("someone/pack", "loras/small.safetensors", n_bytes=100, lfs=False)
    fake_hf.add("someone/pack", "loras/big.safetensors", n_bytes=5000)
    fake_hf.add("someone/pack", "README.md", n_bytes=10, lfs=False)
    fake_hf.add("someone/pack", "v2.ckpt", n_bytes=900, revision="v2")
    client = await hf_client(make_client, lib_env, fake_hf, monkeypatch, hf_token=TOKEN)
    response = await client.get("/api/lm/hf-repo-files", params={"repo": "someone/pack"})
    body = await response.json()
    assert response.status == 200, body
    assert body == snapshot
    assert body == [{"filename": "loras/big.safetensors", "size": 5000},
                    {"filename": "loras/small.safetensors", "size": 100}]
    assert fake_hf.hf_requests[-1].path == "/api/models/someone/pack/tree/main?recursive=true"
    assert fake_hf.hf_requests[-1].headers["Authorization"] == f"Bearer {TOKEN}"

    other = await (await client.get("/api/lm/hf-repo-files", params={"repo": "someone/pack",
                                                                    "revision": "v2"})).json()
    assert other == [{"filename": "v2.ckpt", "size": 900}]


@pytest.mark.parametrize("params,tree_status,status", [
    ({}, None, 400),
    ({"repo": "nobody"}, None, 400),
    ({"repo": "../etc"}, None, 400),
    ({"repo": "someone/missing"}, None, 404),
    ({"repo": "someone/gated"}, 401, 401),
    ({"repo": "someone/busy"}, 429, 503),
], ids=["no-repo", "no-slash", "dotdot", "missing", "gated", "rate-limited"])
async def test_refusals_are_clear(lib_env, make_client, fake_hf, monkeypatch, snapshot, params, tree_status, status):
    if tree_status is not None:
        fake_hf.tree_status[params["repo"]] = tree_status
    client = await hf_client(make_client, lib_env, fake_hf, monkeypatch)
    response = await client.get("/api/lm/hf-repo-files", params=params)
    body = await response.json()
    assert response.status == status
    assert body["success"] is False and body["error"]
    assert scrub(body, lib_env.tmp) == snapshot
