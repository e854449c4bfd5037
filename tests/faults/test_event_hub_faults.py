"""EventHub under bad clients: one that stops reading, one that vanishes; the others keep receiving."""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from aiohttp import WSMsgType

from lora_manager.py.services.events import FETCH_PROGRESS, EventHub
from support.ws_helpers import RawWebSocket, hub_app, until


async def test_client_that_stops_reading_is_dropped(aiohttp_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    hub = EventHub(queue_size=64, max_lag=0.1)
    client = await aiohttp_client(hub_app(hub))
    fast = await client.ws_connect("/ws/fetch-progress", max_msg_size=0)
    await until(lambda: hub.client_count(FETCH_PROGRESS) == 1)
    slow = await RawWebSocket.connect(client.server.host, client.server.port, "/ws/fetch-progress", rcvbuf=4096)
    await until(lambda: hub.client_count(FETCH_PROGRESS) == 2)

    blob = "x" * 256 * 1024
    sent = 0
    with caplog.at_level(logging.INFO):
        # Each frame reaches the fast client at once; the slow one falls behind until it is dropped.
        while hub.client_count(FETCH_PROGRESS) == 2:
            assert sent < 2000, "the slow client was never dropped"
            hub.broadcast(FETCH_PROGRESS, {"n": sent, "blob": blob})
            message = await fast.receive(timeout=5)
            assert message.type is WSMsgType.TEXT
            assert json.loads(message.data)["n"] == sent
            sent += 1
            await asyncio.sleep(0.005)
    assert "too slow" in caplog.text
    hub.broadcast(FETCH_PROGRESS, {"n": "after"})
    assert json.loads((await fast.receive(timeout=5)).data)["n"] == "after"
    await fast.close()
    slow.writer.close()
    await hub.close()


async def test_client_that_vanishes_does_not_stop_the_others(aiohttp_client: Any) -> None:
    hub = EventHub()
    client = await aiohttp_client(hub_app(hub))
    healthy = await client.ws_connect("/ws/fetch-progress")
    gone = await RawWebSocket.connect(client.server.host, client.server.port, "/ws/fetch-progress")
    await until(lambda: hub.client_count(FETCH_PROGRESS) == 2)
    gone.vanish()
    for index in range(20):
        hub.broadcast(FETCH_PROGRESS, {"n": index})
    for index in range(20):
        message = await healthy.receive(timeout=5)
        assert json.loads(message.data) == {"n": index}
    await until(lambda: hub.client_count(FETCH_PROGRESS) == 1)
    await healthy.close()
    await hub.close()


async def test_burst_faster_than_the_loop_does_not_drop_healthy_clients(aiohttp_client: Any) -> None:
    hub = EventHub(queue_size=5000)
    client = await aiohttp_client(hub_app(hub))
    ws = await client.ws_connect("/ws/fetch-progress")
    await until(lambda: hub.client_count(FETCH_PROGRESS) == 1)
    for index in range(2000):  # no await: every frame is queued before the sender runs once
        hub.broadcast(FETCH_PROGRESS, {"n": index})
    received = [json.loads((await ws.receive(timeout=5)).data)["n"] for _ in range(2000)]
    assert received == list(range(2000))
    assert hub.client_count(FETCH_PROGRESS) == 1
    await ws.close()
    await hub.close()


async def test_backlog_cap_drops_the_client_and_keeps_the_hub_working(aiohttp_client: Any) -> None:
    hub = EventHub(queue_size=10)
    client = await aiohttp_client(hub_app(hub))
    ws = await client.ws_connect("/ws/fetch-progress")
    await until(lambda: hub.client_count(FETCH_PROGRESS) == 1)
    for index in range(50):
        hub.broadcast(FETCH_PROGRESS, {"n": index})
    assert hub.client_count(FETCH_PROGRESS) == 0
    message = await ws.receive(timeout=5)
    while message.type is WSMsgType.TEXT:
        message = await ws.receive(timeout=5)
    assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR)
    again = await client.ws_connect("/ws/fetch-progress")
    await until(lambda: hub.client_count(FETCH_PROGRESS) == 1)
    hub.broadcast(FETCH_PROGRESS, {"n": "again"})
    assert json.loads((await again.receive(timeout=5)).data) == {"n": "again"}
    await again.close()
    await hub.close()
