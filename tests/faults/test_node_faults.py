"""Node failure paths: full disk, permission denied, vanished LoRA files, corrupt usage statistics."""
from __future__ import annotations

import asyncio
import errno
import os
import sqlite3

import numpy as np
import pytest

from lora_manager.py.nodes import runtime
from lora_manager.py.nodes.lora_loader import LoraLoaderLM
from lora_manager.py.nodes.resolve import NodeInputError
from lora_manager.py.nodes.save_image import SaveImageLM
from lora_manager.py.nodes.usage import UsageService, usage_key
from support.comfy_stubs import FakeModel, comfy_stubs, node_context  # noqa: F401 - fixtures
from support.fixtures import wait_idle
from support.node_library import build_node_library

IMAGE = np.zeros((1, 8, 8, 3), dtype="float32")
GRAPH = {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15_base.safetensors"}},
         "10": {"class_type": "LoraLoaderLM", "inputs": {"model": ["4", 0], "text": "<lora:plain:1>"}},
         "3": {"class_type": "KSampler", "inputs": {"model": ["10", 0], "positive": "p", "negative": "n",
                                                     "latent_image": None, "seed": 1, "steps": 2, "cfg": 3.0,
                                                     "sampler_name": "euler", "scheduler": "normal"}}}


@pytest.fixture(autouse=True)
def _files(lib_env):
    build_node_library(lib_env.loras, lib_env.checkpoints)


def failing_fsync(monkeypatch, error):
    def fsync(_fd):
        raise error

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("error, text", [(OSError(errno.ENOSPC, "No space left on device"), "No space left"),
                                         (PermissionError(errno.EACCES, "Permission denied"), "Permission denied")])
async def test_save_failure_is_clear_and_leaves_nothing_behind(node_context, comfy_stubs, monkeypatch, error, text):
    node = SaveImageLM()
    await asyncio.to_thread(node.save_images, images=IMAGE, prompt=GRAPH, filename_prefix="keep", add_counter=False)
    before = (comfy_stubs.output_dir / "keep.png").read_bytes()
    failing_fsync(monkeypatch, error)
    with pytest.raises(OSError, match=f"Could not save .*keep.png: {text}"):
        await asyncio.to_thread(node.save_images, images=IMAGE + 1, prompt=GRAPH, filename_prefix="keep",
                                add_counter=False)
    assert sorted(p.name for p in comfy_stubs.output_dir.iterdir()) == ["keep.png"]
    assert (comfy_stubs.output_dir / "keep.png").read_bytes() == before


async def test_recipe_failure_leaves_no_half_recipe(node_context, comfy_stubs, monkeypatch):
    calls = {"n": 0}
    real = os.fsync

    def fsync(fd):  # the image and the recipe image succeed, the recipe JSON hits a full disk
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError, match=r"(Could not save .*\.recipe\.json: No space left|disk is full)"):
        await asyncio.to_thread(SaveImageLM().save_images, images=IMAGE, prompt=GRAPH, save_as_recipe=True)
    recipes = node_context.recipes_dir
    assert not recipes.exists() or list(recipes.iterdir()) == []


async def test_output_folder_that_cannot_be_created(node_context, comfy_stubs):
    (comfy_stubs.output_dir / "file").write_text("x")
    with pytest.raises(OSError, match="Could not create the output folder"):
        await asyncio.to_thread(SaveImageLM().save_images, images=IMAGE, prompt=GRAPH, filename_prefix="file/x")


async def test_vanished_lora_file_is_a_clear_error(lib_env, node_context, comfy_stubs):
    (lib_env.loras / "plain.safetensors").unlink()
    with pytest.raises(NodeInputError, match="LoRA file cannot be read: .*plain.safetensors"):
        await asyncio.to_thread(LoraLoaderLM().load_loras, model=FakeModel("m"), text="<lora:plain:1>")


async def test_corrupt_usage_database_is_set_aside_and_counts_come_back_from_the_index(lib_env, node_context,
                                                                                               closer):
    usage = node_context.components["usage"]
    loras = node_context.service("lora")
    record = next(r for r in loras.all_records() if r.file_name == "plain")
    assert (await usage.record([("lora", record.file_path), ("lora", "/nope")])) == {record.file_path: 1}
    await usage.close()
    assert await usage.record([("lora", record.file_path)]) == {}  # closed: ignored, no crash
    db = lib_env.data_dir / "db" / "usage.sqlite"
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    fresh = closer(UsageService(node_context))
    await fresh.start()
    assert fresh.store.healed_from is not None and fresh.store.healed_from.exists()
    assert (await asyncio.to_thread(fresh.store.counts)) == {usage_key(record): 1}
    assert (await fresh.record([("lora", record.file_path)])) == {record.file_path: 2}
    await fresh.close()
    node_context.components["usage"] = fresh


async def test_lost_index_counts_are_restored_from_the_usage_database(lib_env, node_context):
    usage = node_context.components["usage"]
    loras = node_context.service("lora")
    record = next(r for r in loras.all_records() if r.file_name == "detail_tweaker")
    await usage.record([("lora", record.file_path)])
    await usage.record([("lora", record.file_path)])
    await loras.index.put(loras.index.get(record.file_path).evolve(usage_count=0))  # e.g. a rebuilt index
    assert await usage.reconcile() == 1
    assert loras.index.get(record.file_path).usage_count == 2
    with sqlite3.connect(lib_env.data_dir / "db" / "usage.sqlite") as conn:
        assert conn.execute("SELECT count FROM usage").fetchall() == [(2,)]


async def test_submit_without_a_loop_drops_the_work_quietly(node_context):
    async def work():
        raise AssertionError("must not run")

    runtime.bind(node_context, None)
    assert runtime.submit(work()) is None
    loop = asyncio.new_event_loop()
    loop.close()
    runtime.bind(node_context, loop)
    assert runtime.submit(work()) is None
    runtime.bind(node_context, asyncio.get_running_loop())

    async def boom():
        raise RuntimeError("failed on the loop")

    future = runtime.submit(boom())
    for _ in range(50):
        if future.done():
            break
        await asyncio.sleep(0.01)
    assert isinstance(future.exception(), RuntimeError)
    await wait_idle(node_context)
