"""ExampleImagesService: a model's Civitai example images, kept on disk beside the library.

Why: users look at a LoRA's examples and reuse their prompts offline. The image URLs are already in each
sidecar's ``civitai.images``; this area fetches the missing ones (through the shared resilient HTTP, so rate
limits, ``Retry-After`` and the circuit breaker apply), stores them as ``<root>/<sha256>/image_<n>.<ext>``
atomically and never over an existing file, and reports a bulk run as a cancellable job with
``example_images_progress`` frames. After a model download it can fetch that model's images on its own.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterable, Mapping

from ...library.kinds import CORE_KINDS
from ...library.media import sniff_media
from ...library.paths import PathNotAllowed
from ...library.sidecar import SidecarError, read_sidecar, sidecar_path_for
from ..events import FETCH_PROGRESS
from ..jobs import Job, JobConflict, JobContext
from ..model_service import ModelNotFound
from ..remote.clients import remote_clients
from ..remote.errors import ErrorKind, RemoteError, classify_os_error
from ..remote.resilience import ResilientHttp
from . import media
from .paths import (
    ExampleFile,
    FolderOutsideRoot,
    InvalidSha256,
    folder_is_confined,
    image_name,
    list_folder,
    model_folder,
    normalize_sha256,
    present_indexes,
    store_new_file,
)
from .progress import FAILED, SKIPPED, ExampleProgress, ImageFailure, ModelOutcome, ModelTarget
from .transfer import MAX_MEDIA_BYTES, fetch_media

if TYPE_CHECKING:
    from ...app import AppContext

logger = logging.getLogger(__name__)

COMPONENT = "example_images"
KIND = "example_images"
AUTO_KIND = "example_images:auto"
SNAPSHOT_KEY = "example_images"
NOT_CONFIGURED = "Set example_images_path in settings first"
BUSY = "Download already in progress"
FATAL_KINDS = (ErrorKind.DISK_FULL, ErrorKind.PERMISSION)


class ExampleImagesError(Exception):
    """A request this area refuses; ``status`` is the HTTP status a route answers with."""

    def __init__(self, message: str, status: int = 400, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.extra = extra


class StorageFailure(Exception):
    """The disk refused a write (full, read-only, no permission): every further image would fail too."""

    def __init__(self, error: RemoteError) -> None:
        super().__init__(error.message)
        self.error = error


class ExampleImagesService:
    """Registered as ``context.components["example_images"]``."""

    def __init__(self, context: "AppContext") -> None:
        self.context = context
        self.frame_interval = 0.1  # seconds between progress frames of a bulk run (failures are sent at once)
        self.max_media_bytes = MAX_MEDIA_BYTES
        self._remote = remote_clients(context)
        self._http: ResilientHttp | None = None
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # per model folder: the lock and its users
        self._progress: ExampleProgress | None = None
        self._hooks: list[Any] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Ask the download manager to tell us about finished downloads (when it offers that)."""
        hooks = getattr(self.context.components.get("downloads"), "after_download", None)
        if isinstance(hooks, list):
            if self.on_model_downloaded not in hooks:
                hooks.append(self.on_model_downloaded)
            self._hooks = hooks
        else:
            logger.debug("The download manager has no after_download hooks; automatic example images are off")

    async def close(self) -> None:
        if self._hooks is not None:
            try:
                self._hooks.remove(self.on_model_downloaded)
            except ValueError:
                pass
            self._hooks = None

    # -- remote ----------------------------------------------------------------------------------
    def set_http(self, http: ResilientHttp) -> None:
        """Fetch through ``http`` instead of the app's shared one (e.g. with a test clock)."""
        self._http = http

    def http(self) -> ResilientHttp:
        return self._http if self._http is not None else self._remote.http

    # -- configuration ---------------------------------------------------------------------------
    def root(self) -> Path:
        """The example images folder from the settings; ``ExampleImagesError`` (400) when none is set."""
        raw = (self.context.settings.example_images_path or "").strip()
        if not raw:
            raise ExampleImagesError(NOT_CONFIGURED, 400)
        path = Path(raw).expanduser()
        if not path.is_absolute():
            raise ExampleImagesError("example_images_path must be an absolute path", 400)
        return path

    # -- listing ---------------------------------------------------------------------------------
    async def list_for_model(self, sha256: str) -> list[ExampleFile]:
        """The stored files of one model (``InvalidSha256`` for a malformed hash; [] when there are none)."""
        root = self.root()
        folder = model_folder(root, sha256)

        def scan() -> list[ExampleFile]:
            if folder.exists() and not folder_is_confined(root, folder):
                logger.warning("Example images folder %s leads outside %s; not listed", folder, root)
                return []
            return list_folder(folder)

        return await asyncio.to_thread(scan)

    # -- bulk run --------------------------------------------------------------------------------
    def default_types(self) -> list[str]:
        """The kinds a run covers when the client names none: the ones the route accepts by name (LoRAs,
        checkpoints, embeddings); example images of VAEs, ControlNets... are not fetched yet."""
        return [t for t in self.context.services if t in CORE_KINDS]

    def resolve_targets(self, model_types: Iterable[str] | None, file_paths: Iterable[str] | None) -> list[ModelTarget]:
        """The models a run covers: every model of the types, or the given files (confined to their roots)."""
        types = list(dict.fromkeys(model_types)) if model_types is not None else self.default_types()
        services = []
        for model_type in types:
            service = self.context.services.get(model_type)
            if service is None:
                raise ExampleImagesError(f"Unknown model type: {model_type}", 400)
            if not service.ready.is_set() or service.index is None:
                raise ExampleImagesError(f"The {service.page_type} library is still loading", 503)
            services.append(service)
        records = []
        if file_paths is None:
            for service in services:
                records += sorted(service.all_records(), key=lambda r: r.file_path)
        else:
            for raw in dict.fromkeys(file_paths):
                record, known_root = None, False
                for service in services:
                    try:
                        record = service.resolve(raw)
                        break
                    except PathNotAllowed:
                        continue
                    except ModelNotFound:
                        known_root = True
                if record is None:
                    if known_root:
                        raise ExampleImagesError(f"Model not found: {raw}", 404)
                    raise ExampleImagesError(f"Path is outside the library roots: {raw}", 403)
                records.append(record)
        seen: set[str] = set()
        targets = []
        for record in records:
            if record.file_path not in seen:
                seen.add(record.file_path)
                targets.append(ModelTarget(record.model_type, record.file_path, record.display_name, record.sha256))
        return targets

    def download_for_models(self, model_types: Iterable[str] | str | None, file_paths: Iterable[str] | None, *,
                            optimize: bool) -> Job[Any]:
        """Start the bulk run as an exclusive, cancellable job; returns at once."""
        self.root()
        if isinstance(model_types, str):
            model_types = [model_types]
        targets = self.resolve_targets(model_types, file_paths)
        progress = ExampleProgress(total=len(targets), optimize=optimize,
                                   model_types=sorted({t.model_type for t in targets}) if file_paths is not None
                                   else list(dict.fromkeys(model_types or self.default_types())))
        try:
            job = self.context.jobs.start(KIND, lambda ctx: self._run_bulk(ctx, targets, progress, optimize),
                                          title="Download example images", exclusive=True)
        except JobConflict as exc:
            raise ExampleImagesError(BUSY, 409, job_id=exc.job.id if exc.job else None) from None
        progress.job_id = job.id
        self._progress = progress
        return job

    def status(self) -> dict[str, Any]:
        """The current or last bulk run."""
        self.root()
        progress = self._progress
        if progress is None:
            return {"success": True, "is_downloading": False, "status": ExampleProgress(status="idle").to_dict()}
        job = self.context.jobs.get(progress.job_id)
        running = job is not None and not job.done
        return {"success": True, "is_downloading": running, "status": progress.to_dict()}

    def cancel(self) -> str:
        """Ask the running bulk job to stop after the image in flight; returns its id."""
        self.root()
        progress = self._progress
        job = self.context.jobs.get(progress.job_id) if progress is not None else None
        if progress is None or job is None or job.done or not self.context.jobs.cancel(job.id):
            raise ExampleImagesError("No example image download is running", 404)
        if job.done and progress.status == "queued":  # cancelled before it started: it never sends a frame
            progress.status = "cancelled"
            progress.message = progress.summary_message()
            self._publish(progress, final=True)
        return job.id

    async def _run_bulk(self, job: JobContext, targets: list[ModelTarget], progress: ExampleProgress,
                        optimize: bool) -> dict[str, Any]:
        progress.status = "running"
        last_frame = time.monotonic()
        self._publish(progress)
        try:
            root = self.root()
            for target in targets:
                if job.cancelled:
                    break
                progress.current_model = target.label
                outcome = await self.download_model(target, optimize=optimize, root=root, cancel=job.cancel_event)
                if outcome.cancelled:
                    break
                progress.add(outcome)
                job.report(progress.processed, progress.total, success=progress.success,
                           failures=progress.failures, skipped=progress.skipped)
                now = time.monotonic()
                if outcome.status == FAILED or now - last_frame >= self.frame_interval:
                    last_frame = now
                    self._publish(progress)
        except asyncio.CancelledError:
            progress.status = "cancelled"
            progress.message = progress.summary_message()
            self._publish(progress, final=True)
            raise
        except (StorageFailure, ExampleImagesError) as exc:
            self._stop(progress, exc.error.message if isinstance(exc, StorageFailure) else exc.message)
            raise RuntimeError(progress.message) from exc
        except Exception as exc:
            self._stop(progress, f"Unexpected error: {type(exc).__name__}: {exc}")
            raise
        progress.status = "cancelled" if job.cancelled else "completed"
        progress.current_model = ""
        progress.message = progress.summary_message()
        self._publish(progress, final=True)
        return progress.to_dict()

    def _stop(self, progress: ExampleProgress, message: str) -> None:
        progress.status = "error"
        progress.error = message
        progress.message = f"Stopped: {message}"
        progress.record_error({"model": progress.current_model, "error": message})
        self._publish(progress, final=True)

    def _publish(self, progress: ExampleProgress, *, final: bool = False) -> None:
        hub = self.context.hub
        try:
            if final:
                hub.clear_snapshot(FETCH_PROGRESS, SNAPSHOT_KEY)
                hub.broadcast(FETCH_PROGRESS, progress.frame())
            else:
                hub.broadcast(FETCH_PROGRESS, progress.frame(), snapshot_key=SNAPSHOT_KEY)
        except Exception:  # noqa: BLE001 - a broken hub must not stop the downloads
            logger.exception("could not publish example image progress")

    # -- one model -------------------------------------------------------------------------------
    async def download_model(self, target: ModelTarget, *, optimize: bool, root: Path | None = None,
                             cancel: threading.Event | None = None) -> ModelOutcome:
        """Fetch the images of one model that are not on disk yet. A failed image is recorded and the rest
        continue; a refused disk write raises ``StorageFailure`` (nothing partial is left behind)."""
        root = root if root is not None else self.root()
        outcome = ModelOutcome(target)
        try:
            sha256 = normalize_sha256(target.sha256)
        except InvalidSha256:
            outcome.status, outcome.message = SKIPPED, "The model has no SHA256 hash yet"
            return outcome
        images = target.images
        if images is None:
            images = await asyncio.to_thread(sidecar_images, target.file_path)
        if not images:
            outcome.status = SKIPPED
            outcome.message = "No example images in its Civitai metadata (refresh the metadata first)"
            return outcome
        folder = model_folder(root, sha256)
        async with self._folder_lock(sha256):
            present = await asyncio.to_thread(lambda: present_indexes(f.name for f in list_folder(folder)))
            for index, image in enumerate(images):
                if cancel is not None and cancel.is_set():
                    outcome.cancelled = True
                    break
                if index in present:
                    outcome.present += 1
                    continue
                await self._one_image(outcome, root, folder, index, image, optimize)
        return outcome.finish()

    @contextlib.asynccontextmanager
    async def _folder_lock(self, sha256: str) -> AsyncIterator[None]:
        """One writer per model folder (a bulk run and an after-download run may meet); the lock is
        forgotten when its last user leaves, so a large library does not keep one per model."""
        lock, users = self._locks.get(sha256, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[sha256] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[sha256]
            if users <= 1:
                del self._locks[sha256]
            else:
                self._locks[sha256] = (lock, users - 1)

    async def _one_image(self, outcome: ModelOutcome, root: Path, folder: Path, index: int, image: Any,
                         optimize: bool) -> None:
        url = image.get("url") if isinstance(image, Mapping) else None
        if not isinstance(url, str) or not url.strip():
            outcome.failures.append(ImageFailure(index, "", "The image has no URL", ErrorKind.MALFORMED.value))
            return
        try:
            fetched = await fetch_media(self.http(), url.strip(), max_bytes=self.max_media_bytes)
        except RemoteError as exc:
            logger.warning("Example image %d of %s not downloaded: %s", index, outcome.target.label, exc.message)
            outcome.failures.append(ImageFailure(index, url, exc.message, exc.kind.value))
            return
        extension = sniff_media(fetched.data)
        if extension is None:
            declared = fetched.content_type or "no content type"
            outcome.failures.append(ImageFailure(index, url, f"Not an image or video ({declared})",
                                                 ErrorKind.MALFORMED.value))
            return
        data = fetched.data
        if optimize and media.is_still_extension(extension):
            try:
                data, extension = await asyncio.to_thread(media.optimize, data, extension)
            except ValueError as exc:
                outcome.failures.append(ImageFailure(index, url, f"Not a usable image: {exc}",
                                                     ErrorKind.MALFORMED.value))
                return
        name = image_name(index, extension)
        try:
            wrote = await asyncio.to_thread(store_new_file, root, folder, name, data)
        except FolderOutsideRoot as exc:
            outcome.failures.append(ImageFailure(index, url, str(exc), ErrorKind.PERMISSION.value))
            return
        except OSError as exc:
            error = classify_os_error(exc, f"save example image {name}")
            if error.kind in FATAL_KINDS:
                raise StorageFailure(error) from exc
            outcome.failures.append(ImageFailure(index, url, error.message, error.kind.value))
            return
        if wrote:
            outcome.downloaded.append(name)
        else:
            outcome.present += 1

    # -- after a model download ------------------------------------------------------------------
    async def on_model_downloaded(self, info: Mapping[str, Any]) -> None:
        """The download manager's hook: with ``download_example_images`` on, fetch that model's images in a
        background job (the download's answer does not wait for it)."""
        settings = self.context.settings
        if not settings.download_example_images or not (settings.example_images_path or "").strip():
            return
        target = target_from_download(info, self.context)
        if target is None:
            return
        try:
            self.context.jobs.start(AUTO_KIND, lambda ctx: self._run_auto(ctx, target),
                                    title=f"Download example images of {target.name}")
        except RuntimeError as exc:  # the job manager is shutting down
            logger.debug("Example images of %s not scheduled: %s", target.name, exc)

    async def _run_auto(self, job: JobContext, target: ModelTarget) -> dict[str, Any]:
        try:
            outcome = await self.download_model(target, optimize=False, cancel=job.cancel_event)
        except StorageFailure as exc:
            raise RuntimeError(exc.error.message) from exc
        job.report(1, 1, status=outcome.status, downloaded=len(outcome.downloaded), failed=len(outcome.failures))
        if outcome.failures:
            logger.warning("Example images of %s: %s", target.label, outcome.message)
        return outcome.to_dict()


def sidecar_images(model_path: str) -> list[Any]:
    """``civitai.images`` of a model's sidecar; [] when there is no sidecar or it cannot be read."""
    try:
        raw = read_sidecar(sidecar_path_for(model_path))
    except FileNotFoundError:
        return []
    except (OSError, SidecarError) as exc:
        logger.warning("Example images of %s: sidecar not readable (%s)", model_path, exc)
        return []
    civitai = raw.get("civitai")
    images = civitai.get("images") if isinstance(civitai, dict) else None
    return list(images) if isinstance(images, list) else []


def target_from_download(info: Mapping[str, Any], context: Any = None) -> ModelTarget | None:
    """The model a finished download produced, from the manager's ``{"model_type", "file_path", "sha256",
    "version", "model"}`` (the version's images are used when it carries them)."""
    file_path = info.get("file_path")
    if not isinstance(file_path, str) or not file_path:
        return None
    model_type = info.get("model_type") if isinstance(info.get("model_type"), str) else ""
    sha256 = info.get("sha256") if isinstance(info.get("sha256"), str) else ""
    version = info.get("version") if isinstance(info.get("version"), Mapping) else {}
    model = info.get("model") if isinstance(info.get("model"), Mapping) else {}
    if not sha256 and context is not None and model_type in getattr(context, "services", {}):
        index = getattr(context.services[model_type], "index", None)
        record = index.get(file_path.replace("\\", "/")) if index is not None else None
        sha256 = record.sha256 if record is not None else ""
    name = model.get("name") if isinstance(model.get("name"), str) and model.get("name") else Path(file_path).stem
    images = version.get("images")
    return ModelTarget(model_type, file_path, name, sha256.lower(), list(images) if isinstance(images, list) else None)
