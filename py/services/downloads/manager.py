"""DownloadManager: Civitai version → model file + preview + sidecar in the library, with a persistent queue.

Why: the browser extension and the manager UI start downloads that run for minutes, may be paused, cancelled
or skipped, must survive a server restart (resuming from the ``.part``), and must report progress both on the
``/ws/download-progress`` socket and through ``download-progress/{id}`` polling. Each download is one task
owned here (never by the HTTP request that asked for it), so a dropped client connection never aborts it.

Before a transfer slot is taken the version's metadata is fetched (from CivArchive when ``source=civarchive`` and
Civitai no longer has it) and the settings may skip it (``rules``), so skipped versions never wait for a slot.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar

from ...library.paths import PathNotAllowed, to_api_path
from ...library.scanner import MODEL_EXTENSIONS
from ...settings import MODEL_TYPES
from ..metadata.civarchive_client import SOURCE as CIVARCHIVE
from ..metadata.civarchive_client import CivArchiveClient
from ..metadata.civitai_client import CivitaiClient, FileSelection
from ..remote.clients import RemoteClients, remote_clients
from ..remote.errors import ErrorKind, RemoteError, classify_exception, classify_os_error
from ..remote.resilience import host_key
from . import archives, artifacts, huggingface, rules
from .control import DownloadStreamControl
from .errors import ControlError, DownloadError
from .library_status import LibraryStatus
from .part_file import part_path_for
from .progress import DownloadProgress, eta_seconds
from .store import HISTORY_STATUSES, QUEUE_STATUSES, DownloadStore, new_download_id
from .targets import library_type_for, model_file_name, safe_file_name, target_folder, template_fields

if TYPE_CHECKING:
    from ...app import AppContext

logger = logging.getLogger(__name__)

T = TypeVar("T")
AfterDownload = Callable[[dict[str, Any]], Awaitable[None]]

CANCELLED_MESSAGE = "Download was cancelled"
SHUTDOWN_MESSAGE = "The server is shutting down; the download resumes when it starts again"
SNAPSHOT_TTL = 300.0
# Bytes the downloader gathers before each hand-off to the writer thread; also the most a crash can lose.
CHUNK_SIZE = 1024 * 1024
# Seconds between two progress reports of one transfer (a status change is always reported at once).
PROGRESS_INTERVAL = 0.25
RESUMABLE_STATUSES = ("downloading", "waiting", "paused")
# Failures of one host that another mirror of the same file may not share.
_NEXT_MIRROR_KINDS = frozenset({ErrorKind.NOT_FOUND, ErrorKind.AUTH, ErrorKind.CLIENT, ErrorKind.SERVER,
                                ErrorKind.CONNECT, ErrorKind.TIMEOUT, ErrorKind.RATE_LIMITED, ErrorKind.UNAVAILABLE,
                                ErrorKind.MALFORMED, ErrorKind.INTEGRITY})

_KIND_STATUS = {
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.AUTH: 401,
    ErrorKind.CLIENT: 502,
    ErrorKind.INTEGRITY: 502,
    ErrorKind.MALFORMED: 502,
    ErrorKind.SERVER: 502,
    ErrorKind.CONNECT: 502,
    ErrorKind.TIMEOUT: 504,
    ErrorKind.RATE_LIMITED: 503,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.DISK_FULL: 507,
    ErrorKind.PERMISSION: 500,
    ErrorKind.CANCELLED: 409,
    ErrorKind.INTERNAL: 500,
    ErrorKind.BLOCKED: 502,  # the remote host sent us (a redirect) to an address the fetch rule refuses
}


@dataclass
class DownloadParams:
    """What a client asked for; stored with the queue row so a restart can resume the same download."""

    download_id: str
    model_id: int | None = None
    model_version_id: int | None = None
    file_params: str | None = None
    source: str | None = None
    model_root: str | None = None
    relative_path: str | None = None
    use_default_paths: bool = True
    hf_url: str | None = None  # a Hugging Face file (resolve address or hf:// shorthand) instead of a Civitai version
    model_type: str | None = None  # the library a Hugging Face file goes to (default: lora)

    def __post_init__(self) -> None:
        if self.hf_url is not None:
            try:
                huggingface.parse_hf_url(self.hf_url, huggingface.resolve_base_url(os.environ))
            except huggingface.HfUrlError as exc:
                raise DownloadError(str(exc)) from None
            if self.model_type is not None and self.model_type not in MODEL_TYPES:
                raise DownloadError(f"Invalid model_type: {self.model_type} (expected one of {', '.join(MODEL_TYPES)})")
        elif self.model_id is None and self.model_version_id is None:
            raise DownloadError("Missing required parameter: model_id or model_version_id")
        if self.file_params is not None:
            try:
                FileSelection.from_params(self.file_params)
            except ValueError as exc:
                raise DownloadError(f"Invalid file_params: {exc}") from None

    @property
    def selection(self) -> FileSelection:
        return FileSelection.from_params(self.file_params)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "DownloadParams":
        data = json.loads(text)
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass
class DownloadOutcome:
    download_id: str
    # completed | failed | cancelled | set_aside (skip-download: the .part is kept) | skipped (by the settings,
    # before any transfer) | interrupted (server shutdown: resumed at the next start)
    status: str
    file_path: str | None = None
    error: str | None = None  # for ``skipped``: the reason, as users read it
    http_status: int = 200
    details: dict[str, Any] | None = None  # the answer body of a ``skipped`` download

    @property
    def success(self) -> bool:
        return self.status == "completed"

    def to_response(self) -> dict[str, Any]:
        if self.success:
            return {"success": True, "download_id": self.download_id, "file_path": self.file_path}
        if self.status == "skipped":
            return {**(self.details or {}), "download_id": self.download_id}
        return {"success": False, "error": self.error or "Download failed", "download_id": self.download_id}


@dataclass
class _Plan:
    """What ``_prepare`` settled before a transfer slot was taken."""

    version: dict
    model: dict | None
    model_type: str
    file: dict
    image: dict | None
    early_access: str | None  # the end of the early-access period, when the version is early access


@dataclass
class _HfPlan:
    """A Hugging Face file, its address, the headers it gets and what its HEAD answer stated."""

    file: huggingface.HfFile
    url: str
    headers: dict[str, str]
    model_type: str
    probe: huggingface.HfProbe


class _Skipped(Exception):
    """The settings say this version is not to be downloaded."""

    def __init__(self, decision: rules.SkipDecision):
        super().__init__(decision.message)
        self.decision = decision


@dataclass(eq=False)
class _Active:
    params: DownloadParams
    control: DownloadStreamControl = field(default_factory=DownloadStreamControl)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None
    progress: int = 0
    bytes_downloaded: int | None = None
    total_bytes: int | None = None
    bytes_per_second: float = 0.0
    stage: str = "waiting"  # waiting (metadata, then a slot) | preparing | transfer | finalizing
    landed: dict[str, Any] | None = None  # what the after-download callbacks receive

    @property
    def download_id(self) -> str:
        return self.params.download_id


DIFFUSION_FILE_TYPES = ("unet", "diffusion model")


def is_diffusion_model(version: dict, file: dict) -> bool:
    """A checkpoint that Civitai ships as a diffusion model (a file of type "UNet" or "Diffusion Model"): it
    goes to the diffusion-model folder (``default_unet_root``), as in ComfyUI-Lora-Manager."""
    files = [file, *(version.get("files") or [])]
    return any(isinstance(f, dict) and str(f.get("type") or "").strip().lower() in DIFFUSION_FILE_TYPES for f in files)


class DownloadManager:
    """The ``downloads`` component: downloads, their controls, the queue/history and version memory."""

    def __init__(self, context: "AppContext", *, chunk_size: int | None = None, stall_timeout: float = 60.0,
                 snapshot_ttl: float = SNAPSHOT_TTL):
        self.context = context
        self.remote: RemoteClients = remote_clients(context)
        self.store = DownloadStore(context.paths.db_dir / "downloads.sqlite")
        self.status = LibraryStatus(context, self.store, self.remote)
        self.chunk_size = chunk_size or CHUNK_SIZE
        self.stall_timeout = stall_timeout
        self.snapshot_ttl = snapshot_ttl
        self._active: dict[str, _Active] = {}
        self._targets: dict[str, str] = {}  # target path -> download id
        self._running = 0
        self._slots: asyncio.Condition | None = None
        self._closing = False
        self._downloader: Any = None
        self._timers: list[asyncio.TimerHandle] = []
        self._hook_tasks: set[asyncio.Task] = set()
        # Called (in the background, one after the other) after every download that lands in the library, with
        # {"model_type", "file_path", "sha256", "version", "model"}; a failing callback is logged and ignored.
        self.after_download: list[AfterDownload] = []

    # -- lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._closing = False
        self._slots = asyncio.Condition()
        await self.store.open()
        for row in await self.store.list_queue():
            if row["status"] not in RESUMABLE_STATUSES:
                continue
            request = await self.store.queue_request(row["download_id"])
            if request is None and row["status"] != "downloading":
                continue
            try:
                params = DownloadParams.from_json(request) if request else self._params_from_row(row)
            except (ValueError, TypeError, DownloadError) as exc:
                logger.warning("Cannot resume download %s: %s", row["download_id"], exc)
                continue
            logger.info("Resuming download %s after a restart", params.download_id)
            self.submit(params, paused=row["status"] == "paused")

    async def close(self) -> None:
        """Stop every transfer but keep its ``.part`` and its queue row, so the next start resumes it."""
        self._closing = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        actives = list(self._active.values())
        for active in actives:
            active.control.skip()
            active.stopped.set()
        tasks = [a.task for a in actives if a.task is not None] + list(self._hook_tasks)
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=10)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        await self.store.close()

    @staticmethod
    def _params_from_row(row: dict[str, Any]) -> DownloadParams:
        return DownloadParams(row["download_id"], row["model_id"], row["model_version_id"], row["file_params"],
                              row["source"])

    def _make_downloader(self) -> Any:
        if self._downloader is None:
            from .downloader import Downloader

            self._downloader = Downloader(self.remote.http, chunk_size=self.chunk_size,
                                          stall_timeout=self.stall_timeout, progress_interval=PROGRESS_INTERVAL)
        return self._downloader

    # -- starting downloads ------------------------------------------------------------------------------
    def is_active(self, download_id: str) -> bool:
        return download_id in self._active

    def submit(self, params: DownloadParams, *, paused: bool = False) -> asyncio.Task:
        """Start a download as its own task (or return the one already running under that id)."""
        existing = self._active.get(params.download_id)
        if existing is not None and existing.task is not None:
            return existing.task
        if self._closing:
            raise DownloadError("The server is shutting down", 503)
        active = _Active(params)
        if paused:
            active.control.pause()
        self._active[params.download_id] = active
        if paused:
            self._send(active, "paused", message="Download paused")
        else:
            self._send(active, "waiting", message="Waiting for a download slot")
        active.task = asyncio.create_task(self._run(active), name=f"lm-download-{params.download_id}")
        return active.task

    async def download(self, params: DownloadParams) -> DownloadOutcome:
        """Start (or join) a download and wait for its end; the caller going away never stops it."""
        return await asyncio.shield(self.submit(params))

    def precheck(self, params: DownloadParams) -> None:
        """Fail fast, before any network work, when the version is already in a library."""
        if params.model_version_id is not None and params.file_params is None:
            self._refuse_existing(params.model_version_id)

    def _refuse_existing(self, version_id: int) -> None:
        for model_type in MODEL_TYPES:
            service = self.context.services.get(model_type)
            if service is not None and service.index is not None and service.find_by_version_id(version_id):
                raise DownloadError(f"Model version already exists in {model_type} library", 409)

    # -- one download ----------------------------------------------------------------------------------
    async def _run(self, active: _Active) -> DownloadOutcome:
        params = active.params
        did = params.download_id
        outcome: DownloadOutcome
        have_slot = False
        try:
            await self.store.add_queue(
                {"download_id": did, "model_id": params.model_id, "model_version_id": params.model_version_id,
                 "file_params": params.file_params, "source": params.source, "status": "waiting"},
                request_json=params.to_json())
            await self.store.update_queue(did, status="paused" if active.control.is_paused else "waiting")
            plan = await self._prepare_hf(active) if params.hf_url else await self._prepare(active)
            await self._cancellable(active, self._acquire_slot())
            have_slot = True
            await self.store.set_status(did, "paused" if active.control.is_paused else "downloading")
            if isinstance(plan, _HfPlan):
                placed = await self._download_hf(active, plan)
            else:
                placed = await self._download(active, plan)
            outcome = DownloadOutcome(did, "completed", file_path=placed)
        except _Skipped as skip:
            outcome = DownloadOutcome(did, "skipped", error=skip.decision.message, details=skip.decision.body())
        except DownloadError as exc:
            outcome = DownloadOutcome(did, "failed", error=exc.message, http_status=exc.status)
        except RemoteError as exc:
            outcome = self._outcome_for(active, exc)
        except asyncio.CancelledError:
            outcome = DownloadOutcome(did, "interrupted", error=SHUTDOWN_MESSAGE, http_status=503)
            if not self._closing:
                raise
        except Exception as exc:  # noqa: BLE001 - a bug must end this download, not the server
            logger.exception("Download %s failed unexpectedly", did)
            error = classify_exception(exc)
            outcome = DownloadOutcome(did, "failed", error=error.message, http_status=_KIND_STATUS[error.kind])
        finally:
            if have_slot:
                await self._release_slot()
        await self._finish(active, outcome)
        if outcome.success and active.landed is not None:
            self._run_after_download(active.landed)
        return outcome

    def _outcome_for(self, active: _Active, exc: RemoteError) -> DownloadOutcome:
        did = active.download_id
        if exc.kind is ErrorKind.CANCELLED or active.control.is_cancelled:
            if self._closing:
                return DownloadOutcome(did, "interrupted", error=SHUTDOWN_MESSAGE, http_status=503)
            status = "set_aside" if active.control.keep_partial else "cancelled"
            return DownloadOutcome(did, status, error=CANCELLED_MESSAGE, http_status=409)
        return DownloadOutcome(did, "failed", error=exc.message, http_status=_KIND_STATUS.get(exc.kind, 500))

    async def _finish(self, active: _Active, outcome: DownloadOutcome) -> None:
        did = active.download_id
        self._active.pop(did, None)
        for path, owner in list(self._targets.items()):
            if owner == did:
                del self._targets[path]
        if outcome.status == "interrupted":
            return  # the queue row stays as it is: the next start resumes it
        history_status = {"completed": "completed", "failed": "failed", "skipped": "skipped"}.get(outcome.status,
                                                                                               "canceled")
        with contextlib.suppress(Exception):
            await self.store.complete(
                did, status=history_status, error=None if outcome.success else outcome.error,
                file_path=outcome.file_path, bytes_downloaded=active.bytes_downloaded or 0,
                total_bytes=active.total_bytes)
        if outcome.status == "completed":
            self._send(active, "progress", progress=100)
        elif outcome.status == "skipped":
            self._send(active, "skipped", message=outcome.error, reason=(outcome.details or {}).get("reason"))
        elif outcome.status == "set_aside":
            self._send(active, "skipped", message="Download skipped; the partial file is kept")
        elif outcome.status == "cancelled":
            self._send(active, "cancelled", progress=0, message=CANCELLED_MESSAGE)
        else:
            self._send(active, "failed", message=outcome.error)
        self._expire_snapshot(did)

    async def _prepare(self, active: _Active) -> _Plan:
        """Before a transfer slot is taken: the metadata, the file, and the settings' verdict (skip or go)."""
        params = active.params
        if params.model_version_id is not None and params.file_params is None:
            self._refuse_existing(params.model_version_id)
        version, model = await self._cancellable(active, self._fetch_metadata(params))
        civitai_type = (model or {}).get("type") or (version.get("model") or {}).get("type")
        model_type = library_type_for(civitai_type)
        if model_type is None:
            raise DownloadError(f'Model type "{civitai_type}" is not supported for download', 400)
        version_id = int(version["id"])
        if params.file_params is None:
            self._refuse_existing(version_id)
        file = params.selection.select(version)
        image = artifacts.first_image(version)
        await self._fill_queue_row(active, version, model, image)
        settings = self.context.settings
        memory = await self.store.version_memory(version_id) if settings.skip_previously_downloaded_model_versions \
            else None
        decision = rules.decide_skip(
            version, file, skip_previously_downloaded=settings.skip_previously_downloaded_model_versions,
            previously_downloaded=bool(memory and memory.downloaded),
            excluded_base_models=settings.download_skip_base_models)
        if decision is not None:
            logger.info("%s", decision.message)
            raise _Skipped(decision)
        if file is None or not file.get("downloadUrl"):
            raise DownloadError("This model version has no downloadable file", 404)
        return _Plan(version, model, model_type, file, image, rules.early_access_until(version))

    async def _fill_queue_row(self, active: _Active, version: dict, model: dict | None, image: dict | None) -> None:
        """What the client queued (its names, its thumbnail) is kept; only blanks are filled in."""
        params = active.params
        row = await self.store.get_queue(params.download_id) or {}
        known = {
            "model_id": int(version.get("modelId") or (model or {}).get("id") or params.model_id or 0) or None,
            "model_version_id": int(version["id"]),
            "model_name": str((model or {}).get("name") or ""),
            "version_name": str(version.get("name") or ""),
            "thumbnail_url": str(image["url"]) if image else "",
        }
        await self.store.update_queue(params.download_id, **{k: v for k, v in known.items() if v and not row.get(k)})

    async def _download(self, active: _Active, plan: _Plan) -> str:
        params = active.params
        did = params.download_id
        civitai = self.remote.civitai()
        version, model, model_type, file = plan.version, plan.model, plan.model_type, plan.file
        if params.file_params is None:
            self._refuse_existing(int(version["id"]))  # another download may have landed while this one waited
        active.stage = "preparing"
        self._send(active, "progress", progress=0)
        target = self._target_for(params, model_type, version, model, file)
        await self._claim_target(did, target)
        notice = rules.early_access_notice(version, model, plan.early_access) if plan.early_access else None
        self._send(active, "progress", progress=1, message=notice)
        expected = str(((file.get("hashes") or {}).get("SHA256")) or "").lower() or None
        archive = archives.is_archive_name(target.name)
        if await asyncio.to_thread(target.exists):
            if archive:  # kept from an earlier attempt: the same verified zip is unpacked again
                await self._require_same_bytes(target, expected)
                return await self._unpack(active, model_type, version, model, target, None, plan.image)
            return await self._existing_target(target, expected, model_type)
        preview = await self._cancellable(active, self._fetch_preview(civitai, plan.image))
        self._send(active, "progress", progress=3)
        active.stage = "transfer"
        asked_url = file.get("downloadUrl")
        try:
            result = await self._transfer(active, civitai, file, target, expected)
        except RemoteError as exc:
            if plan.early_access and exc.kind is ErrorKind.AUTH:
                raise DownloadError(rules.early_access_error(version, model, plan.early_access), 401) from None
            raise
        if version.get("downloadUrl") == asked_url:
            version["downloadUrl"] = file["downloadUrl"]
        active.stage = "finalizing"
        if archive:
            return await self._unpack(active, model_type, version, model, target, preview, plan.image)
        return await self._finalize(active, model_type, version, model, target, result.sha256, preview, plan.image)

    async def _unpack(self, active: _Active, model_type: str, version: dict, model: dict | None, target: Path,
                      preview: tuple[bytes, int] | None, image: dict | None) -> str:
        """A verified zip: its model files land next to it, each with the version's sidecar and its own sha256;
        the zip is removed afterwards (kept with the ``keep_downloaded_archives`` setting, and whenever it
        cannot be unpacked)."""
        keep = self.context.settings.extra.get("keep_downloaded_archives") is True
        try:
            members = await asyncio.to_thread(archives.extract_models, target, target.parent,
                                              MODEL_EXTENSIONS.get(model_type, ()), keep_archive=keep)
        except archives.ArchiveError as exc:
            raise DownloadError(f"{exc} (the downloaded archive is kept at {to_api_path(str(target))})", 422) \
                from None
        except OSError as exc:
            error = classify_os_error(exc, "unpack the downloaded archive")
            raise DownloadError(f"{error.message} (the archive is kept at {to_api_path(str(target))})",
                                _KIND_STATUS[error.kind]) from exc
        paths = [await self._finalize(active, model_type, version, model, member.path, member.sha256, preview, image)
                 for member in members]
        return paths[0]

    async def _claim_target(self, did: str, target: Path) -> None:
        """One download per target path at a time."""
        key = str(target)
        owner = self._targets.get(key)
        if owner is not None and owner != did:
            raise DownloadError(f'"{target.name}" is already being downloaded', 409)
        self._targets[key] = did
        await self.store.update_queue(did, file_path=to_api_path(key))

    # -- Hugging Face ------------------------------------------------------------------------------------
    async def _prepare_hf(self, active: _Active) -> _HfPlan:
        """The file's address and token headers, and its stated sha256 and size (or HF's clear refusal)."""
        params = active.params
        base = huggingface.resolve_base_url(os.environ)
        try:
            file = huggingface.parse_hf_url(params.hf_url or "", base)
        except huggingface.HfUrlError as exc:
            raise DownloadError(str(exc), 400) from None
        url = file.resolve_url(base)
        headers = huggingface.auth_headers(url, huggingface.token_from(self.context.settings.extra), base)
        row = await self.store.get_queue(params.download_id) or {}
        names = {"model_name": f"{file.repo}/{file.path}", "version_name": file.revision}
        await self.store.update_queue(params.download_id, **{k: v for k, v in names.items() if not row.get(k)})
        probe = await self._cancellable(active, huggingface.probe(self.remote.http, file, url, headers))
        return _HfPlan(file, url, headers, params.model_type or "lora", probe)

    async def _download_hf(self, active: _Active, plan: _HfPlan) -> str:
        """Into ``<root>/huggingface/<owner>/<repo>`` (default paths) or the client's folder, verified against
        HF's sha256; the sidecar links the repository (``hf_url``)."""
        params, file, model_type = active.params, plan.file, plan.model_type
        active.stage = "preparing"
        self._send(active, "progress", progress=0)
        relative = f"huggingface/{file.repo}" if params.use_default_paths else (params.relative_path or "")
        try:
            folder = target_folder(self.context.roots_for(model_type), template=None, fields={},
                                   model_root=params.model_root, relative_path=relative)
            target = folder.path / model_file_name(file.file_name, model_type)
        except PathNotAllowed as exc:
            raise DownloadError(str(exc), 400) from None
        await self._claim_target(params.download_id, target)
        expected = plan.probe.sha256
        if await asyncio.to_thread(target.exists):
            return await self._existing_target(target, expected, model_type)
        active.stage = "transfer"
        result = await self._transfer_from(active, plan.headers, plan.url, target, expected, plan.probe.size)
        active.stage = "finalizing"

        def write_files() -> None:
            data = huggingface.build_sidecar(target, model_type=model_type, file=file, sha256=result.sha256)
            artifacts.save_sidecar(target, data)

        await self._write_metadata(target, write_files)
        path = to_api_path(str(target))
        await self.context.service(model_type).reindex_paths([str(target)])
        active.landed = {"model_type": model_type, "file_path": path, "sha256": result.sha256, "version": {},
                         "model": None, "hf_url": file.repo_url()}
        return path

    async def _fetch_metadata(self, params: DownloadParams) -> tuple[dict, dict | None]:
        """Civitai's version and model; with ``source=civarchive``, CivArchive's when Civitai no longer has them."""
        what = (f"version {params.model_version_id}" if params.model_version_id is not None
                else f"model {params.model_id}")
        try:
            found = await self._civitai_metadata(params)
            if found is not None:
                return found
            if (params.source or "").strip().lower() != CIVARCHIVE:
                raise DownloadError(f"Failed to fetch model metadata: {what} was not found on Civitai", 404)
            if params.model_id is None:
                raise DownloadError(f"Failed to fetch model metadata: {what} was not found on Civitai, and CivArchive "
                                    "needs the model id to look it up", 404)
            archived = await self.civarchive().get_model_version(params.model_id, params.model_version_id)
            if archived is None:
                raise DownloadError(f"Failed to fetch model metadata: {what} was not found on Civitai or CivArchive",
                                    404)
            logger.info("%s is gone from Civitai; using CivArchive's metadata and mirrors", what.capitalize())
            return archived
        except RemoteError as exc:
            if exc.kind is ErrorKind.CANCELLED:
                raise
            raise DownloadError(f"Failed to fetch model metadata: {exc.message}",
                                503 if exc.kind in (ErrorKind.UNAVAILABLE, ErrorKind.RATE_LIMITED) else 502) from None

    async def _civitai_metadata(self, params: DownloadParams) -> tuple[dict, dict | None] | None:
        """``(version, model)`` from Civitai; None when Civitai answers 404 for the version (or the model)."""
        civitai = self.remote.civitai()
        if params.model_version_id is not None:
            version = await civitai.get_version(params.model_version_id)
            if version is None:
                return None
            model_id = version.get("modelId") or params.model_id
            model = await civitai.get_model(model_id) if model_id else None
            return version, model
        model = await civitai.get_model(params.model_id)  # type: ignore[arg-type]
        if model is None:
            return None
        versions = [v for v in model.get("modelVersions") or [] if isinstance(v, dict) and v.get("id")]
        if not versions:
            raise DownloadError("Failed to fetch model metadata: the model has no versions", 404)
        version = await civitai.get_version(versions[0]["id"]) or dict(versions[0], modelId=model.get("id"))
        return version, model

    def civarchive(self) -> CivArchiveClient:
        """The CivArchive client on the shared resilient HTTP layer (base URL from the environment)."""
        return self.remote.civarchive()

    def _target_for(self, params: DownloadParams, model_type: str, version: dict, model: dict | None,
                    file: dict) -> Path:
        roots = self.context.roots_for(model_type)  # the default root first
        diffusion = model_type == "checkpoint" and is_diffusion_model(version, file)
        template = self.context.settings.download_path_templates.get(model_type, "")
        model_root = params.model_root
        if not model_root and diffusion:
            default = self.context.default_root(model_type, diffusion=True)
            model_root = str(default) if default is not None else None
        relative = None if params.use_default_paths or params.relative_path is None else params.relative_path
        try:
            folder = target_folder(roots, template=template, fields=template_fields(version, model),
                                   model_root=model_root, relative_path=relative)
            name = file.get("name")
            if archives.is_archive_name(name):  # unpacked once verified: see ``_unpack``
                return folder.path / safe_file_name(name)
            return folder.path / model_file_name(name, model_type)
        except PathNotAllowed as exc:
            raise DownloadError(str(exc), 400) from None

    async def _existing_target(self, target: Path, expected: str | None, model_type: str) -> str:
        """The file is already there: the same bytes count as done; different bytes are never overwritten."""
        await self._require_same_bytes(target, expected)
        await self.context.service(model_type).reindex_paths([str(target)])
        return to_api_path(str(target))

    @staticmethod
    async def _require_same_bytes(target: Path, expected: str | None) -> None:
        def digest() -> str:
            hasher = hashlib.sha256()
            with open(target, "rb") as handle:
                for block in iter(lambda: handle.read(8 * 1024 * 1024), b""):
                    hasher.update(block)
            return hasher.hexdigest()

        actual = await asyncio.to_thread(digest)
        if expected is None or actual != expected:
            raise DownloadError(
                f'A different file named "{target.name}" already exists in {to_api_path(str(target.parent))}', 409)

    async def _fetch_preview(self, civitai: CivitaiClient, image: dict | None) -> tuple[bytes, int] | None:
        """The first image as WebP (best effort: a preview that fails never fails the download)."""
        if image is None:
            return None
        url = str(image["url"])
        try:
            async def fetch() -> bytes:
                session = await self.remote.http.session()
                async with session.get(url, headers=civitai.auth_headers(url)) as response:
                    if response.status >= 400:
                        raise RemoteError(ErrorKind.NOT_FOUND if response.status == 404 else ErrorKind.SERVER,
                                          f"preview answered HTTP {response.status}", response.status, url=url)
                    return await response.read()

            raw = await self.remote.http.call(host_key(url), fetch, describe=f"preview {url}")
            webp = await asyncio.to_thread(artifacts.to_webp, raw)
        except (RemoteError, ValueError) as exc:
            logger.warning("No preview for this download (%s): %s", url, exc)
            return None
        return webp, int(image.get("nsfwLevel") or 0)

    async def _transfer(self, active: _Active, civitai: CivitaiClient, file: dict, target: Path,
                        expected: str | None) -> Any:
        """The file from its download URL, then from each mirror in turn (CivArchive lists several) while
        the earlier ones fail for reasons another host may not share."""
        from .downloader import TargetExistsError, redact_url

        urls = [str(file["downloadUrl"])]
        urls += [u for u in file.get("mirrors") or [] if isinstance(u, str) and u not in urls]
        for index, url in enumerate(urls):
            try:
                result = await self._transfer_from(active, civitai.auth_headers(url), url, target, expected)
            except TargetExistsError:
                raise
            except RemoteError as exc:
                if index + 1 == len(urls) or exc.kind not in _NEXT_MIRROR_KINDS or active.control.is_cancelled:
                    raise
                logger.warning("Download of %s from %s failed (%s); trying the next mirror", target.name,
                               redact_url(url), exc.message)
                continue
            if index:
                file["downloadUrl"] = url  # the sidecar names the mirror the bytes came from
            return result
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _transfer_from(self, active: _Active, headers: dict[str, str], url: str, target: Path,
                             expected: str | None, expected_size: int | None = None) -> Any:
        from .downloader import DownloadRequest

        request = DownloadRequest(url=url, target=target, expected_sha256=expected, expected_size=expected_size,
                                  headers=headers,
                                  quarantine_dir=self.context.paths.data_dir / "quarantine")
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)

        def on_progress(progress: DownloadProgress) -> None:
            active.bytes_downloaded = progress.bytes_downloaded
            active.total_bytes = progress.total_bytes
            active.bytes_per_second = progress.bytes_per_second
            if active.control.is_paused or active.control.is_cancelled:
                return
            percent = progress.percent or 0.0
            self._send(active, "progress", progress=min(99, int(3 + 0.97 * percent)))

        if active.stopped.is_set():
            raise RemoteError(ErrorKind.CANCELLED, CANCELLED_MESSAGE)
        try:
            return await self._make_downloader().download(request, control=active.control, on_progress=on_progress)
        except OSError as exc:
            raise classify_os_error(exc, "save the download") from exc

    async def _finalize(self, active: _Active, model_type: str, version: dict, model: dict | None, target: Path,
                        sha256: str, preview: tuple[bytes, int] | None, image: dict | None) -> str:
        """Preview, sidecar, index, version memory. If the metadata cannot be written the model goes back to its
        ``.part`` (a retry resumes at once) so the library never holds a half-finished download."""
        written_preview: Path | None = None

        def write_files() -> Path | None:
            nonlocal written_preview
            preview_file = None
            if preview is not None:
                existed = artifacts.preview_path_for(target).exists()
                preview_file = artifacts.write_preview(target, preview[0])
                written_preview = None if existed else preview_file
            data = artifacts.build_sidecar(target, model_type=model_type, version=version, model=model,
                                           sha256=sha256, preview=preview_file,
                                           preview_nsfw_level=preview[1] if preview else 0,
                                           source=str(version.get("source") or "civitai"))
            artifacts.save_sidecar(target, data)
            return preview_file

        def undo_preview() -> None:
            if written_preview is not None:
                with contextlib.suppress(OSError):
                    os.unlink(written_preview)

        await self._write_metadata(target, write_files, undo_preview)
        path = to_api_path(str(target))
        await self.context.service(model_type).reindex_paths([str(target)])
        model_id = version.get("modelId") or (model or {}).get("id")
        await self.store.remember_version(model_type, int(version["id"]), model_id=int(model_id) if model_id else None,
                                          file_path=path, source="download")
        active.landed = {"model_type": model_type, "file_path": path, "sha256": sha256, "version": version,
                         "model": model}
        return path

    @staticmethod
    async def _write_metadata(target: Path, write: Callable[[], Any], undo: Callable[[], None] = lambda: None) -> None:
        """Run ``write`` in a thread; when it fails, ``undo`` and the model goes back to its ``.part``."""
        try:
            await asyncio.to_thread(write)
        except OSError as exc:
            error = classify_os_error(exc, "save the model's metadata")

            def put_back() -> None:
                undo()
                with contextlib.suppress(OSError):
                    os.replace(target, part_path_for(target))

            await asyncio.to_thread(put_back)
            raise DownloadError(error.message, _KIND_STATUS[error.kind]) from exc

    # -- after a download lands --------------------------------------------------------------------------
    def _run_after_download(self, landed: dict[str, Any]) -> None:
        """Run the callbacks in the background: they never delay the answer nor hold a transfer slot."""
        if not self.after_download:
            return
        task = asyncio.ensure_future(self._call_after_download(list(self.after_download), landed))
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)

    @staticmethod
    async def _call_after_download(callbacks: list[AfterDownload], landed: dict[str, Any]) -> None:
        for callback in callbacks:
            try:
                await callback(dict(landed))
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a callback's failure never fails the download
                logger.exception("An after-download callback failed for %s", landed.get("file_path"))

    # -- slots and cancellation --------------------------------------------------------------------------
    async def _acquire_slot(self) -> None:
        assert self._slots is not None
        async with self._slots:
            await self._slots.wait_for(lambda: self._running < max(1, self.context.settings.download_concurrency))
            self._running += 1

    async def _release_slot(self) -> None:
        assert self._slots is not None
        async with self._slots:
            self._running -= 1
            self._slots.notify_all()

    async def _cancellable(self, active: _Active, work: Awaitable[T]) -> T:
        """Run ``work`` unless the download is cancelled, skipped or the server stops first."""
        task = asyncio.ensure_future(work)
        stopper = asyncio.ensure_future(active.stopped.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            stopper.cancel()
            raise
        if task.done():
            stopper.cancel()
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise RemoteError(ErrorKind.CANCELLED, CANCELLED_MESSAGE)

    # -- progress frames -------------------------------------------------------------------------------
    def _send(self, active: _Active, status: str, *, progress: int | None = None, message: str | None = None,
              **extra: Any) -> None:
        if progress is not None:
            active.progress = progress
        frame: dict[str, Any] = {"status": status, "progress": active.progress, "download_id": active.download_id}
        if active.bytes_downloaded is not None:
            frame["bytes_downloaded"] = active.bytes_downloaded
            frame["total_bytes"] = active.total_bytes
            frame["bytes_per_second"] = round(active.bytes_per_second, 1)
            eta = eta_seconds(active.bytes_downloaded, active.total_bytes, active.bytes_per_second)
            if eta is not None:
                frame["eta_seconds"] = eta
        if message:
            frame["message"] = message
        frame.update({k: v for k, v in extra.items() if v is not None})
        self.context.hub.send_to_download(active.download_id, frame)

    def _expire_snapshot(self, download_id: str) -> None:
        if self.snapshot_ttl <= 0 or self._closing:
            return
        loop = asyncio.get_running_loop()
        self._timers = [t for t in self._timers if not t.cancelled()]
        self._timers.append(loop.call_later(self.snapshot_ttl, self._clear_snapshot, download_id))

    def _clear_snapshot(self, download_id: str) -> None:
        if download_id not in self._active:
            self.context.hub.clear_snapshot("download-progress", download_id)

    async def progress(self, download_id: str) -> dict[str, Any] | None:
        """What ``download-progress/{id}`` answers; None only for an id never seen (API-COMPAT §4.4)."""
        snap = self.context.hub.download_snapshot(download_id)
        if snap is not None:
            body: dict[str, Any] = {
                "success": True,
                "progress": int(snap.get("progress") or 0),
                "bytes_downloaded": snap.get("bytes_downloaded"),
                "total_bytes": snap.get("total_bytes"),
                "bytes_per_second": float(snap.get("bytes_per_second") or 0.0),
            }
            if snap.get("eta_seconds") is not None:
                body["eta_seconds"] = snap["eta_seconds"]
            if snap.get("status") not in (None, "progress"):
                body["status"] = snap["status"]
            if snap.get("message"):
                body["message"] = snap["message"]
            return body
        row = await self.store.get_queue(download_id)
        if row is not None:
            status = "waiting" if row["status"] == "waiting" else "queued"
            return {"success": True, "progress": 0, "bytes_downloaded": None, "total_bytes": None,
                    "bytes_per_second": 0.0, "status": status}
        done = await self.store.get_history(download_id=download_id)
        if done is not None:
            status = {"completed": "completed", "failed": "failed", "canceled": "cancelled"}.get(done["status"],
                                                                                                done["status"])
            return {"success": True, "progress": 100 if done["status"] == "completed" else 0,
                    "bytes_downloaded": done["bytes_downloaded"], "total_bytes": done["total_bytes"],
                    "bytes_per_second": 0.0, "status": status}
        return None

    # -- controls --------------------------------------------------------------------------------------
    def _require_active(self, download_id: str) -> _Active:
        active = self._active.get(download_id)
        if active is None:
            raise ControlError("Download task not found")
        return active

    def pause(self, download_id: str) -> str:
        active = self._require_active(download_id)
        if active.control.is_paused:
            raise ControlError("Download is already paused")
        active.control.pause()
        self._send(active, "paused", message="Download paused")
        self._spawn(self.store.set_status(download_id, "paused"))
        return "Download paused"

    def resume(self, download_id: str) -> str:
        active = self._require_active(download_id)
        if not active.control.is_paused:
            raise ControlError("Download is not paused")
        active.control.resume()
        self._send(active, "downloading", message="Download resumed")
        status = "waiting" if active.stage == "waiting" else "downloading"
        self._spawn(self.store.set_status(download_id, status))
        return "Download resumed"

    def cancel(self, download_id: str) -> str:
        active = self._require_active(download_id)
        active.control.cancel()
        active.stopped.set()
        return "Download cancelled"

    def skip(self, download_id: str) -> str:
        active = self._require_active(download_id)
        active.control.skip()
        active.stopped.set()
        return "Download skipped; the partial file is kept for a later resume"

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    # -- queue and history (the extension's source of truth) --------------------------------------------
    async def queue_add(self, item: dict[str, Any]) -> dict[str, Any]:
        row = await self.store.add_queue(item)
        return row or {}

    async def queue_set_status(self, download_id: str, status: str) -> bool:
        if status not in QUEUE_STATUSES:
            raise DownloadError(f"Invalid status: {status} (expected one of {', '.join(QUEUE_STATUSES)})")
        return await self.store.set_status(download_id, status)

    async def queue_complete(self, download_id: str, *, status: str, **fields: Any) -> dict[str, Any] | None:
        status = "canceled" if status == "cancelled" else status
        if status not in HISTORY_STATUSES:
            raise DownloadError(f"Invalid status: {status} (expected one of {', '.join(HISTORY_STATUSES)})")
        return await self.store.complete(download_id, status=status, **fields)

    async def queue_snapshot(self) -> tuple[list[dict[str, Any]], dict[str, int]]:
        rows = await self.store.list_queue()
        return rows, await self.stats()

    async def stats(self) -> dict[str, int]:
        queue = await self.store.queue_counts()
        history = await self.store.history_counts()
        return {
            "queued": queue.get("queued", 0), "downloading": queue.get("downloading", 0),
            "paused": queue.get("paused", 0), "waiting": queue.get("waiting", 0),
            "completed": history.get("completed", 0), "failed": history.get("failed", 0),
            "canceled": history.get("canceled", 0), "skipped": history.get("skipped", 0),
        }

    async def retry(self, *, history_id: int | None = None, download_id: str | None = None) -> dict[str, Any] | None:
        row = await self.store.get_history(history_id=history_id, download_id=download_id)
        if row is None or row["status"] not in ("failed", "canceled"):
            return None
        return await self.store.retry(row)

    async def retry_all(self) -> int:
        count = 0
        for row in await self.store.retryable_history():
            await self.store.retry(row)
            count += 1
        return count


__all__ = ["ControlError", "DownloadError", "DownloadManager", "DownloadOutcome", "DownloadParams",
           "new_download_id"]
