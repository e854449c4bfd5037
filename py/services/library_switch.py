"""Switching the active library while the server runs: a new index database and fresh model services.

Why in place: each library has its own index (``<data-dir>/db/<library>.sqlite``), and the services of a model
type own their in-memory projection of it, so a switch builds new services on the new database, lets them load
it, swaps them in (every area looks services up through the context per call) and only then closes the old
ones. Background scans of the old library are cancelled first; other running jobs (metadata refreshes,
update checks, auto-organize, example images, recipe imports) make the switch answer a clear 409 instead.
Downloads still in flight finish into the folder they were given.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..library.index import LibraryDatabase
from ..settings import SettingsError
from .jobs import JobCancelled

if TYPE_CHECKING:
    from ..app import AppContext

logger = logging.getLogger(__name__)

# Jobs a switch stops: sweeps of the old library's models, redone on the new one anyway.
CANCELLABLE_PREFIXES = ("scan:",)
# Jobs a switch leaves alone: they do not touch the model libraries.
UNAFFECTED_PREFIXES = ("recipes:scan",)


class SwitchError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class SwitchResult:
    active_library: str
    previous_library: str
    switched: bool


def database_path(context: "AppContext", name: str) -> Any:
    from ..app import _slug  # the one naming rule for library databases (create_context uses it too)

    return context.paths.db_dir / f"{_slug(name)}.sqlite"


def library_payloads(context: "AppContext") -> dict[str, dict[str, Any]]:
    """Every configured library as ComfyUI-Lora-Manager's settings page reads it: its stored fields, plus
    ``folder_paths`` (``loras``/``checkpoints``/``embeddings``) derived from the roots when absent."""
    settings = context.settings
    out: dict[str, dict[str, Any]] = {}
    for name, library in settings.libraries.items():
        body = dict(library.to_dict())
        roots = getattr(library, "roots", {}) or {}
        body.setdefault("folder_paths", {"loras": list(roots.get("lora", [])),
                                         "checkpoints": list(roots.get("checkpoint", [])),
                                         "embeddings": list(roots.get("embedding", []))})
        out[name] = body
    return out


class LibrarySwitcher:
    """One per app (held by its routes): a lock makes concurrent switches run one after the other."""

    def __init__(self, context: "AppContext") -> None:
        self.context = context
        self._lock = asyncio.Lock()

    async def activate(self, name: str) -> SwitchResult:
        async with self._lock:
            context = self.context
            previous = context.settings.active_library
            if name not in context.settings.libraries:
                raise SwitchError(f"Library not found: {name}", 404)
            if name == previous:
                return SwitchResult(name, previous, False)
            await self._settle_jobs()
            await self._save_active(name)
            try:
                await self._reload(name)
            except Exception as exc:  # noqa: BLE001 - undo the setting so the file names what is served
                logger.exception("Switching to library %s failed; staying on %s", name, previous)
                await self._save_active(previous)
                raise SwitchError(f"Could not open library {name}: {exc}", 500) from exc
            logger.info("Active library switched from %s to %s", previous, name)
            return SwitchResult(name, previous, True)

    async def _settle_jobs(self) -> None:
        jobs = self.context.jobs
        running = [job for job in jobs.list_jobs() if not job.done and not job.kind.startswith(UNAFFECTED_PREFIXES)]
        blocking = [job for job in running if not job.kind.startswith(CANCELLABLE_PREFIXES)]
        if blocking:
            titles = ", ".join(sorted({job.title or job.kind for job in blocking}))
            raise SwitchError(f"Wait for the running work to finish before switching libraries: {titles}", 409)
        for job in running:
            jobs.cancel(job.id)
        for job in running:
            try:
                await job.wait()
            except (JobCancelled, asyncio.CancelledError):
                pass
            except Exception:  # noqa: BLE001 - a failed sweep of the old library does not matter any more
                logger.debug("Job %s ended with an error while switching libraries", job.id, exc_info=True)

    async def _save_active(self, name: str) -> None:
        try:
            await asyncio.to_thread(self.context.settings_store.update, {"active_library": name})
        except SettingsError as exc:
            raise SwitchError(f"Invalid settings: {exc}", 400) from None
        except OSError as exc:
            raise SwitchError(f"Settings could not be saved: {exc.strerror or exc}",
                              507 if exc.errno == 28 else 500) from None

    async def _reload(self, name: str) -> None:
        context = self.context
        old_database, old_services = context.database, dict(context.services)
        database = LibraryDatabase(database_path(context, name))
        await database.open()
        if database.healed_from is not None:
            logger.warning("The index of library %s was damaged; it was set aside as %s and is rebuilt from disk",
                           name, database.healed_from.name)
        fresh = {t: context.factory.get_service_class(t)(t, context) for t in context.factory.registered_types()}
        context.database = database  # new services build their index on the context's database
        try:
            for service in fresh.values():
                await service.start()
        except BaseException:
            context.database = old_database
            for service in fresh.values():
                await service.close()
            await database.close()
            raise
        context.services.update(fresh)
        for service in old_services.values():
            await service.close()
        await old_database.close()
        metadata = context.components.get("metadata")
        for model_type in fresh:
            if metadata is not None:
                metadata.apply_flags(model_type)
            context.hub.broadcast("fetch-progress", {"type": "models_changed", "model_type": model_type})
