"""Browser-test helpers: a FakeCivitai on its own event loop in a thread, and the standalone server pointed at it.

The e2e tests drive a real server subprocess with the sync Playwright API (no event loop in the test), so the
fake runs in a background thread; its registration methods are plain data changes and are called from the test.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from support.fake_civitai import FakeCivitai
from support.fake_hf import FakeHf
from support.loopback import serve_on_loopback

ROOT = Path(__file__).resolve().parents[2]


class _LoopThread:
    """An event loop on a daemon thread, for fakes that must keep serving while a sync test drives a browser."""

    name = "fake"

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=self.name, daemon=True)

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def start(self) -> Any:
        self.thread.start()
        return self.run(self._serve())

    def close(self) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)

    async def _serve(self) -> Any:
        raise NotImplementedError

    async def _stop(self) -> None:
        raise NotImplementedError

    def __enter__(self):  # noqa: ANN204 - the subclass
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ThreadedFakeCivitai(_LoopThread):
    """``FakeCivitai`` served from a daemon thread; ``fake`` is the instance to register models on."""

    name = "fake-civitai"

    def __init__(self) -> None:
        super().__init__()
        self.fake = FakeCivitai()

    async def _serve(self) -> str:
        return await self.fake.start()

    async def _stop(self) -> None:
        await self.fake.close()


class ThreadedFakeHf(_LoopThread):
    """``FakeHf`` (Hugging Face and the CDN it redirects to) served from a daemon thread."""

    name = "fake-hf"

    def __init__(self) -> None:
        super().__init__()
        self.fake = FakeHf()
        self._runners: list[Any] = []

    async def _serve(self) -> None:
        for app, attr in ((self.fake.hf_app(), "base_url"), (self.fake.cdn_app(), "cdn_url")):
            runner, url = await serve_on_loopback(app)
            self._runners.append(runner)
            setattr(self.fake, attr, url)

    async def _stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()


@dataclass
class LiveServer:
    """One standalone server subprocess and the LoRA library it serves."""

    url: str
    proc: subprocess.Popen[str]
    library: Path
    data_dir: Path
    log: list[str] = field(default_factory=list)

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=10) as resp:
            return json.loads(resp.read())

    def post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(self.url + path.lstrip("/"), data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())

    def settings(self) -> dict[str, Any]:
        return json.loads((self.data_dir / "settings.json").read_text(encoding="utf-8"))

    def wait_for(self, path: str, check: Any, timeout: float = 30.0) -> Any:
        """Poll ``path`` until ``check(body)`` is true; the last body is in the error otherwise."""
        deadline = time.monotonic() + timeout
        body: Any = None
        while time.monotonic() < deadline:
            try:
                body = self.get(path)
                if check(body):
                    return body
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{path} never satisfied the check: {body}\n{''.join(self.log[-30:])}")

    def wait_for_total(self, total: int, timeout: float = 60.0) -> None:
        """Wait until the library lists ``total`` LoRAs and no scan is running."""
        self.wait_for("/api/lm/loras/list?page_size=1",
                      lambda body: body["total"] == total and not body.get("scan_in_progress"), timeout=timeout)

    def stop(self, grace: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def read_url_and_drain(proc: subprocess.Popen[str]) -> tuple[str, list[str]]:
    """The URL from a standalone server's ``running at`` log line; its log keeps draining in a thread
    (so the server never blocks on a full pipe) into the returned list."""
    assert proc.stderr is not None
    log: list[str] = []
    url = None
    for _ in range(400):
        line = proc.stderr.readline()
        if not line:
            break
        log.append(line)
        match = re.search(r"running at (http://\S+/)", line)
        if match:
            url = match.group(1)
            break
    if url is None:
        proc.kill()
        raise AssertionError("the server did not start:\n" + "".join(log))
    stream = proc.stderr

    def drain() -> None:
        for line in stream:
            log.append(line)

    threading.Thread(target=drain, daemon=True).start()
    return url, log


def start_server(tmp: Path, loras: Path, *, civitai_url: str, expected: int | None, port: int = 0,
                 environ: dict[str, str] | None = None) -> LiveServer:
    """Start ``standalone.py`` (on a free port unless ``port`` is given: a restart keeps its address) with Civitai at
    ``civitai_url`` (and ``environ`` added); wait until ``expected`` LoRAs are listed (``None``: until it lists,
    whatever the count)."""
    data_dir = tmp / "data"
    env = {**os.environ, "LORA_MANAGER_CIVITAI_BASE_URL": civitai_url, "PYTHONUNBUFFERED": "1", **(environ or {})}
    proc = subprocess.Popen([sys.executable, str(ROOT / "standalone.py"), "--port", str(port), "--data-dir", str(data_dir),
                             "--loras", str(loras)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            cwd=tmp, env=env)
    url, log = read_url_and_drain(proc)
    server = LiveServer(url=url, proc=proc, library=loras, data_dir=data_dir, log=log)
    if expected is None:
        server.wait_for("/api/lm/loras/list?page_size=1", lambda body: "total" in body)
    else:
        server.wait_for_total(expected)
    return server


def served(tmp: Path, loras: Path, *, civitai_url: str, expected: int) -> Iterator[LiveServer]:
    """Generator form for fixtures: the server, stopped afterwards."""
    server = start_server(tmp, loras, civitai_url=civitai_url, expected=expected)
    try:
        yield server
    finally:
        server.stop()
