"""Helpers for lifecycle tests: byte-exact pictures of a library and the "model beside its artifacts" invariant."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from lora_manager.py.library.artifacts import ALL_MODEL_EXTENSIONS, COMPANION_SUFFIXES

from support.fixtures import LibraryEnv, wait_idle


PATH_FIELDS = ("file_name", "file_path", "preview_url")


def _content_hash(path: Path, normalize: bool, ignore: tuple[str, ...] = ()) -> str:
    data = path.read_bytes()
    if normalize and path.name.endswith(".metadata.json"):
        try:
            doc = json.loads(data)
            skip = PATH_FIELDS + ignore
            data = json.dumps({k: v for k, v in doc.items() if k not in skip}, sort_keys=True).encode()
        except ValueError:
            pass
    return hashlib.sha256(data).hexdigest()


def digests(*roots: Path, include_hidden: bool = True, normalize: bool = False,
            ignore: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file under the roots, keyed by path relative to the roots' parent. With ``normalize``
    a sidecar's own path fields (which a move rewrites) are left out."""
    found: dict[str, str] = {}
    for root in roots:
        for current, dirs, files in os.walk(root, followlinks=True):
            if not include_hidden:
                dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                path = Path(current) / name
                if name == "manifest.json" and ".lm-trash" in path.parts:
                    continue  # the trash's own bookkeeping, not library content
                found[str(path.relative_to(root.parent))] = _content_hash(path, normalize, ignore)
    return found


def contents(*roots: Path, ignore: tuple[str, ...] = ()) -> list[str]:
    """The multiset of file contents (hashes), sorted: every byte present exactly once, wherever it lives
    (sidecars compared without the path fields a move updates)."""
    return sorted(digests(*roots, normalize=True, ignore=ignore).values())


def visible_models(root: Path) -> set[str]:
    found = set()
    for current, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if os.path.splitext(name)[1].lower() in ALL_MODEL_EXTENSIONS and not name.startswith("."):
                found.add((Path(current) / name).as_posix())
    return found


def orphans(root: Path) -> list[str]:
    """Companion files (sidecar, preview, info) outside the trash with no model of the same stem beside them."""
    lost = []
    for current, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        stems = {os.path.splitext(n)[0] for n in files if os.path.splitext(n)[1].lower() in ALL_MODEL_EXTENSIONS}
        for name in files:
            if os.path.splitext(name)[1].lower() in ALL_MODEL_EXTENSIONS:
                continue
            owner = next((name[: -len(s)] for s in COMPANION_SUFFIXES if name.lower().endswith(s)), None)
            if owner is not None and owner not in stems:
                lost.append(str(Path(current) / name))
    return lost


def assert_index_matches_disk(context: Any, model_type: str, root: Path) -> None:
    indexed = {r.file_path for r in context.service(model_type).all_records()}
    assert indexed == visible_models(root)
    assert orphans(root) == []


async def started_context(env: LibraryEnv) -> Any:
    """A started context, idle; one whose start or first scan fails is closed before the error goes on."""
    context = await asyncio.to_thread(env.context)
    try:
        await context.start()
        await wait_idle(context)
    except BaseException:
        await context.close()
        raise
    return context
