"""The one resilience mechanism every remote call goes through: rate limit, circuit breaker, retries.

Why: bulk jobs that hammer a provider into 429s, and a provider that is down, cost users hours. Each remote
operation runs under a per-host rate limit, a per-host circuit breaker (fail fast while the host is down) and
a retry policy with exponential backoff, jitter and ``Retry-After``. Time is injected (``sleep``, ``clock``)
so tests record the delays instead of waiting for them.
"""
from __future__ import annotations

import asyncio
import inspect
import json as jsonlib
import logging
import random
import time
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping, TypeVar
from urllib.parse import urlsplit

import aiohttp

from .errors import ErrorKind, RemoteError, classify_exception, classify_status

if TYPE_CHECKING:
    from ...security.fetch_guard import FetchPolicy

logger = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]
SessionSource = aiohttp.ClientSession | Callable[[], "aiohttp.ClientSession | Awaitable[aiohttp.ClientSession]"] | None

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=120, sock_connect=15, sock_read=60)
# Bodies larger than this are decoded in a worker thread so the event loop stays responsive.
_THREAD_DECODE_BYTES = 256 * 1024
# Kinds that say nothing about the host's health: they neither trip nor heal a breaker.
_NEUTRAL_KINDS = frozenset({ErrorKind.CANCELLED, ErrorKind.INTERNAL, ErrorKind.UNAVAILABLE, ErrorKind.BLOCKED})


def host_key(url: str) -> str:
    """The key that rate limits and breakers are kept under: lowercase host, plus the port when explicit."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"Not an absolute http(s) URL: {url!r}")
    port = parts.port  # raises ValueError for a bad port
    return f"{parts.hostname}:{port}" if port is not None else parts.hostname


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying a failed remote call again.

    ``attempt`` is 1-based: the number of the attempt that just failed.
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.5  # fraction of the backoff that is randomised away
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter is a fraction between 0 and 1")

    def backoff(self, attempt: int) -> float:
        """The exponential delay before jitter: base * 2^(attempt-1), capped."""
        exponent = min(max(attempt, 1) - 1, 64)
        return min(self.max_delay, self.base_delay * (2.0**exponent))

    def delay_for(self, attempt: int, error: RemoteError, rng: random.Random | None = None) -> float:
        """Seconds to wait after ``attempt`` failed with ``error``; a server's ``Retry-After`` wins (capped)."""
        if error.retry_after is not None:
            return max(0.0, min(error.retry_after, self.max_retry_after))
        base = self.backoff(attempt)
        draw = (rng or random).random()
        return max(0.0, base * (1.0 - self.jitter * draw))

    def should_retry(self, attempt: int, error: RemoteError) -> bool:
        """Only transient kinds (connect, timeout, 429, 5xx) are retried, and only while attempts are left."""
        return error.retryable and attempt < self.max_attempts


class BreakerState(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Stops calling a host after ``failure_threshold`` consecutive transient failures.

    While open, ``before_call`` fails fast with ``ErrorKind.UNAVAILABLE``; after ``reset_timeout`` one probe
    is let through (half-open): its success closes the breaker, its failure opens it again. Answers that are
    not transient failures (404, 401, malformed bodies) prove the host is up and count as successes.
    """

    def __init__(
        self,
        name: str = "The remote host",
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 60.0,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = float(reset_timeout)
        self._clock = clock
        self._wall_clock = wall_clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_started: float | None = None
        self._last_error: RemoteError | None = None
        self._trips = 0

    # -- state -------------------------------------------------------------------------------------
    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() >= self._retry_at():
            self._state = BreakerState.HALF_OPEN
            self._probe_started = None
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def _retry_at(self) -> float:
        return (self._opened_at or 0.0) + self.reset_timeout

    def _unavailable(self, retry_at: float) -> RemoteError:
        wait = max(0.0, retry_at - self._clock())
        when = time.strftime("%H:%M", time.localtime(self._wall_clock() + wait))
        return RemoteError(ErrorKind.UNAVAILABLE, f"{self.name} is unavailable, retrying at {when}", retry_after=wait)

    # -- protocol ----------------------------------------------------------------------------------
    def before_call(self) -> bool:
        """Raise ``RemoteError(UNAVAILABLE)`` instead of touching the network while the host is known down.

        Returns True when this call is the single half-open probe (whose caller must ``record`` or
        ``release`` it)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return False
        if state is BreakerState.OPEN:
            raise self._unavailable(self._retry_at())
        now = self._clock()
        if self._probe_started is not None and now - self._probe_started < self.reset_timeout:
            raise self._unavailable(now)  # the single probe is under way
        self._probe_started = now
        return True

    def record_success(self) -> None:
        if self._state is not BreakerState.CLOSED:
            logger.info("%s answers again; circuit closed", self.name)
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = None
        self._probe_started = None

    def record_failure(self, error: RemoteError | None = None) -> None:
        """Count one transient failure; non-transient errors are forwarded to ``record``."""
        if error is not None and not error.retryable:
            self.record(error)
            return
        self._failures += 1
        if error is not None:
            self._last_error = error
        if self.state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            self._open()

    def record(self, error: RemoteError | None) -> None:
        """Record the outcome of one call: None is a success, a transient error a failure,
        any other answer from the host a success; cancellations and local bugs change nothing."""
        if error is None:
            self.record_success()
        elif error.kind in _NEUTRAL_KINDS:
            return
        elif error.retryable:
            self.record_failure(error)
        else:
            self.record_success()

    def release(self) -> None:
        """Forget a probe that ended without a verdict (cancelled), so another may be let through."""
        self._probe_started = None

    def _open(self) -> None:
        was_open = self._state is not BreakerState.CLOSED
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._probe_started = None
        if not was_open:
            self._trips += 1
        logger.warning(
            "%s failed %d times in a row (%s); circuit open for %.0f s",
            self.name,
            self._failures,
            self._last_error.kind.value if self._last_error else "failure",
            self.reset_timeout,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot for status endpoints."""
        state = self.state
        out: dict[str, Any] = {
            "name": self.name,
            "state": state.value,
            "consecutive_failures": self._failures,
            "failure_threshold": self.failure_threshold,
            "reset_timeout": self.reset_timeout,
            "trips": self._trips,
            "retry_at": None,
            "retry_in": None,
            "last_error": None,
            "last_error_kind": None,
        }
        if state is BreakerState.OPEN:
            wait = max(0.0, self._retry_at() - self._clock())
            out["retry_in"] = round(wait, 3)
            out["retry_at"] = time.strftime("%H:%M", time.localtime(self._wall_clock() + wait))
        if self._last_error is not None:
            out["last_error"] = self._last_error.message
            out["last_error_kind"] = self._last_error.kind.value
        return out


class HostRateLimiter:
    """Per-host pacing: a token bucket of ``burst`` calls refilled at ``rate_per_host`` per second.

    Slots are reserved synchronously (generic cell rate algorithm), so concurrent callers queue up without
    a lock and each sleeps exactly once. ``penalize`` pushes a host's next slot back after a 429.
    ``rate_per_host=None`` means no pacing, but penalties still apply.
    """

    def __init__(
        self,
        rate_per_host: float | None = None,
        *,
        burst: int = 1,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate_per_host is not None and rate_per_host <= 0:
            raise ValueError("rate_per_host must be positive (or None for no limit)")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate_per_host = rate_per_host
        self.burst = burst
        self._interval = 1.0 / rate_per_host if rate_per_host else 0.0
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._sleep = sleep
        self._tat: dict[str, float] = {}  # theoretical arrival time of the next call, per host
        self._blocked_until: dict[str, float] = {}

    def _reserve(self, host: str, now: float) -> float:
        start = max(now, self._blocked_until.get(host, now))
        if self._interval:
            tat = self._tat.get(host, start)
            start = max(start, tat - self._tolerance)
            self._tat[host] = max(tat, start) + self._interval
        return start - now

    def delay(self, host: str) -> float:
        """Seconds until ``host`` would get a slot, without reserving one."""
        now = self._clock()
        start = max(now, self._blocked_until.get(host, now))
        if self._interval and host in self._tat:
            start = max(start, self._tat[host] - self._tolerance)
        return start - now

    async def acquire(self, host: str) -> float:
        """Wait for ``host``'s next slot; returns the seconds waited."""
        waited = self._reserve(host, self._clock())
        if waited > 0:
            await self._sleep(waited)
        # A penalty that arrived while this caller waited still applies to it (checked once).
        extra = self._blocked_until.get(host, 0.0) - self._clock()
        if extra > 0:
            await self._sleep(extra)
            waited += extra
        return max(0.0, waited)

    def penalize(self, host: str, seconds: float) -> None:
        """Hold every call to ``host`` back for ``seconds`` (a 429's Retry-After)."""
        if seconds <= 0:
            return
        until = self._clock() + seconds
        if until > self._blocked_until.get(host, float("-inf")):
            self._blocked_until[host] = until


class ResilientHttp:
    """Runs remote operations under rate limit + circuit breaker + retries, one breaker per host.

    ``session`` is an ``aiohttp.ClientSession`` (borrowed, never closed here), a factory returning one (or an
    awaitable of one; created on first use and closed by ``close``), or None for a default session, which
    follows ``fetch_policy`` (the app's outbound-fetch rule) when one is given.
    """

    def __init__(
        self,
        session: SessionSource = None,
        *,
        policy: RetryPolicy | None = None,
        breaker_threshold: int = 5,
        breaker_reset: float = 60.0,
        rate_per_host: float | None = None,
        rate_burst: int = 1,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        rng: random.Random | None = None,
        fetch_policy: "FetchPolicy | None" = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.fetch_policy = fetch_policy
        self.timeout = timeout
        self.breaker_threshold = breaker_threshold
        self.breaker_reset = breaker_reset
        self.rate_limiter = HostRateLimiter(rate_per_host, burst=rate_burst, clock=clock, sleep=sleep)
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()
        self._breakers: dict[str, CircuitBreaker] = {}
        self._session: aiohttp.ClientSession | None = None
        self._factory: Callable[[], Any] | None = None
        self._owns_session = False
        if isinstance(session, aiohttp.ClientSession):
            self._session = session
        elif session is not None:
            self._factory = session
        else:
            self._factory = self._default_session
        self._session_lock = asyncio.Lock()

    # -- session -----------------------------------------------------------------------------------
    def _default_session(self) -> aiohttp.ClientSession:
        if self.fetch_policy is not None:
            return self.fetch_policy.session(timeout=self.timeout)
        return aiohttp.ClientSession(timeout=self.timeout)

    async def session(self) -> aiohttp.ClientSession:
        """The shared client session (made on first use when this object owns it)."""
        if self._session is not None and (not self._session.closed or self._factory is None):
            return self._session
        async with self._session_lock:
            if self._session is None or self._session.closed:
                assert self._factory is not None
                made = self._factory()
                if inspect.isawaitable(made):
                    made = await made
                self._session = made
                self._owns_session = True
        return self._session

    async def close(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def __aenter__(self) -> "ResilientHttp":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- breakers ----------------------------------------------------------------------------------
    def breaker(self, host: str) -> CircuitBreaker:
        """The breaker of ``host`` (named after it), created on first use."""
        found = self._breakers.get(host)
        if found is None:
            found = CircuitBreaker(
                host,
                failure_threshold=self.breaker_threshold,
                reset_timeout=self.breaker_reset,
                clock=self._clock,
                wall_clock=self._wall_clock,
            )
            self._breakers[host] = found
        return found

    def breakers_status(self) -> dict[str, dict[str, Any]]:
        """Every known host's breaker, for status endpoints."""
        return {host: breaker.to_dict() for host, breaker in sorted(self._breakers.items())}

    # -- calls -------------------------------------------------------------------------------------
    async def call(self, host: str, operation: Callable[[], Awaitable[T]], *, describe: str = "",
                   guarded: bool = True) -> T:
        """Run ``operation`` until it succeeds, fails for good, or ``host``'s breaker opens.

        Whatever ``operation`` raises is classified; the final failure is raised as a ``RemoteError``.
        Cancellation propagates untouched. ``guarded=False`` leaves the breaker out (neither asked nor told):
        for a caller that paces its own probes, such as a transfer waiting for its host to come back.
        """
        breaker = self.breaker(host) if guarded else CircuitBreaker(host, failure_threshold=1 << 30)
        label = describe or host
        last: RemoteError | None = None
        attempt = 0
        while True:
            attempt += 1
            try:
                is_probe = breaker.before_call()
            except RemoteError as unavailable:
                unavailable.attempts = attempt - 1
                if last is not None:
                    raise unavailable from last
                raise
            try:
                await self.rate_limiter.acquire(host)
                result = await operation()
            except asyncio.CancelledError:
                if is_probe:
                    breaker.release()
                raise
            except Exception as exc:  # classified below; nothing escapes unclassified
                error = classify_exception(exc)
                breaker.record(error)
                if is_probe and error.kind in _NEUTRAL_KINDS:
                    breaker.release()
                if error.retry_after and error.retry_after > 0:
                    self.rate_limiter.penalize(host, min(error.retry_after, self.policy.max_retry_after))
                if not self.policy.should_retry(attempt, error):
                    raise self._final(error, attempt) from (exc if exc is not error else None)
                delay = self.policy.delay_for(attempt, error, self._rng)
                logger.warning(
                    "%s: %s [%s]; retry %d of %d in %.2f s",
                    label,
                    error.message,
                    error.kind.value,
                    attempt,
                    self.policy.max_attempts - 1,
                    delay,
                )
                last = error
                await self._sleep(delay)
                continue
            breaker.record_success()
            return result

    @staticmethod
    def _final(error: RemoteError, attempts: int) -> RemoteError:
        """The error to raise: transient kinds say that retrying was given up; others keep their text."""
        if attempts <= 1 or not error.retryable:
            error.attempts = attempts
            return error
        return RemoteError(
            error.kind,
            f"{error.message}; gave up after {attempts} attempts",
            error.status,
            error.retry_after,
            error.url,
            attempts,
        )

    async def request_json(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """One JSON request under the full mechanism. HTTP errors raise their ``RemoteError`` (404 ⇒
        NOT_FOUND, never retried); a body that is not JSON raises MALFORMED."""
        host = host_key(url)
        method = method.upper()

        async def operation() -> Any:
            session = await self.session()
            async with session.request(
                method, url, params=params, json=json, headers=headers, timeout=self.timeout
            ) as response:
                final_url = str(response.url)
                error = classify_status(response.status, response.headers, final_url)
                if error is not None:
                    raise error
                body = await response.read()
            return await decode_json(body, final_url)

        return await self.call(host, operation, describe=f"{method} {url}")


async def decode_json(body: bytes, url: str | None = None) -> Any:
    """Parse a JSON body (in a worker thread when large); anything unparsable is MALFORMED."""
    if not body.strip():
        raise RemoteError(ErrorKind.MALFORMED, "The remote host sent an empty answer where JSON was expected", url=url)
    try:
        if len(body) > _THREAD_DECODE_BYTES:
            return await asyncio.to_thread(jsonlib.loads, body)
        return jsonlib.loads(body)
    except ValueError as exc:
        raise RemoteError(
            ErrorKind.MALFORMED, f"The remote host sent a malformed answer (invalid JSON: {exc})", url=url
        ) from exc
