"""The per-type routes answer for checkpoints and embeddings as they do for LoRAs: one library of each type, the
same reads and the same edits, moves and deletes, each checked against what the disk and the index then hold."""
from __future__ import annotations

import json
import shutil

import pytest

from support.library import lm_sidecar, write_lora
from support.lifecycle_helpers import assert_index_matches_disk
from support.snap import scrub

TYPES = [("loras", "lora"), ("checkpoints", "checkpoint"), ("embeddings", "embedding")]


def root_of(env, model_type: str):
    return {"lora": env.loras, "checkpoint": env.checkpoints, "embedding": env.embeddings}[model_type]


@pytest.fixture(params=TYPES, ids=[page for page, _ in TYPES])
async def typed(request, lib_env, make_client):
    """``styles/alpha`` (a sidecar with notes, tags, Civitai ids), its byte-for-byte copy ``other/alpha`` and a
    bare ``gamma``, in the root of the type under test."""
    page, model_type = request.param
    lib_env.write_settings(hash_checkpoints_lazily=False)
    root = root_of(lib_env, model_type)
    alpha = write_lora(root, "styles/alpha.safetensors", metadata={"ss_output_name": "alpha"},
                       sidecar=lm_sidecar("alpha", notes="keep at 0.7", tags=["style", "ink"]))
    copy = root / "other" / "alpha.safetensors"
    copy.parent.mkdir()
    shutil.copyfile(alpha, copy)
    write_lora(root, "gamma.safetensors", metadata={"ss_output_name": "gamma"})
    (root / "empty").mkdir()
    client = await make_client(lib_env)
    client.page, client.model_type, client.root, client.env = page, model_type, root, lib_env
    return client


async def answer(client, method: str, route: str, body=None, **params):
    url = f"/api/lm/{client.page}/{route}"
    response = await (client.post(url, json=body) if method == "post" else client.get(url, params=params))
    data = await response.json()
    assert response.status == 200, (route, data)
    return data


async def test_reads_answer_for_every_type(typed, snapshot):
    root, page = typed.root, typed.page
    alpha = str(root / "styles" / "alpha.safetensors")
    listing = await answer(typed, "get", "list", sort_by="name")
    assert [i["file_name"] for i in listing["items"]] == ["alpha", "alpha", "gamma"]
    assert {i["sub_type"] for i in listing["items"]} == {
        "lora": {"lora"}, "checkpoint": {"checkpoint"}, "embedding": {"embedding"}}[typed.model_type]
    reads = {
        "base-models": await answer(typed, "get", "base-models"),
        "top-tags": await answer(typed, "get", "top-tags"),
        "search-tags": await answer(typed, "get", "search-tags", q="in"),
        "folders": await answer(typed, "get", "folders"),
        "folder-tree": await answer(typed, "get", "folder-tree"),
        "unified-folder-tree": await answer(typed, "get", "unified-folder-tree"),
        "roots": await answer(typed, "get", "roots"),
        "relative-paths": await answer(typed, "get", "relative-paths", search="alp"),
        "letter-counts": await answer(typed, "get", "letter-counts"),
        "get-notes": await answer(typed, "get", "get-notes", file_path=alpha),
        "get-trigger-words": await answer(typed, "get", "get-trigger-words", file_path=alpha),
        "civitai-url": await answer(typed, "get", "civitai-url", file_path=alpha),
        "preview-url": await answer(typed, "get", "preview-url", file_path=alpha),
        "model-description": await answer(typed, "get", "model-description", file_path=alpha),
        "find-duplicates": await answer(typed, "get", "find-duplicates"),
        "find-filename-conflicts": await answer(typed, "get", "find-filename-conflicts"),
        "excluded": await answer(typed, "get", "excluded"),
    }
    assert reads["folders"]["folders"] == ["", "empty", "other", "styles"]
    assert reads["get-notes"]["notes"] == "keep at 0.7"
    assert reads["get-trigger-words"]["trigger_words"] == ["trigger"]
    assert reads["top-tags"]["tags"][:2] == [{"tag": "ink", "count": 1}, {"tag": "style", "count": 1}]
    assert reads["find-duplicates"]["count"] == 1 and reads["find-filename-conflicts"]["count"] == 1
    assert reads["civitai-url"]["model_id"] == 100
    metadata = await answer(typed, "get", "metadata", file_path=alpha)
    assert metadata["metadata"]["notes"] == "keep at 0.7"
    info = await answer(typed, "get", "info", file_path=alpha)
    assert info["model_type"] == typed.model_type and info["hashes"]["status"] == "done"
    by_name = await typed.get(f"/api/lm/{page}/info/alpha")
    assert by_name.status == 200 and (await by_name.json())["file_name"] == "alpha"
    assert scrub(reads, typed.env.tmp) == snapshot


async def test_edits_moves_and_deletes_for_every_type(typed, snapshot):
    root, model_type = typed.root, typed.model_type
    context = typed.lm_context
    gamma = str(root / "gamma.safetensors")
    saved = await answer(typed, "post", "save-metadata", {"file_path": gamma, "notes": "edited"})
    assert saved["success"] is True
    assert json.loads((root / "gamma.metadata.json").read_text())["notes"] == "edited"
    tagged = await answer(typed, "post", "add-tags", {"file_path": gamma, "tags": ["new tag"]})
    assert tagged["success"] is True and "new tag" in context.service(model_type).resolve(gamma).tags

    await answer(typed, "post", "exclude", {"file_path": gamma})
    assert [i["file_name"] for i in (await answer(typed, "get", "excluded"))["items"]] == ["gamma"]
    assert "gamma" not in [i["file_name"] for i in (await answer(typed, "get", "list"))["items"]]
    await answer(typed, "post", "unexclude", {"file_path": gamma})
    assert (await answer(typed, "get", "excluded"))["items"] == []

    hashed = await answer(typed, "post", "compute-hash", {"file_path": gamma})
    assert hashed["hash_status"] == "done" and len(hashed["sha256"]) == 64
    assert hashed == snapshot(name="compute-hash")

    renamed = await answer(typed, "post", "rename", {"file_path": gamma, "new_file_name": "delta"})
    assert renamed["success"] is True and (root / "delta.safetensors").is_file() and not (root / gamma).exists()
    delta = str(root / "delta.safetensors")
    await answer(typed, "post", "move_model", {"file_path": delta, "target_path": str(root / "empty")})
    assert (root / "empty" / "delta.safetensors").is_file() and (root / "empty" / "delta.metadata.json").is_file()
    bulk = await answer(typed, "post", "move_models_bulk", {
        "file_paths": [str(root / "empty" / "delta.safetensors"), str(root / "other" / "alpha.safetensors")],
        "target_path": str(root / "styles"), "on_conflict": "rename"})
    assert all(r["success"] for r in bulk["results"]), bulk
    assert sorted(p.name for p in (root / "styles").glob("*.safetensors")) == [
        "alpha.safetensors", "alpha_1.safetensors", "delta.safetensors"]
    assert_index_matches_disk(context, model_type, root)

    dupes = await answer(typed, "post", "verify-duplicates", {
        "file_paths": [str(root / "styles" / "alpha.safetensors"), str(root / "styles" / "alpha_1.safetensors")]})
    assert dupes["success"] is True

    deleted = await answer(typed, "post", "bulk-delete", {
        "file_paths": [str(root / "styles" / "alpha_1.safetensors"), str(root / "styles" / "delta.safetensors")]})
    assert not (root / "styles" / "delta.safetensors").exists()
    assert [i["file_name"] for i in (await answer(typed, "get", "list"))["items"]] == ["alpha"]
    restored = await typed.post("/api/lm/undo-delete", json={"batch_id": deleted["batch_id"]})
    assert restored.status == 200, await restored.json()
    assert (root / "styles" / "delta.safetensors").is_file()
    assert_index_matches_disk(context, model_type, root)

    plan = await answer(typed, "post", "auto-organize", {"dry_run": True})
    assert plan["success"] is True
    assert sorted(p.name for p in (root / "styles").glob("*.safetensors")) == [
        "alpha.safetensors", "alpha_1.safetensors", "delta.safetensors"]  # a dry run moves nothing
