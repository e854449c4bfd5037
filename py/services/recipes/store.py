"""RecipeStore: the recipes folder (image + ``<id>.recipe.json`` per recipe, in subfolders) and its cache.

Why: the JSON files are the truth; the PersistentRecipeCache makes startup one SELECT; every save, edit and
delete is one atomic file write plus one cache row plus one in-memory entry, under one lock, so concurrent
imports, edits and reads never see or leave a half-written recipe. Deletes go to ``.trash/<batch>/`` and can be
undone.
"""
from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ...library.atomic import atomic_write_bytes, atomic_write_json
from ...library.aside import set_aside
from ...library.paths import PathNotAllowed, confine, to_api_path
from .cache import PersistentRecipeCache
from .images import embedded_recipe
from .parsers import ImageReadError, extract_image_metadata
from .query import SORT_KEYS, sort_entries
from .records import (MEDIA_EXTENSIONS, RECIPE_SUFFIX, RecipeEntry, fingerprint, normalise_checkpoint,
                      normalise_lora)

logger = logging.getLogger(__name__)

TRASH_DIR = ".trash"
MANIFEST = "manifest.json"
READ_BATCH = 256
SEARCH_MEMO = 16
MAX_RECIPE_BYTES = 16 * 1024 * 1024


class RecipeNotFound(LookupError):
    pass


class RecipeStoreError(OSError):
    """A write that failed; the message is for the user and nothing was changed."""

    def __init__(self, code: int, message: str):
        super().__init__(code, message)
        self.message = message


@dataclass
class FoundFile:
    json_path: str
    folder: str
    mtime_ns: int
    size: int
    image_path: str


@dataclass
class SweepSummary:
    total: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    healed: int = 0
    problems: list[str] = field(default_factory=list)


def _posix(path: str | os.PathLike[str]) -> str:
    return to_api_path(os.path.abspath(os.fspath(path)))


def recipe_stem(name: str) -> str:
    return name[: -len(RECIPE_SUFFIX)] if name.endswith(RECIPE_SUFFIX) else name


def scan_folder(recipes_dir: Path, cancel: threading.Event | None = None) -> tuple[list[FoundFile], list[str]]:
    """Every ``*.recipe.json`` below the recipes folder (hidden folders skipped), one scandir per folder."""
    found: list[FoundFile] = []
    problems: list[str] = []
    stack = [(str(recipes_dir), "")]
    while stack:
        if cancel is not None and cancel.is_set():
            break
        current, rel = stack.pop()
        try:
            with os.scandir(current) as listing:
                items = list(listing)
        except OSError as exc:
            problems.append(f"{current}: {exc.strerror or exc}")
            continue
        media: dict[str, str] = {}
        recipes: list[os.DirEntry[str]] = []
        for item in items:
            if item.name.startswith("."):
                continue
            try:
                if item.is_dir(follow_symlinks=False):
                    stack.append((item.path, f"{rel}/{item.name}" if rel else item.name))
                    continue
            except OSError:
                continue
            lower = item.name.lower()
            if lower.endswith(RECIPE_SUFFIX):
                recipes.append(item)
            else:
                stem, ext = os.path.splitext(item.name)
                if ext.lower() in MEDIA_EXTENSIONS:
                    media.setdefault(stem, item.path)
        for item in recipes:
            try:
                st = item.stat()
            except OSError as exc:
                problems.append(f"{item.path}: {exc.strerror or exc}")
                continue
            image = media.get(recipe_stem(item.name), "")
            found.append(FoundFile(_posix(item.path), rel, st.st_mtime_ns, st.st_size, _posix(image) if image else ""))
    found.sort(key=lambda f: f.json_path)
    return found, problems


class RecipeFileCorrupt(ValueError):
    pass


def read_recipe_file(path: str) -> dict[str, Any]:
    """The JSON object of a recipe file; RecipeFileCorrupt when it is not one."""
    with open(path, "rb") as handle:
        raw = handle.read(MAX_RECIPE_BYTES + 1)
    if len(raw) > MAX_RECIPE_BYTES:
        raise RecipeFileCorrupt("recipe file is too large")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RecipeFileCorrupt(f"invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise RecipeFileCorrupt("not a JSON object")
    return data


def normalise_recipe(data: dict[str, Any]) -> dict[str, Any]:
    """Known fields typed, unknown ones kept; the fingerprint recomputed from the LoRAs."""
    out = dict(data)
    out["loras"] = [lora for lora in (normalise_lora(x) for x in data.get("loras") or []) if lora is not None] \
        if isinstance(data.get("loras"), list) else []
    if "checkpoint" in data:
        checkpoint = normalise_checkpoint(data.get("checkpoint"))
        if checkpoint is None:
            out.pop("checkpoint", None)
        else:
            out["checkpoint"] = checkpoint
    if not isinstance(out.get("gen_params"), dict):
        out["gen_params"] = {}
    if "tags" in out:
        out["tags"] = [t for t in out.get("tags") or [] if isinstance(t, str)] if isinstance(out.get("tags"), list) else []
    if not isinstance(out.get("title"), str):
        out["title"] = str(out.get("title") or "")
    if not isinstance(out.get("base_model"), str):
        out["base_model"] = ""
    out["fingerprint"] = fingerprint(out["loras"])
    return out


def _resolve_image(found: FoundFile, data: dict[str, Any]) -> str:
    if found.image_path:
        return found.image_path
    stored = data.get("file_path")
    if isinstance(stored, str) and stored and os.path.isfile(stored):
        return _posix(stored)
    return ""


def load_found(found: FoundFile, *, heal: bool = True) -> tuple[RecipeEntry | None, str | None, bool]:
    """(entry, problem, healed) for one recipe file; a corrupt file is rebuilt from its image when it can be."""
    try:
        data = read_recipe_file(found.json_path)
    except FileNotFoundError:
        return None, None, False
    except (OSError, RecipeFileCorrupt) as exc:
        if not heal or isinstance(exc, PermissionError):
            return None, f"{found.json_path}: {exc}", False
        data = heal_from_image(found, str(exc))
        if data is None:
            return None, f"{found.json_path}: {exc} (no embedded recipe to rebuild it from)", False
        try:
            st = os.stat(found.json_path)
            found = FoundFile(found.json_path, found.folder, st.st_mtime_ns, st.st_size, found.image_path)
        except OSError:
            pass
        entry = RecipeEntry(str(data["id"]), found.json_path, _resolve_image(found, data), found.folder, data,
                            found.mtime_ns, found.size)
        return entry, f"{found.json_path}: {exc} (rebuilt from its image)", True
    recipe_id = data.get("id") if isinstance(data.get("id"), str) and data.get("id") else \
        recipe_stem(os.path.basename(found.json_path))
    entry = RecipeEntry(recipe_id, found.json_path, _resolve_image(found, data), found.folder, data,
                        found.mtime_ns, found.size)
    return entry, None, False


def heal_from_image(found: FoundFile, reason: str) -> dict[str, Any] | None:
    """Rebuild a corrupt recipe JSON from the recipe embedded in its image; the bad file is set aside."""
    if not found.image_path:
        return None
    try:
        with open(found.image_path, "rb") as handle:
            embedded = embedded_recipe(extract_image_metadata(handle.read()).text)
    except (OSError, ImageReadError):
        return None
    if embedded is None:
        return None
    stat = os.stat(found.image_path)
    data = normalise_recipe({
        "id": recipe_stem(os.path.basename(found.json_path)),
        "file_path": found.image_path,
        "title": embedded.get("title", ""),
        "modified": time.time(),
        "created_date": stat.st_mtime,
        "base_model": embedded.get("base_model", ""),
        "loras": embedded.get("loras") or [],
        "gen_params": embedded.get("gen_params") or {},
        "tags": embedded.get("tags") or [],
        **({"checkpoint": embedded["checkpoint"]} if isinstance(embedded.get("checkpoint"), dict) else {}),
    })
    try:
        aside = set_aside(found.json_path, "unreadable recipe file")
        atomic_write_json(found.json_path, data)
    except OSError as exc:
        logger.warning("Could not rebuild %s: %s", found.json_path, exc)
        return None
    logger.warning("Recipe file %s was unreadable (%s); set aside as %s and rebuilt from its image",
                   found.json_path, reason, os.path.basename(aside))
    return data


class RecipeStore:
    """The recipes of one folder, in memory, in the cache and on disk. Mutations run under one lock."""

    def __init__(self, recipes_dir: Path, cache_path: Path):
        self.recipes_dir = Path(recipes_dir)
        self.cache = PersistentRecipeCache(cache_path)
        self.entries: dict[str, RecipeEntry] = {}
        self.version = 0
        self.problems: list[str] = []
        self._orders: dict[str, tuple[int, list[RecipeEntry]]] = {}
        self._searches: dict[tuple[int, str, tuple[str, ...]], set[int] | None] = {}  # paging repeats a search
        self._lock = asyncio.Lock()
        self._opened = False
        self._complete = False

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def root(self) -> str:
        return _posix(self.recipes_dir)

    @property
    def index_ready(self) -> bool:
        """True once the FTS index covers the whole folder (a full sweep finished)."""
        return self._opened and self._complete

    async def open(self) -> int:
        """Warm start from the cache (healing a corrupt one); returns the number of recipes served."""
        def load() -> list[RecipeEntry]:
            # the folder is made by the first recipe saved, not here: it may be inside the user's LoRA root
            if self.recipes_dir.exists() and not self.recipes_dir.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "The recipes folder is a file", str(self.recipes_dir))
            self.cache.open(self.root)
            try:
                rows = self.cache.load()
            except Exception as exc:  # noqa: BLE001 - damage found only when reading: heal and start empty
                self.cache.heal(str(exc))
                rows = []
            return [row.to_entry() for row in rows]

        entries = await asyncio.to_thread(load)
        self.entries = {e.id: e for e in entries}
        self._complete = await asyncio.to_thread(lambda: self.cache.complete)
        self._bump()
        self._opened = True
        return len(self.entries)

    async def close(self) -> None:
        await asyncio.to_thread(self.cache.close)

    async def _cache_write(self, fn: Callable[..., Any], *args: Any) -> None:
        """A cache write; a cache found damaged now is set aside and refilled from memory (the files agree
        with memory, so nothing is lost), then the write is repeated once."""
        try:
            await asyncio.to_thread(fn, *args)
            return
        except sqlite3.DatabaseError as exc:
            reason = str(exc)

        def heal() -> None:
            self.cache.heal(reason)
            self.cache.upsert(list(self.entries.values()))
            self.cache.mark_complete(self._complete)

        await asyncio.to_thread(heal)
        await asyncio.to_thread(fn, *args)

    def _bump(self) -> None:
        self.version += 1
        self._orders.clear()

    # -- reads -------------------------------------------------------------------------------------
    def get(self, recipe_id: str) -> RecipeEntry | None:
        return self.entries.get(recipe_id)

    def require(self, recipe_id: str) -> RecipeEntry:
        entry = self.entries.get(recipe_id)
        if entry is None:
            raise RecipeNotFound("Recipe not found")
        return entry

    def all(self) -> list[RecipeEntry]:
        return list(self.entries.values())

    def ordered(self, key: str) -> list[RecipeEntry]:
        """Entries ascending by a sort key, kept until the next change (a list request does no sorting)."""
        cached = self._orders.get(key)
        if cached is not None and cached[0] == self.version:
            return cached[1]
        order = sort_entries(self.entries.values(), key if key in SORT_KEYS else "date")
        self._orders[key] = (self.version, order)
        return order

    async def search_rows(self, text: str, fields: Iterable[str]) -> set[int] | None:
        """FTS answer for a search as cache row ids (``RecipeEntry.rowid``); None when the text has no word.

        Raises LookupError while the index is still building.
        """
        if not self.index_ready:
            raise LookupError("search index is building")
        chosen = tuple(sorted(set(fields)))
        key = (self.version, text, chosen)
        if key in self._searches:
            return self._searches[key]
        rows = await asyncio.to_thread(self.cache.search, text, chosen)
        if self._searches and next(iter(self._searches))[0] != self.version:
            self._searches.clear()
        if len(self._searches) >= SEARCH_MEMO:
            self._searches.pop(next(iter(self._searches)))
        self._searches[key] = rows
        return rows

    async def search_ids(self, text: str, fields: Iterable[str]) -> set[str] | None:
        rows = await self.search_rows(text, fields)
        if rows is None:
            return None
        return {e.id for e in self.entries.values() if e.rowid in rows}

    # -- sweep -------------------------------------------------------------------------------------
    async def sweep(self, cancel: threading.Event | None = None,
                    report: Callable[[int, int], None] | None = None) -> SweepSummary:
        """Bring memory and cache in line with the folder: only new or changed files are read."""
        summary = SweepSummary()
        found, problems = await asyncio.to_thread(scan_folder, self.recipes_dir, cancel)
        summary.problems.extend(problems)
        summary.total = len(found)
        by_path = {e.json_path: e for e in self.entries.values()}
        changed = [f for f in found if (old := by_path.get(f.json_path)) is None
                   or (old.mtime_ns, old.size, old.image_path, old.folder) != (f.mtime_ns, f.size, f.image_path, f.folder)]
        done = 0
        for start in range(0, len(changed), READ_BATCH):
            if cancel is not None and cancel.is_set():
                return summary
            batch = changed[start:start + READ_BATCH]
            results = await asyncio.to_thread(lambda b=batch: [load_found(f) for f in b])
            async with self._lock:
                stats = await asyncio.to_thread(_stats, [f.json_path for f in batch])
                fresh: list[RecipeEntry] = []
                batch_ids: dict[str, RecipeEntry] = {}
                for found_file, (entry, problem, healed) in zip(batch, results):
                    if problem:
                        summary.problems.append(problem)
                    summary.healed += healed
                    if entry is None:
                        continue
                    if not healed and stats.get(found_file.json_path) != (found_file.mtime_ns, found_file.size):
                        continue  # changed again while reading: the file was rewritten under the lock, keep that
                    other = batch_ids.get(entry.id) or self.entries.get(entry.id)
                    if other is not None and other.json_path != entry.json_path and os.path.exists(other.json_path):
                        summary.problems.append(f"{entry.json_path}: duplicate recipe id {entry.id} (kept {other.json_path})")
                        continue
                    if other is None:
                        summary.added += 1
                    else:
                        summary.updated += 1
                    fresh.append(entry)
                    batch_ids[entry.id] = entry
                if fresh:
                    await self._cache_write(self.cache.upsert, fresh)
                    for entry in fresh:
                        self.entries[entry.id] = entry
                    self._bump()
            done += len(batch)
            if report is not None:
                report(done, len(changed))
        seen = {f.json_path for f in found}
        candidates = [e for e in self.entries.values() if e.json_path not in seen]
        if candidates and not (cancel is not None and cancel.is_set()):
            async with self._lock:
                gone = await asyncio.to_thread(
                    lambda: [e.id for e in candidates if not os.path.exists(e.json_path)])
                gone = [i for i in gone if i in self.entries and self.entries[i].json_path not in seen]
                if gone:
                    await self._cache_write(self.cache.delete, gone)
                    for recipe_id in gone:
                        self.entries.pop(recipe_id, None)
                    self._bump()
                    summary.removed = len(gone)
        if not (cancel is not None and cancel.is_set()):
            await self._cache_write(self.cache.mark_complete, True)
            self._complete = True
        self.problems = summary.problems[-200:]
        return summary

    async def rebuild(self) -> SweepSummary:
        """Forget the cache and read every recipe file again."""
        async with self._lock:
            await asyncio.to_thread(self.cache.clear)
            self.entries = {}
            self._complete = False
            self._bump()
        return await self.sweep()

    # -- writes ------------------------------------------------------------------------------------
    def _folder_path(self, folder: str) -> Path:
        folder = (folder or "").strip().strip("/")
        if not folder:
            return self.recipes_dir
        if any(part in ("", ".", "..") or part.startswith(".") for part in folder.split("/")) or "\\" in folder:
            raise PathNotAllowed(f"Invalid recipe folder: {folder}")
        target = self.recipes_dir / folder
        confine(target, [self.recipes_dir])
        return target

    async def add(self, recipe: dict[str, Any], media: bytes, extension: str, folder: str = "") -> RecipeEntry:
        """Write a new recipe (media first, then its JSON); on failure neither file is left behind."""
        target_dir = self._folder_path(folder)
        ext = extension.lower() if extension.startswith(".") else "." + extension.lower()
        if ext not in MEDIA_EXTENSIONS:
            raise ValueError(f"Unsupported image type: {extension}")
        data = normalise_recipe(recipe)
        recipe_id = data.get("id") if isinstance(data.get("id"), str) and data.get("id") else str(uuid.uuid4())
        if "/" in recipe_id or "\\" in recipe_id or recipe_id.startswith("."):
            recipe_id = str(uuid.uuid4())
        async with self._lock:
            if recipe_id in self.entries:
                recipe_id = str(uuid.uuid4())
            image_path = target_dir / f"{recipe_id}{ext}"
            json_path = target_dir / f"{recipe_id}{RECIPE_SUFFIX}"
            now = time.time()
            data["id"] = recipe_id
            data["file_path"] = _posix(image_path)
            data.setdefault("created_date", now)
            data["modified"] = now

            def write() -> tuple[int, int]:
                target_dir.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(image_path, media)
                try:
                    atomic_write_json(json_path, data)
                except BaseException:
                    _unlink_quietly(image_path)
                    raise
                st = os.stat(json_path)
                return st.st_mtime_ns, st.st_size

            mtime_ns, size = await asyncio.to_thread(_write_or_explain, write)
            entry = RecipeEntry(recipe_id, _posix(json_path), _posix(image_path), self._rel(target_dir), data,
                                mtime_ns, size)
            await self._commit([entry])
        return entry

    async def update(self, recipe_id: str, changes: dict[str, Any]) -> RecipeEntry:
        """Merge ``changes`` into the recipe file (re-read from disk first: the file is the truth)."""
        async with self._lock:
            entry = self.require(recipe_id)

            def write() -> tuple[dict[str, Any], int, int]:
                try:
                    current = read_recipe_file(entry.json_path)
                except (OSError, RecipeFileCorrupt):
                    current = dict(entry.data)
                merged = normalise_recipe({**current, **changes})
                merged["id"] = recipe_id
                merged["modified"] = time.time()
                atomic_write_json(entry.json_path, merged)
                st = os.stat(entry.json_path)
                return merged, st.st_mtime_ns, st.st_size

            data, mtime_ns, size = await asyncio.to_thread(_write_or_explain, write)
            fresh = RecipeEntry(recipe_id, entry.json_path, entry.image_path, entry.folder, data, mtime_ns, size)
            await self._commit([fresh])
        return fresh

    async def _commit(self, entries: list[RecipeEntry]) -> None:
        await self._cache_write(self.cache.upsert, entries)
        for entry in entries:
            self.entries[entry.id] = entry
        self._bump()

    def _rel(self, folder: Path) -> str:
        rel = os.path.relpath(folder, self.recipes_dir)
        return "" if rel == "." else rel.replace(os.sep, "/")

    async def delete(self, recipe_ids: list[str]) -> tuple[str, list[str]]:
        """Move the recipes' files to ``.trash/<batch>/`` (with a manifest for undo); returns (batch, ids)."""
        batch_id = uuid.uuid4().hex
        async with self._lock:
            entries = [self.require(i) for i in dict.fromkeys(recipe_ids)]
            trash = self.recipes_dir / TRASH_DIR / batch_id

            def move() -> list[dict[str, Any]]:
                trash.mkdir(parents=True, exist_ok=True)
                items = []
                for entry in entries:
                    item: dict[str, Any] = {"id": entry.id, "folder": entry.folder, "files": []}
                    for n, source in enumerate(p for p in (entry.json_path, entry.image_path) if p):
                        if not os.path.exists(source):
                            continue
                        staged = trash / f"{n}-{entry.id}-{os.path.basename(source)}"
                        os.replace(source, staged)
                        item["files"].append({"from": source, "to": str(staged)})
                    items.append(item)
                atomic_write_json(trash / MANIFEST, {"batch_id": batch_id, "deleted_at": time.time(), "items": items})
                return items

            await asyncio.to_thread(_write_or_explain, move)
            ids = [e.id for e in entries]
            await self._cache_write(self.cache.delete, ids)
            for recipe_id in ids:
                self.entries.pop(recipe_id, None)
            self._bump()
        return batch_id, ids

    async def undo_delete(self, batch_id: str) -> list[str]:
        """Put a deleted batch back (never over a file that exists now); returns the restored ids."""
        if not batch_id or not all(c.isalnum() for c in batch_id):
            raise RecipeNotFound("No deleted recipes with that batch id")
        trash = self.recipes_dir / TRASH_DIR / batch_id
        async with self._lock:
            def restore() -> list[FoundFile]:
                try:
                    manifest = json.loads((trash / MANIFEST).read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    raise RecipeNotFound("No deleted recipes with that batch id") from exc
                restored: list[FoundFile] = []
                for item in manifest.get("items", []):
                    files = item.get("files", [])
                    if any(os.path.exists(f["from"]) for f in files):
                        logger.warning("Not restoring recipe %s: a file is back in its place", item.get("id"))
                        continue
                    for f in files:
                        os.makedirs(os.path.dirname(f["from"]), exist_ok=True)
                        os.replace(f["to"], f["from"])
                    json_file = next((f["from"] for f in files if f["from"].endswith(RECIPE_SUFFIX)), None)
                    if json_file:
                        st = os.stat(json_file)
                        image = next((f["from"] for f in files if not f["from"].endswith(RECIPE_SUFFIX)), "")
                        restored.append(FoundFile(_posix(json_file), item.get("folder", ""), st.st_mtime_ns,
                                                  st.st_size, _posix(image) if image else ""))
                shutil.rmtree(trash, ignore_errors=True)
                return restored

            found = await asyncio.to_thread(restore)
            loaded = await asyncio.to_thread(lambda: [load_found(f)[0] for f in found])
            entries = [e for e in loaded if e is not None]
            await self._commit(entries)
        return [e.id for e in entries]

    async def purge_trash(self, older_than_days: int) -> int:
        """Remove deleted batches older than the retention period."""
        limit = time.time() - older_than_days * 86400

        def purge() -> int:
            root = self.recipes_dir / TRASH_DIR
            removed = 0
            if not root.is_dir():
                return 0
            for batch in root.iterdir():
                try:
                    if batch.is_dir() and batch.stat().st_mtime < limit:
                        shutil.rmtree(batch, ignore_errors=True)
                        removed += 1
                except OSError:
                    continue
            return removed

        return await asyncio.to_thread(purge)


def _stats(paths: list[str]) -> dict[str, tuple[int, int]]:
    out = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        out[path] = (st.st_mtime_ns, st.st_size)
    return out


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _write_or_explain(fn: Callable[[], Any]) -> Any:
    """Run a file write; OS errors become RecipeStoreError with a message a user understands."""
    try:
        return fn()
    except RecipeNotFound:
        raise
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            message = "The disk is full: the recipe was not saved"
        elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            message = f"Permission denied writing to the recipes folder: {exc.filename or exc}"
        else:
            message = f"Could not write the recipe: {exc.strerror or exc}"
        raise RecipeStoreError(exc.errno or 0, message) from exc
