"""A Civitai version whose file is a zip ("Archive"), through the real app against the fake Civitai: the zip is
verified, its model files are unpacked next to it with the version's sidecar and their own sha256, listed, and
the zip removed; an unsafe or broken zip is a clear error, the zip is kept and nothing else lands."""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

from support.downloads import add_lora, download_client, stable
from support.fake_civitai import FakeCivitai, fake_civitai, make_safetensors  # noqa: F401  (fixture)
from support.snap import scrub


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def zipped_version(fake: FakeCivitai, members: dict[str, bytes], name: str = "Zipped Style"):
    version = add_lora(fake, name)
    version.files.clear()
    fake.add_file(version, zip_of(members), name="zipped_style.zip", type="Archive", format="Other", primary=True)
    return version


async def download(client, version) -> tuple[int, dict]:
    response = await client.get("/api/lm/download-model-get",
                                params={"model_id": version.model_id, "model_version_id": version.id})
    return response.status, await response.json()


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


async def test_a_zipped_lora_is_unpacked_indexed_and_the_zip_removed(lib_env, make_client, fake_civitai,
                                                                     monkeypatch, snapshot):
    lora = make_safetensors(seed=11, n_bytes=3000)
    version = zipped_version(fake_civitai, {"Zipped/zipped_style.safetensors": lora, "Zipped/readme.txt": b"hi",
                                            "Zipped/preview.jpeg": b"jpeg"})
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    status, body = await download(client, version)
    assert status == 200, body
    assert scrub(stable(body), lib_env.tmp) == snapshot
    folder = lib_env.loras / "SDXL 1.0" / "style"
    target = folder / "zipped_style.safetensors"
    assert body["file_path"] == target.as_posix()
    assert target.read_bytes() == lora
    assert files_under(lib_env.loras) == ["SDXL 1.0/style/zipped_style.metadata.json",
                                          "SDXL 1.0/style/zipped_style.safetensors",
                                          "SDXL 1.0/style/zipped_style.webp"]
    sidecar = json.loads((folder / "zipped_style.metadata.json").read_text())
    assert sidecar["sha256"] == hashlib.sha256(lora).hexdigest()  # the model's own hash, not the zip's
    assert sidecar["civitai"]["id"] == version.id
    listing = await (await client.get("/api/lm/loras/list")).json()
    assert [item["file_name"] for item in listing["items"]] == ["zipped_style"]


async def test_keep_downloaded_archives_keeps_the_zip(lib_env, make_client, fake_civitai, monkeypatch):
    version = zipped_version(fake_civitai, {"a.safetensors": make_safetensors(seed=2)})
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch, keep_downloaded_archives=True)
    status, body = await download(client, version)
    assert status == 200, body
    assert "SDXL 1.0/style/zipped_style.zip" in files_under(lib_env.loras)
    assert "SDXL 1.0/style/a.safetensors" in files_under(lib_env.loras)


async def test_an_unsafe_zip_is_refused_and_kept(lib_env, make_client, fake_civitai, monkeypatch, snapshot):
    version = zipped_version(fake_civitai, {"ok.safetensors": make_safetensors(seed=3),
                                            "../../escape.safetensors": make_safetensors(seed=4)})
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    status, body = await download(client, version)
    assert status == 422
    assert body["success"] is False and "unsafe name" in body["error"] and "kept at" in body["error"]
    assert scrub(stable(body), lib_env.tmp) == snapshot
    assert files_under(lib_env.tmp / "loras") == ["SDXL 1.0/style/zipped_style.zip"]
    assert not list(lib_env.tmp.rglob("escape.safetensors"))
    listing = await (await client.get("/api/lm/loras/list")).json()
    assert listing["items"] == []

    # the kept zip is the same verified download: asking again unpacks it again (and refuses it again)
    status, again = await download(client, version)
    assert status == 422 and "unsafe name" in again["error"]


async def test_a_zip_without_model_files_is_a_clear_error(lib_env, make_client, fake_civitai, monkeypatch):
    version = zipped_version(fake_civitai, {"readme.txt": b"nothing here"})
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    status, body = await download(client, version)
    assert status == 422
    assert "holds no model files" in body["error"]
    assert files_under(lib_env.loras) == ["SDXL 1.0/style/zipped_style.zip"]
