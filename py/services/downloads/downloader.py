"""Stream one remote file to disk: resumable, verified, pausable, never overwriting.

Why: downloads that die at 97% and start over, and "downloaded" files that are truncated, cost users
hours. The bytes go to ``<target>.part``; every interruption (cut, stall, 5xx, 429) resumes with
``Range`` from the bytes already on disk through ``ResilientHttp.call`` (one attempt = one request from
the current offset); the sha256 is computed while streaming; only a verified file is moved to
``target``, and only when nothing is there yet. A file that fails verification is quarantined.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from ..remote.errors import ErrorKind, RemoteError, classify_exception, classify_os_error, classify_status
from ..remote.resilience import ResilientHttp, host_key
from . import part_file
from .control import DownloadStreamControl
from .progress import DownloadProgress, ProgressReporter

logger = logging.getLogger(__name__)

MiB = 1024 * 1024
_CONTENT_RANGE = re.compile(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"\s*bytes\s+\*/(\d+)\s*", re.IGNORECASE)
# Per-request timeouts are the Downloader's own (stall detection); a whole-transfer limit would kill big files.
_NO_CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=None, sock_read=None)


@dataclass
class DownloadRequest:
    """What to fetch and where to put it. ``headers`` may carry an API key: they are never logged."""

    url: str
    target: Path
    expected_sha256: str | None = None
    expected_size: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    quarantine_dir: Path | None = None

    def __post_init__(self) -> None:
        self.target = Path(self.target)
        if self.quarantine_dir is not None:
            self.quarantine_dir = Path(self.quarantine_dir)
        self.headers = dict(self.headers or {})
        if self.expected_sha256 is not None:
            self.expected_sha256 = self.expected_sha256.strip().lower() or None
        if self.expected_size is not None and self.expected_size < 0:
            raise ValueError("expected_size must not be negative")

    @property
    def part_path(self) -> Path:
        return part_file.part_path_for(self.target)

    def __repr__(self) -> str:  # keep API keys (headers, ?token=) out of logs and tracebacks
        return f"DownloadRequest(url={redact_url(self.url)!r}, target={str(self.target)!r})"


@dataclass
class DownloadResult:
    path: Path
    sha256: str
    size: int
    resumed: bool  # some bytes came from an earlier, interrupted transfer (Range)
    restarts: int  # times the partial bytes were thrown away to start again from zero


class TargetExistsError(RemoteError):
    """The destination already exists; it is never overwritten (the downloaded ``.part`` is kept)."""


def redact_url(url: str) -> str:
    """The URL without credentials, query or fragment: safe to log (Civitai keys travel as ``?token=``)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<invalid url>"
    host = parts.hostname or ""
    if port is not None:
        host = f"{host}:{port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``bytes start-end/total`` as (start, end, total or None); None when absent or malformed."""
    match = _CONTENT_RANGE.fullmatch(value or "")
    if not match:
        return None
    start, end, total = match.groups()
    return int(start), int(end), None if total == "*" else int(total)


def _storage_error(exc: OSError, part: Path) -> RemoteError:
    """A clear message for a local write failure; says where the partial bytes are."""
    base = classify_os_error(exc, f"write {part.name}")
    if base.kind is ErrorKind.DISK_FULL:
        return RemoteError(
            ErrorKind.DISK_FULL,
            f"Disk full while saving the download; free some space and resume "
            f"(the partial file is kept at {part})",
        )
    if base.kind is ErrorKind.PERMISSION:
        return RemoteError(ErrorKind.PERMISSION, f"Permission denied writing the download to {part.parent}")
    return RemoteError(ErrorKind.INTERNAL, f"Could not write the download to {part} ({exc})")


@dataclass
class _Transfer:
    """The mutable state of one download call."""

    request: DownloadRequest
    control: DownloadStreamControl
    reporter: ProgressReporter
    writer: part_file._BaseWriter | None = None
    offset: int = 0  # bytes handed to the writer
    high_water: int = 0  # the furthest offset reached: progress that earns a fresh round of retries
    total: int | None = None  # the remote file size, as the server told it
    resumed: bool = False
    restarts: int = 0
    attempts: int = 0
    etag: str | None = None
    host: str = ""
    moved: int = 0  # bytes handed to the writer over all attempts (never goes back)

    @property
    def part(self) -> Path:
        return self.request.part_path

    async def restart_from_zero(self, why: str) -> None:
        assert self.writer is not None
        logger.info("Download of %s restarts from zero: %s", self.request.target.name, why)
        await self.writer.truncate()
        self.offset = 0
        self.etag = None
        self.restarts += 1
        self.reporter.meter.reset()


class _Interrupt:
    """Cancels the network phase of a download as soon as its control is cancelled (from any thread)."""

    def __init__(self, control: DownloadStreamControl) -> None:
        self._loop = asyncio.get_running_loop()
        self._control = control
        self.task: asyncio.Task | None = None

    def on_change(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._fire)
        except RuntimeError:  # loop closed
            pass

    def _fire(self) -> None:
        if self._control.is_cancelled and self.task is not None and not self.task.done():
            self.task.cancel()


class Downloader:
    """Downloads one file per ``download`` call; share one instance (and one ``ResilientHttp``) per app."""

    def __init__(
        self,
        http: ResilientHttp,
        *,
        chunk_size: int = 1 * MiB,
        stall_timeout: float = 30.0,
        progress_interval: float = 0.25,
        write_mode: str = "thread",
        read_bufsize: int = 1 * MiB,
        patience: float = 600.0,
        probe_interval: float = 2.0,
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        if stall_timeout <= 0:
            raise ValueError("stall_timeout must be positive")
        if write_mode not in part_file.WRITERS:
            raise ValueError(f"write_mode must be one of {sorted(part_file.WRITERS)}")
        self.http = http
        self.chunk_size = chunk_size
        self.stall_timeout = float(stall_timeout)
        self.progress_interval = float(progress_interval)
        self.write_mode = write_mode
        self.read_bufsize = read_bufsize
        # Once bytes have arrived, a host that drops away (a network cut, a restart) is probed every
        # ``probe_interval`` seconds for up to ``patience`` seconds since the last byte, and the transfer resumes.
        self.patience = float(patience)
        self.probe_interval = float(probe_interval)

    # -- public ------------------------------------------------------------------------------------
    async def download(
        self,
        request: DownloadRequest,
        *,
        control: DownloadStreamControl | None = None,
        on_progress: Callable[[DownloadProgress], None] | None = None,
    ) -> DownloadResult:
        """Fetch ``request.url`` into ``request.target``; raises ``RemoteError`` (kind says why) on failure.

        The ``.part`` survives every failure except a plain cancel, so calling again resumes."""
        control = control or DownloadStreamControl()
        reporter = ProgressReporter(on_progress, interval=self.progress_interval)
        reporter.total_bytes = request.expected_size
        transfer = _Transfer(request, control, reporter)
        try:
            host = host_key(request.url)
        except ValueError:
            raise RemoteError(ErrorKind.CLIENT, f"Not a downloadable URL: {redact_url(request.url)}") from None
        transfer.host = host
        interrupt = _Interrupt(control)
        remove_listener = control.add_listener(interrupt.on_change)
        try:
            if control.is_cancelled:
                raise self._cancelled()
            await self._open(transfer)
            interrupt.task = asyncio.ensure_future(self._network_phase(transfer, host))
            try:
                await interrupt.task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if (current is not None and current.cancelling()) or not control.is_cancelled:
                    raise  # cancelled from outside: keep the part for a later resume
                raise self._cancelled() from None
            finally:
                interrupt.task = None
            return await self._finish(transfer)
        except RemoteError as error:
            if error.kind is ErrorKind.CANCELLED:
                await self._discard(transfer)
            else:
                await self._drop_empty_part(transfer)
            raise
        finally:
            remove_listener()
            if transfer.writer is not None:
                writer, transfer.writer = transfer.writer, None
                try:
                    await asyncio.to_thread(writer.close_now)
                except asyncio.CancelledError:
                    writer.close_now()
                    raise

    # -- phases ------------------------------------------------------------------------------------
    @staticmethod
    def _cancelled() -> RemoteError:
        return RemoteError(ErrorKind.CANCELLED, "Download was cancelled")

    async def _open(self, t: _Transfer) -> None:
        """Check the destination, hash the bytes of an earlier attempt once, open the part for appending."""
        request = t.request
        if await asyncio.to_thread(request.target.exists):
            raise TargetExistsError(
                ErrorKind.CLIENT,
                f"A file already exists at {request.target}; it was not overwritten",
            )
        try:
            await asyncio.to_thread(request.target.parent.mkdir, parents=True, exist_ok=True)
            hasher, size = await asyncio.to_thread(part_file.hash_existing_part, t.part)
            truncate = request.expected_size is not None and size > request.expected_size
            t.writer = await part_file.open_part(t.part, hasher, size, mode=self.write_mode, truncate=truncate)
        except OSError as exc:
            raise _storage_error(exc, t.part) from exc
        if truncate:
            t.restarts += 1
            size = 0
        t.offset = t.high_water = size
        if size:
            logger.info("Resuming download of %s from byte %d", request.target.name, size)

    async def _network_phase(self, t: _Transfer, host: str) -> None:
        """Rounds of ``ResilientHttp.call`` until the body is complete. A round that moved the transfer forward
        earns a fresh set of retries. Before any byte arrived, a failed round ends the download with its error;
        after, the host is probed again (outside its circuit breaker) until ``patience`` runs out, so a network
        cut of seconds or minutes ends in a resume, not a failure."""
        label = f"Download {redact_url(t.request.url)}"
        last_progress = time.monotonic()
        while True:
            if t.control.is_cancelled:
                raise asyncio.CancelledError()
            before = t.high_water
            try:
                outcome = await self.http.call(host, lambda: self._attempt(t), describe=label,
                                               guarded=before == 0)
            except RemoteError as error:
                if t.high_water > before:
                    last_progress = time.monotonic()
                    if error.retryable:
                        continue
                if not error.retryable or t.high_water == 0 or time.monotonic() - last_progress >= self.patience:
                    raise
                logger.info("%s: %s; trying again in %.1f s", label, error.message, self.probe_interval)
                t.reporter.update("retrying", t.offset)
                await asyncio.sleep(max(self.probe_interval, min(error.retry_after or 0.0, self.patience)))
                continue
            if outcome == "done":
                return

    async def _pause_point(self, t: _Transfer, received: int) -> float:
        """Wait while paused; returns the seconds spent paused (0 when not paused)."""
        if not t.control.is_paused:
            return 0.0
        t.reporter.update("paused", received)
        started = time.monotonic()
        await t.control.wait_if_paused()
        if t.control.is_cancelled:
            raise asyncio.CancelledError()
        t.reporter.meter.reset()
        return time.monotonic() - started

    async def _attempt(self, t: _Transfer) -> str:
        """One request from the current offset: "done" when the body is complete, "reconnect" to go again."""
        t.attempts += 1
        start = t.moved
        try:
            return await self._request_once(t)
        except asyncio.CancelledError:
            raise
        except Exception:
            if t.moved > start:
                # bytes arrived: the host is up; a flaky line must not open its circuit breaker
                self.http.breaker(t.host).record_success()
            raise

    def _report_retry(self, t: _Transfer, error: RemoteError) -> RemoteError:
        if error.retryable:
            t.reporter.update("retrying", t.offset)
        return error

    async def _request_once(self, t: _Transfer) -> str:
        try:
            return await self._exchange(t)
        except (asyncio.CancelledError, RemoteError):
            raise
        except OSError as exc:
            if isinstance(exc, (ConnectionError, aiohttp.ClientError)) or getattr(exc, "errno", None) is None:
                raise self._report_retry(t, classify_exception(exc, redact_url(t.request.url))) from exc
            raise _storage_error(exc, t.part) from exc
        except Exception as exc:
            raise self._report_retry(t, classify_exception(exc, redact_url(t.request.url))) from exc

    async def _exchange(self, t: _Transfer) -> str:
        request, writer = t.request, t.writer
        assert writer is not None
        await self._pause_point(t, t.offset)
        offset = t.offset
        headers = dict(request.headers)
        headers["Accept-Encoding"] = "identity"  # byte ranges of the stored file, never of a re-encoding
        if offset > 0:
            headers["Range"] = f"bytes={offset}-"
            if t.etag:
                headers["If-Range"] = t.etag
        if t.attempts == 1:
            t.reporter.update("connecting", offset)
        session = await self.http.session()
        context = session.get(
            request.url,
            headers=headers,
            timeout=_NO_CLIENT_TIMEOUT,
            auto_decompress=False,
            read_bufsize=self.read_bufsize,
        )
        try:
            async with asyncio.timeout(self.stall_timeout):
                response = await context
        except TimeoutError:
            raise self._report_retry(t, self._stall_error()) from None
        try:
            outcome = await self._consume(t, response, offset)
        except BaseException:
            response.close()  # a half-read body must not go back to the connection pool
            raise
        response.release()
        return outcome

    def _stall_error(self) -> RemoteError:
        return RemoteError(
            ErrorKind.TIMEOUT, f"The download stalled (no data for {self.stall_timeout:g} s)"
        )

    async def _consume(self, t: _Transfer, response: aiohttp.ClientResponse, offset: int) -> str:
        request, writer = t.request, t.writer
        assert writer is not None
        status = response.status
        if status == 416:
            match = _UNSATISFIED_RANGE.fullmatch(response.headers.get("Content-Range", ""))
            remote_total = int(match.group(1)) if match else None
            expected = remote_total if remote_total is not None else request.expected_size
            if offset > 0 and expected in (None, offset):
                t.total = offset
                t.resumed = True
                return "done"
            await t.restart_from_zero(f"the partial file ({offset} bytes) is not part of the remote file")
            return "reconnect"
        error = classify_status(status, response.headers, redact_url(str(response.url)))
        if error is not None:
            raise self._report_retry(t, error)
        if status == 206:
            span = parse_content_range(response.headers.get("Content-Range"))
            if span is None or span[0] != offset:
                await t.restart_from_zero("the server answered a different byte range than asked")
                return "reconnect"
            total = span[2]
            if offset > 0:
                t.resumed = True
        elif status == 200:
            if offset > 0:
                await t.restart_from_zero("the server ignored the Range request")
                offset = 0
            total = response.content_length
        else:
            raise RemoteError(
                ErrorKind.CLIENT, f"The remote host answered HTTP {status} instead of the file", status,
                url=redact_url(str(response.url)),
            )
        etag = response.headers.get("ETag")
        t.etag = etag if etag and not etag.startswith("W/") else None
        t.total = total
        if request.expected_size is None:
            t.reporter.total_bytes = total
        return await self._stream_body(t, response, offset)

    async def _stream_body(self, t: _Transfer, response: aiohttp.ClientResponse, offset: int) -> str:
        writer, reporter, control = t.writer, t.reporter, t.control
        assert writer is not None
        content = response.content
        pending: list[bytes] = []
        pending_bytes = 0
        received = offset
        reporter.update("downloading", received)

        async def hand_off() -> None:
            nonlocal pending, pending_bytes
            if not pending:
                return
            # taken off the buffer first: a failed write is never written a second time
            batch, size = pending, pending_bytes
            pending, pending_bytes = [], 0
            await writer.write(batch)
            t.offset += size
            t.moved += size
            t.high_water = max(t.high_water, t.offset)

        try:
            while True:
                if control.is_paused:
                    await hand_off()
                    paused_for = await self._pause_point(t, received)
                    if paused_for >= self.stall_timeout:
                        # the server has probably dropped the idle connection: start a fresh one with Range
                        logger.info("Download of %s resumed after %.0f s; reconnecting", t.request.target.name,
                                    paused_for)
                        return "reconnect"
                    reporter.update("downloading", received)
                try:
                    async with asyncio.timeout(self.stall_timeout):
                        data = await content.readany()
                except TimeoutError:
                    raise self._report_retry(t, self._stall_error()) from None
                if not data:
                    break
                pending.append(data)
                pending_bytes += len(data)
                received += len(data)
                if pending_bytes >= self.chunk_size:
                    await hand_off()
                reporter.update("downloading", received)
        except BaseException:
            # skip, pause-then-stop, shutdown, a cut or a stall: the bytes received so far go to the kept
            # ``.part`` so the next attempt resumes exactly where this one stopped
            if pending and not (control.is_cancelled and not control.keep_partial):
                await self._save_pending(t, hand_off)
            raise
        await hand_off()
        if t.total is not None and t.offset < t.total:
            raise self._report_retry(t, RemoteError(
                ErrorKind.CONNECT,
                f"The connection was cut before the whole file arrived ({t.offset} of {t.total} bytes)",
            ))
        return "done"

    async def _save_pending(self, t: _Transfer, hand_off: Callable[[], Awaitable[None]]) -> None:
        """Best effort: a failure here is logged; the error that stopped the transfer is what the caller sees."""
        try:
            await hand_off()
        except Exception as exc:  # noqa: BLE001 - the original error is being raised
            logger.warning("Could not save the last received bytes of %s: %s", t.request.target.name, exc)

    async def _finish(self, t: _Transfer) -> DownloadResult:
        """Close (fsync) the part, verify size and sha256, then place it at the target or quarantine it."""
        request, writer = t.request, t.writer
        assert writer is not None
        try:
            await writer.close(sync=True)
        except OSError as exc:
            raise _storage_error(exc, t.part) from exc
        size, sha256 = writer.size, writer.sha256
        t.reporter.update("verifying", size)
        expected_size = request.expected_size if request.expected_size is not None else t.total
        problem = None
        if expected_size is not None and size != expected_size:
            problem = f"size mismatch: expected {expected_size} bytes, got {size}"
        elif request.expected_sha256 and sha256 != request.expected_sha256:
            problem = "sha256 mismatch"
        if problem:
            where = await asyncio.to_thread(part_file.quarantine, t.part, request.target, request.quarantine_dir)
            logger.warning("Download of %s failed verification (%s); quarantined at %s",
                           request.target.name, problem, where)
            raise RemoteError(
                ErrorKind.INTEGRITY,
                f"Downloaded file failed verification ({problem}); it was quarantined at {where}",
            )
        if t.control.is_cancelled:
            raise self._cancelled()
        try:
            await asyncio.to_thread(part_file.place_without_overwrite, t.part, request.target)
        except FileExistsError:
            raise TargetExistsError(
                ErrorKind.CLIENT,
                f"A file already exists at {request.target}; it was not overwritten "
                f"(the download is kept at {t.part})",
            ) from None
        except OSError as exc:
            raise _storage_error(exc, t.part) from exc
        t.reporter.update("completed", size, force=True)
        logger.info("Downloaded %s (%d bytes, %s)", request.target.name, size,
                    "resumed" if t.resumed else "in one go" if not t.restarts else f"{t.restarts} restart(s)")
        return DownloadResult(request.target, sha256, size, t.resumed, t.restarts)

    async def _drop_empty_part(self, t: _Transfer) -> None:
        """After a failure before any byte arrived (401, 404...): an empty ``.part`` holds nothing to resume."""
        if t.writer is None:
            return
        writer, t.writer = t.writer, None
        await asyncio.to_thread(writer.close_now)

        def unlink_if_empty() -> None:
            try:
                if t.part.stat().st_size == 0:
                    t.part.unlink()
            except OSError:
                pass

        await asyncio.to_thread(unlink_if_empty)

    async def _discard(self, t: _Transfer) -> None:
        """After a cancel: delete the part unless ``skip`` asked to keep it."""
        if t.writer is not None:
            writer, t.writer = t.writer, None
            await asyncio.to_thread(writer.close_now)
        if t.control.keep_partial:
            return
        try:
            await asyncio.to_thread(t.part.unlink, missing_ok=True)
        except OSError as exc:
            logger.warning("Could not delete the partial download %s: %s", t.part, exc)
