"""Issue 13, item 4: journals and trash manifests are data, not commands; downloads stay out of hidden folders.

A hostile manifest or journal (written by anything that can write a file) names places outside the library:
undo and replay refuse it, nothing outside moves, and no folder is created outside the roots.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.downloads import add_lora, download_client, wait_history
from support.fake_civitai import fake_civitai  # noqa: F401  (fixture)
from support.library import lm_sidecar, write_lora
from support.snap import scrub


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
async def deleted(lib_env, make_client, tmp_path):
    """A model deleted into the trash, and a folder outside the library with a file an attacker wants moved."""
    model = write_lora(lib_env.loras, "styles/ink.safetensors", sidecar=lm_sidecar("ink", sha256="aa" * 32))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not yours", encoding="utf-8")
    client = await make_client(lib_env)
    resp = await client.post("/api/lm/loras/delete", json={"file_path": str(model)})
    batch = (await resp.json())["batch_id"]
    client.env, client.model, client.outside, client.batch = lib_env, model, outside, batch
    client.manifest = lib_env.loras / ".lm-trash" / batch / "manifest.json"
    return client


def rewrite(manifest: Path, change) -> None:
    data = json.loads(manifest.read_text(encoding="utf-8"))
    change(data)
    manifest.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize("attack", ["trashed_copy_outside", "original_outside", "root_claims_elsewhere",
                                    "dotdot_in_original", "hidden_original", "other_batch"])
async def test_hostile_manifest_is_refused_and_nothing_moves(deleted, attack, snapshot):
    outside, loras = deleted.outside, deleted.env.loras

    def change(data: dict) -> None:
        pair = data["entries"][0]["files"][0]
        if attack == "trashed_copy_outside":  # "restore" /outside/secret.txt into the library
            pair[1] = str(outside / "secret.txt")
        elif attack == "original_outside":  # "restore" the trashed model to a place outside the library
            pair[0] = data["entries"][0]["model"] = str(outside / "planted" / "x.safetensors")
        elif attack == "root_claims_elsewhere":
            data["root"] = str(outside)
            pair[0] = data["entries"][0]["model"] = str(outside / "styles" / "ink.safetensors")
        elif attack == "dotdot_in_original":
            pair[0] = data["entries"][0]["model"] = str(loras / "styles" / ".." / ".." / "outside" / "x")
        elif attack == "hidden_original":
            pair[0] = data["entries"][0]["model"] = str(loras / ".config" / "ink.safetensors")
        elif attack == "other_batch":
            data["batch_id"] = "someone-else"

    rewrite(deleted.manifest, change)
    trash_before = tree(loras / ".lm-trash")
    outside_before = tree(outside)
    resp = await deleted.post("/api/lm/undo-delete", json={"batch_id": deleted.batch})
    answer = await resp.json()
    assert resp.status == 400 and answer["success"] is False and "nothing was moved" in answer["error"]
    assert tree(outside) == outside_before and sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert tree(loras / ".lm-trash") == trash_before
    assert not deleted.model.exists()
    assert scrub(answer, deleted.env.tmp)["error"].startswith(f"Cannot restore batch {deleted.batch}")
    if attack == "trashed_copy_outside":
        answer["error"] = answer["error"].replace(deleted.batch, "<batch>")
        assert scrub(answer, deleted.env.tmp) == snapshot


async def test_untouched_manifest_still_restores(deleted):
    resp = await deleted.post("/api/lm/undo-delete", json={"batch_id": deleted.batch})
    assert resp.status == 200, await resp.json()
    assert deleted.model.exists()


def write_journal(data_dir: Path, name: str, op: dict) -> Path:
    folder = data_dir / "journal"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"op_id": name, "created_at": 1.0, "state": "forward", "data": {}, **op}),
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("attack", ["step_from_outside", "step_to_outside", "batch_folder_outside",
                                    "manifest_outside", "unknown_kind"])
async def test_hostile_journal_is_not_replayed(lib_env, make_client, tmp_path, attack):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not yours", encoding="utf-8")
    model = write_lora(lib_env.loras, "ink.safetensors", sidecar=lm_sidecar("ink", sha256="aa" * 32))
    library_before = tree(lib_env.loras)
    inside = str(lib_env.loras / "moved.safetensors")
    ops = {
        "step_from_outside": {"kind": "relocate", "steps": [[str(outside / "secret.txt"), inside]],
                              "data": {"model_type": "lora", "old": str(outside / "secret.txt"), "new": inside}},
        "step_to_outside": {"kind": "relocate", "steps": [[str(model), str(outside / "stolen.safetensors")]],
                            "data": {"model_type": "lora", "old": str(model),
                                     "new": str(outside / "stolen.safetensors")}},
        "batch_folder_outside": {"kind": "trash", "state": "rollback", "steps": [],
                                 "data": {"batch_id": "b1", "manifests": [], "batch_folders": [str(outside)]}},
        "manifest_outside": {"kind": "trash", "steps": [], "data": {"batch_id": "b2", "batch_folders": [],
                             "manifests": [{"batch_id": "b2", "root": str(outside), "model_type": "lora",
                                            "entries": []}]}},
        "unknown_kind": {"kind": "shell", "steps": [[str(outside / "secret.txt"), inside]]},
    }
    journal = write_journal(lib_env.data_dir, "evil", ops[attack])
    client = await make_client(lib_env)
    assert (outside / "secret.txt").read_text(encoding="utf-8") == "not yours"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert tree(lib_env.loras) == library_before
    assert not journal.exists() and journal.with_suffix(".refused").exists()  # kept for a human, not replayed
    resp = await client.get("/api/lm/loras/list")
    assert [item["file_name"] for item in (await resp.json())["items"]] == ["ink"]


@pytest.mark.parametrize("relative_path", [".lm-trash", "styles/.hidden", "../outside", "./x"])
async def test_download_into_hidden_or_upper_folders_is_refused(lib_env, make_client, fake_civitai,  # noqa: F811
                                                                monkeypatch, relative_path):
    version = add_lora(fake_civitai, "Pixel Style")
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    resp = await client.post("/api/lm/download-model", json={
        "model_version_id": version.id, "relative_path": relative_path, "use_default_paths": False,
        "download_id": "d1"})
    assert resp.status == 200
    row = await wait_history(client, "d1")
    assert row["status"] == "failed" and "hidden folders" in row["error"], row
    assert tree(lib_env.loras) == {} and not (lib_env.tmp / "outside").exists()


async def test_download_of_a_file_that_is_not_a_model_is_refused(lib_env, make_client, fake_civitai,  # noqa: F811
                                                                 monkeypatch):
    model = fake_civitai.add_model("Tricky", versions=[{"files": [{"name": "ink.metadata.json", "n_bytes": 64}]}])
    client = await download_client(make_client, lib_env, fake_civitai, monkeypatch)
    resp = await client.post("/api/lm/download-model", json={"model_version_id": model.versions[0].id,
                                                             "download_id": "d2"})
    assert resp.status == 200
    row = await wait_history(client, "d2")
    assert row["status"] == "failed" and "not a lora model file" in row["error"], row
    assert tree(lib_env.loras) == {}
