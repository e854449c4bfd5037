"""Helpers for Downloader tests: a fast-retrying ResilientHttp, blobs on the fake Civitai, part files."""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from lora_manager.py.services.downloads.downloader import Downloader, DownloadRequest
from lora_manager.py.services.downloads.progress import DownloadProgress
from lora_manager.py.services.remote.resilience import ResilientHttp, RetryPolicy
from support.fake_civitai import FakeCivitai, ManualClock

DOWNLOAD_PATH = "/api/download/models/"


@dataclass
class Blob:
    """One downloadable file on the fake: its URL and the exact bytes it serves."""

    url: str
    data: bytes
    version_id: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def request(self, target: Path, **kwargs) -> DownloadRequest:
        return DownloadRequest(self.url, target, **kwargs)


def add_blob(fake: FakeCivitai, n_bytes: int = 200_000, seed: int = 7) -> Blob:
    """Register a version whose primary file is ``n_bytes`` of seeded random bytes."""
    data = random.Random(seed).randbytes(n_bytes)
    model = fake.add_model(f"Blob {seed}", versions=[{"files": [data], "images": 0}])
    version = model.versions[0]
    return Blob(f"{fake.base_url}{DOWNLOAD_PATH}{version.id}", data, version.id)


def ranges_sent(fake: FakeCivitai) -> list[str | None]:
    """The Range header of every download request, in order (None: the whole file was asked for)."""
    return [r.headers.get("Range") for r in fake.requests_to(DOWNLOAD_PATH)]


class ProgressLog:
    """A progress callback that keeps every report."""

    def __init__(self) -> None:
        self.reports: list[DownloadProgress] = []

    def __call__(self, progress: DownloadProgress) -> None:
        self.reports.append(progress)

    @property
    def statuses(self) -> list[str]:
        out: list[str] = []
        for report in self.reports:
            if not out or out[-1] != report.status:
                out.append(report.status)
        return out


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def http(clock: ManualClock):
    """Retries without real waiting (the clock's sleep only records delays)."""
    client = ResilientHttp(
        policy=RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, jitter=0.0),
        breaker_threshold=5,
        breaker_reset=60.0,
        timeout=aiohttp.ClientTimeout(total=10),
        sleep=clock.sleep,
        clock=clock,
        rng=random.Random(1),
    )
    yield client
    await client.close()


@pytest.fixture
def downloader(http: ResilientHttp) -> Downloader:
    return Downloader(http, chunk_size=16 * 1024, stall_timeout=0.3, progress_interval=0.0)
