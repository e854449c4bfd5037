"""Early-access versions through the real app and the fake Civitai: without a key that has access the download
fails with the early-access error (HTTP 401) after a progress notice, leaving nothing behind; with the key it
simply downloads."""
from __future__ import annotations

from support.downloads import download_client, wait_history
from support.fake_civitai import fake_civitai  # noqa: F401  (fixture)
from support.snap import scrub

UNTIL = "2099-01-31T12:00:00.000Z"


def _early_version(fake, *, key: str = "ea-key"):
    model = fake.add_model("Preview Pack", tags=("style",), versions=[
        {"name": "v2 Early", "early_access_until": UNTIL, "download_key": key, "files": [{"n_bytes": 8000}]}])
    return model.versions[0]


async def _frames(ws) -> list[dict]:
    """Frames up to the end of the download (a failure, or progress 100)."""
    frames: list[dict] = []
    while not frames or (frames[-1].get("status") != "failed" and frames[-1].get("progress") != 100):
        frames.append(await ws.receive_json(timeout=5))
    return frames


async def test_early_access_without_access_fails_with_401(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    version = _early_version(fake_civitai)
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    ws = await client.ws_connect("/ws/download-progress?id=ea-1")
    await ws.receive_json()
    response = await client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": "ea-1"})
    assert response.status == 401
    body = await response.json()
    assert body == snapshot(name="early-access-error")
    assert body["error"] == ("Early access restriction: v2 Early is in early access until 2099-01-31 12:00 UTC; "
                             "sign in with a Civitai API key that has access, or wait")
    frames = await _frames(ws)
    await ws.close()
    notice = [f for f in frames if f.get("progress") == 1]
    assert notice and "early-access version" in notice[0]["message"]
    assert [f["progress"] for f in frames] == sorted(f["progress"] for f in frames)
    assert frames[-1]["status"] == "failed" and frames[-1]["message"] == body["error"]

    attempts = fake_civitai.requests_to(f"/api/download/models/{version.id}")
    assert len(attempts) == 1 and "Authorization" not in attempts[0].headers
    assert [p for p in lib_env.loras.rglob("*") if p.is_file()] == []  # no model, no empty .part, no sidecar
    row = await wait_history(client, "ea-1")
    assert row["status"] == "failed" and row["error"] == body["error"]
    listing = await (await client.get("/api/lm/loras/list")).json()
    assert listing["items"] == []


async def test_early_access_with_a_key_that_has_access_downloads(lib_env, make_client, fake_civitai, monkeypatch,
                                                                 snapshot):
    version = _early_version(fake_civitai, key="member-key")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch, civitai_api_key="member-key")
    response = await client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": "ea-2"})
    assert response.status == 200
    body = await response.json()
    assert scrub(body, lib_env.tmp) == snapshot(name="early-access-downloaded")
    target = lib_env.loras / "SDXL 1.0" / "style" / version.files[0].name
    assert target.read_bytes() == version.files[0].data
    sent = fake_civitai.requests_to(f"/api/download/models/{version.id}")[-1]
    assert sent.headers["Authorization"] == "Bearer member-key"


async def test_a_wrong_key_still_gets_the_early_access_error(lib_env, make_client, fake_civitai, monkeypatch):
    version = _early_version(fake_civitai, key="member-key")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch, civitai_api_key="other-key")
    response = await client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": "ea-3"})
    assert response.status == 401
    assert (await response.json())["error"].startswith("Early access restriction: v2 Early")


async def test_a_public_version_refused_by_the_host_keeps_the_plain_auth_error(lib_env, make_client, fake_civitai,
                                                                               monkeypatch):
    model = fake_civitai.add_model("Locked Public", tags=("style",), versions=[{"download_key": "k"}])
    version = model.versions[0]
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    response = await client.get("/api/lm/download-model-get", params={
        "model_id": str(version.model_id), "model_version_id": str(version.id), "download_id": "pub-1"})
    assert response.status == 401
    error = (await response.json())["error"]
    assert "Early access" not in error and "HTTP 401" in error
