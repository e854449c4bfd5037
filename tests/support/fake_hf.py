"""A fake Hugging Face on 127.0.0.1 and the CDN it redirects LFS files to (a second server: another origin).

``resolve/`` answers like huggingface.co: an LFS file gets a 302 to the CDN with ``X-Linked-Etag`` (its
sha256) and ``X-Linked-Size``; a plain git file is served at once with a 40-hex ``ETag``. Both servers keep
every request (method, path, headers), so tests can check where the token went.
"""
from __future__ import annotations

import asyncio
import hashlib
import random
import re
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from lora_manager.py.services.remote.resilience import RetryPolicy
from support.downloads import manager_of
from support.loopback import serve_on_loopback

_RANGE = re.compile(r"bytes=(\d+)-$")


@dataclass
class HfBlob:
    repo: str
    revision: str
    path: str
    data: bytes
    lfs: bool = True
    status: int | None = None  # answer this status for resolve/ instead of the file (401, 404, 429...)
    served: bytes | None = None  # what the CDN sends instead of ``data`` (corrupt bytes)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class FakeHf:
    base_url: str = ""
    cdn_url: str = ""
    blobs: dict[tuple[str, str, str], HfBlob] = field(default_factory=dict)
    hf_requests: list[Seen] = field(default_factory=list)
    cdn_requests: list[Seen] = field(default_factory=list)
    tree_status: dict[str, int] = field(default_factory=dict)  # repo -> the status its tree API answers
    cdn_trickle: int | None = None  # the CDN sends this many bytes at a time, with a pause between (None: at once)

    def add(self, repo: str, path: str, *, n_bytes: int = 4096, seed: int = 3, revision: str = "main",
            **kwargs) -> HfBlob:
        blob = HfBlob(repo, revision, path, random.Random(seed).randbytes(n_bytes), **kwargs)
        self.blobs[(repo, revision, path)] = blob
        return blob

    def url(self, blob: HfBlob) -> str:
        return f"{self.base_url}/{blob.repo}/resolve/{blob.revision}/{blob.path}"

    @property
    def cdn_host(self) -> str:
        return self.cdn_url.split("://", 1)[1]

    # -- servers -------------------------------------------------------------------------------------------
    async def _resolve(self, request: web.Request) -> web.StreamResponse:
        self.hf_requests.append(Seen(request.method, request.path, dict(request.headers)))
        info = request.match_info
        blob = self.blobs.get((f"{info['owner']}/{info['repo']}", info["rev"], info["path"]))
        if blob is None:
            return web.json_response({"error": "Entry not found"}, status=404)
        if blob.status is not None:
            headers = {"Retry-After": "0"} if blob.status == 429 else {}
            return web.json_response({"error": "refused"}, status=blob.status, headers=headers)
        if blob.lfs:
            raise web.HTTPFound(f"{self.cdn_url}/blobs/{blob.sha256}", headers={
                "X-Linked-Etag": f'"{blob.sha256}"', "X-Linked-Size": str(len(blob.data)),
                "ETag": f'"{blob.sha256}"'})
        sha1 = hashlib.sha1(blob.data).hexdigest()
        return _ranged(request, blob.data, {"ETag": f'"{sha1}"'})

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        self.cdn_requests.append(Seen(request.method, request.path, dict(request.headers)))
        for blob in self.blobs.values():
            if blob.sha256 == request.match_info["sha"]:
                answer = _ranged(request, blob.served if blob.served is not None else blob.data, {})
                return answer if self.cdn_trickle is None else await self._trickle(request, answer)
        return web.Response(status=404)

    async def _trickle(self, request: web.Request, answer: web.Response) -> web.StreamResponse:
        body = bytes(answer.body)
        stream = web.StreamResponse(status=answer.status, headers={**answer.headers,
                                                                   "Content-Length": str(len(body))})
        await stream.prepare(request)
        for start in range(0, len(body), self.cdn_trickle or len(body)):
            await stream.write(body[start:start + (self.cdn_trickle or len(body))])
            await asyncio.sleep(0.01)
        return stream

    async def _tree(self, request: web.Request) -> web.StreamResponse:
        """The tree API: every file of the repository at the revision (``tree_status`` overrides the answer)."""
        self.hf_requests.append(Seen(request.method, request.path_qs, dict(request.headers)))
        info = request.match_info
        repo = f"{info['owner']}/{info['repo']}"
        if repo in self.tree_status:
            return web.json_response({"error": "refused"}, status=self.tree_status[repo], headers={"Retry-After": "0"})
        entries = [{"type": "file", "path": b.path, "size": 134 if b.lfs else len(b.data),
                    **({"lfs": {"oid": b.sha256, "size": len(b.data)}} if b.lfs else {})}
                   for (r, rev, _), b in self.blobs.items() if r == repo and rev == info["rev"]]
        if not entries:
            return web.json_response({"error": "Repository not found"}, status=404)
        return web.json_response([{"type": "directory", "path": "loras"}, *entries])

    def hf_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/models/{owner}/{repo}/tree/{rev}", self._tree)
        app.router.add_route("*", "/{owner}/{repo}/resolve/{rev}/{path:.+}", self._resolve)
        return app

    def cdn_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/blobs/{sha}", self._cdn)
        return app


def _ranged(request: web.Request, data: bytes, headers: dict[str, str]) -> web.Response:
    match = _RANGE.fullmatch(request.headers.get("Range", ""))
    if match and int(match.group(1)) < len(data):
        start = int(match.group(1))
        return web.Response(body=data[start:], status=206, headers={
            **headers, "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
    return web.Response(body=data, headers=headers)


@pytest.fixture
async def fake_hf():
    fake = FakeHf()
    hf_runner, fake.base_url = await serve_on_loopback(fake.hf_app())
    cdn_runner, fake.cdn_url = await serve_on_loopback(fake.cdn_app())
    try:
        yield fake
    finally:
        await hf_runner.cleanup()
        await cdn_runner.cleanup()


async def hf_client(make_client, env, fake: FakeHf, monkeypatch, *, allow_cdn: bool = True, **settings):
    """The real app with Hugging Face at the fake's address and (``allow_cdn``) the fake CDN allowed by the
    fetch rule (it is on 127.0.0.1: without that, its redirect target is refused like any local address)."""
    monkeypatch.setenv("LORA_MANAGER_HF_BASE_URL", fake.base_url)
    env.write_settings(fetch_allowed_hosts=[fake.cdn_host] if allow_cdn else [], **settings)
    client = await make_client(env)
    # retries without real waiting: a 429 must end as a clear error quickly
    manager_of(client).remote.http.policy = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0, jitter=0.0,
                                                        max_retry_after=0.0)
    return client
