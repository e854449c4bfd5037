"""EventHub over real WebSockets: broadcast, snapshots on (re)connect, thread safety, download sockets, close."""
from __future__ import annotations

import asyncio
import json
import re
import threading
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from lora_manager.py.services.events import (
    DOWNLOAD_PROGRESS,
    FETCH_PROGRESS,
    INIT_PROGRESS,
    EventHub,
)
from support.ws_helpers import hub_app, until


async def receive_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> dict[str, Any]:
    message = await ws.receive(timeout=timeout)
    assert message.type is WSMsgType.TEXT, message
    return json.loads(message.data)


async def receive_n(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[dict[str, Any]]:
    return [await receive_json(ws) for _ in range(count)]


@pytest.fixture
def hub() -> EventHub:
    return EventHub()


@pytest.fixture
async def client(aiohttp_client: Any, hub: EventHub) -> Any:
    return await aiohttp_client(hub_app(hub))


async def connect(client: Any, hub: EventHub, path: str, channel: str, expected: int) -> aiohttp.ClientWebSocketResponse:
    ws = await client.ws_connect(path)
    await until(lambda: hub.client_count(channel) == expected)
    return ws


async def test_broadcast_reaches_every_fetch_client(client: Any, hub: EventHub) -> None:
    first = await connect(client, hub, "/ws/fetch-progress", FETCH_PROGRESS, 1)
    second = await connect(client, hub, "/ws/fetch-progress", FETCH_PROGRESS, 2)
    hub.broadcast(FETCH_PROGRESS, {"type": "models_changed"})
    hub.broadcast(FETCH_PROGRESS, {"status": "processing", "processed": 1, "name": "ü"})
    for ws in (first, second):
        assert await receive_n(ws, 2) == [
            {"type": "models_changed"},
            {"status": "processing", "processed": 1, "name": "ü"},
        ]
    assert hub.client_count(INIT_PROGRESS) == 0
    await first.close()
    await until(lambda: hub.client_count(FETCH_PROGRESS) == 1)
    await second.close()
    await until(lambda: hub.client_count(FETCH_PROGRESS) == 0)


async def test_client_frames_are_ignored(client: Any, hub: EventHub) -> None:
    ws = await connect(client, hub, "/ws/fetch-progress", FETCH_PROGRESS, 1)
    await ws.send_str("hello")
    await ws.send_bytes(b"\x00\x01")
    await ws.send_json({"type": "anything"})
    hub.broadcast(FETCH_PROGRESS, {"type": "models_changed"})
    assert await receive_json(ws) == {"type": "models_changed"}
    await ws.close()


async def test_snapshots_kept_before_the_loop_is_bound_are_replayed(aiohttp_client: Any) -> None:
    hub = EventHub()
    hub.broadcast(FETCH_PROGRESS, {"type": "job_progress", "job": {"id": "a", "processed": 1}}, snapshot_key="job:a")
    hub.broadcast(FETCH_PROGRESS, {"type": "models_changed"})  # not state: never replayed
    hub.set_snapshot(FETCH_PROGRESS, "job:b", {"type": "job_progress", "job": {"id": "b"}})
    hub.broadcast(FETCH_PROGRESS, {"type": "job_progress", "job": {"id": "a", "processed": 2}}, snapshot_key="job:a")
    client = await aiohttp_client(hub_app(hub))
    ws = await connect(client, hub, "/ws/fetch-progress", FETCH_PROGRESS, 1)
    assert await receive_n(ws, 2) == [
        {"type": "job_progress", "job": {"id": "a", "processed": 2}},
        {"type": "job_progress", "job": {"id": "b"}},
    ]
    hub.broadcast(FETCH_PROGRESS, {"type": "after"})
    assert await receive_json(ws) == {"type": "after"}
    await ws.close()


async def test_reconnect_sees_current_state_only(client: Any, hub: EventHub) -> None:
    ws = await connect(client, hub, "/ws/init-progress", INIT_PROGRESS, 1)
    hub.broadcast(INIT_PROGRESS, {"stage": "scan_folders", "progress": 10, "pageType": "loras"}, snapshot_key="loras")
    assert (await receive_json(ws))["progress"] == 10
    await ws.close()
    await until(lambda: hub.client_count(INIT_PROGRESS) == 0)

    hub.broadcast(INIT_PROGRESS, {"stage": "process_models", "progress": 50, "pageType": "loras"}, snapshot_key="loras")
    hub.broadcast(
        INIT_PROGRESS, {"stage": "count_models", "progress": 5, "pageType": "checkpoints"}, snapshot_key="checkpoints"
    )
    again = await connect(client, hub, "/ws/init-progress", INIT_PROGRESS, 1)
    replay = await receive_n(again, 2)
    assert [(f["pageType"], f["progress"]) for f in replay] == [("loras", 50), ("checkpoints", 5)]

    hub.clear_snapshot(INIT_PROGRESS, "loras")
    assert [f["pageType"] for f in hub.snapshots(INIT_PROGRESS)] == ["checkpoints"]
    third = await connect(client, hub, "/ws/init-progress", INIT_PROGRESS, 2)
    assert (await receive_json(third))["pageType"] == "checkpoints"
    hub.broadcast(INIT_PROGRESS, {"stage": "finalizing", "progress": 100, "pageType": "loras", "status": "complete"})
    assert (await receive_json(third))["stage"] == "finalizing"
    assert (await receive_json(again))["stage"] == "finalizing"
    await again.close()
    await third.close()


async def test_broadcast_from_threads_keeps_order(client: Any, hub: EventHub) -> None:
    ws = await connect(client, hub, "/ws/fetch-progress", FETCH_PROGRESS, 1)

    def burst(source: str, count: int) -> None:
        for index in range(count):
            hub.broadcast(FETCH_PROGRESS, {"source": source, "n": index})

    thread = threading.Thread(target=burst, args=("thread", 50))
    thread.start()
    await asyncio.to_thread(burst, "to_thread", 50)
    await asyncio.to_thread(thread.join)
    frames = await receive_n(ws, 100)
    for source in ("thread", "to_thread"):
        assert [f["n"] for f in frames if f["source"] == source] == list(range(50))
    await ws.close()


async def test_thread_snapshot_is_visible_at_once(client: Any, hub: EventHub) -> None:
    await asyncio.to_thread(hub.send_to_download, "abc", {"status": "progress", "progress": 40})
    assert hub.download_snapshot("abc") == {"status": "progress", "progress": 40}
    assert hub.download_snapshot("other") is None


async def test_download_socket_gets_an_id_then_its_frames(client: Any, hub: EventHub) -> None:
    anonymous = await client.ws_connect("/ws/download-progress")
    first = await receive_json(anonymous)
    assert first["type"] == "download_id" and re.fullmatch(r"[0-9a-f]{32}", first["download_id"])
    generated = first["download_id"]

    named = await client.ws_connect("/ws/download-progress?id=dl-1")
    assert await receive_json(named) == {"type": "download_id", "download_id": "dl-1"}
    await until(lambda: hub.client_count(DOWNLOAD_PROGRESS) == 2)

    await asyncio.to_thread(hub.send_to_download, "dl-1", {"status": "progress", "progress": 5, "download_id": "dl-1"})
    hub.send_to_download(generated, {"status": "progress", "progress": 7, "download_id": generated})
    assert (await receive_json(named))["progress"] == 5
    assert (await receive_json(anonymous))["progress"] == 7
    assert hub.download_snapshot("dl-1") == {"status": "progress", "progress": 5, "download_id": "dl-1"}
    await anonymous.close()
    await named.close()


async def test_new_download_socket_replaces_the_old_and_replays_the_snapshot(client: Any, hub: EventHub) -> None:
    old = await client.ws_connect("/ws/download-progress?id=dl-2")
    await receive_json(old)
    await until(lambda: hub.client_count(DOWNLOAD_PROGRESS) == 1)
    hub.send_to_download("dl-2", {"status": "progress", "progress": 30, "download_id": "dl-2"})
    assert (await receive_json(old))["progress"] == 30

    new = await client.ws_connect("/ws/download-progress?id=dl-2")
    assert await receive_n(new, 2) == [
        {"type": "download_id", "download_id": "dl-2"},
        {"status": "progress", "progress": 30, "download_id": "dl-2"},
    ]
    closing = await old.receive(timeout=5)
    assert closing.type is WSMsgType.CLOSE
    assert closing.data == 1000
    assert hub.client_count(DOWNLOAD_PROGRESS) == 1

    hub.send_to_download("dl-2", {"status": "paused", "progress": 31, "download_id": "dl-2"})
    assert (await receive_json(new))["status"] == "paused"
    hub.clear_snapshot(DOWNLOAD_PROGRESS, "dl-2")
    assert hub.download_snapshot("dl-2") is None
    await new.close()
    await until(lambda: hub.client_count(DOWNLOAD_PROGRESS) == 0)


async def test_close_says_going_away_and_is_idempotent(client: Any, hub: EventHub) -> None:
    fetch = await connect(client, hub, "/ws/fetch-progress", FETCH_PROGRESS, 1)
    init = await connect(client, hub, "/ws/init-progress", INIT_PROGRESS, 1)
    download = await client.ws_connect("/ws/download-progress?id=x")
    await receive_json(download)
    await until(lambda: hub.client_count(DOWNLOAD_PROGRESS) == 1)

    async def read_close(ws: aiohttp.ClientWebSocketResponse) -> int | None:
        message = await ws.receive(timeout=5)
        assert message.type is WSMsgType.CLOSE
        return ws.close_code

    readers = [asyncio.create_task(read_close(ws)) for ws in (fetch, init, download)]
    await hub.close()
    assert await asyncio.gather(*readers) == [1001, 1001, 1001]
    await hub.close()
    assert hub.closed
    assert [hub.client_count(c) for c in (FETCH_PROGRESS, INIT_PROGRESS, DOWNLOAD_PROGRESS)] == [0, 0, 0]
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("lm-ws-sender")]

    hub.broadcast(FETCH_PROGRESS, {"type": "late"}, snapshot_key="late")  # state only, no error
    late = await client.ws_connect("/ws/fetch-progress")
    message = await late.receive(timeout=5)
    assert message.type is WSMsgType.CLOSE and late.close_code == 1001


async def test_unknown_channels_are_refused(hub: EventHub) -> None:
    with pytest.raises(ValueError):
        hub.broadcast("nope", {})
    with pytest.raises(ValueError):
        hub.broadcast(DOWNLOAD_PROGRESS, {})
    with pytest.raises(ValueError):
        hub.set_snapshot("nope", "k", {})
    with pytest.raises(ValueError):
        hub.clear_snapshot("nope", "k")
    with pytest.raises(ValueError):
        hub.snapshots("nope")
    assert hub.client_count("nope") == 0


async def test_values_json_cannot_express_are_sent_as_text(client: Any, hub: EventHub) -> None:
    ws = await connect(client, hub, "/ws/fetch-progress", FETCH_PROGRESS, 1)
    hub.broadcast(FETCH_PROGRESS, {"when": frozenset({1}), "path": Path("/a/b")})
    frame = await receive_json(ws)
    assert frame["path"] == "/a/b"
    assert frame["when"] == "frozenset({1})"
    await ws.close()


def test_broadcast_without_a_running_loop_after_the_loop_closed() -> None:
    hub = EventHub()
    loop = asyncio.new_event_loop()
    hub.bind_loop(loop)
    loop.close()
    hub.broadcast(FETCH_PROGRESS, {"type": "x"}, snapshot_key="x")
    assert hub.snapshots(FETCH_PROGRESS) == [{"type": "x"}]
