"""Issue 13, item 6: a Civitai answer is input; one out of type or range is refused before anything is written.

The fake Civitai on loopback answers with numbers beyond 64 bits and nesting deeper than any real answer: the
refresh says so clearly, the sidecar is unchanged, and the library still lists every model after a restart.
"""
from __future__ import annotations

import json

import pytest

from support.fake_civitai import fake_civitai  # noqa: F401  (fixture)
from support.metadata_helpers import add_known_lora, civitai_env, http_clock  # noqa: F401  (fixtures)
from support.snap import scrub


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("extra", [
    {"stats": {"downloadCount": 2**70}},
    {"deep": nested(60)},
], ids=["huge-number", "deep-nesting"])
async def test_unusable_answer_changes_nothing(civitai_env, fake_civitai, make_client, http_clock,  # noqa: F811
                                               extra, snapshot):
    model, path = add_known_lora(fake_civitai, civitai_env.loras, "hostile.safetensors", seed=3)
    model.versions[0].extra.update(extra)
    client = await make_client(civitai_env)
    client.lm_context.components["metadata"].set_http(http_clock[0])
    sidecar = path.with_name("hostile.metadata.json")
    before = sidecar.read_bytes()
    resp = await client.post("/api/lm/loras/fetch-civitai", json={"file_path": str(path)})
    answer = await resp.json()
    assert 400 <= resp.status < 600 and resp.status != 500 and answer["success"] is False, answer
    assert "unusable answer" in answer["error"]
    assert scrub(answer, civitai_env.tmp) == snapshot
    assert sidecar.read_bytes() == before
    again = await make_client(civitai_env)
    listed = await (await again.get("/api/lm/loras/list")).json()
    assert [item["file_name"] for item in listed["items"]] == ["hostile"]


async def test_trained_words_are_bounded_like_an_edit(civitai_env, fake_civitai, make_client,  # noqa: F811
                                                      http_clock):
    words = [f"w{i}" for i in range(300)] + ["x" * 600]
    _model, path = add_known_lora(fake_civitai, civitai_env.loras, "wordy.safetensors", seed=4,
                                  trained_words=words)
    client = await make_client(civitai_env)
    client.lm_context.components["metadata"].set_http(http_clock[0])
    resp = await client.post("/api/lm/loras/fetch-civitai", json={"file_path": str(path)})
    assert resp.status == 200, await resp.json()
    stored = json.loads(path.with_name("wordy.metadata.json").read_text(encoding="utf-8"))["civitai"]["trainedWords"]
    assert stored == words[:200]
