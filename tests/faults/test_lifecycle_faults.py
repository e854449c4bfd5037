"""Lifecycle failure paths: cross-filesystem moves, full disks, permissions, vanished files, crashes mid-way.

Each test asserts the clear error and that every byte of every artifact is still present exactly once.
"""
from __future__ import annotations

import asyncio
import errno
import json
import os

import pytest

from lora_manager.py.library import fileops
from lora_manager.py.library import sidecar as sidecar_module
from lora_manager.py.services.lifecycle import LifecycleError

from support.library import lm_sidecar, write_lora
from support.lifecycle_helpers import assert_index_matches_disk, contents, digests, started_context


class Crash(BaseException):
    """Stands for the process dying between two steps (no handler runs)."""


@pytest.fixture
async def ctx(lib_env, closer):
    loras = lib_env.loras
    write_lora(loras, "a/model.safetensors", sidecar=lm_sidecar("model", sha256="ab" * 32), preview=".preview.png")
    (loras / "a/model.civitai.info").write_text('{"id": 1}', encoding="utf-8")
    write_lora(loras, "b/other.safetensors", sidecar=lm_sidecar("other"))
    (loras / "target").mkdir()
    context = closer(await started_context(lib_env))
    context.env = lib_env
    context.closer = closer  # contexts started again by ``restart`` are closed with it
    return context


def lifecycle(context):
    return context.components["lifecycle"]


def record(context, rel):
    return context.service("lora").resolve(str(context.env.loras / rel))


def no_partials(root):
    return [p for p in root.rglob("*") if fileops.PARTIAL_MARK in p.name]


async def test_cross_filesystem_move_copies_verifies_and_deletes(ctx, monkeypatch):
    before = contents(ctx.env.loras)
    real_rename = os.rename
    calls = {"n": 0}

    def rename(src, dst):
        if "lm-partial" not in str(src) and "/target/" in str(dst):
            calls["n"] += 1
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    result = await lifecycle(ctx).move_model("lora", record(ctx, "a/model.safetensors"), str(ctx.env.loras / "target"))
    assert calls["n"] == 4  # every artifact went the copy way
    assert result.new_path.endswith("/target/model.safetensors")
    assert contents(ctx.env.loras) == before
    assert no_partials(ctx.env.loras) == []
    assert_index_matches_disk(ctx, "lora", ctx.env.loras)


async def test_disk_full_during_cross_filesystem_move_keeps_source(ctx, monkeypatch):
    before = digests(ctx.env.loras)
    real_rename, real_copy = os.rename, fileops.copy_file_data

    def rename(src, dst):
        if os.path.dirname(str(src)) != os.path.dirname(str(dst)) and "lm-partial" not in str(src) \
                and "/journal" not in str(dst):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_rename(src, dst)

    def copy(src, dst):
        if src.endswith(".metadata.json"):
            with open(dst, "wb") as handle:
                handle.write(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_copy(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(fileops, "copy_file_data", copy)
    with pytest.raises(LifecycleError) as caught:
        await lifecycle(ctx).move_model("lora", record(ctx, "a/model.safetensors"), str(ctx.env.loras / "target"))
    assert caught.value.status == 507 and "disk is full" in caught.value.message
    assert digests(ctx.env.loras) == before
    assert no_partials(ctx.env.loras) == []
    assert list((ctx.env.loras / "target").iterdir()) == []
    assert list((ctx.env.data_dir / "journal").glob("*.json")) == []


async def test_permission_denied_mid_rename_rolls_back(ctx, monkeypatch):
    before = digests(ctx.env.loras)
    real_rename = os.rename

    def rename(src, dst):
        if str(src).endswith(".metadata.json") and "renamed" in str(dst):
            raise PermissionError(errno.EACCES, "Permission denied", dst)
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(LifecycleError) as caught:
        await lifecycle(ctx).rename_model("lora", record(ctx, "a/model.safetensors"), "renamed")
    assert caught.value.status == 403 and "permission denied" in caught.value.message
    assert digests(ctx.env.loras) == before
    assert_index_matches_disk(ctx, "lora", ctx.env.loras)


async def test_metadata_write_disk_full_changes_nothing(ctx, monkeypatch):
    before = digests(ctx.env.loras)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sidecar_module, "atomic_write_text", full)
    target = record(ctx, "a/model.safetensors")
    for call in (lambda: lifecycle(ctx).exclude_model("lora", target),
                 lambda: lifecycle(ctx).add_tags("lora", target, ["x"])):
        with pytest.raises(LifecycleError) as caught:
            await call()
        assert caught.value.status == 507
    assert digests(ctx.env.loras) == before
    assert record(ctx, "a/model.safetensors").exclude is False and record(ctx, "a/model.safetensors").tags == ["style"]


async def test_vanished_model_file(ctx):
    target = record(ctx, "a/model.safetensors")
    (ctx.env.loras / "a/model.safetensors").unlink()
    before = contents(ctx.env.loras)
    for call in (lambda: lifecycle(ctx).rename_model("lora", target, "x"),
                 lambda: lifecycle(ctx).delete_model("lora", target)):
        with pytest.raises(LifecycleError) as caught:
            await call()
        assert caught.value.status == 404
    assert contents(ctx.env.loras) == before  # the companions stay where they were
    assert ctx.service("lora").index.get(target.file_path) is None


async def test_file_vanishing_between_plan_and_move_rolls_back(ctx, monkeypatch):
    real_move = fileops.move_file
    calls = {"n": 0}

    def move(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:
            os.unlink(src)  # another program deletes it right now
        return real_move(src, dst)

    monkeypatch.setattr(fileops, "move_file", move)
    with pytest.raises(LifecycleError) as caught:
        await lifecycle(ctx).move_model("lora", record(ctx, "a/model.safetensors"), str(ctx.env.loras / "target"))
    assert caught.value.status == 404
    assert (ctx.env.loras / "a/model.safetensors").is_file()
    assert list((ctx.env.loras / "target").iterdir()) == []


async def restart(context):
    """The process dies and starts again: a fresh context on the same library, closed when the test ends."""
    await context.close()
    fresh = context.closer(await started_context(context.env))
    fresh.env, fresh.closer = context.env, context.closer
    return fresh


async def test_crash_mid_move_is_finished_on_next_start(ctx, monkeypatch):
    before = contents(ctx.env.loras)
    real_move = fileops.move_file
    calls = {"n": 0}

    def move(src, dst):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash()
        return real_move(src, dst)

    monkeypatch.setattr(fileops, "move_file", move)
    with pytest.raises(Crash):
        await lifecycle(ctx).move_model("lora", record(ctx, "a/model.safetensors"), str(ctx.env.loras / "target"))
    assert len(list((ctx.env.data_dir / "journal").glob("*.json"))) == 1
    assert (ctx.env.loras / "target/model.civitai.info").exists() and (ctx.env.loras / "a/model.safetensors").exists()
    monkeypatch.setattr(fileops, "move_file", real_move)
    fresh = await restart(ctx)
    try:
        assert sorted(p.name for p in (ctx.env.loras / "target").iterdir()) == [
            "model.civitai.info", "model.metadata.json", "model.preview.png", "model.safetensors"]
        assert not (ctx.env.loras / "a").exists() or list((ctx.env.loras / "a").iterdir()) == []
        assert contents(ctx.env.loras) == before
        assert list((ctx.env.data_dir / "journal").glob("*.json")) == []
        assert_index_matches_disk(fresh, "lora", ctx.env.loras)
        sidecar = json.loads((ctx.env.loras / "target/model.metadata.json").read_text())
        assert sidecar["file_path"].endswith("/target/model.safetensors")
    finally:
        await fresh.close()


async def test_crash_mid_delete_and_mid_undo(ctx, monkeypatch):
    before = contents(ctx.env.loras)
    real_move = fileops.move_file
    state = {"n": 0, "at": 2}

    def move(src, dst):
        state["n"] += 1
        if state["n"] == state["at"]:
            raise Crash()
        return real_move(src, dst)

    monkeypatch.setattr(fileops, "move_file", move)
    with pytest.raises(Crash):
        await lifecycle(ctx).delete_model("lora", record(ctx, "a/model.safetensors"))
    monkeypatch.setattr(fileops, "move_file", real_move)
    fresh = await restart(ctx)
    try:
        assert_index_matches_disk(fresh, "lora", ctx.env.loras)
        assert contents(ctx.env.loras) == before
        batch = next((ctx.env.loras / ".lm-trash").iterdir()).name
        state.update(n=0, at=3)
        monkeypatch.setattr(fileops, "move_file", move)
        with pytest.raises(Crash):
            await lifecycle(fresh).undo_delete(batch)
        monkeypatch.setattr(fileops, "move_file", real_move)
        again = await restart(fresh)
    finally:
        await fresh.close()
    try:
        assert sorted(p.name for p in (ctx.env.loras / "a").iterdir()) == [
            "model.civitai.info", "model.metadata.json", "model.preview.png", "model.safetensors"]
        assert not (ctx.env.loras / ".lm-trash").exists()
        assert contents(ctx.env.loras) == before
        assert_index_matches_disk(again, "lora", ctx.env.loras)
    finally:
        await again.close()


async def test_crash_during_rollback_finishes_rollback(ctx, monkeypatch):
    before = digests(ctx.env.loras)
    real_move = fileops.move_file
    state = {"n": 0}

    def move(src, dst):
        state["n"] += 1
        if state["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        if state["n"] == 4:  # the first rollback step
            raise Crash()
        return real_move(src, dst)

    monkeypatch.setattr(fileops, "move_file", move)
    with pytest.raises(Crash):
        await lifecycle(ctx).rename_model("lora", record(ctx, "a/model.safetensors"), "renamed")
    monkeypatch.setattr(fileops, "move_file", real_move)
    fresh = await restart(ctx)
    try:
        assert digests(ctx.env.loras) == before
        assert_index_matches_disk(fresh, "lora", ctx.env.loras)
    finally:
        await fresh.close()


async def test_replay_keeps_both_when_ends_differ(ctx):
    from lora_manager.py.library.artifacts import Move
    from lora_manager.py.library.journal import Operation
    a = ctx.env.loras / "b/x.txt"
    b = ctx.env.loras / "b/y.txt"
    a.write_text("one")
    b.write_text("two")
    op = Operation("relocate", [Move(str(a), str(b))], {"model_type": "lora", "old": str(a), "new": str(b)})
    lifecycle(ctx).journal.write(op)
    await lifecycle(ctx).recover()
    assert a.read_text() == "one" and b.read_text() == "two"


async def test_unreadable_journal_is_set_aside(ctx):
    folder = ctx.env.data_dir / "journal"
    folder.mkdir(exist_ok=True)
    (folder / "bad.json").write_text("{not json")
    assert await lifecycle(ctx).recover() == 0
    assert (folder / "bad.unreadable").is_file()


async def test_concurrent_edits_are_serialised(ctx):
    service = lifecycle(ctx)
    target = record(ctx, "a/model.safetensors")
    await asyncio.gather(*(service.add_tags("lora", target, [f"t{i}"]) for i in range(8)))
    data = json.loads((ctx.env.loras / "a/model.metadata.json").read_text())
    assert sorted(data["tags"]) == sorted(["style"] + [f"t{i}" for i in range(8)])
    results = await asyncio.gather(service.rename_model("lora", target, "renamed"),
                                   service.exclude_model("lora", target), return_exceptions=True)
    assert results[0].new_path.endswith("renamed.safetensors")
    assert isinstance(results[1], LifecycleError) and results[1].status == 404
    assert not (ctx.env.loras / "a/model.metadata.json").exists()  # no orphan sidecar was written
    assert_index_matches_disk(ctx, "lora", ctx.env.loras)


async def test_trash_is_purged_only_after_retention(ctx):
    import time
    service = lifecycle(ctx)
    result = await service.delete_model("lora", record(ctx, "b/other.safetensors"))
    assert await service.purge_trash() == []
    assert await service.purge_trash(now=time.time() + 6 * 86400) == []
    removed = await service.purge_trash(now=time.time() + 8 * 86400)
    assert len(removed) == 1 and not (ctx.env.loras / ".lm-trash").exists()
    with pytest.raises(LifecycleError) as caught:
        await service.undo_delete(result.batch_id)
    assert caught.value.status == 404


async def test_sha256_target_and_path_listener(ctx):
    service = lifecycle(ctx)
    seen = []

    async def listener(change):
        seen.append(change)

    service.path_listeners.append(listener)
    service.path_listeners.append(lambda change: 1 / 0)  # a failing listener does not undo the move
    target = service.target_from_payload("lora", {"sha256": "AB" * 32})
    result = await service.rename_model("lora", target, "by hash")
    assert seen and seen[0].old_path == target.file_path and seen[0].new_path == result.new_path
    assert seen[0].sha256 == "ab" * 32


async def test_delete_disk_full_keeps_everything_and_no_batch(ctx, monkeypatch):
    before = digests(ctx.env.loras)
    real_move = fileops.move_file
    state = {"n": 0}

    def move(src, dst):
        state["n"] += 1
        if state["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_move(src, dst)

    monkeypatch.setattr(fileops, "move_file", move)
    with pytest.raises(LifecycleError) as caught:
        await lifecycle(ctx).delete_model("lora", record(ctx, "a/model.safetensors"))
    assert caught.value.status == 507
    assert digests(ctx.env.loras) == before
    assert not (ctx.env.loras / ".lm-trash").exists()
    assert list((ctx.env.data_dir / "journal").glob("*.json")) == []


async def test_bulk_delete_reports_vanished_models_per_item(ctx):
    service = lifecycle(ctx)
    gone = record(ctx, "b/other.safetensors")
    (ctx.env.loras / "b/other.safetensors").unlink()
    result = await service.bulk_delete_models("lora", [record(ctx, "a/model.safetensors"), gone])
    assert [f["status"] for f in result.failed] == ["404"]
    assert len(result.deleted_files) == 4
    again = await service.bulk_delete_models("lora", [gone])
    assert again.failed and "not found" in again.failed[0]["error"]
    (ctx.env.loras / ".lm-trash" / result.batch_id / "files/a/model.civitai.info").unlink()
    restored = await service.undo_delete(result.batch_id)
    assert restored["missing_files"] and (ctx.env.loras / "a/model.safetensors").is_file()


async def test_unknown_type_and_not_ready(ctx):
    service = lifecycle(ctx)
    with pytest.raises(LifecycleError) as caught:
        service.model_service("hypernetwork")
    assert caught.value.status == 404
    ctx.service("lora").ready.clear()
    with pytest.raises(LifecycleError) as caught:
        service.model_service("lora")
    assert caught.value.status == 503
    ctx.service("lora").ready.set()
    for payload in ({}, {"file_path": "  "}):
        with pytest.raises(LifecycleError):
            service.target_from_payload("lora", payload)


async def test_corrupt_sidecar_is_set_aside_before_an_edit(ctx):
    path = ctx.env.loras / "b/other.metadata.json"
    path.write_text("{broken", encoding="utf-8")
    await lifecycle(ctx).add_tags("lora", record(ctx, "b/other.safetensors"), ["kept"])
    assert json.loads(path.read_text())["tags"] == ["style", "kept"]
    aside = list((ctx.env.loras / "b").glob("other.metadata.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == "{broken"


async def test_preview_edge_cases(ctx):
    service = lifecycle(ctx)
    target = record(ctx, "b/other.safetensors")
    with pytest.raises(LifecycleError):
        await service.replace_preview("lora", target, b"")
    updated = await service.replace_preview("lora", target, b"\x1a\x45\xdf\xa3" + b"\x00" * 32, filename="c.webm")
    assert updated.preview_path.endswith("other.webm")
    with pytest.raises(LifecycleError) as caught:
        await service.replace_preview("lora", target, b"\x00" * 32, content_type="video/quicktime")
    assert "MP4 or WebM" in caught.value.message
    (ctx.env.loras / "b/other.safetensors").unlink()
    (ctx.env.loras / "b/other.webm").unlink()
    with pytest.raises(LifecycleError) as caught:
        await service.replace_preview("lora", target, b"\x1a\x45\xdf\xa3", filename="c.webm")
    assert caught.value.status == 404


async def test_organize_reports_conflicts_and_cleans_only_empty_folders(ctx):
    service = lifecycle(ctx)
    write_lora(ctx.env.loras, "SD 1.5/style/other.safetensors")  # the place "other" belongs is taken
    (ctx.env.loras / "b/notes.txt").write_text("keep me")
    await ctx.service("lora").reindex_paths([str(ctx.env.loras / "SD 1.5/style/other.safetensors")])
    body = await service.auto_organize("lora", [str(ctx.env.loras / "a/model.safetensors"),
                                                 str(ctx.env.loras / "b/other.safetensors")])
    assert body["summary"]["success"] == 1 and body["summary"]["failures"] == 1
    assert [r["success"] for r in body["results"]] == [True, False]
    assert not (ctx.env.loras / "a").exists() and (ctx.env.loras / "b/notes.txt").is_file()
    assert_index_matches_disk(ctx, "lora", ctx.env.loras)
    skipped = await service.auto_organize("lora", None, exclusion_patterns=["*.safetensors"], dry_run=True)
    assert skipped["planned"] == [] and skipped["summary"]["skipped"] == 2 + 1


async def test_organize_cancel_stops_between_models(ctx, monkeypatch):
    service = lifecycle(ctx)
    for i in range(3):
        write_lora(ctx.env.loras, f"c/m{i}.safetensors")
    await ctx.service("lora").reindex_paths([str(ctx.env.loras / f"c/m{i}.safetensors") for i in range(3)])
    real = service._relocate

    async def relocate(*args, **kwargs):
        result = await real(*args, **kwargs)
        for job in ctx.jobs.list_jobs("auto-organize"):
            ctx.jobs.cancel(job.id)
        return result

    monkeypatch.setattr(service, "_relocate", relocate)
    body = await service.auto_organize("lora")
    assert body["status"] == "cancelled" and body["summary"]["success"] == 1
    assert service.last_organize.status == "cancelled"
    assert_index_matches_disk(ctx, "lora", ctx.env.loras)


async def test_verify_duplicates_updates_a_stale_hash_and_reports_unreadable(ctx):
    service = lifecycle(ctx)
    a = record(ctx, "a/model.safetensors")
    b = record(ctx, "b/other.safetensors")
    (ctx.env.loras / "b/other.safetensors").unlink()
    result = await service.verify_duplicates("lora", [a, b])
    assert result["verified_as_duplicates"] is False and result["unreadable"]
    assert record(ctx, "a/model.safetensors").sha256 == result["new_hash_map"][a.file_path] != "ab" * 32


async def test_move_with_default_paths_and_bad_targets(ctx):
    service = lifecycle(ctx)
    result = await service.move_model("lora", record(ctx, "b/other.safetensors"), str(ctx.env.loras / "target"),
                                      use_default_paths=True)
    assert result.new_path.endswith("/target/SD 1.5/style/other.safetensors")
    (ctx.env.loras / "afile").write_text("x")
    for target, status in ((str(ctx.env.loras / "afile"), 400), ("", 400)):
        with pytest.raises(LifecycleError) as caught:
            await service.move_model("lora", record(ctx, "a/model.safetensors"), target)
        assert caught.value.status == status
    with pytest.raises(LifecycleError):
        await service.move_model("lora", record(ctx, "a/model.safetensors"), "target", on_conflict="overwrite")
