"""Helpers for WebSocket tests: an app around an EventHub, waiting on a condition, a raw socket client."""
from __future__ import annotations

import asyncio
import socket
from typing import Any, Callable

from aiohttp import web


def hub_app(hub: Any) -> web.Application:
    """A bare app exposing the hub's three endpoints, bound and closed like the real one."""
    app = web.Application()
    app.router.add_get("/ws/fetch-progress", hub.handle_fetch_progress)
    app.router.add_get("/ws/init-progress", hub.handle_init_progress)
    app.router.add_get("/ws/download-progress", hub.handle_download_progress)

    async def on_startup(_app: web.Application) -> None:
        hub.bind_loop(asyncio.get_running_loop())

    async def on_shutdown(_app: web.Application) -> None:
        await hub.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    return app


async def until(condition: Callable[[], bool], timeout: float = 5.0, step: float = 0.005) -> None:
    """Wait for a condition that another task or thread makes true (fails after ``timeout`` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


class RawWebSocket:
    """A WebSocket client made by hand, to play clients that stop reading or vanish without a close."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sock: socket.socket):
        self.reader = reader
        self.writer = writer
        self.sock = sock

    @classmethod
    async def connect(cls, host: str, port: int, path: str, *, rcvbuf: int | None = None) -> "RawWebSocket":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise AssertionError(f"handshake refused: {head!r}")
        return cls(reader, writer, sock)

    def vanish(self) -> None:
        """Drop the connection with a reset, as a crashed browser or a pulled cable would."""
        self.writer.transport.abort()
