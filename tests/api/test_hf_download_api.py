"""Hugging Face downloads through the real app, against a fake HF and a fake CDN on 127.0.0.1:
``POST /api/lm/download-hf-model`` -> DownloadManager -> HEAD (stated sha256) -> Downloader (redirect to the
CDN) -> verified model file + sidecar with ``hf_url`` + index listing. The token reaches HF only."""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from support.downloads import stable, wait_bytes, wait_history
from support.fake_hf import FakeHf, fake_hf, hf_client  # noqa: F401  (fixture)
from support.snap import scrub

TOKEN = "hf_secretTOKENvalue1234"


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def shaped(body: dict, env, fake: FakeHf) -> dict:
    text = json.dumps(scrub(stable(body), env.tmp)).replace(fake.base_url, "<hf>").replace(fake.cdn_url, "<cdn>")
    return json.loads(re.sub(r"\.\d{8}-\d{6}", ".<stamp>", text))


async def test_lfs_file_is_verified_and_the_token_never_reaches_the_cdn(lib_env, make_client, fake_hf, monkeypatch,
                                                                        snapshot, caplog):
    blob = fake_hf.add("someone/pixel-lora", "loras/pixel_style.safetensors", n_bytes=20_000)
    client = await hf_client(make_client, lib_env, fake_hf, monkeypatch, hf_token=TOKEN)
    caplog.set_level(logging.DEBUG, logger="lora_manager")

    response = await client.post("/api/lm/download-hf-model",
                                 json={"url": fake_hf.url(blob) + "?download=true", "download_id": "hf-1"})
    body = await response.json()
    assert response.status == 200, body
    assert shaped(body, lib_env, fake_hf) == snapshot(name="answer")
    target = lib_env.loras / "pixel_style.safetensors"
    assert target.read_bytes() == blob.data
    assert body["path"] == body["file_path"] == target.as_posix()
    assert files_under(lib_env.loras) == ["pixel_style.metadata.json", "pixel_style.safetensors"]

    sidecar = json.loads(target.with_name("pixel_style.metadata.json").read_text())
    assert sidecar["sha256"] == blob.sha256
    assert sidecar["hf_url"] == "https://huggingface.co/someone/pixel-lora"
    assert sidecar["from_civitai"] is False
    assert shaped(sidecar, lib_env, fake_hf) == snapshot(name="sidecar")

    assert [r.method for r in fake_hf.hf_requests] == ["HEAD", "GET"]
    assert all(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in fake_hf.hf_requests)
    assert [r.method for r in fake_hf.cdn_requests] == ["GET"]
    assert "Authorization" not in fake_hf.cdn_requests[0].headers
    assert TOKEN not in caplog.text

    listing = await (await client.get("/api/lm/loras/list")).json()
    assert [item["file_name"] for item in listing["items"]] == ["pixel_style"]
    assert listing["items"][0]["sha256"] == blob.sha256
    assert listing["items"][0]["hf_url"] == "https://huggingface.co/someone/pixel-lora"


async def test_repo_and_filename_with_default_paths_and_no_token(lib_env, make_client, fake_hf, monkeypatch):
    blob = fake_hf.add("someone/tiny", "tiny.safetensors", lfs=False, revision="v1.0")
    client = await hf_client(make_client, lib_env, fake_hf, monkeypatch)
    response = await client.post("/api/lm/download-hf-model", json={
        "repo": "someone/tiny", "filename": "tiny.safetensors", "revision": "v1.0", "use_default_paths": True})
    body = await response.json()
    assert response.status == 200, body
    target = lib_env.loras / "huggingface" / "someone" / "tiny" / "tiny.safetensors"
    assert target.read_bytes() == blob.data
    assert all("Authorization" not in r.headers for r in fake_hf.hf_requests)
    assert fake_hf.cdn_requests == []  # a plain git file is served by HF itself (its 40-hex ETag is no sha256)


async def test_an_interrupted_download_resumes_from_its_part(lib_env, make_client, fake_hf, monkeypatch):
    blob = fake_hf.add("someone/resumed", "resumed.safetensors", n_bytes=9000)
    target = lib_env.loras / "resumed.safetensors"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.with_name(target.name + ".part").write_bytes(blob.data[:4000])
    client = await hf_client(make_client, lib_env, fake_hf, monkeypatch)
    response = await client.post("/api/lm/download-hf-model", json={"url": fake_hf.url(blob)})
    assert response.status == 200, await response.text()
    assert target.read_bytes() == blob.data
    assert [r.headers.get("Range") for r in fake_hf.cdn_requests] == ["bytes=4000-"]
    assert not target.with_name(target.name + ".part").exists()


async def test_a_redirect_to_a_local_address_is_refused(lib_env, make_client, fake_hf, monkeypatch, snapshot):
    blob = fake_hf.add("someone/sneaky", "sneaky.safetensors")
    client = await hf_client(make_client, lib_env, fake_hf, monkeypatch, allow_cdn=False)
    response = await client.post("/api/lm/download-hf-model", json={"url": fake_hf.url(blob)})
    body = await response.json()
    assert response.status == 502
    assert "local or private network address" in body["error"]
    assert shaped(body, lib_env, fake_hf) == snapshot
    assert fake_hf.cdn_requests == []
    assert files_under(lib_env.loras) == []


async def test_the_ui_download_route_takes_an_hf_url_and_answers_at_once(lib_env, make_client, fake_hf, monkeypatch):
    blob = fake_hf.add("someone/queued", "queued.safetensors")
    client = await hf_client(make_client, lib_env, fake_hf, monkeypatch)
    response = await client.post("/api/lm/download-model", json={"hf_url": fake_hf.url(blob), "download_id": "ui-hf"})
    assert response.status == 200
    assert await response.json() == {"success": True, "download_id": "ui-hf"}
    row = await wait_history(client, "ui-hf")
    assert row["status"] == "completed" and row["model_name"] == "someone/queued/queued.safetensors"
    assert (lib_env.loras / "queued.safetensors").read_bytes() == blob.data

    bad = await client.post("/api/lm/download-model", json={"hf_url": "https://example.com/a/b/resolve/main/c.pt"})
    assert bad.status == 400 and "Not a Hugging Face address" in (await bad.json())["error"]


async def test_a_server_restart_mid_download_resumes_from_the_part(lib_env, make_client, fake_hf, monkeypatch):
    from lora_manager.py.services.downloads import manager

    monkeypatch.setattr(manager, "CHUNK_SIZE", 512)  # received bytes reach the .part at once
    blob = fake_hf.add("someone/long", "long.safetensors", n_bytes=60_000)
    fake_hf.cdn_trickle = 2000
    client = await hf_client(make_client, lib_env, fake_hf, monkeypatch)
    response = await client.post("/api/lm/download-model", json={"hf_url": fake_hf.url(blob), "download_id": "hf-r"})
    assert response.status == 200
    await wait_bytes(client, "hf-r", minimum=4000)
    await client.close()  # the server stops mid-download

    target = lib_env.loras / "long.safetensors"
    part = target.with_name(target.name + ".part")
    kept = part.stat().st_size
    assert kept >= 4000 and not target.exists()
    fake_hf.cdn_trickle = None
    again = await make_client(lib_env)  # a new server on the same data dir resumes the queued download
    row = await wait_history(again, "hf-r")
    assert row["status"] == "completed", row
    assert target.read_bytes() == blob.data and not part.exists()
    assert fake_hf.cdn_requests[-1].headers.get("Range") == f"bytes={kept}-"


async def test_hf_shorthand_into_a_chosen_checkpoint_folder(lib_env, make_client, fake_hf, monkeypatch):
    blob = fake_hf.add("someone/big-model", "unet/model.safetensors", revision="main")
    client = await hf_client(make_client, lib_env, fake_hf, monkeypatch)
    response = await client.post("/api/lm/download-hf-model", json={
        "url": "hf://someone/big-model/unet/model.safetensors", "model_type": "checkpoint",
        "relative_path": "flux/unets"})
    assert response.status == 200, await response.text()
    assert (lib_env.checkpoints / "flux" / "unets" / "model.safetensors").read_bytes() == blob.data


async def test_bytes_that_do_not_match_the_stated_sha256_are_quarantined(lib_env, make_client, fake_hf, monkeypatch,
                                                                         snapshot):
    blob = fake_hf.add("someone/broken", "broken.safetensors", n_bytes=5000)
    blob.served = bytes(reversed(blob.data))  # same size, other bytes
    client = await hf_client(make_client, lib_env, fake_hf, monkeypatch)
    response = await client.post("/api/lm/download-hf-model", json={"url": fake_hf.url(blob), "download_id": "bad"})
    body = await response.json()
    assert response.status == 502
    assert body["success"] is False and "sha256 mismatch" in body["error"]
    assert shaped(body, lib_env, fake_hf) == snapshot
    assert files_under(lib_env.loras) == []  # nothing half-written in the library
    quarantined = list((lib_env.data_dir / "quarantine").rglob("*"))
    assert [p for p in quarantined if p.is_file()], "the bad bytes are kept aside for inspection"


@pytest.mark.parametrize("status,expected_http,words", [
    (401, 401, "private or gated; set a Hugging Face token"),
    (404, 404, "has no file"),
    (429, 503, "rate limiting"),
])
async def test_refusals_are_clear_and_leave_nothing(lib_env, make_client, fake_hf, monkeypatch, snapshot, status,
                                                    expected_http, words):
    blob = fake_hf.add("someone/gated", "gated.safetensors", status=status)
    client = await hf_client(make_client, lib_env, fake_hf, monkeypatch)
    response = await client.post("/api/lm/download-hf-model", json={"url": fake_hf.url(blob), "download_id": "r"})
    body = await response.json()
    assert response.status == expected_http
    assert body["success"] is False and words in body["error"]
    assert shaped(body, lib_env, fake_hf) == snapshot
    assert files_under(lib_env.loras) == []
    assert fake_hf.cdn_requests == []
    history = await (await client.get("/api/lm/downloads/history")).json()
    assert [(i["download_id"], i["status"]) for i in history["items"]] == [("r", "failed")]


async def test_a_token_without_access_says_so(lib_env, make_client, fake_hf, monkeypatch):
    blob = fake_hf.add("someone/gated", "gated.safetensors", status=401)
    client = await hf_client(make_client, lib_env, fake_hf, monkeypatch, hf_token=TOKEN)
    body = await (await client.post("/api/lm/download-hf-model", json={"url": fake_hf.url(blob)})).json()
    assert "the token in the settings (hf_token) has no access" in body["error"]
    assert TOKEN not in json.dumps(body)


@pytest.mark.parametrize("payload", [
    {},
    {"url": "http://127.0.0.1:1/someone/x/resolve/main/a.safetensors"},
    {"url": "https://example.com/someone/x/resolve/main/a.safetensors"},
    {"url": "hf://someone/x/../../etc/a.safetensors"},
    {"url": "hf://someone"},
    {"repo": "../x", "filename": "a.safetensors"},
    {"repo": "someone/x", "filename": "a/../../b.safetensors"},
    {"repo": "someone/x"},
    {"url": 7},
    {"url": "hf://someone/x/a.safetensors", "model_type": "vae"},
    {"url": "https://huggingface.co:99999/someone/x/resolve/main/a.safetensors"},
    {"url": "https://huggingface.co:port/someone/x/resolve/main/a.safetensors"},
], ids=["empty", "local-address", "other-host", "traversal", "short", "bad-repo", "bad-filename", "no-filename",
        "not-a-string", "bad-type", "port-out-of-range", "port-not-a-number"])
async def test_bad_requests_are_400(lib_env, make_client, fake_hf, monkeypatch, snapshot, payload):
    client = await hf_client(make_client, lib_env, fake_hf, monkeypatch)
    response = await client.post("/api/lm/download-hf-model", json=payload)
    body = await response.json()
    assert response.status == 400
    assert body["success"] is False and body["error"]
    assert shaped(body, lib_env, fake_hf) == snapshot
    assert fake_hf.hf_requests == []


async def test_a_file_that_is_not_a_model_is_refused(lib_env, make_client, fake_hf, monkeypatch):
    blob = fake_hf.add("someone/x", "run.sh", lfs=False)
    client = await hf_client(make_client, lib_env, fake_hf, monkeypatch)
    response = await client.post("/api/lm/download-hf-model", json={"url": fake_hf.url(blob)})
    assert response.status == 400
    assert "not a lora model file" in (await response.json())["error"]
    assert files_under(lib_env.loras) == []


async def test_the_token_is_masked_by_the_settings_api_and_kept_when_sent_back(lib_env, make_client, fake_hf,
                                                                              monkeypatch):
    client = await hf_client(make_client, lib_env, fake_hf, monkeypatch, hf_token=TOKEN, unknown_key={"kept": 1})
    shown = (await (await client.get("/api/lm/settings")).json())
    text = json.dumps(shown)
    assert TOKEN not in text
    settings = shown.get("settings", shown)
    assert settings["hf_token"] == "*" * (len(TOKEN) - 4) + TOKEN[-4:]
    response = await client.post("/api/lm/settings", json={"hf_token": settings["hf_token"]})
    assert response.status == 200, await response.text()
    saved = json.loads(lib_env.settings_path.read_text())
    assert saved["hf_token"] == TOKEN and saved["unknown_key"] == {"kept": 1}
    response = await client.post("/api/lm/settings", json={"hf_token": ""})
    assert response.status == 200
    assert json.loads(lib_env.settings_path.read_text())["hf_token"] == ""


async def test_a_huggingface_co_address_is_fetched_from_the_configured_address(lib_env, make_client, fake_hf,
                                                                            monkeypatch):
    """Users paste huggingface.co addresses; with a mirror configured (here the fake), the file comes from the
    mirror: the address names the file, never the host that is asked."""
    blob = fake_hf.add("someone/mirror-lora", "mirror_style.safetensors", n_bytes=8_000)
    client = await hf_client(make_client, lib_env, fake_hf, monkeypatch)
    response = await client.post("/api/lm/download-hf-model", json={
        "url": "https://huggingface.co/someone/mirror-lora/resolve/main/mirror_style.safetensors"})
    body = await response.json()
    assert response.status == 200, body
    assert (lib_env.loras / "mirror_style.safetensors").read_bytes() == blob.data
    assert [(r.method, r.path) for r in fake_hf.hf_requests] == [
        ("HEAD", "/someone/mirror-lora/resolve/main/mirror_style.safetensors"),
        ("GET", "/someone/mirror-lora/resolve/main/mirror_style.safetensors")]
