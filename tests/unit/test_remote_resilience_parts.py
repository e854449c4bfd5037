"""RetryPolicy, CircuitBreaker, HostRateLimiter and the error taxonomy, driven by a manual clock."""
from __future__ import annotations

import asyncio
import copy
import errno
import pickle
import random
import time

import aiohttp
import pytest

from lora_manager.py.services.remote.errors import (
    ErrorKind,
    RemoteError,
    classify_exception,
    classify_os_error,
    classify_status,
    parse_retry_after,
)
from lora_manager.py.services.remote.resilience import (
    BreakerState,
    CircuitBreaker,
    HostRateLimiter,
    RetryPolicy,
    host_key,
)
from support.fake_civitai import ManualClock


def err(kind: ErrorKind, retry_after: float | None = None) -> RemoteError:
    return RemoteError(kind, f"{kind.value} happened", retry_after=retry_after)


# -- RetryPolicy -------------------------------------------------------------------------------------
def test_backoff_doubles_and_is_capped():
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0, jitter=0.0)
    delays = [policy.delay_for(n, err(ErrorKind.SERVER)) for n in range(1, 7)]
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_jitter_stays_within_its_fraction():
    policy = RetryPolicy(base_delay=1.0, max_delay=100.0, jitter=0.5)
    rng = random.Random(7)
    for attempt in range(1, 6):
        full = policy.backoff(attempt)
        for _ in range(50):
            delay = policy.delay_for(attempt, err(ErrorKind.TIMEOUT), rng)
            assert full * 0.5 <= delay <= full


def test_retry_after_wins_and_is_capped():
    policy = RetryPolicy(base_delay=0.5, max_retry_after=60.0)
    assert policy.delay_for(1, err(ErrorKind.RATE_LIMITED, retry_after=7.0)) == 7.0
    assert policy.delay_for(3, err(ErrorKind.RATE_LIMITED, retry_after=10_000.0)) == 60.0
    assert policy.delay_for(1, err(ErrorKind.SERVER, retry_after=0.0)) == 0.0


@pytest.mark.parametrize(
    "kind, retried",
    [
        (ErrorKind.CONNECT, True),
        (ErrorKind.TIMEOUT, True),
        (ErrorKind.RATE_LIMITED, True),
        (ErrorKind.SERVER, True),
        (ErrorKind.NOT_FOUND, False),
        (ErrorKind.AUTH, False),
        (ErrorKind.MALFORMED, False),
        (ErrorKind.CLIENT, False),
        (ErrorKind.UNAVAILABLE, False),
        (ErrorKind.INTERNAL, False),
        (ErrorKind.DISK_FULL, False),
    ],
)
def test_only_transient_kinds_are_retried(kind, retried):
    policy = RetryPolicy(max_attempts=3)
    assert policy.should_retry(1, err(kind)) is retried
    assert policy.should_retry(3, err(kind)) is False  # no attempts left


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"base_delay": -1}, {"jitter": 1.5}])
def test_policy_rejects_nonsense(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


# -- CircuitBreaker ----------------------------------------------------------------------------------
def make_breaker(clock: ManualClock, threshold: int = 3, reset: float = 60.0) -> CircuitBreaker:
    return CircuitBreaker("civitai.com", failure_threshold=threshold, reset_timeout=reset, clock=clock, wall_clock=lambda: 1_700_000_000.0)


def test_breaker_opens_after_consecutive_failures_and_fails_fast():
    clock = ManualClock()
    breaker = make_breaker(clock)
    for _ in range(2):
        assert breaker.before_call() is False
        breaker.record(err(ErrorKind.SERVER))
    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()
    breaker.record(err(ErrorKind.TIMEOUT))
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(RemoteError) as info:
        breaker.before_call()
    expected = time.strftime("%H:%M", time.localtime(1_700_000_000.0 + 60.0))
    assert info.value.kind is ErrorKind.UNAVAILABLE
    assert str(info.value) == f"civitai.com is unavailable, retrying at {expected}"
    assert info.value.retry_after == pytest.approx(60.0)
    status = breaker.to_dict()
    assert status["state"] == "open" and status["retry_at"] == expected and status["last_error_kind"] == "timeout"
    assert status["consecutive_failures"] == 3 and status["trips"] == 1


def test_answers_from_the_host_reset_the_failure_count():
    clock = ManualClock()
    breaker = make_breaker(clock)
    for kind in (ErrorKind.SERVER, ErrorKind.SERVER, ErrorKind.NOT_FOUND, ErrorKind.SERVER, ErrorKind.AUTH, ErrorKind.SERVER, ErrorKind.MALFORMED):
        breaker.record(err(kind))
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0


def test_cancellation_and_local_bugs_are_neutral():
    clock = ManualClock()
    breaker = make_breaker(clock, threshold=2)
    breaker.record(err(ErrorKind.SERVER))
    breaker.record(err(ErrorKind.CANCELLED))
    breaker.record(err(ErrorKind.INTERNAL))
    assert breaker.consecutive_failures == 1
    breaker.record_failure(err(ErrorKind.NOT_FOUND))  # a non-transient "failure" is an answer
    assert breaker.consecutive_failures == 0


def test_half_open_lets_exactly_one_probe_and_success_closes():
    clock = ManualClock()
    breaker = make_breaker(clock, threshold=1, reset=30.0)
    breaker.record(err(ErrorKind.CONNECT))
    assert breaker.state is BreakerState.OPEN
    clock.advance(29.9)
    with pytest.raises(RemoteError):
        breaker.before_call()
    clock.advance(0.2)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.before_call() is True  # the probe
    with pytest.raises(RemoteError) as second:
        breaker.before_call()
    assert second.value.kind is ErrorKind.UNAVAILABLE
    breaker.record(None)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.before_call() is False


def test_failed_probe_reopens_for_a_full_period():
    clock = ManualClock()
    breaker = make_breaker(clock, threshold=1, reset=30.0)
    breaker.record_failure()
    clock.advance(30.0)
    assert breaker.before_call() is True
    breaker.record(err(ErrorKind.SERVER))
    assert breaker.state is BreakerState.OPEN
    clock.advance(29.0)
    with pytest.raises(RemoteError):
        breaker.before_call()
    clock.advance(1.0)
    assert breaker.before_call() is True
    assert breaker.to_dict()["trips"] == 1  # re-opening from half-open is the same outage


def test_released_probe_lets_another_through_and_a_stuck_probe_expires():
    clock = ManualClock()
    breaker = make_breaker(clock, threshold=1, reset=10.0)
    breaker.record_failure(err(ErrorKind.SERVER))
    clock.advance(10.0)
    assert breaker.before_call() is True
    breaker.release()
    assert breaker.before_call() is True
    clock.advance(10.0)  # that probe never reported back
    assert breaker.before_call() is True


def test_breaker_rejects_zero_threshold():
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0)


# -- HostRateLimiter ---------------------------------------------------------------------------------
async def test_rate_limiter_paces_each_host_separately():
    clock = ManualClock()
    limiter = HostRateLimiter(2.0, clock=clock, sleep=clock.sleep)
    waits = [await limiter.acquire("a") for _ in range(3)]
    assert waits == [0.0, pytest.approx(0.5), pytest.approx(0.5)]
    assert await limiter.acquire("b") == 0.0


async def test_rate_limiter_burst_then_steady_rate():
    clock = ManualClock()
    limiter = HostRateLimiter(1.0, burst=3, clock=clock, sleep=clock.sleep)
    waits = [await limiter.acquire("h") for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == [pytest.approx(1.0), pytest.approx(1.0)]


async def test_concurrent_callers_queue_without_overlap():
    clock = ManualClock()
    limiter = HostRateLimiter(4.0, clock=clock, sleep=clock.sleep)
    start = clock.now
    reserved = [limiter._reserve("h", start) for _ in range(4)]
    assert reserved == [0.0, 0.25, 0.5, 0.75]


async def test_penalty_pushes_the_next_slot_even_without_a_rate():
    clock = ManualClock()
    limiter = HostRateLimiter(None, clock=clock, sleep=clock.sleep)
    assert await limiter.acquire("h") == 0.0
    limiter.penalize("h", 5.0)
    limiter.penalize("h", 1.0)  # a shorter penalty never shortens a longer one
    limiter.penalize("h", -3.0)
    assert limiter.delay("h") == pytest.approx(5.0)
    assert await limiter.acquire("h") == pytest.approx(5.0)
    assert await limiter.acquire("other") == 0.0


async def test_penalty_arriving_while_waiting_still_applies():
    clock = ManualClock()
    limiter: HostRateLimiter

    async def sleep_and_get_penalized(seconds: float) -> None:
        await clock.sleep(seconds)
        if len(clock.sleeps) == 1:
            limiter.penalize("h", 3.0)

    limiter = HostRateLimiter(1.0, clock=clock, sleep=sleep_and_get_penalized)
    await limiter.acquire("h")
    waited = await limiter.acquire("h")
    assert waited == pytest.approx(4.0)
    assert clock.sleeps == [pytest.approx(1.0), pytest.approx(3.0)]


@pytest.mark.parametrize("kwargs", [{"rate_per_host": 0}, {"rate_per_host": 1.0, "burst": 0}])
def test_rate_limiter_rejects_nonsense(kwargs):
    with pytest.raises(ValueError):
        HostRateLimiter(**kwargs)


# -- host keys and errors ----------------------------------------------------------------------------
def test_host_key():
    assert host_key("https://Civitai.com/api/v1/models") == "civitai.com"
    assert host_key("http://127.0.0.1:8188/x") == "127.0.0.1:8188"
    for bad in ("ftp://x/y", "/relative", "http://host:notaport/"):
        with pytest.raises(ValueError):
            host_key(bad)


def test_classify_status_table():
    assert classify_status(200) is None and classify_status(304) is None
    assert classify_status(401).kind is ErrorKind.AUTH
    assert classify_status(403).kind is ErrorKind.AUTH
    assert classify_status(404).kind is ErrorKind.NOT_FOUND
    assert classify_status(408).kind is ErrorKind.TIMEOUT
    assert classify_status(418).kind is ErrorKind.CLIENT
    limited = classify_status(429, {"Retry-After": "12"})
    assert limited.kind is ErrorKind.RATE_LIMITED and limited.retry_after == 12.0
    assert classify_status(503, {"Retry-After": "3"}).retry_after == 3.0
    assert classify_status(502).kind is ErrorKind.SERVER


def test_parse_retry_after_forms():
    assert parse_retry_after(None) is None
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after(" 5 ") == 5.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == pytest.approx(10.0)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0


def test_classify_exception_covers_what_calls_raise():
    assert classify_exception(asyncio.TimeoutError()).kind is ErrorKind.TIMEOUT
    assert classify_exception(asyncio.CancelledError()).kind is ErrorKind.CANCELLED
    assert classify_exception(ValueError("bad json")).kind is ErrorKind.MALFORMED
    assert classify_exception(aiohttp.ClientPayloadError("cut")).kind is ErrorKind.CONNECT
    assert classify_exception(aiohttp.ServerDisconnectedError()).kind is ErrorKind.CONNECT
    assert classify_exception(aiohttp.ClientError("x")).kind is ErrorKind.CONNECT
    assert classify_exception(aiohttp.InvalidURL("nope")).kind is ErrorKind.CLIENT
    assert classify_exception(TypeError("bug")).kind is ErrorKind.INTERNAL
    assert classify_exception(OSError(errno.ENOSPC, "No space left on device")).kind is ErrorKind.DISK_FULL
    assert classify_exception(PermissionError(errno.EACCES, "Permission denied")).kind is ErrorKind.PERMISSION
    assert classify_exception(ConnectionResetError(errno.ECONNRESET, "reset")).kind is ErrorKind.CONNECT
    assert classify_os_error(OSError(errno.EIO, "I/O error")).kind is ErrorKind.SERVER
    same = err(ErrorKind.AUTH)
    assert classify_exception(same) is same


def test_remote_error_is_hashable_and_copyable():
    error = RemoteError(ErrorKind.SERVER, "boom", 500, 2.0, "http://x/", attempts=3)
    assert len({error, error}) == 1
    for clone in (copy.copy(error), pickle.loads(pickle.dumps(error))):
        assert (clone.kind, clone.message, clone.status, clone.retry_after, clone.url, clone.attempts) == (
            ErrorKind.SERVER, "boom", 500, 2.0, "http://x/", 3)
    assert str(error) == "boom" and error.retryable


def test_classify_response_errors_raised_by_raise_for_status():
    from yarl import URL

    info = aiohttp.RequestInfo(URL("http://h/x"), "GET", {}, URL("http://h/x"))
    limited = aiohttp.ClientResponseError(info, (), status=429, headers={"Retry-After": "4"})
    assert classify_exception(limited).retry_after == 4.0
    not_json = aiohttp.ContentTypeError(info, (), status=200, message="text/html")
    assert classify_exception(not_json).kind is ErrorKind.MALFORMED


async def test_rate_limiter_delay_reports_the_next_slot_without_reserving():
    clock = ManualClock()
    limiter = HostRateLimiter(2.0, clock=clock, sleep=clock.sleep)
    assert limiter.delay("h") == 0.0
    await limiter.acquire("h")
    assert limiter.delay("h") == pytest.approx(0.5)
    assert limiter.delay("h") == pytest.approx(0.5)
