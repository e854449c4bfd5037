"""CivitaiClient against the fake Civitai on 127.0.0.1: endpoints, API-key scoping, sidecar blocks."""
from __future__ import annotations

import random

import aiohttp
import pytest

from lora_manager.py.services.metadata.civitai_client import (
    CivitaiClient,
    is_civitai_host,
    resolve_civitai_base_url,
    select_file,
    version_to_civitai_block,
)
from lora_manager.py.services.remote.errors import ErrorKind, RemoteError
from lora_manager.py.services.remote.resilience import ResilientHttp, RetryPolicy
from support.fake_civitai import FakeCivitai, ManualClock, fake_civitai  # noqa: F401  (fixture)

KEY = "secret-key-123"


@pytest.fixture
async def http():
    clock = ManualClock()
    client = ResilientHttp(
        policy=RetryPolicy(max_attempts=3, jitter=0.0),
        timeout=aiohttp.ClientTimeout(total=5),
        sleep=clock.sleep,
        clock=clock,
        rng=random.Random(0),
    )
    yield client
    await client.close()


@pytest.fixture
def civitai(fake_civitai, http) -> CivitaiClient:
    return CivitaiClient(http, base_url=fake_civitai.base_url + "/", api_key=KEY)


# -- base URL ----------------------------------------------------------------------------------------
def test_base_url_resolution_order():
    env = {"LORA_MANAGER_CIVITAI_BASE_URL": "http://127.0.0.1:9999/"}
    assert resolve_civitai_base_url("https://civitai.green", env) == "http://127.0.0.1:9999"
    assert resolve_civitai_base_url("https://civitai.green/", {}) == "https://civitai.green"
    assert resolve_civitai_base_url(None, {}) == "https://civitai.com"
    assert resolve_civitai_base_url("   ", {"LORA_MANAGER_CIVITAI_BASE_URL": ""}) == "https://civitai.com"
    assert resolve_civitai_base_url("civitai.red/api/v1/", {}) == "https://civitai.red"


def test_civitai_hosts():
    for host in ("civitai.com", "CIVITAI.GREEN", "civitai.red", "image.civitai.com", "a.b.civitai.red."):
        assert is_civitai_host(host)
    for host in (None, "", "notcivitai.com", "civitai.com.evil.net", "civitai.co", "example.org"):
        assert not is_civitai_host(host)


# -- endpoints ---------------------------------------------------------------------------------------
async def test_version_by_hash_found_and_missing(fake_civitai, civitai):
    model = fake_civitai.add_model("Detail Slider", creator="alice")
    version = model.versions[0]
    sha = version.files[0].sha256
    found = await civitai.get_version_by_hash(sha.upper())
    assert found["id"] == version.id and found["modelId"] == model.id
    assert found["files"][0]["hashes"]["SHA256"] == sha.upper()
    assert found["model"]["name"] == "Detail Slider"
    assert fake_civitai.requests[-1].path == f"/api/v1/model-versions/by-hash/{sha}"

    before = len(fake_civitai.requests)
    assert await civitai.get_version_by_hash("ab" * 32) is None
    assert len(fake_civitai.requests) == before + 1  # 404: one request, no retry


async def test_version_by_hash_rejects_non_hashes(civitai):
    for bad in ("", "../../etc", "zz" * 32, None):
        with pytest.raises(ValueError):
            await civitai.get_version_by_hash(bad)


async def test_batch_by_hash_maps_answers_back_by_sha256(fake_civitai, civitai):
    first = fake_civitai.add_model("One").versions[0]
    second = fake_civitai.add_model("Two", versions=[{"files": [{}, {"fp": "fp32", "size": "full"}]}]).versions[0]
    known = [first.files[0].sha256, second.files[0].sha256.upper(), second.files[1].sha256]
    unknown = "cd" * 32
    result = await civitai.get_versions_by_hashes(known + [unknown, "not-a-hash", known[0]], batch_size=2)
    assert set(result) == {h.lower() for h in known}
    assert result[first.files[0].sha256]["id"] == first.id
    assert result[second.files[0].sha256]["id"] == second.id
    assert result[second.files[1].sha256]["id"] == second.id
    posts = fake_civitai.requests_to("/api/v1/model-versions/by-hash", "POST")
    assert [p.json() for p in posts] == [
        [first.files[0].sha256, second.files[0].sha256],
        [second.files[1].sha256, unknown],
    ]
    assert await civitai.get_versions_by_hashes([]) == {}


async def test_batch_by_hash_survives_a_5xx_and_reports_a_malformed_answer(fake_civitai, civitai):
    version = fake_civitai.add_model().versions[0]
    fake_civitai.fail_next(1, status=500)
    assert list(await civitai.get_versions_by_hashes([version.files[0].sha256])) == [version.files[0].sha256]
    fake_civitai.malformed_json_next(1)
    with pytest.raises(RemoteError) as info:
        await civitai.get_versions_by_hashes([version.files[0].sha256])
    assert info.value.kind is ErrorKind.MALFORMED


async def test_version_model_and_missing_ids(fake_civitai, civitai):
    model = fake_civitai.add_model("Two Versions", versions=2, tags=["style"])
    newest, oldest = model.versions
    assert (await civitai.get_version(str(oldest.id)))["name"] == oldest.name
    got = await civitai.get_model(model.id)
    assert [v["id"] for v in got["modelVersions"]] == [newest.id, oldest.id]
    assert got["tags"] == ["style"] and got["creator"]["username"] == "tester"
    assert await civitai.get_version(1) is None
    assert await civitai.get_model(1) is None
    for bad in (True, -3, "12a", 1.5):
        with pytest.raises(ValueError):
            await civitai.get_model(bad)


async def test_user_models_pages_with_a_cursor(fake_civitai, civitai):
    made = [fake_civitai.add_model(f"Model {i}", creator="Bob", nsfw=(i == 2)) for i in range(5)]
    fake_civitai.add_model("Someone else's", creator="carol")
    page = await civitai.get_user_models("bob", limit=3)
    assert [m["id"] for m in page["items"]] == [m.id for m in reversed(made)][:3]
    assert page["metadata"]["nextCursor"] and page["metadata"]["totalItems"] == 5
    query = fake_civitai.requests[-1].query
    assert (query["username"], query["limit"], query["nsfw"]) == ("bob", "3", "true") and "cursor" not in query
    rest = await civitai.get_user_models("bob", cursor=page["metadata"]["nextCursor"], limit=3)
    assert [m["id"] for m in rest["items"]] == [made[1].id, made[0].id]
    assert rest["metadata"]["nextCursor"] is None
    assert fake_civitai.requests[-1].query["cursor"] == page["metadata"]["nextCursor"]
    assert (await civitai.get_user_models("nobody"))["items"] == []
    with pytest.raises(ValueError):
        await civitai.get_user_models("  ")


async def test_user_models_without_items_is_malformed(fake_civitai, civitai):
    fake_civitai.add_model(creator="bob")
    fake_civitai.malformed_json_next(1)
    with pytest.raises(RemoteError) as info:
        await civitai.get_user_models("bob")
    assert info.value.kind is ErrorKind.MALFORMED


async def test_get_image_returns_the_requested_image(fake_civitai, civitai):
    version = fake_civitai.add_model().versions[0]
    image = fake_civitai.add_image(version, meta={"prompt": "a cat", "seed": 42}, nsfw_level=4)
    fake_civitai.add_image(version)
    got = await civitai.get_image(str(image.id))
    assert got["id"] == image.id and got["meta"]["prompt"] == "a cat" and got["nsfwLevel"] == "Mature"
    query = fake_civitai.requests[-1].query
    assert query["imageId"] == str(image.id) and query["nsfw"] == "X"
    assert await civitai.get_image(12345) is None


async def test_get_image_distrusts_answers_about_other_images(fake_civitai, civitai, caplog):
    version = fake_civitai.add_model().versions[0]
    # Civitai's images endpoint is a search; make it answer with an item carrying another id
    fake_civitai.add_image(version, image_id=77, extra={"id": 99})
    assert await civitai.get_image(77) is None
    assert "other images" in caplog.text
    # items without ids at all are taken at their word
    fake_civitai.add_image(version, image_id=78, extra={"id": None}, meta={"prompt": "dog"})
    assert (await civitai.get_image(78))["meta"]["prompt"] == "dog"


# -- the API key -------------------------------------------------------------------------------------
async def test_api_key_goes_to_the_base_host_only(fake_civitai, civitai):
    model = fake_civitai.add_model()
    await civitai.get_model(model.id)
    assert fake_civitai.requests[-1].headers["Authorization"] == f"Bearer {KEY}"
    async with FakeCivitai() as other:
        other.add_model(model_id=model.id)
        # a URL on another host (e.g. a downloadUrl or image a payload points to) gets no key
        assert civitai.auth_headers(other.base_url + "/api/download/models/1") == {}
        await civitai.http.request_json(
            "GET", f"{other.base_url}/api/v1/models/{model.id}", headers=civitai.auth_headers(other.base_url + "/x")
        )
        assert "Authorization" not in other.requests[-1].headers


async def test_api_key_scope_for_civitai_hosts(http):
    client = CivitaiClient(http, base_url="http://127.0.0.1:1", api_key=KEY)
    assert client.auth_headers("https://civitai.com/api/download/models/1") == {"Authorization": f"Bearer {KEY}"}
    assert client.auth_headers("https://civitai.red/x") and client.auth_headers("https://api.civitai.green/x")
    assert client.auth_headers("http://civitai.com/x") == {}  # never in clear text to a non-base host
    assert client.auth_headers("https://civitai.com.evil.net/x") == {}
    assert client.auth_headers("https://cdn.example.org/x") == {}
    assert client.auth_headers("not a url") == {}
    assert client.auth_headers("http://127.0.0.1:1/api") != {}
    assert client.auth_headers("http://127.0.0.1:2/api") == {}
    keyless = CivitaiClient(http, base_url="https://civitai.com", api_key="  ")
    assert not keyless.has_api_key and keyless.auth_headers("https://civitai.com/x") == {}


async def test_no_key_means_no_authorization_header(fake_civitai, http):
    client = CivitaiClient(http, base_url=fake_civitai.base_url, api_key=None)
    model = fake_civitai.add_model()
    await client.get_model(model.id)
    assert "Authorization" not in fake_civitai.requests[-1].headers


# -- sidecar block from real answers -----------------------------------------------------------------
async def test_civitai_block_from_version_and_model(fake_civitai, civitai):
    model = fake_civitai.add_model(
        "Block Test", creator="alice", tags=["concept"], description="<p>Model text</p>",
        versions=[{"trained_words": ["blk", "tst"], "images": 2, "base_model": "Pony"}],
    )
    version = await civitai.get_version_by_hash(model.versions[0].files[0].sha256)
    full = await civitai.get_model(version["modelId"])
    block = version_to_civitai_block(version, full)
    assert block["id"] == version["id"] and block["modelId"] == model.id
    assert block["trainedWords"] == ["blk", "tst"] and block["baseModel"] == "Pony"
    assert block["model"] == {
        "name": "Block Test", "type": "LORA", "nsfw": False, "poi": False,
        "description": "<p>Model text</p>", "tags": ["concept"],
    }
    assert block["creator"]["username"] == "alice" and block["creator"]["image"].endswith("/alice.png")
    assert len(block["images"]) == 2
    assert set(block["images"][0]) == {"url", "nsfwLevel", "width", "height", "type", "hash"}
    assert block["files"][0]["hashes"]["SHA256"] == model.versions[0].files[0].sha256.upper()
    assert block["downloadUrl"].endswith(f"/api/download/models/{version['id']}")
    for key in ("createdAt", "updatedAt", "publishedAt", "name", "description"):
        assert key in block
    block["files"][0]["name"] = "changed"
    assert version["files"][0]["name"] != "changed"  # the block is a copy

    bare = version_to_civitai_block(version)  # without the model: the version's own summary
    assert bare["model"] == {"name": "Block Test", "type": "LORA", "nsfw": False, "poi": False}
    assert "creator" not in bare


async def test_selected_file_from_a_real_answer_downloads_the_right_bytes(fake_civitai, civitai, http):
    version = fake_civitai.add_model(versions=[{"files": [{}, {"fp": "fp32", "size": "full"}, {"type": "Training Data", "format": "Other"}]}]).versions[0]
    answer = await civitai.get_version(version.id)
    chosen = select_file(answer, fp="FP32")
    assert chosen["id"] == version.files[1].id
    session = await http.session()
    async with session.get(chosen["downloadUrl"]) as response:
        assert await response.read() == version.files[1].data
    training = select_file(answer, type="training data")
    async with session.get(training["downloadUrl"]) as response:
        assert await response.read() == version.files[2].data


# -- answers of an unexpected shape ------------------------------------------------------------------
async def test_unexpected_shapes_are_malformed_or_tolerated(fake_civitai, civitai):
    version = fake_civitai.add_model().versions[0]
    sha = version.files[0].sha256
    fake_civitai.answer_next(1, [1, 2], path="/api/v1/models/")
    with pytest.raises(RemoteError) as not_object:
        await civitai.get_model(123)
    assert not_object.value.kind is ErrorKind.MALFORMED and not_object.value.url.endswith("/models/123")

    # a wrapped list is accepted; junk entries are skipped
    wrapped = {"items": ["junk", fake_civitai.version_json(version)]}
    fake_civitai.answer_next(1, wrapped, path="/api/v1/model-versions/by-hash")
    assert list(await civitai.get_versions_by_hashes([sha])) == [sha]
    fake_civitai.answer_next(1, {"nope": True}, path="/api/v1/model-versions/by-hash")
    with pytest.raises(RemoteError) as not_list:
        await civitai.get_versions_by_hashes([sha])
    assert not_list.value.kind is ErrorKind.MALFORMED
    fake_civitai.answer_next(1, {"error": "none"}, status=404, path="/api/v1/model-versions/by-hash")
    assert await civitai.get_versions_by_hashes([sha]) == {}
    fake_civitai.answer_next(1, {"error": "boom"}, status=400, path="/api/v1/model-versions/by-hash")
    with pytest.raises(RemoteError) as refused:
        await civitai.get_versions_by_hashes([sha])
    assert refused.value.kind is ErrorKind.CLIENT

    fake_civitai.answer_next(1, {"error": "no user"}, status=404, path="/api/v1/models")
    assert await civitai.get_user_models("ghost") == {"items": [], "metadata": {"nextCursor": None}}
    fake_civitai.answer_next(1, {"metadata": {}}, path="/api/v1/models")
    with pytest.raises(RemoteError):
        await civitai.get_user_models("ghost")
    fake_civitai.answer_next(1, {"items": [{"id": 1}, "junk"], "metadata": {"nextCursor": 42}}, path="/api/v1/models")
    assert await civitai.get_user_models("ghost") == {"items": [{"id": 1}], "metadata": {"nextCursor": "42"}}

    fake_civitai.answer_next(1, {"error": "gone"}, status=404, path="/api/v1/images")
    assert await civitai.get_image(5) is None
    fake_civitai.answer_next(1, {"items": None}, path="/api/v1/images")
    assert await civitai.get_image(5) is None


def test_civitai_block_tolerates_sparse_versions():
    block = version_to_civitai_block({"id": 5, "trainedWords": ["a", 3, None], "files": "x", "images": None}, {"id": 9})
    assert block == {"id": 5, "modelId": 9, "trainedWords": ["a"], "model": {}, "files": [], "images": []}
    assert version_to_civitai_block({"creator": {"username": "u", "image": None, "extra": 1}})["creator"] == {
        "username": "u", "image": None}
