"""Helpers for metadata-refresh tests: local LoRAs whose bytes Civitai (the fake) knows, fast HTTP clocks."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, AsyncIterator, Iterable

import pytest

from lora_manager.py.services.remote.resilience import ResilientHttp, RetryPolicy
from support.fake_civitai import FakeCivitai, FakeModel, ManualClock, make_safetensors


def add_known_lora(fake: FakeCivitai, root: Path, rel: str, *, seed: int, name: str = "Test LoRA",
                   tags: Iterable[str] = ("character", "style"), trained_words: Iterable[str] = ("fake_trigger",),
                   images: int = 1, sidecar: dict[str, Any] | None = None,
                   versions_after: int = 0) -> tuple[FakeModel, Path]:
    """A LoRA on disk whose bytes are a file of a version on the fake Civitai (so its sha256 matches).

    ``versions_after`` newer versions are published after the local one (an update is available).
    """
    data = make_safetensors(seed=seed)
    model = fake.add_model(name, tags=tags, versions=[{"files": [data], "images": images,
                                                      "trained_words": list(trained_words)}])
    for _ in range(versions_after):
        fake.add_version(model, images=0)
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if sidecar is not None:
        path.with_name(path.stem + ".metadata.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return model, path


def add_unknown_lora(root: Path, rel: str, *, seed: int) -> Path:
    """A LoRA on disk that Civitai does not know."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(make_safetensors(seed=seed + 900_000))
    return path


def fast_http(*, attempts: int = 3, breaker_threshold: int = 5) -> tuple[ResilientHttp, ManualClock]:
    """A ResilientHttp whose waits advance a manual clock instead of sleeping."""
    clock = ManualClock()
    http = ResilientHttp(
        policy=RetryPolicy(max_attempts=attempts, base_delay=0.5, max_delay=4.0),
        breaker_threshold=breaker_threshold,
        breaker_reset=60.0,
        sleep=clock.sleep,
        clock=clock,
        wall_clock=lambda: 1_700_000_000.0,
    )
    return http, clock


@pytest.fixture
def civitai_env(lib_env: Any, fake_civitai: FakeCivitai, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The test library, with the app's Civitai pointed at the fake (import ``fake_civitai`` beside it)."""
    monkeypatch.setenv("LORA_MANAGER_CIVITAI_BASE_URL", fake_civitai.base_url)
    return lib_env


@pytest.fixture
async def http_clock() -> AsyncIterator[tuple[ResilientHttp, ManualClock]]:
    http, clock = fast_http()
    yield http, clock
    await http.close()


def read_sidecar_json(model_path: Path) -> dict[str, Any]:
    return json.loads(model_path.with_name(model_path.stem + ".metadata.json").read_text(encoding="utf-8"))


def stable(body: Any, *keys: str) -> Any:
    """Replace run-specific values (job ids, check times) with placeholders."""
    if isinstance(body, dict):
        return {k: (f"<{k}>" if k in keys and v is not None else stable(v, *keys)) for k, v in body.items()}
    if isinstance(body, list):
        return [stable(v, *keys) for v in body]
    return body
