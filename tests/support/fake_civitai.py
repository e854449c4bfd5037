"""A fake Civitai on 127.0.0.1 for tests: realistic API answers, real file downloads, switchable faults.

Tests register models, versions, files and images (``add_model``, ``add_version``, ``add_file``,
``add_image``); the server renders them the way Civitai's REST API v1 does, with every URL pointing back at
the fake. Downloads support ``Range``. Faults are switched per test (``fail_next``, ``rate_limit_next``,
``malformed_json_next``, ``answer_next``, ``stall``, ``slow``, ``cut_after``, ``hold_after``, ``ignore_range``,
``corrupt``) and every request is recorded in ``requests`` for inspection; ``bytes_sent`` counts the body bytes
written per path. A version can be early access (``early_access_until``) and its file can need a key
(``download_key``: 401 without ``Authorization: Bearer <key>``).

Use the ``fake_civitai`` fixture (import it into a test module or conftest) or drive the class directly::

    fake = FakeCivitai()
    base_url = await fake.start()
    ...
    await fake.close()

``ManualClock`` is the companion for ``ResilientHttp``: its ``sleep`` advances time instead of waiting, and
records the delays that were asked for.
"""
from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import json
import random
import re
import struct
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import quote, urlencode

import pytest
from aiohttp import web
from multidict import CIMultiDict, MultiDict

from support.loopback import serve_on_loopback

API = "/api/v1"
_BASE_DATE = datetime(2024, 1, 1, tzinfo=timezone.utc)
_EXTENSIONS = {"SafeTensor": "safetensors", "PickleTensor": "pt", "GGUF": "gguf", "ONNX": "onnx"}
_INVERT = bytes(255 - i for i in range(256))  # byte translation table: every bit flipped
_NSFW_NAMES = {1: "None", 2: "Soft", 4: "Mature", 8: "X", 16: "X", 32: "X"}


# ---------------------------------------------------------------------------------------------------
# Test data helpers
# ---------------------------------------------------------------------------------------------------
def make_safetensors(seed: int = 0, n_bytes: int = 4096, metadata: Mapping[str, str] | None = None) -> bytes:
    """A small valid safetensors file with deterministic tensor bytes (``n_bytes`` rounded to even)."""
    n_bytes = max(2, n_bytes - n_bytes % 2)
    header = {
        "__metadata__": dict(metadata or {"ss_network_module": "networks.lora", "ss_output_name": f"fake_{seed}"}),
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": {
            "dtype": "F16",
            "shape": [n_bytes // 2],
            "data_offsets": [0, n_bytes],
        },
    }
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + random.Random(seed).randbytes(n_bytes)


def make_png(width: int = 64, height: int = 64, text: Mapping[str, str] | None = None, seed: int = 0) -> bytes:
    """A small PNG, optionally with text chunks (e.g. A1111 ``parameters`` or ComfyUI ``prompt``)."""
    from PIL import Image, PngImagePlugin  # test-only dependency, loaded on demand

    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "model"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _autov3(data: bytes) -> str | None:
    """Hash of the tensor bytes after a safetensors header, as Civitai's AutoV3 shows it."""
    if len(data) < 8:
        return None
    (size,) = struct.unpack("<Q", data[:8])
    if size <= 0 or 8 + size > len(data):
        return None
    return hashlib.sha256(data[8 + size :]).hexdigest()[:12].upper()


# ---------------------------------------------------------------------------------------------------
# Records (tests may mutate them; answers are rendered from them on every request)
# ---------------------------------------------------------------------------------------------------
@dataclass
class FakeFile:
    id: int
    name: str
    data: bytes
    type: str = "Model"
    format: str = "SafeTensor"
    size: str = "pruned"
    fp: str = "fp16"
    primary: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        """Lowercase hex SHA256 of the bytes (Civitai shows it upper-case)."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size_kb(self) -> float:
        return len(self.data) / 1024


@dataclass
class FakeImage:
    id: int
    name: str
    width: int = 64
    height: int = 64
    nsfw_level: int = 1
    type: str = "image"
    meta: dict | None = None
    data: bytes | None = None  # None: a PNG is generated (with ``png_text`` chunks) on first request
    png_text: dict | None = None
    username: str = "tester"
    base_model: str | None = None
    post_id: int = 0
    version_ids: list[int] = field(default_factory=list)
    hash: str = "U5F~gc00_3%M~qIUIU-;4n?b-;M{xuIUM{of"
    extra: dict = field(default_factory=dict)

    def media(self) -> bytes:
        if self.data is None:
            if self.type == "video":
                self.data = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(64)
            else:
                self.data = make_png(self.width, self.height, self.png_text, seed=self.id)
        return self.data


@dataclass
class FakeVersion:
    id: int
    model_id: int
    name: str
    base_model: str = "SDXL 1.0"
    trained_words: list[str] = field(default_factory=list)
    description: str | None = "<p>Version notes.</p>"
    files: list[FakeFile] = field(default_factory=list)
    images: list[FakeImage] = field(default_factory=list)
    created_at: str = ""
    published_at: str | None = ""
    updated_at: str = ""
    extra: dict = field(default_factory=dict)
    early_access_until: str | None = None  # ISO date: shown as availability "EarlyAccess" until then
    download_key: str | None = None  # the file answers 401 unless "Authorization: Bearer <key>" is sent


@dataclass
class FakeModel:
    id: int
    name: str
    type: str = "LORA"
    creator: str = "tester"
    tags: list[str] = field(default_factory=list)
    nsfw: bool = False
    poi: bool = False
    description: str | None = "<p>A model for tests.</p>"
    versions: list[FakeVersion] = field(default_factory=list)  # newest first, as Civitai lists them
    extra: dict = field(default_factory=dict)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: MultiDict
    headers: CIMultiDict
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Fault:
    kind: str  # status | malformed | stall | slow | cut | hold
    remaining: int | None  # None: until cleared
    path: str | None  # only requests whose path starts with this
    value: Any = None
    headers: dict = field(default_factory=dict)
    payload: Any = None  # a JSON body to answer with instead of the default error


class ManualClock:
    """A monotonic clock that only moves when slept on (or ``advance``d); ``sleeps`` lists each delay."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.now += seconds


# ---------------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------------
class FakeCivitai:
    """A Civitai look-alike served on a random loopback port."""

    def __init__(self) -> None:
        self.models: dict[int, FakeModel] = {}
        self.versions: dict[int, FakeVersion] = {}
        self.files: dict[int, FakeFile] = {}
        self.images: dict[int, FakeImage] = {}
        self.requests: list[RecordedRequest] = []
        self.bytes_sent: dict[str, int] = {}  # body bytes written, per request path
        self._release = asyncio.Event()
        # Plain switches, settable per test.
        self.ignore_range = False  # downloads answer 200 with the whole body despite Range
        self.corrupt = False  # downloads send wrong bytes of the right length
        self.require_api_key: str | None = None  # downloads need "Authorization: Bearer <key>" or ?token=
        self.redirect_downloads: bool | str = False  # True: 307 to /files/... here; a base URL: there
        self.peers: list[FakeCivitai] = []  # other fakes whose files /files/... may serve (a fake CDN)
        self._faults: list[_Fault] = []
        starts = {"model": 100_001, "version": 200_001, "file": 300_001, "image": 400_001, "post": 500_001}
        self._ids = {kind: itertools.count(start) for kind, start in starts.items()}
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get(API + "/models", self._models)
        app.router.add_get(API + r"/models/{model_id:\d+}", self._model)
        app.router.add_get(API + r"/model-versions/by-hash/{hash}", self._version_by_hash)
        app.router.add_post(API + "/model-versions/by-hash", self._versions_by_hashes)
        app.router.add_get(API + r"/model-versions/{version_id:\d+}", self._version)
        app.router.add_get(API + "/images", self._images)
        app.router.add_get(r"/api/download/models/{version_id:\d+}", self._download)
        app.router.add_get(r"/files/{file_id:\d+}/{name}", self._stored_file)
        app.router.add_get("/media/{tail:.+}", self._media)
        self._runner, self._base_url = await serve_on_loopback(app)
        return self._base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "FakeCivitai":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("FakeCivitai is not started")
        return self._base_url

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``: the key ResilientHttp keeps this server's breaker under."""
        return self.base_url.split("://", 1)[1]

    # -- registering data --------------------------------------------------------------------------
    def add_model(
        self,
        name: str = "Test LoRA",
        *,
        type: str = "LORA",
        creator: str = "tester",
        tags: Iterable[str] = ("character", "style"),
        nsfw: bool = False,
        poi: bool = False,
        description: str | None = "<p>A model for tests.</p>",
        model_id: int | None = None,
        versions: int | Sequence[Mapping[str, Any]] = 1,
        extra: Mapping[str, Any] | None = None,
    ) -> FakeModel:
        """Register a model; ``versions`` is a count of default versions or a list of ``add_version``
        keyword sets (listed oldest first; Civitai shows the newest first)."""
        model = FakeModel(
            id=model_id if model_id is not None else next(self._ids["model"]),
            name=name,
            type=type,
            creator=creator,
            tags=list(tags),
            nsfw=nsfw,
            poi=poi,
            description=description,
            extra=dict(extra or {}),
        )
        self.models[model.id] = model
        specs = [{} for _ in range(versions)] if isinstance(versions, int) else list(versions)
        for spec in specs:
            self.add_version(model, **spec)
        return model

    def add_version(
        self,
        model: FakeModel | int,
        name: str | None = None,
        *,
        version_id: int | None = None,
        base_model: str = "SDXL 1.0",
        trained_words: Iterable[str] = ("fake_trigger",),
        description: str | None = "<p>Version notes.</p>",
        files: int | Sequence[bytes | Mapping[str, Any]] = 1,
        images: int | Sequence[Mapping[str, Any]] = 1,
        published: bool = True,
        extra: Mapping[str, Any] | None = None,
        early_access_until: str | None = None,
        download_key: str | None = None,
    ) -> FakeVersion:
        """Register a version as the model's newest; ``files``/``images`` are counts or lists of
        ``add_file`` data / keyword sets and ``add_image`` keyword sets."""
        owner = model if isinstance(model, FakeModel) else self.models[model]
        vid = version_id if version_id is not None else next(self._ids["version"])
        created = _BASE_DATE + timedelta(days=len(self.versions), minutes=vid % 997)
        version = FakeVersion(
            id=vid,
            model_id=owner.id,
            name=name or f"v{len(owner.versions) + 1}.0",
            base_model=base_model,
            trained_words=list(trained_words),
            description=description,
            created_at=_iso(created),
            published_at=_iso(created + timedelta(hours=1)) if published else None,
            updated_at=_iso(created + timedelta(hours=2)),
            extra=dict(extra or {}),
            early_access_until=early_access_until,
            download_key=download_key,
        )
        owner.versions.insert(0, version)
        self.versions[vid] = version
        for spec in [None] * files if isinstance(files, int) else files:
            if spec is None:
                self.add_file(version)
            elif isinstance(spec, (bytes, bytearray)):
                self.add_file(version, bytes(spec))
            else:
                self.add_file(version, **spec)
        for spec in [{}] * images if isinstance(images, int) else images:
            self.add_image(version, **spec)
        return version

    def add_file(
        self,
        version: FakeVersion | int,
        data: bytes | None = None,
        *,
        name: str | None = None,
        type: str = "Model",
        format: str = "SafeTensor",
        size: str = "pruned",
        fp: str = "fp16",
        primary: bool | None = None,
        file_id: int | None = None,
        n_bytes: int = 4096,
        extra: Mapping[str, Any] | None = None,
    ) -> FakeFile:
        """Register a downloadable file; by default a valid safetensors of ``n_bytes`` tensor bytes.
        The first ``Model`` file of a version becomes primary unless told otherwise."""
        owner = version if isinstance(version, FakeVersion) else self.versions[version]
        fid = file_id if file_id is not None else next(self._ids["file"])
        if data is None:
            if format == "SafeTensor":
                data = make_safetensors(seed=fid, n_bytes=n_bytes)
            else:
                data = random.Random(fid).randbytes(n_bytes)
        if primary is None:
            primary = type == "Model" and not any(f.primary for f in owner.files)
        if name is None:
            model = self.models.get(owner.model_id)
            stem = _slug(model.name if model else "model") + "_" + _slug(owner.name)
            suffix = "" if primary or len(owner.files) == 0 else f"_{fp}_{size}"
            ext = "zip" if type != "Model" else _EXTENSIONS.get(format, "bin")
            name = f"{stem}{suffix}.{ext}"
        file = FakeFile(fid, name, data, type, format, size, fp, bool(primary), dict(extra or {}))
        owner.files.append(file)
        self.files[fid] = file
        return file

    def add_image(
        self,
        version: FakeVersion | int | None = None,
        *,
        image_id: int | None = None,
        width: int = 64,
        height: int = 64,
        nsfw_level: int = 1,
        type: str = "image",
        meta: Mapping[str, Any] | None = None,
        data: bytes | None = None,
        png_text: Mapping[str, str] | None = None,
        name: str | None = None,
        username: str | None = None,
        post_id: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> FakeImage:
        """Register an image (shown by the version when given; always reachable by the images API)."""
        owner = None
        if version is not None:
            owner = version if isinstance(version, FakeVersion) else self.versions[version]
        iid = image_id if image_id is not None else next(self._ids["image"])
        model = self.models.get(owner.model_id) if owner else None
        if meta is None and type == "image":
            meta = {
                "prompt": "a fake portrait, <lora:fake:0.8>",
                "negativePrompt": "blurry",
                "steps": 20,
                "sampler": "Euler a",
                "cfgScale": 7,
                "seed": 1234 + iid,
                "Size": f"{width}x{height}",
                "Model": "sd_xl_base_1.0",
            }
        image = FakeImage(
            id=iid,
            name=name or f"{iid}.{'mp4' if type == 'video' else 'png'}",
            width=width,
            height=height,
            nsfw_level=nsfw_level,
            type=type,
            meta=dict(meta) if meta is not None else None,
            data=data,
            png_text=dict(png_text) if png_text else None,
            username=username or (model.creator if model else "tester"),
            base_model=owner.base_model if owner else None,
            post_id=post_id if post_id is not None else next(self._ids["post"]),
            version_ids=[owner.id] if owner else [],
            extra=dict(extra or {}),
        )
        if owner is not None:
            owner.images.append(image)
        self.images[iid] = image
        return image

    # -- fault switches ----------------------------------------------------------------------------
    def fail_next(
        self, n: int, status: int = 500, *, path: str | None = None, retry_after: float | str | None = None
    ) -> None:
        """The next ``n`` requests (under ``path``) answer ``status``."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self._faults.append(_Fault("status", n, path, status, headers))

    def rate_limit_next(self, n: int, retry_after: float | str | None = 1, *, path: str | None = None) -> None:
        """The next ``n`` requests answer 429 with ``Retry-After`` (seconds or an HTTP date; None: no header)."""
        self.fail_next(n, 429, path=path, retry_after=retry_after)

    def answer_next(self, n: int, payload: Any, *, status: int = 200, path: str | None = None) -> None:
        """The next ``n`` requests (under ``path``) answer exactly ``payload`` as JSON: odd shapes on demand."""
        self._faults.append(_Fault("status", n, path, status, {}, payload))

    def malformed_json_next(self, n: int, *, path: str | None = None) -> None:
        """The next ``n`` JSON answers are truncated, invalid JSON (status 200)."""
        self._faults.append(_Fault("malformed", n, path))

    def stall(self, seconds: float, *, n: int | None = None, path: str | None = None) -> None:
        """Answers send their headers, then the body waits ``seconds`` (for ``n`` answers; None: all)."""
        self._faults.append(_Fault("stall", n, path, seconds))

    def slow(self, bytes_per_second: float | None, *, path: str | None = None) -> None:
        """Bodies trickle at ``bytes_per_second`` until ``slow(None)``."""
        self._faults = [f for f in self._faults if f.kind != "slow"]
        if bytes_per_second:
            self._faults.append(_Fault("slow", None, path, float(bytes_per_second)))

    def cut_after(self, n_bytes: int, *, n: int = 1, path: str | None = None) -> None:
        """The next body is cut (connection closed) after ``n_bytes``, though Content-Length promised more."""
        self._faults.append(_Fault("cut", n, path, n_bytes))

    def hold_after(self, n_bytes: int, *, n: int = 1, path: str | None = None) -> None:
        """The next body sends ``n_bytes``, then waits (connection open) until ``release()`` or the client leaves."""
        self._release.clear()
        self._faults.append(_Fault("hold", n, path, n_bytes))

    def release(self) -> None:
        """Let held bodies go on."""
        self._release.set()

    def clear_faults(self) -> None:
        self._faults.clear()
        self.ignore_range = self.corrupt = False
        self._release.set()

    def _take(self, kind: str, request: web.Request, *, consume: bool = True) -> _Fault | None:
        for fault in self._faults:
            if fault.kind != kind or fault.remaining == 0:
                continue
            if fault.path is not None and not request.path.startswith(fault.path):
                continue
            if consume and fault.remaining is not None:
                fault.remaining -= 1
            return fault
        return None

    # -- recorded traffic --------------------------------------------------------------------------
    def requests_to(self, path_prefix: str, method: str | None = None) -> list[RecordedRequest]:
        return [
            r for r in self.requests
            if r.path.startswith(path_prefix) and (method is None or r.method == method.upper())
        ]

    # -- rendering (what Civitai's API answers) ----------------------------------------------------
    def download_url(self, version: FakeVersion, file: FakeFile) -> str:
        url = f"{self.base_url}/api/download/models/{version.id}"
        if file.primary:
            return url
        return url + "?" + urlencode({"type": file.type, "format": file.format, "size": file.size, "fp": file.fp})

    def media_url(self, image: FakeImage) -> str:
        return f"{self.base_url}/media/{image.id}/{quote(image.name)}"

    def file_json(self, version: FakeVersion, file: FakeFile) -> dict:
        sha = file.sha256.upper()
        hashes = {
            "AutoV1": sha[:8],
            "AutoV2": sha[:10],
            "SHA256": sha,
            "CRC32": f"{zlib.crc32(file.data):08X}",
            "BLAKE3": hashlib.blake2b(file.data, digest_size=32).hexdigest().upper(),
        }
        autov3 = _autov3(file.data) if file.format == "SafeTensor" else None
        if autov3:
            hashes["AutoV3"] = autov3
        out: dict[str, Any] = {
            "id": file.id,
            "sizeKB": file.size_kb,
            "name": file.name,
            "type": file.type,
            "pickleScanResult": "Success",
            "pickleScanMessage": "No Pickle imports",
            "virusScanResult": "Success",
            "virusScanMessage": None,
            "scannedAt": version.created_at,
            "metadata": {"format": file.format, "size": file.size, "fp": file.fp},
            "hashes": hashes,
            "downloadUrl": self.download_url(version, file),
        }
        if file.primary:
            out["primary"] = True
        out.update(file.extra)
        return out

    def version_image_json(self, image: FakeImage) -> dict:
        out = {
            "url": self.media_url(image),
            "nsfwLevel": image.nsfw_level,
            "width": image.width,
            "height": image.height,
            "hash": image.hash,
            "type": image.type,
            "metadata": {"hash": image.hash, "size": len(image.media()), "width": image.width, "height": image.height},
            "meta": image.meta,
            "availability": "Public",
            "hasMeta": bool(image.meta),
            "hasPositivePrompt": bool(image.meta and image.meta.get("prompt")),
            "onSite": False,
            "remixOfId": None,
        }
        out.update(image.extra)
        return out

    def image_json(self, image: FakeImage) -> dict:
        """An item of ``GET /api/v1/images``."""
        out = {
            "id": image.id,
            "url": self.media_url(image),
            "hash": image.hash,
            "width": image.width,
            "height": image.height,
            "nsfwLevel": _NSFW_NAMES.get(image.nsfw_level, "X"),
            "nsfw": image.nsfw_level > 1,
            "browsingLevel": image.nsfw_level,
            "createdAt": _iso(_BASE_DATE + timedelta(minutes=image.id % 100_000)),
            "postId": image.post_id,
            "stats": {
                "cryCount": 0, "laughCount": 0, "likeCount": 3, "dislikeCount": 0, "heartCount": 1, "commentCount": 0
            },
            "meta": image.meta,
            "username": image.username,
            "baseModel": image.base_model,
            "modelVersionIds": list(image.version_ids),
            "type": image.type,
        }
        out.update(image.extra)
        return out

    def version_json(self, version: FakeVersion, *, in_model: bool = False) -> dict:
        """``GET /api/v1/model-versions/{id}``; with ``in_model`` the shape listed inside a model."""
        model = self.models[version.model_id]
        ecosystem = _slug(version.base_model).lower()
        out: dict[str, Any] = {
            "id": version.id,
            "modelId": model.id,
            "name": version.name,
            "createdAt": version.created_at,
            "updatedAt": version.updated_at,
            "status": "Published" if version.published_at else "Draft",
            "publishedAt": version.published_at,
            "trainedWords": list(version.trained_words),
            "trainingStatus": None,
            "trainingDetails": None,
            "baseModel": version.base_model,
            "baseModelType": "Standard",
            "earlyAccessEndsAt": version.early_access_until,
            "earlyAccessConfig": {"timeframe": 7, "downloadPrice": 500} if version.early_access_until else None,
            "description": version.description,
            "uploadType": "Created",
            "usageControl": "Download",
            "air": f"urn:air:{ecosystem}:{model.type.lower()}:civitai:{model.id}@{version.id}",
            "stats": {"downloadCount": 10, "ratingCount": 0, "rating": 0, "thumbsUpCount": 2},
            "model": {"name": model.name, "type": model.type, "nsfw": model.nsfw, "poi": model.poi, "mode": None},
            "files": [self.file_json(version, f) for f in version.files],
            "images": [self.version_image_json(i) for i in version.images],
            "downloadUrl": f"{self.base_url}/api/download/models/{version.id}",
        }
        if version.early_access_until:
            out["availability"] = "EarlyAccess"
        if in_model:
            del out["modelId"], out["model"]
            out["index"] = model.versions.index(version) if version in model.versions else 0
            out["availability"] = "EarlyAccess" if version.early_access_until else "Public"
        out.update(version.extra)
        return out

    def model_json(self, model: FakeModel) -> dict:
        """``GET /api/v1/models/{id}``: the model with its ``modelVersions``, newest first."""
        out: dict[str, Any] = {
            "id": model.id,
            "name": model.name,
            "description": model.description,
            "allowNoCredit": True,
            "allowCommercialUse": ["Image", "RentCivit"],
            "allowDerivatives": True,
            "allowDifferentLicense": True,
            "type": model.type,
            "minor": False,
            "sfwOnly": False,
            "poi": model.poi,
            "nsfw": model.nsfw,
            "nsfwLevel": 28 if model.nsfw else 1,
            "availability": "Public",
            "cosmetic": None,
            "supportsGeneration": False,
            "stats": {"downloadCount": 10, "favoriteCount": 0, "thumbsUpCount": 2, "thumbsDownCount": 0,
                      "commentCount": 0, "ratingCount": 0, "rating": 0, "tippedAmountCount": 0},
            "creator": {"username": model.creator, "image": f"{self.base_url}/media/avatar/{quote(model.creator)}.png"},
            "tags": list(model.tags),
            "modelVersions": [self.version_json(v, in_model=True) for v in model.versions],
        }
        out.update(model.extra)
        return out

    # -- plumbing ----------------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read() if request.can_read_body else b""
        self.requests.append(
            RecordedRequest(request.method, request.path, MultiDict(request.query), CIMultiDict(request.headers), body)
        )
        fault = self._take("status", request)
        if fault is not None:
            payload = fault.payload
            if payload is None:
                payload = {"error": "Too Many Requests" if fault.value == 429 else "Simulated failure"}
            return web.json_response(payload, status=fault.value, headers=fault.headers)
        return await handler(request)

    async def _send(
        self, request: web.Request, body: bytes, *, status: int = 200, headers: Mapping[str, str]
    ) -> web.StreamResponse:
        """Write a body through the stall / slow / cut switches."""
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = len(body)
        stall = self._take("stall", request)
        cut = self._take("cut", request)
        hold = self._take("hold", request)
        slow = self._take("slow", request, consume=False)
        limit = len(body) if cut is None else min(int(cut.value), len(body))
        await response.prepare(request)
        try:
            if stall is not None:
                await asyncio.sleep(float(stall.value))
            chunk = max(1, int(slow.value // 20)) if slow else 64 * 1024
            held_at = None if hold is None else min(int(hold.value), limit)
            starts = sorted({*range(0, limit, chunk), *([held_at] if held_at is not None else [])})
            for index, start in enumerate(starts):
                if start == held_at:
                    await self._release.wait()
                end = starts[index + 1] if index + 1 < len(starts) else limit
                piece = body[start:end]
                if not piece:
                    continue
                await response.write(piece)
                self.bytes_sent[request.path] = self.bytes_sent.get(request.path, 0) + len(piece)
                if slow:
                    await asyncio.sleep(len(piece) / slow.value)
            if cut is not None:
                if request.transport is not None:
                    request.transport.close()
                return response
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away
        return response

    async def _json(self, request: web.Request, payload: Any, status: int = 200) -> web.StreamResponse:
        if status == 200 and self._take("malformed", request) is not None:
            body = b'{"items": [{"id": 1, "name": "trunc'
        else:
            body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        return await self._send(request, body, status=status, headers=headers)

    async def _serve_bytes(
        self, request: web.Request, data: bytes, *, name: str, content_type: str = "application/octet-stream",
        corrupt: bool = False,
    ) -> web.StreamResponse:
        if corrupt:
            data = data.translate(_INVERT)
        total = len(data)
        headers = {
            "Content-Type": content_type,
            "Accept-Ranges": "bytes",
            "Content-Disposition": f"attachment; filename=\"{name.encode('ascii', 'replace').decode()}\"; "
                                   f"filename*=UTF-8''{quote(name)}",
            "ETag": '"' + hashlib.sha256(data).hexdigest()[:32] + '"',
        }
        span = None if self.ignore_range else _parse_range(request.headers.get("Range"), total)
        if span == "unsatisfiable":
            return web.json_response(
                {"error": "Range Not Satisfiable"}, status=416, headers={"Content-Range": f"bytes */{total}"}
            )
        if isinstance(span, tuple):
            start, end = span
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
            return await self._send(request, data[start : end + 1], status=206, headers=headers)
        return await self._send(request, data, headers=headers)

    # -- API handlers ------------------------------------------------------------------------------
    async def _model(self, request: web.Request) -> web.StreamResponse:
        model = self.models.get(int(request.match_info["model_id"]))
        if model is None:
            return await self._json(request, {"error": f"No model with id {request.match_info['model_id']}"}, 404)
        return await self._json(request, self.model_json(model))

    async def _models(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        models = sorted(self.models.values(), key=lambda m: m.id, reverse=True)
        if query.get("username"):
            models = [m for m in models if m.creator.lower() == query["username"].lower()]
        if query.get("ids"):
            wanted = {int(x) for x in query["ids"].split(",") if x.strip().isdigit()}
            models = [m for m in models if m.id in wanted]
        if query.get("query"):
            models = [m for m in models if query["query"].lower() in m.name.lower()]
        if query.get("nsfw", "").lower() != "true":
            models = [m for m in models if not m.nsfw]
        if query.getall("types", []):
            types = {t.lower() for t in query.getall("types")}
            models = [m for m in models if m.type.lower() in types]
        if query.getall("baseModels", []):
            bases = set(query.getall("baseModels"))
            models = [m for m in models if any(v.base_model in bases for v in m.versions)]
        try:
            limit = max(1, min(int(query.get("limit", "100")), 100))
            offset = int(query["cursor"][1:]) if query.get("cursor") else 0
        except ValueError:
            return await self._json(request, {"error": "Invalid cursor or limit"}, 400)
        page = models[offset : offset + limit]
        metadata: dict[str, Any] = {"totalItems": len(models)}
        if offset + limit < len(models):
            cursor = f"c{offset + limit}"
            metadata["nextCursor"] = cursor
            metadata["nextPage"] = f"{self.base_url}{request.path}?" + urlencode({**query, "cursor": cursor})
        return await self._json(request, {"items": [self.model_json(m) for m in page], "metadata": metadata})

    def _version_for_hash(self, digest: str) -> FakeVersion | None:
        digest = digest.lower()
        for version in self.versions.values():
            for file in version.files:
                sha = file.sha256
                if digest in (sha, sha[:10]) or digest == (_autov3(file.data) or "").lower():
                    return version
        return None

    async def _version_by_hash(self, request: web.Request) -> web.StreamResponse:
        version = self._version_for_hash(request.match_info["hash"])
        if version is None:
            return await self._json(request, {"error": "Model not found"}, 404)
        return await self._json(request, self.version_json(version))

    async def _versions_by_hashes(self, request: web.Request) -> web.StreamResponse:
        try:
            hashes = json.loads(await request.read())
        except ValueError:
            return await self._json(request, {"error": "Invalid JSON"}, 400)
        if not isinstance(hashes, list) or len(hashes) > 100:
            return await self._json(request, {"error": "Expected an array of at most 100 hashes"}, 400)
        found: dict[int, FakeVersion] = {}
        for digest in hashes:
            version = self._version_for_hash(str(digest))
            if version is not None:
                found.setdefault(version.id, version)
        return await self._json(request, [self.version_json(v) for v in found.values()])

    async def _version(self, request: web.Request) -> web.StreamResponse:
        version = self.versions.get(int(request.match_info["version_id"]))
        if version is None:
            return await self._json(request, {"error": "Version not found"}, 404)
        return await self._json(request, self.version_json(version))

    async def _images(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        images = sorted(self.images.values(), key=lambda i: i.id, reverse=True)
        filters = {
            "imageId": lambda i, v: str(i.id) == v,
            "postId": lambda i, v: str(i.post_id) == v,
            "modelVersionId": lambda i, v: v in {str(x) for x in i.version_ids},
            "username": lambda i, v: i.username.lower() == v.lower(),
        }
        for key, keep in filters.items():
            if query.get(key):
                images = [i for i in images if keep(i, query[key])]
        limit = max(1, min(int(query.get("limit", "100")) if query.get("limit", "").isdigit() else 100, 200))
        return await self._json(
            request,
            {"items": [self.image_json(i) for i in images[:limit]], "metadata": {"nextCursor": None}},
        )

    # -- file handlers -----------------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        if not self.require_api_key:
            return True
        return request.headers.get("Authorization") == f"Bearer {self.require_api_key}" or (
            request.query.get("token") == self.require_api_key
        )

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response(
                {
                    "error": "Unauthorized",
                    "message": "The creator of this asset requires you to be logged in to download it",
                },
                status=401,
            )
        version = self.versions.get(int(request.match_info["version_id"]))
        if version is None or not version.files:
            return web.json_response({"error": "Model not found"}, status=404)
        if version.download_key and request.headers.get("Authorization") != f"Bearer {version.download_key}":
            return web.json_response(
                {"error": "Unauthorized", "message": "This version is in early access; you need to purchase it"},
                status=401,
            )
        criteria = {k: request.query[k].lower() for k in ("type", "format", "size", "fp") if request.query.get(k)}
        if criteria:
            matches = [f for f in version.files if all(
                str({"type": f.type, "format": f.format, "size": f.size, "fp": f.fp}[k]).lower() == v
                for k, v in criteria.items()
            )]
            file = matches[0] if matches else None
        else:
            file = next((f for f in version.files if f.primary), version.files[0])
        if file is None:
            return web.json_response({"error": "File not found"}, status=404)
        if self.redirect_downloads:
            base = self.base_url if self.redirect_downloads is True else str(self.redirect_downloads).rstrip("/")
            raise web.HTTPTemporaryRedirect(f"{base}/files/{file.id}/{quote(file.name)}?sig=fake")
        return await self._serve_bytes(request, file.data, name=file.name, corrupt=self.corrupt)

    async def _stored_file(self, request: web.Request) -> web.StreamResponse:
        file_id = int(request.match_info["file_id"])
        for source in [self, *self.peers]:
            file = source.files.get(file_id)
            if file is not None:
                corrupt = self.corrupt or source.corrupt
                return await self._serve_bytes(request, file.data, name=file.name, corrupt=corrupt)
        return web.json_response({"error": "File not found"}, status=404)

    async def _media(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        head = tail.split("/", 1)[0]
        if head == "avatar":
            return await self._serve_bytes(request, make_png(32, 32), name="avatar.png", content_type="image/png")
        image = self.images.get(int(head)) if head.isdigit() else None
        if image is None:
            return web.json_response({"error": "Image not found"}, status=404)
        content_type = "video/mp4" if image.type == "video" else "image/png"
        return await self._serve_bytes(
            request, image.media(), name=image.name, content_type=content_type, corrupt=self.corrupt
        )


def _parse_range(value: str | None, total: int) -> tuple[int, int] | str | None:
    """One ``bytes=`` range as (start, end) inclusive; "unsatisfiable"; None to send the whole body."""
    if not value:
        return None
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", value)
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.groups()
    if not first:
        length = int(last)
        if length == 0:
            return "unsatisfiable"
        return max(0, total - length), total - 1
    start = int(first)
    end = min(int(last), total - 1) if last else total - 1
    if start >= total:
        return "unsatisfiable"
    if end < start:
        return None
    return start, end


@pytest.fixture
async def fake_civitai():
    """A started ``FakeCivitai``; closed after the test."""
    fake = FakeCivitai()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()
