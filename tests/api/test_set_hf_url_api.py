"""``POST /api/lm/set-hf-url`` through the real app: the repository link lands in the sidecar, every other
field (unknown ones too) is kept; bad input is a clear 4xx and the sidecar is left as it was."""
from __future__ import annotations

import json

import pytest

from support.library import lm_sidecar, write_lora
from support.snap import scrub


@pytest.fixture
def lora(lib_env):
    sidecar = lm_sidecar("pixel_style", future_field={"kept": True})
    return write_lora(lib_env.loras, "styles/pixel_style.safetensors", sidecar=sidecar)


def sidecar_of(model) -> dict:
    return json.loads(model.with_name(model.stem + ".metadata.json").read_text())


async def test_the_link_is_written_and_nothing_else_is_lost(lib_env, make_client, lora, snapshot):
    client = await make_client(lib_env)
    before = sidecar_of(lora)
    response = await client.post("/api/lm/set-hf-url", json={"file_path": lora.as_posix(),
                                                             "hf_url": "https://huggingface.co/someone/pixel-lora/"})
    body = await response.json()
    assert response.status == 200, body
    assert body == snapshot
    after = sidecar_of(lora)
    assert after["hf_url"] == "https://huggingface.co/someone/pixel-lora"
    assert after["future_field"] == {"kept": True}
    assert {k: after.get(k) for k in before if k != "modified"} == {k: v for k, v in before.items() if k != "modified"}
    listed = await (await client.get("/api/lm/loras/list?page_size=10")).json()
    assert [item["hf_url"] for item in listed["items"]] == ["https://huggingface.co/someone/pixel-lora"]
    await client.close()
    again = await make_client(lib_env)  # read back from the index on a warm start
    listed = await (await again.get("/api/lm/loras/list?page_size=10")).json()
    assert [item["hf_url"] for item in listed["items"]] == ["https://huggingface.co/someone/pixel-lora"]


@pytest.mark.parametrize("payload,status", [
    ({"hf_url": "https://huggingface.co/a/b"}, 400),
    ({"file_path": "<lora>"}, 400),
    ({"file_path": "<lora>", "hf_url": "https://huggingface.co/a"}, 400),
    ({"file_path": "<lora>", "hf_url": "https://huggingface.co/a/b/resolve/main/x.safetensors"}, 400),
    ({"file_path": "<lora>", "hf_url": "https://evil.example/a/b"}, 400),
    ({"file_path": "<lora>", "hf_url": "https://huggingface.co/../b"}, 400),
    ({"file_path": "<lora>", "hf_url": 5}, 400),
    ({"file_path": "<lora>", "hf_url": "https://huggingface.co:99999/a/b"}, 400),
    ({"file_path": "/etc/passwd", "hf_url": "https://huggingface.co/a/b"}, 400),
    ({"file_path": "<root>/missing.safetensors", "hf_url": "https://huggingface.co/a/b"}, 404),
], ids=["no-path", "no-url", "no-repo-name", "file-address", "other-host", "dotdot", "not-a-string", "bad-port", "outside",
        "missing"])
async def test_bad_requests_leave_the_sidecar_alone(lib_env, make_client, lora, snapshot, payload, status):
    client = await make_client(lib_env)
    before = lora.with_name("pixel_style.metadata.json").read_bytes()
    body_in = {k: (v.replace("<lora>", lora.as_posix()).replace("<root>", lib_env.loras.as_posix())
                   if isinstance(v, str) else v) for k, v in payload.items()}
    response = await client.post("/api/lm/set-hf-url", json=body_in)
    body = await response.json()
    assert response.status == status
    assert body["success"] is False and body["error"]
    assert scrub(body, lib_env.tmp) == snapshot
    assert lora.with_name("pixel_style.metadata.json").read_bytes() == before


async def test_a_sidecar_shared_by_two_model_files_is_not_written(lib_env, make_client, lora, snapshot):
    twin = lora.with_suffix(".pt")
    twin.write_bytes(b"a pickle stand-in")
    client = await make_client(lib_env)
    before = lora.with_name("pixel_style.metadata.json").read_bytes()
    response = await client.post("/api/lm/set-hf-url", json={"file_path": lora.as_posix(),
                                                             "hf_url": "https://huggingface.co/a/b"})
    body = await response.json()
    assert response.status == 409
    assert scrub(body, lib_env.tmp) == snapshot
    assert lora.with_name("pixel_style.metadata.json").read_bytes() == before
