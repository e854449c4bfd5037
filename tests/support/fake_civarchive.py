"""A fake CivArchive on 127.0.0.1: its model and sha256 API answers, and mirror hosts serving the files.

Tests register models and versions (``add_model``, ``add_version``); answers are rendered the way
civarchive.com's API shapes them (wrapped in ``{"data": ...}``, ``trigger`` words, files with ``sha256`` and
``mirrors``). Mirrors point back at the fake (``/mirror/...``, with ``Range`` support) unless a test passes its
own; ``missing_mirrors`` makes chosen mirror files answer 404. A file's ``downloadUrl`` (Civitai's, in real
answers) points at ``/civitai-gone/...`` here, which answers 404 like a deleted model: tests never leave the
machine. Every request is kept in ``requests``.

Point the app at it with ``LORA_MANAGER_CIVARCHIVE_BASE_URL``.
"""
from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence
from urllib.parse import quote

import pytest
from aiohttp import web
from multidict import MultiDict

from support.fake_civitai import _parse_range, make_png, make_safetensors
from support.loopback import serve_on_loopback


@dataclass
class ArchivedFile:
    id: int
    name: str
    data: bytes
    mirrors: list[dict] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class ArchivedVersion:
    id: int
    model_id: int
    name: str
    base_model: str
    files: list[ArchivedFile]
    trigger: list[str]
    image_ids: list[int]
    extra: dict = field(default_factory=dict)


@dataclass
class ArchivedModel:
    id: int
    name: str
    type: str = "LORA"
    creator: str = "archivist"
    tags: list[str] = field(default_factory=lambda: ["style"])
    nsfw: bool = False
    versions: list[ArchivedVersion] = field(default_factory=list)  # newest first


@dataclass
class Seen:
    path: str
    query: MultiDict


class FakeCivArchive:
    def __init__(self) -> None:
        self.models: dict[int, ArchivedModel] = {}
        self.versions: dict[int, ArchivedVersion] = {}
        self.files: dict[int, ArchivedFile] = {}
        self.requests: list[Seen] = []
        self.missing_mirrors: set[int] = set()  # file ids whose own mirror answers 404
        self.bare_hash_records = False  # /api/sha256 answers only {"files": [{model_id, model_version_id}]}
        self._canned: list[tuple[int, Any]] = []  # (status, JSON body) answered by the next API requests
        self._ids = {k: itertools.count(v) for k, v in {"model": 700_001, "version": 800_001, "file": 900_001,
                                                         "image": 950_001}.items()}
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application(middlewares=[self._record])
        app.router.add_get(r"/api/models/{model_id:\d+}", self._model)
        app.router.add_get("/api/sha256/{sha}", self._by_hash)
        app.router.add_get(r"/mirror/{file_id:\d+}/{name}", self._mirror)
        app.router.add_get(r"/img/{image_id:\d+}.png", self._image)
        app.router.add_get("/civitai-gone/{tail:.+}", self._gone)
        self._runner, self._base_url = await serve_on_loopback(app)
        return self._base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("FakeCivArchive is not started")
        return self._base_url

    # -- registering data --------------------------------------------------------------------------
    def add_model(self, name: str = "Archived LoRA", *, model_id: int | None = None, type: str = "LORA",
                  creator: str = "archivist", tags: Sequence[str] = ("style",), nsfw: bool = False) -> ArchivedModel:
        model = ArchivedModel(model_id if model_id is not None else next(self._ids["model"]), name, type, creator,
                              list(tags), nsfw)
        self.models[model.id] = model
        return model

    def own_mirror(self, file: ArchivedFile, *, deleted: bool = False) -> dict:
        return {"filename": file.name, "url": f"{self.base_url}/mirror/{file.id}/{quote(file.name)}",
                "source": "huggingface", "deletedAt": "2025-01-01T00:00:00.000Z" if deleted else None,
                "is_gated": False, "is_paid": False}

    def add_version(self, model: ArchivedModel, name: str = "v1.0", *, version_id: int | None = None,
                    base_model: str = "SDXL 1.0", data: bytes | None = None, file_name: str | None = None,
                    mirrors: Sequence[Mapping[str, Any]] | None = None, trigger: Sequence[str] = ("archived_word",),
                    images: int = 1, extra: Mapping[str, Any] | None = None) -> ArchivedVersion:
        """A version with one model file; its mirrors are ``mirrors`` (dicts) followed by the fake's own."""
        vid = version_id if version_id is not None else next(self._ids["version"])
        fid = next(self._ids["file"])
        file = ArchivedFile(fid, file_name or f"{model.name.replace(' ', '_')}_{name}.safetensors",
                            data if data is not None else make_safetensors(seed=fid, n_bytes=6000))
        file.mirrors = [dict(m) for m in mirrors or []] + [self.own_mirror(file)]
        version = ArchivedVersion(vid, model.id, name, base_model, [file], list(trigger),
                                  [next(self._ids["image"]) for _ in range(images)], dict(extra or {}))
        model.versions.insert(0, version)
        self.versions[vid] = version
        self.files[fid] = file
        return version

    def answer_next(self, n: int, payload: Any, *, status: int = 200) -> None:
        """The next ``n`` API requests answer ``payload`` (JSON) with ``status``: failures and odd shapes."""
        self._canned.extend([(status, payload)] * n)

    # -- rendering ---------------------------------------------------------------------------------
    def payload(self, version: ArchivedVersion) -> dict:
        """``GET /api/models/{id}?modelVersionId=..`` as civarchive.com answers it."""
        model = self.models[version.model_id]
        body = {
            "id": model.id,
            "name": model.name,
            "type": model.type,
            "description": "<p>Archived description.</p>",
            "is_nsfw": model.nsfw,
            "nsfw_level": 1,
            "tags": list(model.tags),
            "creator_username": model.creator,
            "creator_name": model.creator,
            "creator_url": f"/users/{model.creator}",
            "version": {
                "id": version.id,
                "modelId": model.id,
                "name": version.name,
                "baseModel": version.base_model,
                "description": "<p>Archived version notes.</p>",
                "downloadCount": 12,
                "ratingCount": 0,
                "rating": 0,
                "nsfw_level": 1,
                "trigger": list(version.trigger),
                "files": [{
                    "id": f.id,
                    "name": f.name,
                    "type": "Model",
                    "sizeKB": len(f.data) / 1024,
                    "downloadUrl": f"{self.base_url}/civitai-gone/api/download/models/{version.id}",
                    "sha256": f.sha256,
                    "is_primary": False,
                    "mirrors": [dict(m) for m in f.mirrors],
                } for f in version.files],
                "images": [{"id": iid, "url": f"{self.base_url}/img/{iid}.png", "nsfwLevel": 1, "width": 64,
                            "height": 64} for iid in version.image_ids],
                **version.extra,
            },
            "versions": [{"id": v.id, "name": v.name} for v in model.versions],
        }
        return {"data": body}

    # -- handlers ----------------------------------------------------------------------------------
    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(Seen(request.path, MultiDict(request.query)))
        if self._canned and request.path.startswith("/api/"):
            status, payload = self._canned.pop(0)
            return web.json_response(payload, status=status)
        return await handler(request)

    def requests_to(self, prefix: str) -> list[Seen]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    async def _model(self, request: web.Request) -> web.StreamResponse:
        model = self.models.get(int(request.match_info["model_id"]))
        wanted = request.query.get("modelVersionId")
        if wanted is not None:
            version = self.versions.get(int(wanted)) if wanted.isdigit() else None
            if version is None:
                return web.json_response({"error": "Version not found"}, status=404)
            return web.json_response(self.payload(version))  # filed under its real model id
        if model is None or not model.versions:
            return web.json_response({"error": "Model not found"}, status=404)
        return web.json_response(self.payload(model.versions[0]))

    async def _by_hash(self, request: web.Request) -> web.StreamResponse:
        sha = request.match_info["sha"].lower()
        for version in self.versions.values():
            if any(f.sha256 == sha for f in version.files):
                if self.bare_hash_records:
                    return web.json_response({"data": {"files": [
                        {"model_id": version.model_id, "model_version_id": version.id, "source": "civitai"}]}})
                return web.json_response(self.payload(version))
        return web.json_response({"error": "Not found"}, status=404)

    async def _mirror(self, request: web.Request) -> web.StreamResponse:
        file = self.files.get(int(request.match_info["file_id"]))
        if file is None or file.id in self.missing_mirrors:
            return web.json_response({"error": "Entry not found"}, status=404)
        data = file.data
        headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        span = _parse_range(request.headers.get("Range"), len(data))
        if span == "unsatisfiable":
            return web.json_response({"error": "Range Not Satisfiable"}, status=416,
                                     headers={"Content-Range": f"bytes */{len(data)}"})
        if isinstance(span, tuple):
            start, end = span
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return web.Response(body=data[start:end + 1], status=206, headers=headers)
        return web.Response(body=data, headers=headers)

    async def _gone(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "Model not found"}, status=404)

    async def _image(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=make_png(64, 64, seed=int(request.match_info["image_id"])),
                            content_type="image/png")


@pytest.fixture
async def fake_civarchive(monkeypatch):
    """A started ``FakeCivArchive``, with the app's CivArchive base URL pointed at it."""
    fake = FakeCivArchive()
    await fake.start()
    monkeypatch.setenv("LORA_MANAGER_CIVARCHIVE_BASE_URL", fake.base_url)
    try:
        yield fake
    finally:
        await fake.close()
