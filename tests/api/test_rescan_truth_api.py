"""What a rescan answers after the disk changed under it: rewritten files, hidden folders, removed models, and
the AutoV3 check of the info route. Each test reproduces a way a user would be handed a stale or wrong answer."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from lora_manager.py.library.hashing import hash_file
from support.fixtures import wait_idle
from support.library import lm_sidecar, write_lora


async def listing(client, **params) -> list[dict]:
    response = await client.get("/api/lm/loras/list", params={"page_size": "100", **params})
    assert response.status == 200
    return (await response.json())["items"]


async def rescan(client) -> dict:
    response = await client.get("/api/lm/loras/scan")
    body = await response.json()
    assert response.status == 200 and body["status"] == "success", body
    await wait_idle(client.lm_context)
    return body


def rewrite_in_place(path: Path) -> None:
    """New bytes in the same inode and size, with a later mtime (an editor or a merge tool saving over it)."""
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # the last tensor byte: still a valid safetensors file
    with open(path, "r+b") as handle:
        handle.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 2_000_000_000))
    after = path.stat()
    assert (after.st_ino, after.st_size) == (before.st_ino, before.st_size)


def distinct(root: Path, rel: str, **kwargs) -> Path:
    """A LoRA whose bytes are its own (``write_lora`` files differ only by their metadata)."""
    return write_lora(root, rel, metadata={"ss_output_name": rel}, **kwargs)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_a_model_rewritten_in_place_is_hashed_again(lib_env, make_client):
    path = write_lora(lib_env.loras, "style.safetensors")
    client = await make_client(lib_env)
    [item] = await listing(client)
    old = sha256_of(path)
    assert item["sha256"] == old and item["hash_status"] == "done"
    sidecar = path.with_name("style.metadata.json")
    assert json.loads(sidecar.read_text())["sha256"] == old  # the hash the next read would find

    rewrite_in_place(path)
    body = await rescan(client)
    assert body["updated"] == 1
    [item] = await listing(client)
    new = sha256_of(path)
    assert new != old
    assert item["sha256"] == new and item["hash_status"] == "done"
    assert json.loads(sidecar.read_text())["sha256"] == new
    by_old = await listing(client, hash=old)
    assert by_old == []  # the old bytes are no longer in the library


async def test_a_stale_sidecar_hash_is_cleared_while_the_file_waits_for_its_hash(lib_env, make_client):
    """Lazily hashed checkpoints stay pending: the sidecar must not keep naming the old bytes meanwhile."""
    lib_env.write_settings(hash_checkpoints_lazily=True)
    path = write_lora(lib_env.checkpoints, "base.safetensors")
    stated = sha256_of(path)
    sidecar = path.with_name("base.metadata.json")
    sidecar.write_text(json.dumps(lm_sidecar("base", sha256=stated, notes="keep me")), encoding="utf-8")
    client = await make_client(lib_env)
    [item] = (await (await client.get("/api/lm/checkpoints/list")).json())["items"]
    assert item["sha256"] == stated and item["hash_status"] == "done"

    rewrite_in_place(path)
    assert (await (await client.get("/api/lm/checkpoints/scan")).json())["updated"] == 1
    await wait_idle(client.lm_context)
    [item] = (await (await client.get("/api/lm/checkpoints/list")).json())["items"]
    assert item["sha256"] == "" and item["hash_status"] == "pending"
    kept = json.loads(sidecar.read_text())
    assert kept["sha256"] == "" and kept["notes"] == "keep me"
    found = await client.get("/api/lm/checkpoints/list", params={"hash": stated})
    assert (await found.json())["items"] == []

    hashed = await client.post("/api/lm/checkpoints/compute-hash", json={"file_path": str(path)})
    assert (await hashed.json())["sha256"] == sha256_of(path)
    assert json.loads(sidecar.read_text())["sha256"] == sha256_of(path)


async def test_an_untouched_model_keeps_its_hash_without_reading_it_again(lib_env, make_client):
    path = write_lora(lib_env.loras, "calm.safetensors", sidecar=lm_sidecar("calm", sha256="ab" * 32))
    client = await make_client(lib_env)
    body = await rescan(client)
    assert body["unchanged"] == 1 and body["updated"] == 0
    [item] = await listing(client)
    assert item["sha256"] == "ab" * 32  # the sidecar's hash stands while the file is unchanged
    assert path.exists()


async def test_models_in_hidden_folders_and_trash_are_never_listed(lib_env, make_client):
    loras = lib_env.loras
    distinct(loras, "visible/seen.safetensors")
    distinct(loras, ".hidden/ghost.safetensors")
    distinct(loras, "visible/.cache/cached.safetensors")
    distinct(loras, ".lm-trash/batch1/files/visible/trashed.safetensors")
    client = await make_client(lib_env)
    assert [i["file_name"] for i in await listing(client)] == ["seen"]

    moved = distinct(loras, "visible/later.safetensors")
    await rescan(client)
    assert sorted(i["file_name"] for i in await listing(client)) == ["later", "seen"]
    sha = sha256_of(moved)
    (loras / ".hidden" / "later.safetensors").write_bytes(moved.read_bytes())
    moved.unlink()  # the user moves it into a hidden folder by hand
    await rescan(client)
    assert [i["file_name"] for i in await listing(client)] == ["seen"]
    assert await listing(client, hash=sha) == []
    folders = (await (await client.get("/api/lm/loras/folders")).json())["folders"]
    assert not any(part.startswith(".") for folder in folders for part in folder.split("/"))


async def test_hash_lookups_after_a_remove_answer_nothing(lib_env, make_client):
    keep = distinct(lib_env.loras, "keep.safetensors")
    gone = distinct(lib_env.loras, "sub/gone.safetensors")
    twin = lib_env.loras / "twin" / "gone copy.safetensors"
    twin.parent.mkdir()
    shutil.copyfile(gone, twin)
    client = await make_client(lib_env)
    sha = sha256_of(gone)
    assert sorted(i["file_name"] for i in await listing(client, hash=sha)) == ["gone", "gone copy"]

    gone.unlink()
    await rescan(client)
    assert [i["file_name"] for i in await listing(client, hash=sha)] == ["gone copy"]
    service = client.lm_context.service("lora")
    assert [r.file_name for r in service.find_by_sha256(sha)] == ["gone copy"]
    twin.unlink()
    await rescan(client)
    assert await listing(client, hash=sha) == [] and service.find_by_sha256(sha) == []
    assert [i["file_name"] for i in await listing(client, hash=sha256_of(keep))] == ["keep"]


async def test_info_compares_civitai_short_autov3_with_ours(lib_env, make_client):
    probe = write_lora(lib_env.tmp, "probe.safetensors")
    autov3 = hash_file(probe).autov3
    assert autov3 and len(autov3) == 64
    write_lora(lib_env.loras, "short.safetensors", metadata={"sshs_model_hash": autov3[:12].upper()})
    write_lora(lib_env.loras, "full.safetensors", metadata={"sshs_model_hash": autov3})
    write_lora(lib_env.loras, "prefix.safetensors", metadata={"sshs_model_hash": autov3[:9]})
    write_lora(lib_env.loras, "other.safetensors", metadata={"sshs_model_hash": "0" * 12})
    client = await make_client(lib_env)

    async def matches(stem: str):
        response = await client.get("/api/lm/loras/info",
                                    params={"file_path": str(lib_env.loras / f"{stem}.safetensors")})
        body = await response.json()
        assert response.status == 200, body
        assert body["hashes"]["autov3"] == autov3  # the same tensor bytes in every file
        return body["hashes"]["autov3_matches_sshs"]

    assert await matches("short") is True  # Civitai's 12-character form
    assert await matches("full") is True
    assert await matches("prefix") is False  # 1-9 characters never count as a match
    assert await matches("other") is False
