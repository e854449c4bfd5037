"""WebSocket event hub: progress frames for the UI, sent from any thread, replayed on (re)connect.

Why: scans, hashing and downloads run in worker threads while the sockets live on the event loop (inside
ComfyUI that is ComfyUI's own loop). Broadcasting must never block the caller, and one slow or dead browser
tab must never hold up the others, so each socket has a bounded queue and its own sender task; a client that
falls behind or fails a send is dropped (it reconnects and gets the current state from the snapshots).

Ordering: every frame gets a sequence number under one lock, together with the snapshot update. A client
that connects is given the snapshots as of sequence ``n`` and then only frames after ``n``, so it sees a
consistent state followed by every later change, never an older frame after a newer snapshot.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import threading
import uuid
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, web

logger = logging.getLogger(__name__)

FETCH_PROGRESS = "fetch-progress"
INIT_PROGRESS = "init-progress"
DOWNLOAD_PROGRESS = "download-progress"
BROADCAST_CHANNELS = (FETCH_PROGRESS, INIT_PROGRESS)
CHANNELS = (FETCH_PROGRESS, INIT_PROGRESS, DOWNLOAD_PROGRESS)


def encode_frame(payload: dict[str, Any]) -> str:
    """JSON text of a frame; values JSON cannot express are sent as their ``str()``."""
    return json.dumps(payload, ensure_ascii=False, default=str)


@dataclass(eq=False)
class _Client:
    """One connected socket: frames wait in ``pending`` (with the time they were queued) for ``sender``."""

    channel: str
    key: str | None
    ws: web.WebSocketResponse
    request: web.Request
    pending: deque[tuple[float, str]] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    min_seq: int = 0
    sender: asyncio.Task[None] | None = None
    dropped: bool = False
    reason: str = ""


class EventHub:
    """Broadcasts JSON frames to WebSocket clients and keeps the state replayed to new clients."""

    def __init__(
        self,
        *,
        queue_size: int = 1024,
        max_lag: float = 10.0,
        heartbeat: float | None = 30.0,
        close_timeout: float = 2.0,
    ):
        """``queue_size`` frames may wait per socket; a socket whose oldest waiting frame is older than
        ``max_lag`` seconds is not reading and is dropped. A burst that outruns the loop for a moment
        is therefore not mistaken for a slow client.
        """
        self._queue_size = max(1, queue_size)
        self._max_lag = max_lag
        self._heartbeat = heartbeat
        self._close_timeout = close_timeout
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._last_seq = 0
        self._snapshots: dict[str, dict[str, str]] = {name: {} for name in CHANNELS}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        # Touched on the loop only.
        self._clients: dict[str, set[_Client]] = {name: set() for name in BROADCAST_CHANNELS}
        self._downloads: dict[str, _Client] = {}
        self._background: set[asyncio.Task[Any]] = set()

    # -- wiring ---------------------------------------------------------------------------------------

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop the sockets live on; until then broadcasts only update the snapshots."""
        with self._lock:
            self._loop = loop

    @property
    def closed(self) -> bool:
        return self._closed

    def client_count(self, channel: str) -> int:
        if channel == DOWNLOAD_PROGRESS:
            return len(self._downloads)
        return len(self._clients.get(channel, ()))

    # -- publishing (any thread) ----------------------------------------------------------------------

    def broadcast(self, channel: str, payload: dict[str, Any], *, snapshot_key: str | None = None) -> None:
        """Send ``payload`` to every client of a channel; with ``snapshot_key`` also keep it as state."""
        if channel not in BROADCAST_CHANNELS:
            raise ValueError(f"unknown broadcast channel: {channel!r}")
        self._publish(channel, None, encode_frame(payload), snapshot_key)

    def send_to_download(self, download_id: str, payload: dict[str, Any]) -> None:
        """Send ``payload`` to the socket of one download and keep it as that download's snapshot."""
        self._publish(DOWNLOAD_PROGRESS, str(download_id), encode_frame(payload), str(download_id))

    def set_snapshot(self, channel: str, key: str, payload: dict[str, Any]) -> None:
        self._check_channel(channel)
        with self._lock:
            self._snapshots[channel][key] = encode_frame(payload)

    def clear_snapshot(self, channel: str, key: str) -> None:
        self._check_channel(channel)
        with self._lock:
            self._snapshots[channel].pop(key, None)

    def snapshots(self, channel: str) -> list[dict[str, Any]]:
        """The state a new client of ``channel`` would be sent, oldest entry first."""
        self._check_channel(channel)
        with self._lock:
            texts = list(self._snapshots[channel].values())
        return [json.loads(text) for text in texts]

    def download_snapshot(self, download_id: str) -> dict[str, Any] | None:
        with self._lock:
            text = self._snapshots[DOWNLOAD_PROGRESS].get(str(download_id))
        return None if text is None else json.loads(text)

    def _check_channel(self, channel: str) -> None:
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel: {channel!r}")

    def _publish(self, channel: str, key: str | None, text: str, snapshot_key: str | None) -> None:
        with self._lock:
            seq = next(self._seq)
            self._last_seq = seq
            if snapshot_key is not None:
                self._snapshots[channel][snapshot_key] = text
            loop = None if self._closed else self._loop
        if loop is None:
            return
        if _running_loop() is loop:
            self._fan_out(channel, key, seq, text)
            return
        try:
            loop.call_soon_threadsafe(self._fan_out, channel, key, seq, text)
        except RuntimeError:
            logger.debug("event loop closed; frame on %s kept as state only", channel)

    def _fan_out(self, channel: str, key: str | None, seq: int, text: str) -> None:
        if self._closed:
            return
        if channel == DOWNLOAD_PROGRESS:
            client = self._downloads.get(key or "")
            targets = [client] if client is not None else []
        else:
            targets = list(self._clients[channel])
        for client in targets:
            if seq > client.min_seq:
                self._offer(client, text)

    # -- sockets (loop) -------------------------------------------------------------------------------

    async def handle_fetch_progress(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, FETCH_PROGRESS, None)

    async def handle_init_progress(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, INIT_PROGRESS, None)

    async def handle_download_progress(self, request: web.Request) -> web.WebSocketResponse:
        download_id = request.query.get("id") or uuid.uuid4().hex
        return await self._serve(request, DOWNLOAD_PROGRESS, download_id)

    async def _serve(self, request: web.Request, channel: str, key: str | None) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=self._heartbeat)
        await ws.prepare(request)
        if self._closed:
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
            return ws
        if self._loop is None:
            self.bind_loop(asyncio.get_running_loop())
        client = self._register(request, ws, channel, key)
        try:
            async for _message in ws:
                pass  # client frames carry nothing the server needs
        finally:
            await self._unregister(client)
        return ws

    def _register(self, request: web.Request, ws: web.WebSocketResponse, channel: str, key: str | None) -> _Client:
        client = _Client(channel, key, ws, request)
        with self._lock:
            client.min_seq = self._last_seq
            if key is None:
                replay = list(self._snapshots[channel].values())
            else:
                state = self._snapshots[channel].get(key)
                replay = [encode_frame({"type": "download_id", "download_id": key})]
                replay += [state] if state is not None else []
        if key is None:
            self._clients[channel].add(client)
        else:
            previous = self._downloads.get(key)
            self._downloads[key] = client
            if previous is not None:
                self._drop(previous, "replaced by a new socket", graceful=True)
        client.sender = asyncio.create_task(self._send_loop(client), name=f"lm-ws-sender-{channel}")
        for text in replay:
            self._offer(client, text)
        return client

    async def _unregister(self, client: _Client) -> None:
        self._forget(client)
        sender = client.sender
        if sender is not None and not sender.done():
            sender.cancel()
        if sender is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    def _forget(self, client: _Client) -> None:
        if client.key is None:
            self._clients[client.channel].discard(client)
        elif self._downloads.get(client.key) is client:
            del self._downloads[client.key]

    def _offer(self, client: _Client, text: str) -> None:
        if client.dropped:
            return
        now = time.monotonic()
        pending = client.pending
        if len(pending) >= self._queue_size:
            self._drop(client, f"too slow: {len(pending)} frames waiting")
            return
        if pending and now - pending[0][0] > self._max_lag:
            self._drop(client, f"too slow: oldest frame waiting {now - pending[0][0]:.1f}s")
            return
        pending.append((now, text))
        client.wakeup.set()

    async def _send_loop(self, client: _Client) -> None:
        while True:
            while not client.pending:
                client.wakeup.clear()
                await client.wakeup.wait()
            _queued_at, text = client.pending.popleft()
            try:
                await client.ws.send_str(text)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a closed or broken socket; the others carry on
                self._drop(client, f"send failed: {exc!r}")
                return

    def _drop(self, client: _Client, reason: str, *, graceful: bool = False) -> None:
        """Stop serving a client; its handler ends once the socket is closed."""
        if client.dropped:
            return
        client.dropped = True
        client.reason = reason
        self._forget(client)
        logger.info("dropping %s websocket client: %s", client.channel, reason)
        if client.sender is not None and client.sender is not asyncio.current_task():
            client.sender.cancel()
        if graceful:
            self._spawn(self._close_client(client, WSCloseCode.OK, b"replaced"))
        else:
            _abort(client)

    async def _close_client(self, client: _Client, code: int, message: bytes) -> None:
        try:
            await asyncio.wait_for(client.ws.close(code=code, message=message), self._close_timeout)
        except Exception as exc:  # timeout or a broken connection
            logger.debug("websocket did not close cleanly: %r", exc)
        _abort(client)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- shutdown -------------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close every socket with 1001 and stop every sender; later calls do nothing."""
        with self._lock:
            already = self._closed
            self._closed = True
        clients = [c for group in self._clients.values() for c in group] + list(self._downloads.values())
        for client in clients:
            client.dropped = True
            self._forget(client)
            if client.sender is not None:
                client.sender.cancel()
        closing = [self._close_client(c, WSCloseCode.GOING_AWAY, b"server shutting down") for c in clients]
        senders = [c.sender for c in clients if c.sender is not None]
        await asyncio.gather(*closing, *senders, return_exceptions=True)
        pending = list(self._background)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if not already:
            logger.debug("event hub closed (%d sockets)", len(clients))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _abort(client: _Client) -> None:
    """Close the connection at once, even with unsent bytes buffered for a client that stopped reading."""
    transport = client.request.transport
    if transport is not None:
        transport.abort()
