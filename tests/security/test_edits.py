"""Issue 13, items 6-9: edits of one model are bounded, serialised, and never destroy what they cannot read.

Every test goes through HTTP against the real app, then reads the sidecar from disk and the index through the
API (and, where it matters, after a restart), so a change that only reached one of them fails.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from support.fake_civitai import fake_civitai  # noqa: F401 - fixture
from support.library import lm_sidecar, write_lora
from support.lifecycle_helpers import digests
from support.metadata_helpers import civitai_env  # noqa: F401 - fixture
from support.snap import scrub


@pytest.fixture
async def one_model(lib_env, make_client):
    model = write_lora(lib_env.loras, "styles/ink.safetensors", sidecar=lm_sidecar("ink", sha256="aa" * 32))
    client = await make_client(lib_env)
    client.env, client.model = lib_env, model
    return client


def sidecar_of(model: Path) -> dict:
    return json.loads(model.with_name(model.stem + ".metadata.json").read_text(encoding="utf-8"))


async def listed(client, model: Path) -> dict:
    resp = await client.get("/api/lm/loras/list", params={"page_size": "100"})
    items = (await resp.json())["items"]
    return next(item for item in items if item["file_name"] == model.stem)


async def post(client, path: str, body: object) -> tuple[int, dict]:
    resp = await client.post(path, json=body)
    return resp.status, await resp.json()


# -- item 7: concurrent edits -------------------------------------------------------------------------------
async def test_concurrent_tags_and_notes_all_land_in_sidecar_and_index(one_model, make_client):
    client, model = one_model, one_model.model
    tag_calls = [post(client, "/api/lm/loras/add-tags", {"file_path": str(model), "tags": [f"tag-{i}"]})
                 for i in range(10)]
    note_calls = [post(client, "/api/lm/loras/save-metadata", {"file_path": str(model), "notes": f"note {i}"})
                  for i in range(8)]
    answers = await asyncio.gather(*tag_calls, *note_calls)
    assert [status for status, _ in answers] == [200] * 18, answers

    wanted = {f"tag-{i}" for i in range(10)}
    on_disk = sidecar_of(model)
    assert wanted <= set(on_disk["tags"]) and "style" in on_disk["tags"]
    assert on_disk["notes"] in {f"note {i}" for i in range(8)}
    item = await listed(client, model)
    assert set(item["tags"]) == set(on_disk["tags"])
    assert item["notes"] == on_disk["notes"]

    # a fresh start reads the same state back from disk
    again = await make_client(client.env)
    item = await listed(again, model)
    assert set(item["tags"]) == set(on_disk["tags"]) and item["notes"] == on_disk["notes"]


# -- item 8: an unreadable sidecar is set aside, never overwritten ---------------------------------------------
@pytest.mark.parametrize("route,body", [
    ("save-metadata", {"notes": "kept"}),
    ("add-tags", {"tags": ["kept"]}),
    ("exclude", {}),
])
async def test_edit_of_unreadable_sidecar_sets_it_aside_and_says_so(one_model, route, body, snapshot):
    client, model = one_model, one_model.model
    sidecar = model.with_name(model.stem + ".metadata.json")
    broken = b'{"notes": "the user\'s only copy", "tags": ['
    sidecar.write_bytes(broken)  # damaged after the scan, while the server runs
    status, answer = await post(client, f"/api/lm/loras/{route}", {"file_path": str(model), **body})
    assert status == 200, answer
    aside = sorted(sidecar.parent.glob("ink.metadata.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == broken
    assert answer["sidecar_set_aside"] == aside[0].name and aside[0].name in answer["message"]
    healthy = json.loads(sidecar.read_text(encoding="utf-8"))  # rebuilt from the index, then edited
    assert healthy["sha256"] == "aa" * 32 and healthy["file_name"] == "ink" and healthy["base_model"] == "SD 1.5"
    answer["sidecar_set_aside"] = "<aside>"
    answer["message"] = answer["message"].replace(aside[0].name, "<aside>")
    assert scrub(answer, client.env.tmp) == snapshot


# -- item 9: two models, one stem ------------------------------------------------------------------------
@pytest.fixture
async def shared_stem(lib_env, make_client):
    folder = lib_env.loras / "old"
    folder.mkdir()
    ckpt, pt = folder / "twin.ckpt", folder / "twin.pt"
    ckpt.write_bytes(b"ckpt weights " * 100)
    pt.write_bytes(b"pt weights " * 100)
    sidecar = folder / "twin.metadata.json"
    sidecar.write_text(json.dumps({**lm_sidecar("twin", notes="about the ckpt"), "file_path": ckpt.as_posix()}),
                       encoding="utf-8")
    preview = folder / "twin.preview.png"
    preview.write_bytes(b"\x89PNG\r\n\x1a\n")
    client = await make_client(lib_env)
    client.env = lib_env
    client.files = {"ckpt": ckpt, "pt": pt, "sidecar": sidecar, "preview": preview}
    return client


async def test_shared_stem_edit_is_refused_with_the_reason(shared_stem, snapshot):
    files = shared_stem.files
    before = files["sidecar"].read_bytes()
    for route, body in (("save-metadata", {"notes": "mine"}), ("add-tags", {"tags": ["x"]})):
        status, answer = await post(shared_stem, f"/api/lm/loras/{route}", {"file_path": str(files["pt"]), **body})
        assert status == 409 and answer["success"] is False
        assert "twin.ckpt" in answer["error"] and "rename one of them" in answer["error"]
        assert scrub(answer, shared_stem.env.tmp) == snapshot(name=route)
    assert files["sidecar"].read_bytes() == before


async def test_shared_stem_models_do_not_share_metadata(shared_stem):
    resp = await shared_stem.get("/api/lm/loras/list", params={"page_size": "100"})
    items = {item["file_path"].rsplit("/", 1)[-1]: item for item in (await resp.json())["items"]}
    assert items["twin.ckpt"]["notes"] == "about the ckpt"
    assert items["twin.pt"]["notes"] == ""  # the sidecar says it describes twin.ckpt


async def test_shared_stem_delete_takes_only_the_model_file(shared_stem):
    files = shared_stem.files
    status, answer = await post(shared_stem, "/api/lm/loras/delete", {"file_path": str(files["pt"])})
    assert status == 200, answer
    assert not files["pt"].exists()
    for kept in ("ckpt", "sidecar", "preview"):
        assert files[kept].exists(), kept
    status, answer = await post(shared_stem, "/api/lm/undo-delete", {"batch_id": answer["batch_id"]})
    assert status == 200, answer
    assert files["pt"].read_bytes() == b"pt weights " * 100


async def test_shared_stem_move_takes_only_the_model_file(shared_stem):
    files = shared_stem.files
    target = shared_stem.env.loras / "new"
    target.mkdir()
    status, answer = await post(shared_stem, "/api/lm/loras/move_model",
                                {"file_path": str(files["pt"]), "target_path": str(target)})
    assert status == 200, answer
    assert (target / "twin.pt").exists() and not (target / "twin.preview.png").exists()
    for kept in ("ckpt", "sidecar", "preview"):
        assert files[kept].exists(), kept
    assert json.loads(files["sidecar"].read_text(encoding="utf-8"))["notes"] == "about the ckpt"
    fresh = sidecar_of(target / "twin.pt")  # the moved model gets a sidecar of its own, not the ckpt's notes
    assert fresh["file_path"].endswith("new/twin.pt") and not fresh.get("notes")


# -- item 6: numbers and sizes are bounded before anything is written ------------------------------------------
@pytest.mark.parametrize("body,fragment", [
    ({"civitai": {"id": 2**70}}, "out of range"),
    ({"my_key": 2**64}, "out of range"),
    ({"notes": "n" * (64 * 1024 + 1)}, "notes"),
    ({"tags": [f"t{i}" for i in range(201)]}, "at most 200"),
    ({"tags": ["x" * 129]}, "at most 128"),
    ({"model_name": 5}, "expected a string"),
    ({"preview_nsfw_level": -1}, "preview_nsfw_level"),
    ({"favorite": "yes"}, "true or false"),
    ({"sha256": "00" * 32}, "cannot be edited"),
    ({"deep": json.loads("[" * 40 + "]" * 40)}, "nested"),
])
async def test_out_of_range_edits_are_refused_and_nothing_is_written(one_model, make_client, body, fragment):
    client, model = one_model, one_model.model
    sidecar = model.with_name(model.stem + ".metadata.json")
    before = sidecar.read_bytes()
    status, answer = await post(client, "/api/lm/loras/save-metadata", {"file_path": str(model), **body})
    assert status == 400 and answer["success"] is False and fragment in answer["error"], answer
    assert sidecar.read_bytes() == before
    again = await make_client(client.env)
    assert (await listed(again, model))["file_name"] == "ink"


async def test_refused_edit_answer_shape(one_model, snapshot):
    status, answer = await post(one_model, "/api/lm/loras/save-metadata",
                                {"file_path": str(one_model.model), "civitai": {"id": 2**70}})
    assert status == 400
    assert answer == snapshot


async def test_json_nested_beyond_the_limit_is_400(one_model, snapshot):
    body = '{"file_path": "x", "notes": ' + "[" * 100_000 + "]" * 100_000 + "}"
    resp = await one_model.post("/api/lm/loras/save-metadata", data=body,
                                headers={"Content-Type": "application/json"})
    answer = await resp.json()
    assert resp.status == 400 and answer["success"] is False
    assert answer == snapshot


async def test_oversized_json_body_is_413_before_it_is_read(one_model):
    body = b'{"file_path": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    before = digests(one_model.env.loras)
    item = await listed(one_model, one_model.model)
    resp = await one_model.post("/api/lm/loras/save-metadata", data=body,
                                headers={"Content-Type": "application/json"})
    answer = await resp.json()
    assert resp.status == 413 and answer["success"] is False
    assert digests(one_model.env.loras) == before and await listed(one_model, one_model.model) == item


async def test_sidecar_with_huge_numbers_never_empties_the_library(lib_env, make_client):
    """A sidecar written by hand (or by another tool) with integers beyond 64 bits: the model is listed and the
    rest of the library too, on the first start and after a restart."""
    hostile = lm_sidecar("huge", sha256="bb" * 32, preview_nsfw_level=2**80, size=-(2**90))
    hostile["civitai"] = {**hostile["civitai"], "id": 2**70, "modelId": 10**30}
    write_lora(lib_env.loras, "huge.safetensors", sidecar=hostile)
    write_lora(lib_env.loras, "fine.safetensors", sidecar=lm_sidecar("fine", sha256="cc" * 32))
    for _ in range(2):
        client = await make_client(lib_env)
        resp = await client.get("/api/lm/loras/list", params={"page_size": "100"})
        names = sorted(item["file_name"] for item in (await resp.json())["items"])
        assert names == ["fine", "huge"]


@pytest.mark.parametrize("path", ["/api/lm/embeddings/updates/status/²", "/api/lm/loras/updates/status/٣x",
                                  "/api/lm/loras/updates/status/99999999999999999999999"])
async def test_non_ascii_digits_in_ids_are_400(one_model, path):
    resp = await one_model.get(path)
    answer = await resp.json()
    assert resp.status == 400 and answer["success"] is False


async def test_concurrent_edits_of_many_models_and_a_delete_all_land(lib_env, make_client):
    """Edits of different models share one index connection: no commit or rollback of one request may end
    another's change."""
    models = [write_lora(lib_env.loras, f"m{i}.safetensors", sidecar=lm_sidecar(f"m{i}", sha256=f"{i:02x}" * 32))
              for i in range(6)]
    client = await make_client(lib_env)
    calls = [post(client, "/api/lm/loras/add-tags", {"file_path": str(m), "tags": [f"t{i}-{j}"]})
             for i, m in enumerate(models[:5]) for j in range(4)]
    calls += [post(client, "/api/lm/loras/save-metadata", {"file_path": str(m), "notes": f"n{i}"})
              for i, m in enumerate(models[:5])]
    calls.append(post(client, "/api/lm/loras/delete", {"file_path": str(models[5])}))
    answers = await asyncio.gather(*calls)
    assert all(status == 200 for status, _ in answers), answers
    again = await make_client(lib_env)  # the index on disk, read back by a fresh start
    for i, model in enumerate(models[:5]):
        item = await listed(again, model)
        assert {f"t{i}-{j}" for j in range(4)} <= set(item["tags"]) and item["notes"] == f"n{i}"
        assert set(sidecar_of(model)["tags"]) == set(item["tags"])
    resp = await again.get("/api/lm/loras/list", params={"page_size": "100"})
    assert sorted(i["file_name"] for i in (await resp.json())["items"]) == [f"m{i}" for i in range(5)]


async def test_a_compressed_body_is_capped_while_it_inflates(one_model):
    import gzip

    inflated = b'{"file_path": "x", "notes": "' + b"0" * (40 * 1024 * 1024) + b'"}'
    bomb = gzip.compress(inflated, compresslevel=9)
    assert len(bomb) < 200 * 1024
    resp = await one_model.post("/api/lm/loras/save-metadata", data=bomb,
                                headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    answer = await resp.json()
    assert resp.status == 413 and answer["success"] is False


@pytest.mark.parametrize("path", ["/api/lm/model-versions-status?modelId=0", "/api/lm/check-model-exists?modelId=-3",
                                  "/api/lm/model-version-download-status?modelVersionId=0",
                                  "/api/lm/delete-model-version?modelVersionId=0"])
async def test_ids_below_one_are_400_before_any_remote_call(civitai_env, fake_civitai, one_model,  # noqa: F811
                                                            path):
    before = digests(civitai_env.loras)
    resp = await one_model.get(path)
    answer = await resp.json()
    assert resp.status in (400, 405) and answer["success"] is False, answer
    assert fake_civitai.requests == []  # Civitai (here the fake the app points at) was never asked
    assert digests(civitai_env.loras) == before  # nothing deleted or rewritten
