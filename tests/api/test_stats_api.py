"""The statistics page's figures through ``GET /api/lm/stats``: counts, disk use, usage, tags, growth, problems."""
from __future__ import annotations

import os

from support.library import lm_sidecar, write_lora
from support.snap import scrub

JAN_2024 = 1_704_153_600  # 2024-01-02 UTC
MAR_2024 = 1_709_424_000  # 2024-03-03 UTC


async def test_empty_library_has_zero_everywhere(client, snapshot):
    resp = await client.get("/api/lm/stats")
    assert resp.status == 200
    body = await resp.json()
    assert body["totals"] == {"models": 0, "size": 0, "excluded": 0}
    assert body == snapshot


async def test_stats_aggregate_the_library(lib_env, make_client, snapshot):
    styled = write_lora(lib_env.loras, "styles/ink.safetensors", preview=".png",
                        sidecar=lm_sidecar("ink", tags=["Style", "ink"], base_model="SDXL 1.0"))
    plain = write_lora(lib_env.loras, "plain.safetensors")
    other = write_lora(lib_env.loras, "styles/paper.safetensors", sidecar=lm_sidecar("paper", tags=["style"]))
    for path, when in ((styled, JAN_2024), (plain, MAR_2024), (other, MAR_2024)):
        os.utime(path, (when, when))
    (lib_env.checkpoints / "base.safetensors").parent.mkdir(parents=True, exist_ok=True)
    write_lora(lib_env.checkpoints, "base.safetensors")
    os.utime(lib_env.checkpoints / "base.safetensors", (MAR_2024, MAR_2024))
    client = await make_client(lib_env)
    usage = client.lm_context.components["usage"]
    for _ in range(3):
        await usage.record([("lora", str(styled))])

    body = await (await client.get("/api/lm/stats")).json()
    assert body["success"] is True
    assert body["totals"]["models"] == 4
    assert body["most_used"][0]["file_name"] == "ink"
    assert {row["month"]: row["count"] for row in body["growth_by_month"]} == {"2024-01": 1, "2024-03": 3}
    assert body["tag_cloud"][0] == {"tag": "style", "count": 2}
    assert body["problems"]["missing_previews"] == 3
    assert scrub(body, lib_env.tmp) == snapshot
