"""Any sequence of rename, move, delete, undo and exclude keeps each model beside its own artifacts, every
byte present exactly once, and the index equal to the disk."""
from __future__ import annotations

import asyncio
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from lora_manager.py.services.lifecycle import LifecycleError

from support.fixtures import LibraryEnv
from support.library import lm_sidecar, write_lora
from support.lifecycle_helpers import assert_index_matches_disk, contents, started_context

NAMES = ["alpha", "beta", "gamma", "Alpha", "delta one"]
FOLDERS = ["", "x", "x/y", "z"]

op = st.one_of(
    st.tuples(st.just("rename"), st.integers(0, 9), st.sampled_from(NAMES)),
    st.tuples(st.just("move"), st.integers(0, 9), st.sampled_from(FOLDERS)),
    st.tuples(st.just("move_resolve"), st.integers(0, 9), st.sampled_from(FOLDERS)),
    st.tuples(st.just("delete"), st.integers(0, 9), st.just("")),
    st.tuples(st.just("undo"), st.integers(0, 9), st.just("")),
    st.tuples(st.just("exclude"), st.integers(0, 9), st.just("")),
)


def build(tmp: Path) -> LibraryEnv:
    env = LibraryEnv(tmp, tmp / "data", tmp / "loras", tmp / "checkpoints", tmp / "embeddings")
    for folder in (env.loras, env.checkpoints, env.embeddings):
        folder.mkdir(parents=True)
    env.write_settings()
    write_lora(env.loras, "alpha.safetensors", sidecar=lm_sidecar("alpha"), preview=".preview.png")
    write_lora(env.loras, "x/beta.safetensors", sidecar=lm_sidecar("beta"), preview=".webp", family="sdxl")
    write_lora(env.loras, "x/y/gamma.safetensors", family="flux")
    return env


async def scenario(env: LibraryEnv, ops: list[tuple[str, int, str]]) -> None:
    context = await started_context(env)
    try:
        service = context.components["lifecycle"]
        before = contents(env.loras, ignore=("exclude", "user_edited_fields"))
        batches: list[str] = []
        for kind, pick, arg in ops:
            records = sorted(context.service("lora").all_records(), key=lambda r: r.file_path)
            try:
                if kind == "undo":
                    if batches:
                        await service.undo_delete(batches.pop(pick % len(batches)))
                    continue
                if not records:
                    continue
                record = records[pick % len(records)]
                if kind == "rename":
                    await service.rename_model("lora", record, arg)
                elif kind in ("move", "move_resolve"):
                    await service.move_model("lora", record, str(env.loras / arg) if arg else str(env.loras),
                                             on_conflict="rename" if kind == "move_resolve" else "refuse")
                elif kind == "delete":
                    batches.append((await service.delete_model("lora", record)).batch_id)
                else:
                    await service.exclude_model("lora", record, not record.exclude)
            except LifecycleError as exc:
                assert exc.status in (404, 409), exc.message
            assert_index_matches_disk(context, "lora", env.loras)
            assert contents(env.loras, ignore=("exclude", "user_edited_fields")) == before
    finally:
        await context.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=1, max_size=8))
def test_lifecycle_sequences_keep_the_invariant(ops):
    tmp = Path(tempfile.mkdtemp(prefix="lm-lifecycle-"))
    try:
        # A loop of its own in a worker thread: independent of any loop the test session has running.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, scenario(build(tmp), ops)).result()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
