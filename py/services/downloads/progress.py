"""Progress of one file download, and the two helpers that produce it: a speed meter and a throttle.

Why: the UI shows percent and speed for every download; a speed computed over a moving window stays
honest through stalls and resumes, and a throttled callback keeps a 1 GB/s stream from flooding listeners.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

STATUSES = ("connecting", "downloading", "paused", "retrying", "verifying", "completed")


@dataclass
class DownloadProgress:
    """One snapshot of a download. ``status`` is one of ``STATUSES``."""

    bytes_downloaded: int
    total_bytes: int | None
    bytes_per_second: float
    status: str

    @property
    def percent(self) -> float | None:
        """0..100, or None while the total size is unknown."""
        if not self.total_bytes or self.total_bytes <= 0:
            return None
        return max(0.0, min(100.0, 100.0 * self.bytes_downloaded / self.total_bytes))

    def to_dict(self) -> dict:
        """A JSON-ready view (for events and status endpoints)."""
        percent = self.percent
        return {
            "bytes_downloaded": self.bytes_downloaded,
            "total_bytes": self.total_bytes,
            "bytes_per_second": round(self.bytes_per_second, 1),
            "status": self.status,
            "percent": None if percent is None else round(percent, 2),
        }


def eta_seconds(bytes_downloaded: int | None, total_bytes: int | None, bytes_per_second: float | None) -> int | None:
    """Seconds left at the current speed, or None when it cannot be told (unknown total, no speed yet)."""
    if not total_bytes or bytes_downloaded is None or not bytes_per_second or bytes_per_second <= 0:
        return None
    return max(0, round((total_bytes - bytes_downloaded) / bytes_per_second))


class SpeedMeter:
    """Bytes per second over the last ``window`` seconds (samples of the running byte count)."""

    def __init__(self, window: float = 3.0, *, clock: Clock = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, total_bytes: int) -> None:
        """Record the running count of bytes received so far."""
        now = self._clock()
        self._samples.append((now, total_bytes))
        horizon = now - self.window
        # keep one sample at or before the horizon so the window always spans ``window`` when it can
        while len(self._samples) > 2 and self._samples[1][0] <= horizon:
            self._samples.popleft()

    def reset(self) -> None:
        """Forget history (after a pause or a restart from zero: old bytes say nothing about the new rate)."""
        self._samples.clear()

    @property
    def bytes_per_second(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        if t1 <= t0 or b1 <= b0:
            return 0.0
        return (b1 - b0) / (t1 - t0)


class ProgressReporter:
    """Calls ``callback`` at most every ``interval`` seconds while the status stays the same; a change of
    status (paused, retrying, verifying, completed) is reported at once. A failing callback is logged and
    never breaks the download."""

    def __init__(
        self,
        callback: Callable[[DownloadProgress], None] | None,
        *,
        interval: float = 0.25,
        clock: Clock = time.monotonic,
        meter: SpeedMeter | None = None,
    ) -> None:
        self._callback = callback
        self.interval = interval
        self._clock = clock
        self.meter = meter or SpeedMeter(clock=clock)
        self._last_emit: float | None = None
        self._last_status: str | None = None
        self.total_bytes: int | None = None
        self.last: DownloadProgress | None = None

    def update(self, status: str, bytes_downloaded: int, *, force: bool = False) -> None:
        if status == "downloading":
            self.meter.add(bytes_downloaded)
        if self._callback is None:
            return
        now = self._clock()
        due = (
            force
            or status != self._last_status
            or self._last_emit is None
            or now - self._last_emit >= self.interval
        )
        if not due:
            return
        speed = self.meter.bytes_per_second if status == "downloading" else 0.0
        progress = DownloadProgress(bytes_downloaded, self.total_bytes, speed, status)
        self._last_emit = now
        self._last_status = status
        self.last = progress
        try:
            self._callback(progress)
        except Exception:  # a listener's bug must not end the transfer
            logger.exception("A download progress listener failed")
