"""ResilientHttp against a real loopback server: retries, Retry-After, timeouts, refusals, breakers."""
from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import time

import aiohttp
import pytest

from lora_manager.py.services.remote.errors import ErrorKind, RemoteError
from lora_manager.py.services.remote.resilience import ResilientHttp, RetryPolicy, decode_json
from support.fake_civitai import FakeCivitai, ManualClock, fake_civitai  # noqa: F401  (fixture)

WALL = 1_700_000_000.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def http(clock):
    client = ResilientHttp(
        policy=RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=30.0, jitter=0.0),
        breaker_threshold=5,
        breaker_reset=60.0,
        timeout=aiohttp.ClientTimeout(total=5, sock_read=2),
        sleep=clock.sleep,
        clock=clock,
        wall_clock=lambda: WALL,
        rng=random.Random(1),
    )
    yield client
    await client.close()


def model_url(fake: FakeCivitai, model_id: int) -> str:
    return f"{fake.base_url}/api/v1/models/{model_id}"


async def test_429_retry_after_is_honoured(fake_civitai, http, clock, caplog):
    model = fake_civitai.add_model("Rate Limited")
    fake_civitai.rate_limit_next(2, retry_after=7)
    with caplog.at_level(logging.WARNING, logger="lora_manager.py.services.remote.resilience"):
        answer = await http.request_json("GET", model_url(fake_civitai, model.id))
    assert answer["id"] == model.id
    assert clock.sleeps == [7.0, 7.0]
    assert len(fake_civitai.requests) == 3
    assert "rate_limited" in caplog.text and "7.00 s" in caplog.text


async def test_a_huge_retry_after_is_capped(fake_civitai, clock):
    model = fake_civitai.add_model()
    fake_civitai.rate_limit_next(1, retry_after=100_000)
    async with ResilientHttp(policy=RetryPolicy(max_retry_after=120.0), sleep=clock.sleep, clock=clock) as client:
        await client.request_json("GET", model_url(fake_civitai, model.id))
    assert clock.sleeps == [120.0]


async def test_5xx_retried_with_backoff_then_success(fake_civitai, http, clock):
    model = fake_civitai.add_model()
    fake_civitai.fail_next(2, status=502)
    answer = await http.request_json("GET", model_url(fake_civitai, model.id))
    assert answer["name"] == model.name
    assert clock.sleeps == [0.5, 1.0]
    assert http.breakers_status()[fake_civitai.host]["state"] == "closed"


async def test_5xx_exhausted_gives_a_clear_error(fake_civitai, http, clock):
    model = fake_civitai.add_model()
    fake_civitai.fail_next(10, status=503)
    with pytest.raises(RemoteError) as info:
        await http.request_json("GET", model_url(fake_civitai, model.id))
    error = info.value
    assert error.kind is ErrorKind.SERVER and error.status == 503 and error.attempts == 4
    assert str(error) == "The remote host failed (HTTP 503); gave up after 4 attempts"
    assert error.url.endswith(f"/api/v1/models/{model.id}")
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert len(fake_civitai.requests) == 4


async def test_404_is_answered_after_exactly_one_request(fake_civitai, http, clock):
    with pytest.raises(RemoteError) as info:
        await http.request_json("GET", model_url(fake_civitai, 999))
    assert info.value.kind is ErrorKind.NOT_FOUND and info.value.attempts == 1
    assert len(fake_civitai.requests) == 1 and clock.sleeps == []


async def test_401_is_not_retried(fake_civitai, http, clock):
    fake_civitai.fail_next(1, status=401)
    with pytest.raises(RemoteError) as info:
        await http.request_json("GET", model_url(fake_civitai, 1))
    assert info.value.kind is ErrorKind.AUTH and "API key" in str(info.value)
    assert len(fake_civitai.requests) == 1


async def test_malformed_json_is_malformed_and_not_retried(fake_civitai, http, clock):
    model = fake_civitai.add_model()
    fake_civitai.malformed_json_next(1)
    with pytest.raises(RemoteError) as info:
        await http.request_json("GET", model_url(fake_civitai, model.id))
    assert info.value.kind is ErrorKind.MALFORMED and "invalid JSON" in str(info.value)
    assert len(fake_civitai.requests) == 1
    # the host answered: the breaker is not bothered, and the next call works
    assert (await http.request_json("GET", model_url(fake_civitai, model.id)))["id"] == model.id
    assert http.breakers_status()[fake_civitai.host]["consecutive_failures"] == 0


async def test_decode_json_rejects_empty_and_decodes_large_bodies_off_the_loop():
    with pytest.raises(RemoteError) as info:
        await decode_json(b"  \n", "http://x/")
    assert info.value.kind is ErrorKind.MALFORMED and info.value.url == "http://x/"
    big = json.dumps({"items": ["x" * 100] * 5000}).encode()
    assert len(big) > 256 * 1024
    assert len((await decode_json(big))["items"]) == 5000
    with pytest.raises(RemoteError) as bad:
        await decode_json(big[:-1])
    assert bad.value.kind is ErrorKind.MALFORMED


async def test_stalled_body_times_out_then_retry_succeeds(fake_civitai, clock):
    model = fake_civitai.add_model()
    fake_civitai.stall(1.0, n=1)
    async with ResilientHttp(
        policy=RetryPolicy(max_attempts=2, jitter=0.0),
        timeout=aiohttp.ClientTimeout(sock_read=0.1),
        sleep=clock.sleep,
        clock=clock,
    ) as client:
        answer = await client.request_json("GET", model_url(fake_civitai, model.id))
    assert answer["id"] == model.id
    assert clock.sleeps == [0.5]


async def test_stall_every_time_is_a_timeout_error(fake_civitai, clock):
    model = fake_civitai.add_model()
    fake_civitai.stall(1.0)
    async with ResilientHttp(
        policy=RetryPolicy(max_attempts=2, jitter=0.0),
        timeout=aiohttp.ClientTimeout(total=0.15),
        sleep=clock.sleep,
        clock=clock,
    ) as client:
        with pytest.raises(RemoteError) as info:
            await client.request_json("GET", model_url(fake_civitai, model.id))
    assert info.value.kind is ErrorKind.TIMEOUT and info.value.attempts == 2
    assert "did not answer in time" in str(info.value)


async def test_cut_body_is_retried(fake_civitai, http, clock):
    model = fake_civitai.add_model()
    fake_civitai.cut_after(20)
    answer = await http.request_json("GET", model_url(fake_civitai, model.id))
    assert answer["id"] == model.id
    assert len(fake_civitai.requests) == 2 and clock.sleeps == [0.5]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_connection_refused_is_retried_then_reported(http, clock):
    url = f"http://127.0.0.1:{closed_port()}/api/v1/models/1"
    with pytest.raises(RemoteError) as info:
        await http.request_json("GET", url)
    assert info.value.kind is ErrorKind.CONNECT and info.value.attempts == 4
    assert "Could not connect" in str(info.value)
    assert clock.sleeps == [0.5, 1.0, 2.0]


async def test_breaker_opens_and_then_answers_fast_without_touching_the_network(fake_civitai, clock):
    model = fake_civitai.add_model()
    fake_civitai.fail_next(100, status=500)
    async with ResilientHttp(
        policy=RetryPolicy(max_attempts=3, jitter=0.0),
        breaker_threshold=5,
        breaker_reset=120.0,
        sleep=clock.sleep,
        clock=clock,
        wall_clock=lambda: WALL,
    ) as client:
        with pytest.raises(RemoteError) as first:
            await client.request_json("GET", model_url(fake_civitai, model.id))
        assert first.value.kind is ErrorKind.SERVER and first.value.attempts == 3
        with pytest.raises(RemoteError) as second:
            await client.request_json("GET", model_url(fake_civitai, model.id))
        # failures 4 and 5 opened the breaker; the third attempt was never sent
        assert len(fake_civitai.requests) == 5
        expected = time.strftime("%H:%M", time.localtime(WALL + 120.0))
        assert second.value.kind is ErrorKind.UNAVAILABLE
        assert str(second.value) == f"{fake_civitai.host} is unavailable, retrying at {expected}"
        assert isinstance(second.value.__cause__, RemoteError) and second.value.__cause__.status == 500
        with pytest.raises(RemoteError) as third:
            await client.request_json("GET", model_url(fake_civitai, model.id))
        assert third.value.kind is ErrorKind.UNAVAILABLE and third.value.attempts == 0
        assert len(fake_civitai.requests) == 5  # failing fast: nothing sent
        status = client.breakers_status()[fake_civitai.host]
        assert status["state"] == "open" and status["retry_at"] == expected and status["last_error_kind"] == "server"


async def test_half_open_probe_success_closes_the_breaker(fake_civitai, clock):
    model = fake_civitai.add_model()
    async with ResilientHttp(
        policy=RetryPolicy(max_attempts=1), breaker_threshold=2, breaker_reset=30.0, sleep=clock.sleep, clock=clock
    ) as client:
        fake_civitai.fail_next(2, status=500)
        for _ in range(2):
            with pytest.raises(RemoteError):
                await client.request_json("GET", model_url(fake_civitai, model.id))
        with pytest.raises(RemoteError) as fast:
            await client.request_json("GET", model_url(fake_civitai, model.id))
        assert fast.value.kind is ErrorKind.UNAVAILABLE
        clock.advance(30.0)
        assert client.breakers_status()[fake_civitai.host]["state"] == "half_open"
        assert (await client.request_json("GET", model_url(fake_civitai, model.id)))["id"] == model.id
        assert client.breakers_status()[fake_civitai.host]["state"] == "closed"
        assert len(fake_civitai.requests) == 3


async def test_half_open_probe_failure_reopens(fake_civitai, clock):
    model = fake_civitai.add_model()
    async with ResilientHttp(
        policy=RetryPolicy(max_attempts=3, jitter=0.0), breaker_threshold=2, breaker_reset=30.0, sleep=clock.sleep, clock=clock
    ) as client:
        fake_civitai.fail_next(3, status=500)
        with pytest.raises(RemoteError):
            await client.request_json("GET", model_url(fake_civitai, model.id))
        assert len(fake_civitai.requests) == 2
        clock.advance(30.0)
        with pytest.raises(RemoteError) as probe:
            await client.request_json("GET", model_url(fake_civitai, model.id))
        # the probe failed: the breaker re-opened before a retry could be sent
        assert probe.value.kind is ErrorKind.UNAVAILABLE
        assert len(fake_civitai.requests) == 3
        assert client.breakers_status()[fake_civitai.host]["state"] == "open"


async def test_one_hosts_breaker_does_not_affect_another(clock):
    async with FakeCivitai() as down, FakeCivitai() as up:
        good = up.add_model("Healthy")
        down.fail_next(100, status=500)
        async with ResilientHttp(
            policy=RetryPolicy(max_attempts=1), breaker_threshold=2, sleep=clock.sleep, clock=clock
        ) as client:
            for _ in range(3):
                with pytest.raises(RemoteError):
                    await client.request_json("GET", f"{down.base_url}/api/v1/models/1")
            answer = await client.request_json("GET", model_url(up, good.id))
            assert answer["name"] == "Healthy"
            status = client.breakers_status()
            assert status[down.host]["state"] == "open" and status[up.host]["state"] == "closed"
            assert len(down.requests) == 2


async def test_rate_limit_per_host_spaces_requests(fake_civitai, clock):
    model = fake_civitai.add_model()
    async with ResilientHttp(rate_per_host=4.0, sleep=clock.sleep, clock=clock) as client:
        for _ in range(3):
            await client.request_json("GET", model_url(fake_civitai, model.id))
    assert clock.sleeps == [pytest.approx(0.25), pytest.approx(0.25)]


async def test_a_429_holds_back_other_callers_of_the_same_host(fake_civitai, clock):
    model = fake_civitai.add_model()
    async with ResilientHttp(policy=RetryPolicy(max_attempts=1), sleep=clock.sleep, clock=clock) as client:
        fake_civitai.rate_limit_next(1, retry_after=9)
        with pytest.raises(RemoteError) as info:
            await client.request_json("GET", model_url(fake_civitai, model.id))
        assert info.value.kind is ErrorKind.RATE_LIMITED and info.value.retry_after == 9.0
        await client.request_json("GET", model_url(fake_civitai, model.id))
    assert clock.sleeps == [9.0]


async def test_call_runs_any_operation_and_classifies_what_it_raises(clock):
    async with ResilientHttp(policy=RetryPolicy(max_attempts=3, jitter=0.0), sleep=clock.sleep, clock=clock) as client:
        attempts = []

        async def flaky() -> str:
            attempts.append(1)
            if len(attempts) < 3:
                raise aiohttp.ServerDisconnectedError()
            return "done"

        assert await client.call("files.example", flaky, describe="download x") == "done"
        assert clock.sleeps == [0.5, 1.0]

        async def buggy() -> None:
            raise TypeError("a bug")

        with pytest.raises(RemoteError) as info:
            await client.call("files.example", buggy)
        assert info.value.kind is ErrorKind.INTERNAL and isinstance(info.value.__cause__, TypeError)
        assert client.breakers_status()["files.example"]["state"] == "closed"


async def test_cancellation_propagates_and_frees_the_probe(clock):
    async with ResilientHttp(policy=RetryPolicy(max_attempts=1), breaker_threshold=1, breaker_reset=10.0,
                             sleep=clock.sleep, clock=clock) as client:
        async def down() -> None:
            raise aiohttp.ClientConnectionError("refused")

        with pytest.raises(RemoteError):
            await client.call("h", down)
        clock.advance(10.0)
        started = asyncio.Event()

        async def hang() -> None:
            started.set()
            await asyncio.sleep(10)

        task = asyncio.create_task(client.call("h", hang))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        async def ok() -> str:
            return "ok"

        assert await client.call("h", ok) == "ok"  # the cancelled probe did not block the next one


async def test_borrowed_session_is_not_closed_and_factory_session_is(fake_civitai, clock):
    model = fake_civitai.add_model()
    async with aiohttp.ClientSession() as borrowed:
        client = ResilientHttp(borrowed, sleep=clock.sleep, clock=clock)
        await client.request_json("GET", model_url(fake_civitai, model.id))
        await client.close()
        assert not borrowed.closed
    made: list[aiohttp.ClientSession] = []

    async def factory() -> aiohttp.ClientSession:
        made.append(aiohttp.ClientSession())
        return made[-1]

    client = ResilientHttp(factory, sleep=clock.sleep, clock=clock)
    await client.request_json("GET", model_url(fake_civitai, model.id))
    await client.request_json("GET", model_url(fake_civitai, model.id))
    assert len(made) == 1
    await client.close()
    assert made[0].closed


async def test_request_json_posts_json_and_sends_params(fake_civitai, http):
    version = fake_civitai.add_model().versions[0]
    answer = await http.request_json(
        "post", f"{fake_civitai.base_url}/api/v1/model-versions/by-hash", json=[version.files[0].sha256],
        headers={"X-Test": "1"},
    )
    assert [v["id"] for v in answer] == [version.id]
    sent = fake_civitai.requests[-1]
    assert sent.method == "POST" and sent.json() == [version.files[0].sha256] and sent.headers["X-Test"] == "1"
    await http.request_json("GET", f"{fake_civitai.base_url}/api/v1/images", params={"imageId": "5"})
    assert fake_civitai.requests[-1].query["imageId"] == "5"


async def test_request_json_rejects_relative_urls(http):
    with pytest.raises(ValueError):
        await http.request_json("GET", "/api/v1/models/1")


async def test_a_probe_that_hits_a_local_bug_frees_the_slot(clock):
    async with ResilientHttp(policy=RetryPolicy(max_attempts=1), breaker_threshold=1, breaker_reset=10.0,
                             sleep=clock.sleep, clock=clock) as client:
        async def down() -> None:
            raise aiohttp.ClientConnectionError("refused")

        async def buggy() -> None:
            raise KeyError("oops")

        async def ok() -> str:
            return "ok"

        with pytest.raises(RemoteError):
            await client.call("h", down)
        clock.advance(10.0)
        with pytest.raises(RemoteError) as info:
            await client.call("h", buggy)
        assert info.value.kind is ErrorKind.INTERNAL
        assert client.breakers_status()["h"]["state"] == "half_open"
        assert await client.call("h", ok) == "ok"
        assert client.breakers_status()["h"]["state"] == "closed"


async def test_a_404_after_a_retry_keeps_its_own_message(fake_civitai, http, clock):
    fake_civitai.fail_next(1, status=500)
    with pytest.raises(RemoteError) as info:
        await http.request_json("GET", model_url(fake_civitai, 424242))
    assert info.value.kind is ErrorKind.NOT_FOUND and info.value.attempts == 2
    assert str(info.value) == "Not found on the remote host (HTTP 404)"
