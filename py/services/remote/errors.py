"""One error taxonomy for every remote call (Civitai API, file hosts) and the local writes they feed.

Why: retries, circuit breaking and the messages users see all depend on *what kind* of failure happened,
so every failure is turned into a ``RemoteError`` with a ``kind`` exactly once, where it is caught.
"""
from __future__ import annotations

import asyncio
import email.utils
import errno
import time
from dataclasses import dataclass
from enum import Enum
from typing import Mapping

import aiohttp


class ErrorKind(str, Enum):
    CONNECT = "connect"  # DNS failure, refused, reset before a response
    TIMEOUT = "timeout"  # no response or a stalled body
    AUTH = "auth"  # 401 / 403
    NOT_FOUND = "not_found"  # 404: a result, never retried
    RATE_LIMITED = "rate_limited"  # 429
    SERVER = "server"  # 5xx
    CLIENT = "client"  # other 4xx
    MALFORMED = "malformed"  # body is not what the protocol promises
    INTEGRITY = "integrity"  # size or sha256 mismatch of downloaded bytes
    DISK_FULL = "disk_full"  # ENOSPC / EDQUOT while writing
    PERMISSION = "permission"  # EACCES / EPERM while writing
    CANCELLED = "cancelled"  # the user cancelled
    UNAVAILABLE = "unavailable"  # circuit breaker open: failing fast
    INTERNAL = "internal"  # a bug on this side (TypeError, ...): retrying cannot help
    BLOCKED = "blocked"  # an address the fetch rule refuses (local network, other scheme): never sent


RETRYABLE_KINDS = frozenset({ErrorKind.CONNECT, ErrorKind.TIMEOUT, ErrorKind.RATE_LIMITED, ErrorKind.SERVER})


@dataclass(eq=False)  # identity equality keeps exceptions hashable (tracebacks, sets of errors)
class RemoteError(Exception):
    """A classified failure. ``message`` is written for the user; ``retry_after`` is in seconds;
    ``attempts`` counts the tries made before giving up."""

    kind: ErrorKind
    message: str
    status: int | None = None
    retry_after: float | None = None
    url: str | None = None
    attempts: int = 1

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # copy/pickle rebuild from the fields, not from Exception.args
        return (type(self), (self.kind, self.message, self.status, self.retry_after, self.url, self.attempts))

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def classify_status(status: int, headers: Mapping[str, str] | None = None, url: str | None = None) -> RemoteError | None:
    """The error an HTTP status means, or None for success (2xx/3xx)."""
    if status < 400:
        return None
    headers = headers or {}
    if status in (401, 403):
        return RemoteError(ErrorKind.AUTH, f"Access denied by the remote host (HTTP {status}); check the API key", status, url=url)
    if status == 408:
        return RemoteError(ErrorKind.TIMEOUT, "The remote host timed out (HTTP 408)", status, url=url)
    if status == 404:
        return RemoteError(ErrorKind.NOT_FOUND, "Not found on the remote host (HTTP 404)", status, url=url)
    if status == 429:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        return RemoteError(ErrorKind.RATE_LIMITED, "Rate limited by the remote host (HTTP 429)", status, retry_after, url)
    if status >= 500:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        return RemoteError(ErrorKind.SERVER, f"The remote host failed (HTTP {status})", status, retry_after, url)
    return RemoteError(ErrorKind.CLIENT, f"The remote host refused the request (HTTP {status})", status, url=url)


def classify_os_error(exc: OSError, action: str = "write") -> RemoteError:
    """Local file errors met while storing remote data."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return RemoteError(ErrorKind.DISK_FULL, f"Disk full: could not {action} ({exc.strerror or exc})")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return RemoteError(ErrorKind.PERMISSION, f"Permission denied: could not {action} ({exc.strerror or exc})")
    return RemoteError(ErrorKind.CONNECT if isinstance(exc, ConnectionError) else ErrorKind.SERVER, f"I/O error: {exc}")


def classify_exception(exc: BaseException, url: str | None = None) -> RemoteError:
    """Turn whatever a remote call raised into a ``RemoteError`` (idempotent)."""
    if isinstance(exc, RemoteError):
        return exc
    if isinstance(exc, asyncio.CancelledError):
        return RemoteError(ErrorKind.CANCELLED, "Cancelled", url=url)
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError, TimeoutError)):
        return RemoteError(ErrorKind.TIMEOUT, "The remote host did not answer in time", url=url)
    if isinstance(exc, aiohttp.ClientResponseError):
        err = classify_status(exc.status, exc.headers or {}, url)
        if err is not None:
            return err
    if isinstance(exc, aiohttp.NonHttpUrlRedirectClientError):
        return RemoteError(ErrorKind.BLOCKED, f"Refused to fetch {exc} (a redirect): only http and https addresses "
                                              "are fetched", url=url)
    if isinstance(exc, aiohttp.InvalidURL):
        return RemoteError(ErrorKind.CLIENT, f"Invalid URL: {exc}", url=url)
    if isinstance(exc, (aiohttp.ContentTypeError, ValueError)) and not isinstance(exc, aiohttp.ClientError):
        return RemoteError(ErrorKind.MALFORMED, f"The remote host sent a malformed answer: {exc}", url=url)
    if isinstance(exc, aiohttp.ContentTypeError):
        return RemoteError(ErrorKind.MALFORMED, "The remote host sent a malformed answer (not JSON)", url=url)
    if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError)):
        return RemoteError(ErrorKind.CONNECT, "The connection was cut before the whole answer arrived", url=url)
    if isinstance(exc, aiohttp.ClientConnectionError):
        return RemoteError(ErrorKind.CONNECT, f"Could not connect to the remote host: {exc}", url=url)
    if isinstance(exc, aiohttp.ClientError):
        return RemoteError(ErrorKind.CONNECT, f"Network error: {exc}", url=url)
    if isinstance(exc, OSError):
        return classify_os_error(exc)
    return RemoteError(ErrorKind.INTERNAL, f"Unexpected error: {type(exc).__name__}: {exc}", url=url)
