"""Library status and version bookkeeping for the browser extension (API-COMPAT §2.2)."""
from __future__ import annotations

from support.downloads import download_client, stable
from support.fake_civarchive import fake_civarchive  # noqa: F401  (fixture)
from support.fake_civitai import fake_civitai  # noqa: F401  (fixture)
from support.library import lm_sidecar, write_image, write_lora
from support.snap import scrub


def _local_version(root, stem: str, *, model_id: int, version_id: int, name: str, folder: str = ""):
    rel = f"{folder}/{stem}.safetensors" if folder else f"{stem}.safetensors"
    path = write_lora(root, rel, sidecar=lm_sidecar(stem, civitai={
        "id": version_id, "modelId": model_id, "name": name, "trainedWords": [], "baseModel": "SD 1.5",
        "model": {"name": stem, "type": "LORA"}}))
    write_image(path.with_name(stem + ".preview.png"))
    path.with_name(stem + ".civitai.info").write_text("{}")
    return path


async def _json(client, path: str, **params) -> tuple[int, dict]:
    response = await client.get(path, params={k: str(v) for k, v in params.items()})
    return response.status, await response.json()


async def test_check_model_exists_and_check_models_exist(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    _local_version(lib_env.loras, "alpha_v1", model_id=100, version_id=1001, name="v1")
    _local_version(lib_env.loras, "alpha_v2", model_id=100, version_id=1002, name="v2", folder="sub")
    _local_version(lib_env.checkpoints, "ckpt", model_id=200, version_id=2001, name="base")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    tmp = lib_env.tmp
    answers = {}
    for name, params in {
        "version-found": {"modelId": 100, "modelVersionId": 1002},
        "version-checkpoint": {"modelId": 200, "modelVersionId": 2001},
        "version-missing": {"modelId": 100, "modelVersionId": 9999},
        "model-found": {"modelId": 100},
        "model-missing": {"modelId": 555},
    }.items():
        status, body = await _json(client, "/api/lm/check-model-exists", **params)
        assert status == 200, name
        answers[name] = scrub(body, tmp)
    assert answers == snapshot(name="check-model-exists")
    assert [v["versionId"] for v in answers["model-found"]["versions"]] == [1002, 1001]

    status, many = await _json(client, "/api/lm/check-models-exist", modelIds="200, abc,100,,200,555,-3")
    assert status == 200
    assert [r["modelId"] for r in many["results"]] == [200, 100, 555]
    assert scrub(many, tmp) == snapshot(name="check-models-exist")
    assert await _json(client, "/api/lm/check-models-exist") == (200, {"success": True, "results": []})


async def test_version_download_status_get_post_and_set(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    path = "/api/lm/model-version-download-status"
    assert (await _json(client, path, modelType="LoCon", modelVersionId=77))[1] == {
        "success": True, "modelType": "lora", "modelVersionId": 77, "hasBeenDownloaded": False}
    status, body = await _json(client, "/api/lm/set-model-version-download-status", modelType="lora",
                               modelVersionId=77, downloaded="true", modelId=7, filePath="/x/y.safetensors")
    assert status == 200 and body == snapshot(name="set-true")
    posted = await client.post(path, json={"modelType": "lora", "modelVersionId": 77})
    assert await posted.json() == {"success": True, "modelType": "lora", "modelVersionId": 77,
                                   "hasBeenDownloaded": True}
    _, exists = await _json(client, "/api/lm/check-model-exists", modelId=7, modelVersionId=77)
    assert (exists["exists"], exists["hasBeenDownloaded"], exists["modelType"]) == (False, True, "lora")
    _, by_model = await _json(client, "/api/lm/check-model-exists", modelId=7)
    assert by_model["downloadedVersionIds"] == [77]
    status, body = await _json(client, "/api/lm/set-model-version-download-status", modelType="TextualInversion",
                               modelVersionId=78, downloaded="0")
    assert body["modelType"] == "embedding" and body["hasBeenDownloaded"] is False
    await _json(client, "/api/lm/set-model-version-download-status", modelType="lora", modelVersionId=77,
                downloaded="false")
    assert (await _json(client, path, modelType="dora", modelVersionId=77))[1]["hasBeenDownloaded"] is False
    bad_post = await client.post(path, data=b"[1, 2]")
    assert bad_post.status == 400
    missing = await client.post(path, json={"modelVersionId": 1})
    assert (await missing.json())["error"] == "Missing required parameter: modelType"


async def test_model_versions_status(lib_env, make_client, fake_civitai, fake_civarchive, monkeypatch,  # noqa: F811
                                     snapshot):
    model = fake_civitai.add_model("Status Model", versions=3)
    newest, middle, oldest = model.versions
    _local_version(lib_env.loras, "have_it", model_id=model.id, version_id=middle.id, name=middle.name)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    await _json(client, "/api/lm/set-model-version-download-status", modelType="lora", modelVersionId=oldest.id,
                downloaded="true")
    status, body = await _json(client, "/api/lm/model-versions-status", modelId=model.id)
    assert status == 200
    assert stable(body, fake_civitai.base_url) == snapshot(name="versions")
    assert [(v["id"], v["inLibrary"], v["hasBeenDownloaded"]) for v in body["versions"]] == [
        (newest.id, False, False), (middle.id, True, False), (oldest.id, False, True)]

    vae = fake_civitai.add_model("A VAE", type="VAE")
    empty = fake_civitai.add_model("Empty", versions=0)
    answers = {}
    for name, model_id in (("unknown", 987654), ("unsupported", vae.id), ("no-versions", empty.id)):
        status, answers[name] = await _json(client, "/api/lm/model-versions-status", modelId=model_id)
        assert status in (400, 404), name
    fake_civitai.fail_next(1, 403, path="/api/v1/models/")
    status, answers["refused"] = await _json(client, "/api/lm/model-versions-status", modelId=model.id)
    assert status == 502
    assert answers == snapshot(name="errors")


async def test_user_models(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    lora = fake_civitai.add_model("Alice LoRA", creator="alice", versions=2, tags=("anime",))
    fake_civitai.add_model("Alice Checkpoint", type="Checkpoint", creator="alice")
    fake_civitai.add_model("Alice VAE", type="VAE", creator="alice")
    fake_civitai.add_model("Bob LoRA", creator="bob")
    _local_version(lib_env.loras, "alice_v1", model_id=lora.id, version_id=lora.versions[1].id, name="v1")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    status, body = await _json(client, "/api/lm/civitai/user-models", username="alice")
    assert status == 200
    assert stable(body, fake_civitai.base_url) == snapshot(name="alice")
    assert body["modelCount"] == 2 and len(body["versions"]) == 3
    assert [v["inLibrary"] for v in body["versions"] if v["modelId"] == lora.id] == [False, True]
    status, nobody = await _json(client, "/api/lm/civitai/user-models", username="nobody")
    assert (status, nobody["versions"], nobody["hasMore"]) == (200, [], False)
    fake_civitai.fail_next(1, 401, path="/api/v1/models")
    status, failed = await _json(client, "/api/lm/civitai/user-models", username="alice")
    assert status == 502 and failed["success"] is False


async def test_delete_model_version(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    path = _local_version(lib_env.loras, "doomed", model_id=300, version_id=3001, name="v1")
    keep = _local_version(lib_env.loras, "kept", model_id=300, version_id=3002, name="v2")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    await _json(client, "/api/lm/set-model-version-download-status", modelType="lora", modelVersionId=3001,
                downloaded="true")
    status, body = await _json(client, "/api/lm/delete-model-version", modelVersionId=3001)
    assert status == 200
    assert scrub(body, lib_env.tmp) == snapshot(name="deleted")
    assert sorted(p.name for p in lib_env.loras.iterdir()) == sorted(
        [keep.name, "kept.metadata.json", "kept.preview.png", "kept.civitai.info"])
    assert not path.exists()
    listing = await (await client.get("/api/lm/loras/list")).json()
    assert [i["file_name"] for i in listing["items"]] == ["kept"]
    _, exists = await _json(client, "/api/lm/check-model-exists", modelId=300, modelVersionId=3001)
    assert (exists["exists"], exists["hasBeenDownloaded"]) == (False, False)
    status, missing = await _json(client, "/api/lm/delete-model-version", modelVersionId=3001)
    assert (status, missing) == (404, {"success": False, "error": "Model version not found in any scanner cache"})


async def test_a_model_gone_from_civitai_lists_civarchives_versions(lib_env, make_client, fake_civitai,  # noqa: F811
                                                                    fake_civarchive, monkeypatch):  # noqa: F811
    """Civitai no longer has the model; CivArchive keeps it: the Downloads page's look-up lists its versions and
    says where they come from, so the download asks CivArchive's mirrors (``source=civarchive``)."""
    archived = fake_civarchive.add_model("Gone Style", model_id=555_001)
    old = fake_civarchive.add_version(archived, "v1.0")
    new = fake_civarchive.add_version(archived, "v2.0")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    status, body = await _json(client, "/api/lm/model-versions-status", modelId=555_001)
    assert status == 200, body
    assert (body["source"], body["modelName"], body["modelType"]) == ("civarchive", "Gone Style", "lora")
    assert [(v["id"], v["inLibrary"]) for v in body["versions"]] == [(new.id, False), (old.id, False)]
    assert fake_civitai.requests_to("/api/v1/models/555001")
