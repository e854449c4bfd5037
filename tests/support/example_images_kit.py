"""Helpers for example-image tests: models whose sidecars list images served by the fake Civitai."""
from __future__ import annotations

import asyncio
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from PIL import Image

from support.fake_civitai import FakeCivitai, FakeImage, make_safetensors
from support.library import lm_sidecar
from support.metadata_helpers import fast_http

WEBM_HEADER = b"\x1a\x45\xdf\xa3" + bytes(60)


@dataclass
class ExampleModel:
    path: Path
    sha256: str
    images: list[FakeImage]

    @property
    def stem(self) -> str:
        return self.path.stem


def jpeg_bytes(seed: int = 0, size: tuple[int, int] = (24, 16)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (seed % 256, 80, 160)).save(out, format="JPEG")
    return out.getvalue()


def add_example_model(fake: FakeCivitai, root: Path, rel: str, *, seed: int,
                      kinds: Sequence[str] = ("image", "image"), sidecar_extra: dict[str, Any] | None = None
                      ) -> ExampleModel:
    """A LoRA on disk whose sidecar lists one Civitai image per entry of ``kinds`` ("image" PNG, "jpeg",
    "video" MP4, "webm"), each served by the fake under ``/media/<id>/...``."""
    data = make_safetensors(seed=seed)
    sha256 = hashlib.sha256(data).hexdigest()
    model = fake.add_model(f"Model {seed}", versions=[{"files": [data], "images": 0}])
    version = model.versions[0]
    images = []
    for number, kind in enumerate(kinds):
        if kind == "jpeg":
            images.append(fake.add_image(version, data=jpeg_bytes(seed + number), name=f"{seed}_{number}.jpeg"))
        elif kind == "webm":
            images.append(fake.add_image(version, type="video", data=WEBM_HEADER, name=f"{seed}_{number}.webm"))
        else:
            images.append(fake.add_image(version, type=kind))
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    civitai = {"id": version.id, "modelId": model.id, "name": version.name, "trainedWords": [],
               "images": [fake.version_image_json(image) for image in images]}
    sidecar = lm_sidecar(path.stem, sha256=sha256, civitai=civitai, **(sidecar_extra or {}))
    path.with_name(path.stem + ".metadata.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return ExampleModel(path, sha256, images)


def use_examples(env: Any, fake: FakeCivitai, monkeypatch: Any, **settings: Any) -> Path:
    """Point the app at the fake Civitai and at ``<tmp>/examples``; returns the example root."""
    monkeypatch.setenv("LORA_MANAGER_CIVITAI_BASE_URL", fake.base_url)
    root = env.tmp / "examples"
    env.write_settings(example_images_path=str(root), **settings)
    return root


async def start_app(make_client: Any, env: Any, *, attempts: int = 3, breaker_threshold: int = 5) -> tuple[Any, Any]:
    """The real app whose example-image fetches run on a manual clock (retries and Retry-After never wait)."""
    http, clock = fast_http(attempts=attempts, breaker_threshold=breaker_threshold)
    client = await make_client(env)
    client.lm_context.components["example_images"].set_http(http)
    client.lm_http = http
    return client, clock


class ExampleFrames:
    """Collects ``example_images_progress`` frames from /ws/fetch-progress."""

    def __init__(self) -> None:
        self.frames: list[dict] = []
        self._task: asyncio.Task | None = None
        self._ws: Any = None

    async def start(self, client: Any) -> "ExampleFrames":
        self._ws = await client.ws_connect("/ws/fetch-progress")

        async def read() -> None:
            async for message in self._ws:
                frame = json.loads(message.data)
                if frame.get("type") == "example_images_progress":
                    self.frames.append(frame)

        self._task = asyncio.create_task(read())
        return self

    @property
    def last(self) -> dict:
        return self.frames[-1]

    async def stop(self) -> None:
        await self._ws.close()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


async def run_download(client: Any, body: dict | None = None, *, timeout: float = 20.0) -> tuple[dict, Any]:
    """POST /api/lm/download-example-images and wait for its job to end."""
    resp = await client.post("/api/lm/download-example-images", json=body or {})
    answer = await resp.json()
    assert resp.status == 200, answer
    job = client.lm_context.jobs.get(answer["job_id"])
    await asyncio.wait_for(asyncio.shield(job._done.wait()), timeout)
    return answer, job


def stored(root: Path, sha256: str) -> dict[str, bytes]:
    folder = root / sha256
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def stable_job(value: Any, base_url: str | None = None) -> Any:
    """Job ids and the fake's port change between runs: replace them (anywhere) with placeholders."""
    if isinstance(value, dict):
        return {k: ("<job_id>" if k == "job_id" and v else stable_job(v, base_url)) for k, v in value.items()}
    if isinstance(value, list):
        return [stable_job(v, base_url) for v in value]
    if isinstance(value, str) and base_url:
        return value.replace(base_url, "<civitai>")
    return value
