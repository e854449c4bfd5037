"""Update checks: /api/lm/{type}/updates/refresh, updates/status/{id}, updates/ignore, and the list flag."""
from __future__ import annotations

import asyncio
import json

import pytest

from support.fake_civarchive import fake_civarchive  # noqa: F401 - fixture
from support.fake_civitai import fake_civitai  # noqa: F401 - fixture
from support.library import lm_sidecar
from support.metadata_helpers import civitai_env, http_clock  # noqa: F401 - fixtures
from support.metadata_helpers import add_known_lora, stable
from support.snap import scrub
from support.ws_helpers import until


def civitai_sidecar(path, model_id: int, version_id: int) -> None:
    civitai = {"id": version_id, "modelId": model_id, "name": "v1.0", "trainedWords": [],
               "model": {"name": path.stem, "type": "LORA"}}
    path.with_name(path.stem + ".metadata.json").write_text(json.dumps(lm_sidecar(path.stem, civitai=civitai)))


@pytest.fixture
def library(civitai_env, fake_civitai):  # noqa: F811
    """old: a newer version exists; current: up to date; gone: its model was deleted from Civitai."""
    old_model, old = add_known_lora(fake_civitai, civitai_env.loras, "old.safetensors", seed=1, name="Old",
                                    images=0, versions_after=2)
    civitai_sidecar(old, old_model.id, old_model.versions[-1].id)
    cur_model, cur = add_known_lora(fake_civitai, civitai_env.loras, "current.safetensors", seed=2, name="Current",
                                    images=0)
    civitai_sidecar(cur, cur_model.id, cur_model.versions[0].id)
    gone = civitai_env.loras / "gone.safetensors"
    gone.write_bytes(b"")
    civitai_sidecar(gone, 999_999, 888_888)
    return {"old": (old_model, old), "current": (cur_model, cur)}


async def start(make_client, env, http):
    client = await make_client(env)
    client.lm_context.components["metadata"].set_http(http)
    return client


async def check(client, body=None):
    resp = await client.post("/api/lm/loras/updates/refresh", json=body or {})
    data = await resp.json()
    assert resp.status == 200, data
    job = client.lm_context.jobs.get(data["job_id"])
    await asyncio.wait_for(asyncio.shield(job._done.wait()), 10)
    return data, job


async def flags(client) -> dict[str, bool]:
    listed = await (await client.get("/api/lm/loras/list?page_size=100")).json()
    return {item["file_name"]: item["update_available"] for item in listed["items"]}


async def status(client, model_id):
    resp = await client.get(f"/api/lm/loras/updates/status/{model_id}")
    return resp.status, stable(await resp.json(), "checked_at")


async def test_check_flags_models_with_newer_versions(civitai_env, fake_civitai, library, make_client,  # noqa: F811
                                                      http_clock, snapshot):
    client = await start(make_client, civitai_env, http_clock[0])
    assert (await flags(client))["old"] is False
    data, job = await check(client)
    assert stable(data, "job_id") == snapshot(name="start")
    assert job.status == "completed"
    old_model = library["old"][0]
    assert job.result == {"checked": 3, "not_found": [999_999], "updates_available": [old_model.id],
                          "from_civarchive": []}  # the CivArchive of this test refuses: still not found
    assert (await flags(client)) == {"old": True, "current": False, "gone": False}
    assert len(fake_civitai.requests_to("/api/v1/models", "GET")) == 1  # one request for every model id
    code, body = await status(client, old_model.id)
    assert code == 200
    assert body == snapshot(name="status_old")
    code, body = await status(client, 999_999)
    assert code == 200 and body["not_found"] is True and body["update_available"] is False


async def test_ignore_version_and_model(civitai_env, library, make_client, http_clock, snapshot):
    client = await start(make_client, civitai_env, http_clock[0])
    await check(client)
    old_model = library["old"][0]
    newest, middle = old_model.versions[0].id, old_model.versions[1].id
    resp = await client.post("/api/lm/loras/updates/ignore", json={"model_id": old_model.id, "version_id": newest})
    body = stable(await resp.json(), "checked_at")
    assert resp.status == 200
    assert [v["id"] for v in body["newer_versions"]] == [middle]
    assert (await flags(client))["old"] is True  # the middle version is still new
    await client.post("/api/lm/loras/updates/ignore", json={"model_id": old_model.id, "version_id": middle})
    assert (await flags(client))["old"] is False
    resp = await client.post("/api/lm/loras/updates/ignore",
                             json={"model_id": old_model.id, "version_id": str(middle), "ignore": False})
    assert (await resp.json())["update_available"] is True
    resp = await client.post("/api/lm/loras/updates/ignore", json={"model_id": old_model.id})
    body = stable(await resp.json(), "checked_at")
    assert body == snapshot(name="ignored_model")
    assert (await flags(client))["old"] is False
    await check(client)  # a new check keeps the user's choices
    assert (await flags(client))["old"] is False
    _code, body = await status(client, old_model.id)
    assert body["ignored"] is True and body["ignored_versions"] == [newest]


async def test_flags_survive_reindex_and_restart(civitai_env, library, make_client, http_clock):
    client = await start(make_client, civitai_env, http_clock[0])
    await check(client)
    service = client.lm_context.service("lora")
    await service.reindex_paths([str(library["old"][1])])  # the record is re-read from disk, unflagged
    await until(lambda: service.index.get(library["old"][1].as_posix()).update_available)
    await client.close()
    again = await start(make_client, civitai_env, http_clock[0])
    await until(lambda: again.lm_context.service("lora").index.get(library["old"][1].as_posix()).update_available)
    assert (await flags(again))["old"] is True


async def test_check_only_given_ids(civitai_env, fake_civitai, library, make_client, http_clock):  # noqa: F811
    client = await start(make_client, civitai_env, http_clock[0])
    cur_model = library["current"][0]
    _data, job = await check(client, {"model_ids": [cur_model.id]})
    assert job.result == {"checked": 1, "not_found": [], "updates_available": [], "from_civarchive": []}
    assert fake_civitai.requests_to("/api/v1/models", "GET")[0].query["ids"] == str(cur_model.id)


@pytest.mark.parametrize("method, url, payload, code", [
    ("GET", "/api/lm/loras/updates/status/abc", None, 400),
    ("GET", "/api/lm/loras/updates/status/0", None, 400),
    ("GET", "/api/lm/loras/updates/status/4242", None, 404),
    ("POST", "/api/lm/loras/updates/ignore", {}, 400),
    ("POST", "/api/lm/loras/updates/ignore", {"model_id": True}, 400),
    ("POST", "/api/lm/loras/updates/ignore", {"model_id": 5, "version_id": -1}, 400),
    ("POST", "/api/lm/loras/updates/refresh", {"model_ids": "1,2"}, 400),
    ("POST", "/api/lm/loras/updates/refresh", {"model_ids": [1, "x"]}, 400),
])
async def test_bad_input(civitai_env, make_client, http_clock, method, url, payload, code, snapshot):
    client = await start(make_client, civitai_env, http_clock[0])
    resp = await client.request(method, url, json=payload)
    assert resp.status == code
    assert scrub(await resp.json(), civitai_env.tmp) == snapshot


async def test_check_while_provider_down_fails_cleanly(civitai_env, fake_civitai, library, make_client,  # noqa: F811
                                                       http_clock):
    client = await start(make_client, civitai_env, http_clock[0])
    fake_civitai.fail_next(100, 500)
    _data, job = await check(client)
    assert job.status == "failed" and "HTTP 500" in job.error
    assert (await flags(client))["old"] is False
    code, _body = await status(client, library["old"][0].id)
    assert code == 200


async def test_flags_follow_a_rename_and_a_move(civitai_env, library, make_client, http_clock):
    """The flag belongs to the Civitai model, not to the path: renaming or moving the file keeps it."""
    client = await start(make_client, civitai_env, http_clock[0])
    await check(client)
    old = library["old"][1]
    resp = await client.post("/api/lm/loras/rename", json={"file_path": str(old), "new_file_name": "old renamed"})
    assert resp.status == 200, await resp.json()
    renamed = old.with_name("old renamed.safetensors")
    (civitai_env.loras / "moved").mkdir()
    resp = await client.post("/api/lm/loras/move_model", json={"file_path": str(renamed),
                                                              "target_path": str(civitai_env.loras / "moved")})
    assert resp.status == 200, await resp.json()
    service = client.lm_context.service("lora")
    moved = civitai_env.loras / "moved" / "old renamed.safetensors"
    await until(lambda: (record := service.index.get(moved.as_posix())) is not None and record.update_available)
    assert (await flags(client)) == {"old renamed": True, "current": False, "gone": False}
    listed = await (await client.get("/api/lm/loras/list?update_available_only=true")).json()
    assert [item["file_path"] for item in listed["items"]] == [moved.as_posix()]


async def test_a_model_gone_from_civitai_is_checked_on_civarchive(civitai_env, library, make_client, http_clock,
                                                                  fake_civarchive):  # noqa: F811
    """Civitai no longer has model 999999; CivArchive keeps it with a version newer than the local 888888: the
    check flags it, and its status lists CivArchive's versions."""
    archived = fake_civarchive.add_model("Gone Style", model_id=999_999)
    fake_civarchive.add_version(archived, "v1.0", version_id=888_888)
    newer = fake_civarchive.add_version(archived, "v2.0", version_id=888_999)
    client = await start(make_client, civitai_env, http_clock[0])
    _data, job = await check(client)
    assert job.result["from_civarchive"] == [999_999] and job.result["not_found"] == []
    assert 999_999 in job.result["updates_available"]
    assert (await flags(client))["gone"] is True
    code, body = await status(client, 999_999)
    assert code == 200 and body["not_found"] is False and body["update_available"] is True
    assert [v["id"] for v in body["versions"]] == [newer.id, 888_888]
    assert [v["id"] for v in body["newer_versions"]] == [newer.id]
    assert [r.path for r in fake_civarchive.requests if r.path.startswith("/api/models/")] == ["/api/models/999999"]
