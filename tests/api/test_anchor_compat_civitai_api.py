"""ComfyUI-Lora-Manager's Civitai-backed calls against the fake Civitai on 127.0.0.1, through the real app:
relink-civitai, civitai/versions, civitai/model/version, civitai/model/hash, updates/versions,
updates/ignore-version and set-preview-from-url. Snapshots pin each answer, errors included.
"""
from __future__ import annotations

import asyncio
import json

import pytest

from support.fake_civitai import fake_civitai  # noqa: F401 - fixture
from support.library import lm_sidecar
from support.metadata_helpers import civitai_env, http_clock  # noqa: F401 - fixtures
from support.metadata_helpers import add_known_lora, add_unknown_lora, read_sidecar_json, stable
from support.snap import scrub

HUGE = "9" * 40


@pytest.fixture
async def world(civitai_env, fake_civitai, make_client, http_clock):  # noqa: F811
    """known: a LoRA whose version Civitai knows (a newer version exists); stray: a LoRA Civitai cannot find."""
    known_model, known = add_known_lora(fake_civitai, civitai_env.loras, "chars/known.safetensors", seed=11,
                                        name="Known Hero", versions_after=1)
    local_version = known_model.versions[-1]
    known.with_name("known.metadata.json").write_text(json.dumps(lm_sidecar("known", civitai={
        "id": local_version.id, "modelId": known_model.id, "name": local_version.name, "trainedWords": []})))
    stray = add_unknown_lora(civitai_env.loras, "misc/stray.safetensors", seed=12)
    target = fake_civitai.add_model("Relink Target", versions=2)
    checkpoint = fake_civitai.add_model("Some Checkpoint", type="Checkpoint")
    client = await make_client(civitai_env)
    client.lm_context.components["metadata"].set_http(http_clock[0])
    client.env, client.fake = civitai_env, fake_civitai
    return {"client": client, "known_model": known_model, "known": known, "stray": stray, "target": target,
            "checkpoint": checkpoint}


def clean(client, body):
    """Run-specific values (the fake's port, tmp paths, check times) as placeholders."""
    text = json.dumps(scrub(body, client.env.tmp)).replace(client.fake.base_url, "<civitai>")
    return stable(json.loads(text), "lastCheckedAt")


async def call(client, method, path, **kwargs):
    resp = await client.request(method, path, **kwargs)
    return resp.status, clean(client, await resp.json())


# -- relink-civitai -------------------------------------------------------------------------------------
async def test_relink_to_a_chosen_version(world, snapshot):
    client, target, stray = world["client"], world["target"], world["stray"]
    older = target.versions[-1]
    status, body = await call(client, "POST", "/api/lm/loras/relink-civitai", json={
        "file_path": str(stray), "model_id": target.id, "model_version_id": str(older.id)})
    assert status == 200, body
    assert body["model"]["civitai"]["id"] == older.id and body["model"]["civitai"]["modelId"] == target.id
    sidecar = read_sidecar_json(stray)
    assert sidecar["civitai"]["id"] == older.id and sidecar["from_civitai"] is True
    assert sidecar["sha256"] == body["hash"] and len(body["hash"]) == 64
    assert body == snapshot


async def test_relink_without_a_version_takes_the_newest(world):
    client, target, stray = world["client"], world["target"], world["stray"]
    status, body = await call(client, "POST", "/api/lm/loras/relink-civitai",
                              json={"file_path": str(stray), "model_id": str(target.id)})
    assert status == 200, body
    assert body["message"] == f"Model successfully re-linked to Civitai model {target.id}"
    assert read_sidecar_json(stray)["civitai"]["id"] == target.versions[0].id


async def test_relink_errors(world, tmp_path, snapshot):
    client, target, stray = world["client"], world["target"], world["stray"]
    outside = tmp_path / "elsewhere.safetensors"
    outside.write_bytes(b"x")
    cases = {
        "no_model_id": {"file_path": str(stray)},
        "no_file_path": {"model_id": target.id},
        "model_id_text": {"file_path": str(stray), "model_id": "abc"},
        "model_id_huge": {"file_path": str(stray), "model_id": HUGE},
        "model_id_bool": {"file_path": str(stray), "model_id": True},
        "version_list": {"file_path": str(stray), "model_id": target.id, "model_version_id": [1]},
        "file_path_type": {"file_path": 42, "model_id": target.id},
        "outside": {"file_path": str(outside), "model_id": target.id},
        "traversal": {"file_path": str(client.env.loras / ".." / ".." / "x.safetensors"), "model_id": target.id},
        "unknown_model": {"file_path": str(stray), "model_id": 424242},
        "foreign_version": {"file_path": str(stray), "model_id": target.id,
                            "model_version_id": world["known_model"].versions[0].id},
    }
    answers = {key: await call(client, "POST", "/api/lm/loras/relink-civitai", json=body)
               for key, body in cases.items()}
    assert {k: v[0] for k, v in answers.items()} == {
        "no_model_id": 400, "no_file_path": 400, "model_id_text": 400, "model_id_huge": 400, "model_id_bool": 400,
        "version_list": 400, "file_path_type": 400, "outside": 403, "traversal": 403, "unknown_model": 404,
        "foreign_version": 404}
    assert all(body["success"] is False for _, body in answers.values())
    sidecar = stray.with_name("stray.metadata.json")
    assert not sidecar.exists() or not (read_sidecar_json(stray).get("civitai") or {}).get("modelId")
    assert answers == snapshot


# -- civitai/versions, civitai/model/version, civitai/model/hash ---------------------------------------------
async def test_civitai_versions_mark_what_is_local(world, snapshot):
    client, model = world["client"], world["known_model"]
    status, versions = await call(client, "GET", f"/api/lm/loras/civitai/versions/{model.id}")
    assert status == 200
    assert isinstance(versions, list)
    assert [(v["id"], v["existsLocally"]) for v in versions] == [(model.versions[0].id, False),
                                                                 (model.versions[1].id, True)]
    assert versions[1]["localPath"] == "<tmp>/loras/chars/known.safetensors"
    assert versions[1]["modelSizeKB"] == model.versions[1].files[0].size_kb
    assert versions == snapshot


async def test_civitai_versions_errors(world, snapshot):
    client = world["client"]
    answers = {
        "type_mismatch": await call(client, "GET", f"/api/lm/loras/civitai/versions/{world['checkpoint'].id}"),
        "not_found": await call(client, "GET", "/api/lm/loras/civitai/versions/424242"),
        "not_a_number": await call(client, "GET", "/api/lm/loras/civitai/versions/abc"),
        "huge": await call(client, "GET", f"/api/lm/loras/civitai/versions/{HUGE}"),
        "zero": await call(client, "GET", "/api/lm/loras/civitai/versions/0"),
    }
    assert {k: v[0] for k, v in answers.items()} == {"type_mismatch": 400, "not_found": 404, "not_a_number": 400,
                                                      "huge": 400, "zero": 400}
    ok, _ = await call(client, "GET", f"/api/lm/checkpoints/civitai/versions/{world['checkpoint'].id}")
    assert ok == 200
    assert answers == snapshot


async def test_civitai_model_by_version_and_by_hash(world, snapshot):
    client, model = world["client"], world["known_model"]
    local_version = model.versions[1]
    local_version.images[0].meta["comfy"] = "{\"a huge\": \"workflow\"}"
    status, by_version = await call(client, "GET", f"/api/lm/loras/civitai/model/version/{local_version.id}")
    assert status == 200 and by_version["id"] == local_version.id
    assert "comfy" not in by_version["images"][0]["meta"]
    sha = local_version.files[0].sha256
    status, by_hash = await call(client, "GET", f"/api/lm/loras/civitai/model/hash/{sha.upper()}")
    assert status == 200 and by_hash["id"] == local_version.id
    assert by_hash["model"]["tags"] == ["character", "style"] and by_hash["creator"]["username"] == "tester"
    assert by_hash["model"]["allowCommercialUse"] == ["Image", "RentCivit"]
    assert {"by_version": by_version, "by_hash": by_hash} == snapshot


async def test_civitai_model_lookups_errors(world, snapshot):
    client = world["client"]
    answers = {
        "version_not_found": await call(client, "GET", "/api/lm/loras/civitai/model/version/424242"),
        "version_not_a_number": await call(client, "GET", "/api/lm/loras/civitai/model/version/1e9"),
        "version_huge": await call(client, "GET", f"/api/lm/loras/civitai/model/version/{HUGE}"),
        "hash_not_found": await call(client, "GET", "/api/lm/loras/civitai/model/hash/" + "ab" * 32),
        "hash_not_hex": await call(client, "GET", "/api/lm/loras/civitai/model/hash/not-a-hash"),
        "hash_too_long": await call(client, "GET", "/api/lm/loras/civitai/model/hash/" + "a" * 300),
        "hash_traversal": await call(client, "GET", "/api/lm/loras/civitai/model/hash/..%2F..%2Fetc"),
    }
    assert {k: v[0] for k, v in answers.items()} == {
        "version_not_found": 404, "version_not_a_number": 400, "version_huge": 400, "hash_not_found": 404,
        "hash_not_hex": 400, "hash_too_long": 400, "hash_traversal": 400}
    assert answers == snapshot


async def test_civitai_outage_is_a_clear_gateway_error(world):
    client, fake = world["client"], world["client"].fake
    sidecar = world["known"].with_name("known.metadata.json")
    before = sidecar.read_bytes()
    fake.fail_next(10, 500)
    status, body = await call(client, "GET", f"/api/lm/loras/civitai/versions/{world['known_model'].id}")
    assert status in (502, 503) and body["success"] is False and body["error"]
    # The failure came from Civitai (it was asked), and the local sidecar of that model was left as it was.
    assert fake.requests_to(f"/api/v1/models/{world['known_model'].id}", "GET")
    assert sidecar.read_bytes() == before


# -- updates/versions and updates/ignore-version ---------------------------------------------------------
async def check_updates(client):
    resp = await client.post("/api/lm/loras/updates/refresh", json={})
    data = await resp.json()
    assert resp.status == 200, data
    job = client.lm_context.jobs.get(data["job_id"])
    await asyncio.wait_for(asyncio.shield(job._done.wait()), 10)


async def test_update_versions_record(world, snapshot):
    client, model = world["client"], world["known_model"]
    status, before = await call(client, "GET", f"/api/lm/loras/updates/versions/{model.id}")
    assert status == 200 and before["record"]["lastCheckedAt"] is None
    assert before["record"]["versionIds"] == [model.versions[1].id]
    await check_updates(client)
    status, after = await call(client, "GET", f"/api/lm/loras/updates/versions/{model.id}")
    assert status == 200
    record = after["record"]
    assert record["hasUpdate"] is True and record["largestVersionId"] == model.versions[0].id
    assert record["inLibraryVersionIds"] == [model.versions[1].id]
    assert {"before": before, "after": after} == snapshot


async def test_update_versions_refresh_checks_civitai_first(world):
    client, model = world["client"], world["known_model"]
    status, body = await call(client, "GET", f"/api/lm/loras/updates/versions/{model.id}", params={"refresh": "true"})
    assert status == 200 and body["record"]["lastCheckedAt"] == "<lastCheckedAt>"
    assert body["record"]["hasUpdate"] is True
    status, untracked = await call(client, "GET", f"/api/lm/loras/updates/versions/{world['target'].id}",
                                   params={"force": "true"})
    assert status == 200 and untracked["record"]["inLibraryVersionIds"] == []


async def test_ignore_version_hides_the_update(world, snapshot):
    client, model = world["client"], world["known_model"]
    await check_updates(client)
    newest = model.versions[0].id
    status, body = await call(client, "POST", "/api/lm/loras/updates/ignore-version",
                              json={"modelId": model.id, "versionId": newest, "shouldIgnore": True})
    assert status == 200
    assert body["record"]["hasUpdate"] is False
    assert [v["shouldIgnore"] for v in body["record"]["versions"]] == [True, False]
    listed = await (await client.get("/api/lm/loras/list")).json()
    assert {i["file_name"]: i["update_available"] for i in listed["items"]}["known"] is False
    status, undone = await call(client, "POST", "/api/lm/loras/updates/ignore-version",
                                json={"model_id": str(model.id), "version_id": newest, "shouldIgnore": "false"})
    assert status == 200 and undone["record"]["hasUpdate"] is True
    assert body == snapshot


async def test_update_routes_errors(world, snapshot):
    client = world["client"]
    model_id = world["known_model"].id
    answers = {
        "versions_untracked": await call(client, "GET", "/api/lm/loras/updates/versions/424242"),
        "versions_not_a_number": await call(client, "GET", "/api/lm/loras/updates/versions/abc"),
        "versions_huge": await call(client, "GET", f"/api/lm/loras/updates/versions/{HUGE}"),
        "versions_bad_flag": await call(client, "GET", f"/api/lm/loras/updates/versions/{model_id}",
                                        params={"refresh": "perhaps"}),
    }
    for key, body in {"ignore_missing": {"modelId": model_id}, "ignore_empty": {},
                      "ignore_text_id": {"modelId": "x", "versionId": 1},
                      "ignore_huge": {"modelId": model_id, "versionId": HUGE},
                      "ignore_bad_flag": {"modelId": model_id, "versionId": 1, "shouldIgnore": "sometimes"},
                      "ignore_object_id": {"modelId": {"id": 1}, "versionId": 1}}.items():
        answers[key] = await call(client, "POST", "/api/lm/loras/updates/ignore-version", json=body)
    resp = await client.post("/api/lm/loras/updates/ignore-version", data=b"{oops",
                             headers={"Content-Type": "application/json"})
    answers["ignore_not_json"] = (resp.status, await resp.json())
    assert {k: v[0] for k, v in answers.items()} == {
        "versions_untracked": 404, "versions_not_a_number": 400, "versions_huge": 400, "versions_bad_flag": 400,
        "ignore_missing": 400, "ignore_empty": 400, "ignore_text_id": 400, "ignore_huge": 400,
        "ignore_bad_flag": 400, "ignore_object_id": 400, "ignore_not_json": 400}
    assert answers == snapshot


# -- set-preview-from-url -------------------------------------------------------------------------------
async def test_set_preview_from_url(world, snapshot):
    client, fake = world["client"], world["client"].fake
    image = world["target"].versions[0].images[0]
    # the fake is the configured Civitai, which the outbound-fetch rule trusts although it is on 127.0.0.1
    status, body = await call(client, "POST", "/api/lm/loras/set-preview-from-url", json={
        "model_path": str(world["stray"]), "image_url": fake.media_url(image), "nsfw_level": 2})
    assert status == 200, body
    assert body["preview_nsfw_level"] == 2 and body["preview_url"].endswith("stray.webp")
    assert world["stray"].with_name("stray.webp").read_bytes()[8:12] == b"WEBP"
    assert body == snapshot


async def test_set_preview_from_url_errors(world, snapshot):
    client, fake = world["client"], world["client"].fake
    image_url = fake.media_url(world["target"].versions[0].images[0])
    stray = str(world["stray"])
    cases = {
        "no_model_path": {"image_url": image_url},
        "no_image_url": {"model_path": stray},
        "wrong_types": {"model_path": stray, "image_url": ["http://x"]},
        "file_scheme": {"model_path": stray, "image_url": "file:///etc/passwd"},
        "private_host": {"model_path": stray, "image_url": "http://192.168.1.1/cat.png"},
        "bad_level": {"model_path": stray, "image_url": image_url, "nsfw_level": -3},
        "outside": {"model_path": "/etc/passwd", "image_url": image_url},
        "unknown_model": {"model_path": str(client.env.loras / "none.safetensors"), "image_url": image_url},
    }
    answers = {key: await call(client, "POST", "/api/lm/loras/set-preview-from-url", json=body)
               for key, body in cases.items()}
    assert {k: v[0] for k, v in answers.items()} == {
        "no_model_path": 400, "no_image_url": 400, "wrong_types": 400, "file_scheme": 400, "private_host": 400,
        "bad_level": 400, "outside": 403, "unknown_model": 404}
    assert not world["stray"].with_name("stray.webp").exists()
    assert answers == snapshot
