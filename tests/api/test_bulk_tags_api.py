"""Bulk tag edit API: add, remove and replace tags on many models at once, each a read-modify-write of its sidecar."""
from __future__ import annotations

import asyncio
import json

import pytest

from support.library import lm_sidecar, write_lora
from support.snap import scrub


@pytest.fixture
async def tagged(lib_env, make_client):
    loras = lib_env.loras
    write_lora(loras, "a.safetensors", sidecar=lm_sidecar("a", tags=["style", "SDXL", "anime"]))
    write_lora(loras, "b.safetensors", sidecar=lm_sidecar("b", tags=["sdxl", "portrait"]))
    write_lora(loras, "c.safetensors", sidecar=lm_sidecar("c", tags=["photo"]))
    client = await make_client(lib_env)
    client.env = lib_env
    return client


async def post(client, body):
    resp = await client.post("/api/lm/loras/bulk-tags", json=body)
    return resp.status, scrub(await resp.json(), client.env.tmp)


def sidecar(client, stem):
    return json.loads((client.env.loras / f"{stem}.metadata.json").read_text(encoding="utf-8"))


def paths(client, *stems):
    return [str(client.env.loras / f"{stem}.safetensors") for stem in stems]


async def test_replace_and_remove_on_every_selected_model(tagged, snapshot):
    status, body = await post(tagged, {"file_paths": paths(tagged, "a", "b", "c"),
                                       "replace": {"sdxl": "SD XL"}, "remove": ["Anime", "portrait"]})
    assert status == 200
    assert body == snapshot
    a, b, c = (sidecar(tagged, s) for s in "abc")
    assert a["tags"] == ["style", "SD XL"] and b["tags"] == ["SD XL"] and c["tags"] == ["photo"]
    assert "tags" in a["user_edited_fields"] and "user_edited_fields" not in c  # c was not written
    assert a["an_unknown_field"] == {"kept": True}
    listed = await (await tagged.get("/api/lm/loras/list", params={"tag_include": "SD XL"})).json()
    assert sorted(item["file_name"] for item in listed["items"]) == ["a", "b"]


async def test_replace_merges_into_an_existing_tag_and_add_appends(tagged):
    status, body = await post(tagged, {"file_paths": paths(tagged, "a"), "replace": {"anime": "style"},
                                       "add": ["new", "STYLE"]})
    assert status == 200 and body["changed_count"] == 1
    assert sidecar(tagged, "a")["tags"] == ["style", "SDXL", "new"]


async def test_gone_model_is_reported_and_the_others_are_edited(tagged, snapshot):
    gone = paths(tagged, "b")[0]
    await post(tagged, {"file_paths": [gone], "add": ["warm-up"]})
    (tagged.env.loras / "b.safetensors").unlink()
    await tagged.lm_context.service("lora").reindex_paths([], removed=[gone])
    status, body = await post(tagged, {"file_paths": paths(tagged, "a", "b"), "remove": ["style"]})
    assert status == 200 and body["success"] is False
    assert body == snapshot
    assert sidecar(tagged, "a")["tags"] == ["SDXL", "anime"]


BAD_BODIES = [
    ({}, "file_paths"),
    ({"file_paths": "a"}, "file_paths"),
    ({"file_paths": ["<a>"]}, "Nothing to change"),
    ({"file_paths": ["<a>"], "remove": "style"}, "remove"),
    ({"file_paths": ["<a>"], "replace": ["style"]}, "replace"),
    ({"file_paths": ["<a>"], "replace": {"style": 3}}, "replace"),
    ({"file_paths": ["<a>"], "replace": {"style": " "}}, "blank"),
    ({"file_paths": ["<a>"], "replace": {"x" * 129: "y"}}, "128"),
    ({"file_paths": ["<a>"], "remove": ["t"] * 201}, "at most 200"),
    ({"file_paths": ["<a>"] * 10_001, "remove": ["t"]}, "at most 10000"),
]


async def test_bad_bodies_are_400_and_nothing_is_written(tagged):
    before = sidecar(tagged, "a")
    for body, fragment in BAD_BODIES:
        if isinstance(body.get("file_paths"), list):
            body = {**body, "file_paths": [p.replace("<a>", paths(tagged, "a")[0]) for p in body["file_paths"]]}
        status, answer = await post(tagged, body)
        assert status == 400 and answer["success"] is False and fragment in answer["error"], (body, answer)
    assert sidecar(tagged, "a") == before


async def test_error_answer_shape(tagged, snapshot):
    status, answer = await post(tagged, {"file_paths": paths(tagged, "a"), "replace": {"style": ""}})
    assert status == 400
    assert answer == snapshot


async def test_path_outside_the_roots_refuses_the_whole_request(tagged, tmp_path):
    outside = tmp_path / "elsewhere.safetensors"
    outside.write_bytes(b"x")
    status, answer = await post(tagged, {"file_paths": [*paths(tagged, "a"), str(outside)], "remove": ["style"]})
    assert status == 403 and answer["success"] is False
    assert sidecar(tagged, "a")["tags"] == ["style", "SDXL", "anime"]


async def test_too_many_tags_fails_that_model_only(tagged):
    many = [f"t{i}" for i in range(198)]
    status, body = await post(tagged, {"file_paths": paths(tagged, "a", "c"), "add": many})
    assert status == 200
    outcome = {r["file_path"].rsplit("/", 1)[-1]: r for r in body["results"]}
    assert outcome["a.safetensors"]["success"] is False and "at most 200 tags" in outcome["a.safetensors"]["error"]
    assert outcome["c.safetensors"]["success"] is True
    assert sidecar(tagged, "a")["tags"] == ["style", "SDXL", "anime"]
    assert len(sidecar(tagged, "c")["tags"]) == 199


async def test_concurrent_edits_of_one_model_all_land(tagged):
    """A bulk rename racing single tag additions on the same model: every addition and the rename survive."""
    target = paths(tagged, "a")

    async def add(tag):
        resp = await tagged.post("/api/lm/loras/add-tags", json={"file_path": target[0], "tags": [tag]})
        assert resp.status == 200

    await asyncio.gather(post(tagged, {"file_paths": target, "replace": {"anime": "manga"}}),
                         *(add(f"extra{i}") for i in range(8)),
                         post(tagged, {"file_paths": target, "remove": ["style"]}))
    tags = sidecar(tagged, "a")["tags"]
    assert "anime" not in tags and "manga" in tags and "style" not in tags
    assert {f"extra{i}" for i in range(8)} <= set(tags)
    listed = await (await tagged.get("/api/lm/loras/list", params={"search": "a"})).json()
    row = next(item for item in listed["items"] if item["file_name"] == "a")
    assert row["tags"] == tags


async def test_disk_full_fails_each_model_clearly_and_changes_nothing(tagged, monkeypatch, snapshot):
    import errno

    from lora_manager.py.library import sidecar as sidecar_module

    before = {stem: sidecar(tagged, stem) for stem in "ab"}

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sidecar_module, "atomic_write_text", full)
    status, body = await post(tagged, {"file_paths": paths(tagged, "a", "b"), "remove": ["sdxl"]})
    assert status == 200 and body["success"] is False and body["failure_count"] == 2
    assert body == snapshot
    assert {stem: sidecar(tagged, stem) for stem in "ab"} == before
    listed = await (await tagged.get("/api/lm/loras/list", params={"tag_include": "sdxl"})).json()
    assert listed["total"] == 2


async def test_unreadable_sidecar_is_set_aside_not_overwritten(tagged):
    broken = tagged.env.loras / "c.metadata.json"
    broken.write_text("{not json", encoding="utf-8")
    status, body = await post(tagged, {"file_paths": paths(tagged, "c"), "add": ["kept"]})
    assert status == 200 and body["success"] is True
    result = body["results"][0]
    assert result["changed"] is True and "kept" in result["tags"] and result["sidecar_set_aside"]
    assert (tagged.env.loras / result["sidecar_set_aside"]).read_text(encoding="utf-8") == "{not json"
    assert "kept" in sidecar(tagged, "c")["tags"]
