"""``source=civarchive``: a version deleted from Civitai is downloaded with CivArchive's metadata from its
mirrors (through the real app, the fake Civitai and the fake CivArchive on 127.0.0.1); the CivArchive client
itself against the fake."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from support.download_kit import clock, http  # noqa: F401  (fixtures)
from support.downloads import add_lora, download_client, stable, wait_history
from support.fake_civarchive import fake_civarchive  # noqa: F401  (fixture)
from support.fake_civitai import fake_civitai  # noqa: F401  (fixture)
from support.snap import scrub


def _stable(value: Any, archive, civitai, tmp: Path) -> Any:
    text = json.dumps(stable(value, civitai.base_url)).replace(archive.base_url, "<civarchive>")
    return scrub(json.loads(text), tmp)


def _archived(archive, *, name: str = "Gone Style", base_model: str = "Illustrious", mirrors=None):
    model = archive.add_model(name, tags=("anime", "style"), creator="vanished")
    return archive.add_version(model, "v1.0", base_model=base_model, mirrors=mirrors)


async def _get(client, model_id: int, version_id: int | None, did: str, **extra: str):
    params = {"model_id": str(model_id), "download_id": did, "use_default_paths": "true", **extra}
    if version_id is not None:
        params["model_version_id"] = str(version_id)
    return await client.get("/api/lm/download-model-get", params=params)


async def test_a_version_deleted_from_civitai_downloads_from_civarchive(lib_env, make_client, fake_civitai,
                                                                        fake_civarchive, monkeypatch, snapshot):
    archive = fake_civarchive
    gone = {"url": f"{fake_civitai.base_url}/api/download/models/1", "source": "civitai", "deletedAt": None}
    missing = {"url": f"{archive.base_url}/mirror/1/missing.safetensors", "source": "huggingface"}
    deleted = {"url": f"{archive.base_url}/mirror/2/old.safetensors", "deletedAt": "2025-02-01T00:00:00Z"}
    version = _archived(archive, mirrors=[gone, deleted, missing])
    file = version.files[0]
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch,
                                   download_path_templates={"lora": "{base_model}/{first_tag}"})

    response = await _get(client, version.model_id, version.id, "arch-1", source="civarchive")
    body = await response.json()
    assert response.status == 200, body
    assert scrub(body, lib_env.tmp) == snapshot(name="download")
    target = lib_env.loras / "Illustrious" / "anime" / file.name
    assert body["file_path"] == target.as_posix()
    assert target.read_bytes() == file.data

    # Civitai was asked first; the dead mirror was tried before the live one; the deleted one never
    assert fake_civitai.requests_to(f"/api/v1/model-versions/{version.id}")
    assert [r.path for r in archive.requests_to("/mirror/")] == ["/mirror/1/missing.safetensors",
                                                                 f"/mirror/{file.id}/{file.name}"]
    assert fake_civitai.requests_to("/api/download/") == []

    sidecar = json.loads(target.with_name(target.stem + ".metadata.json").read_text())
    assert sidecar["metadata_source"] == "civarchive" and sidecar["civitai_deleted"] is True
    assert sidecar["civitai"]["source"] == "civarchive"
    assert sidecar["civitai"]["id"] == version.id and sidecar["civitai"]["modelId"] == version.model_id
    assert sidecar["civitai"]["trainedWords"] == ["archived_word"]
    assert sidecar["sha256"] == file.sha256 and sidecar["base_model"] == "Illustrious"
    assert _stable(sidecar, archive, fake_civitai, lib_env.tmp) == snapshot(name="sidecar")
    with Image.open(target.with_name(target.stem + ".webp")) as preview:
        assert preview.format == "WEBP"

    listing = await (await client.get("/api/lm/loras/list")).json()
    assert [item["file_name"] for item in listing["items"]] == [target.stem]
    assert listing["items"][0]["civitai"]["id"] == version.id
    row = await wait_history(client, "arch-1")
    assert row["status"] == "completed" and row["model_name"] == "Gone Style"
    exists = await (await client.get("/api/lm/check-model-exists", params={
        "modelId": str(version.model_id), "modelVersionId": str(version.id)})).json()
    assert exists["exists"] is True and exists["modelType"] == "lora"


async def test_without_civarchive_source_a_civitai_404_stays_the_clear_error(lib_env, make_client, fake_civitai,
                                                                             fake_civarchive, monkeypatch, snapshot):
    version = _archived(fake_civarchive)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    answers = {}
    for name, extra in (("no-source", {}), ("other-source", {"source": "civitai-creator-batch"})):
        response = await _get(client, version.model_id, version.id, f"nf-{name}", **extra)
        assert response.status == 404
        answers[name] = await response.json()
    assert answers == snapshot(name="civitai-404")
    assert answers["no-source"]["error"] == (f"Failed to fetch model metadata: version {version.id} was not found "
                                             "on Civitai")
    assert fake_civarchive.requests == []


async def test_a_version_still_on_civitai_uses_civitai_data(lib_env, make_client, fake_civitai, fake_civarchive,
                                                            monkeypatch):
    version = add_lora(fake_civitai, "Still Here")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    response = await _get(client, version.model_id, version.id, "still-1", source="CivArchive")
    assert response.status == 200
    target = Path((await response.json())["file_path"])
    sidecar = json.loads(target.with_name(target.stem + ".metadata.json").read_text())
    assert sidecar["metadata_source"] == "civitai_api" and "source" not in sidecar["civitai"]
    assert fake_civarchive.requests == []


async def test_a_model_gone_from_civitai_falls_back_to_its_latest_archived_version(
        lib_env, make_client, fake_civitai, fake_civarchive, monkeypatch):
    model = fake_civarchive.add_model("Two Archived", tags=("style",))
    fake_civarchive.add_version(model, "v1.0")
    newest = fake_civarchive.add_version(model, "v2.0")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    response = await _get(client, model.id, None, "latest-1", source="civarchive")
    assert response.status == 200, await response.json()
    assert Path((await response.json())["file_path"]).read_bytes() == newest.files[0].data


async def test_archive_misses_and_failures_are_clear(lib_env, make_client, fake_civitai, fake_civarchive,
                                                     monkeypatch, snapshot):
    version = _archived(fake_civarchive)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    answers = {}
    response = await _get(client, 424242, 535353, "miss-1", source="civarchive")
    assert response.status == 404
    answers["nowhere"] = await response.json()
    fake_civarchive.answer_next(1, {"error": "bad request"}, status=400)
    response = await _get(client, version.model_id, version.id, "miss-2", source="civarchive")
    assert response.status == 502
    answers["refused"] = await response.json()
    fake_civarchive.answer_next(1, ["not", "an", "object"])
    response = await _get(client, version.model_id, version.id, "miss-3", source="civarchive")
    assert response.status == 502
    answers["malformed"] = await response.json()
    assert answers == snapshot(name="archive-errors")
    for did in ("miss-1", "miss-2", "miss-3"):
        assert (await wait_history(client, did))["status"] == "failed"
    assert [p for p in lib_env.loras.rglob("*") if p.is_file()] == []

    posted = await client.post("/api/lm/download-model", json={
        "model_version_id": version.id, "download_id": "miss-4", "source": "civarchive"})
    assert posted.status == 200
    row = await wait_history(client, "miss-4")
    assert row["status"] == "failed" and "needs the model id" in row["error"]


async def test_every_mirror_failing_fails_the_download_and_keeps_the_library_clean(
        lib_env, make_client, fake_civitai, fake_civarchive, monkeypatch):
    version = _archived(fake_civarchive)
    fake_civarchive.missing_mirrors.add(version.files[0].id)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    response = await _get(client, version.model_id, version.id, "dead-1", source="civarchive")
    assert response.status == 404
    assert (await response.json())["success"] is False
    assert [p for p in lib_env.loras.rglob("*") if p.is_file()] == []


# -- the client against the fake ---------------------------------------------------------------------
@pytest.fixture
def archive_client(http, fake_civarchive):
    from lora_manager.py.services.metadata.civarchive_client import CivArchiveClient

    return CivArchiveClient(http, base_url=fake_civarchive.base_url + "/")


async def test_client_follows_the_model_id_the_archive_files_a_version_under(archive_client, fake_civarchive):
    version = _archived(fake_civarchive)
    found = await archive_client.get_model_version(999, version.id)
    assert found is not None
    archived, model = found
    assert (archived["id"], archived["modelId"], model["id"]) == (version.id, version.model_id, version.model_id)
    asked = [(r.path, r.query.get("modelVersionId")) for r in fake_civarchive.requests_to("/api/models/")]
    assert asked == [("/api/models/999", str(version.id)), (f"/api/models/{version.model_id}", str(version.id))]
    assert archived["files"][0]["hashes"]["SHA256"] == version.files[0].sha256.upper()
    assert model["modelVersions"] == [{"id": version.id, "name": "v1.0"}]


async def test_client_misses_are_none(archive_client, fake_civarchive):
    version = _archived(fake_civarchive)
    assert await archive_client.get_model_version(version.model_id, 1) is None
    assert await archive_client.get_model_version(31337) is None
    sibling = fake_civarchive.add_version(fake_civarchive.models[version.model_id], "v2.0")
    fake_civarchive.answer_next(1, fake_civarchive.payload(sibling))  # answers a different version than asked
    assert await archive_client.get_model_version(version.model_id, version.id) is None
    fake_civarchive.answer_next(1, {"data": {"id": 5, "name": "no version"}})
    assert await archive_client.get_model_version(version.model_id, version.id) is None
    other = _archived(fake_civarchive, name="Other")
    fake_civarchive.answer_next(1, fake_civarchive.payload(other))  # filed under another model...
    fake_civarchive.answer_next(1, {"error": "gone"}, status=404)  # ...which is gone when asked again
    assert await archive_client.get_model_version(version.model_id) is None


async def test_client_by_hash(archive_client, fake_civarchive):
    from lora_manager.py.services.remote.errors import ErrorKind, RemoteError

    version = _archived(fake_civarchive)
    sha = version.files[0].sha256
    found = await archive_client.get_version_by_hash(sha.upper())
    assert found is not None and found[0]["id"] == version.id and found[0]["source"] == "civarchive"
    fake_civarchive.bare_hash_records = True
    found = await archive_client.get_version_by_hash(sha)
    assert found is not None and found[1]["name"] == "Gone Style"
    assert await archive_client.get_version_by_hash("0" * 64) is None
    fake_civarchive.answer_next(1, {"data": {"files": ["junk", {"model_id": None}]}})
    assert await archive_client.get_version_by_hash(sha) is None
    with pytest.raises(ValueError):
        await archive_client.get_version_by_hash("not-a-hash")
    fake_civarchive.answer_next(1, [1, 2])
    with pytest.raises(RemoteError) as caught:
        await archive_client.get_version_by_hash(sha)
    assert caught.value.kind is ErrorKind.MALFORMED
