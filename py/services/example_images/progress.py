"""The records of an example-image run: what happened to each model, and the progress the UI is shown.

Why: the same numbers feed the ``example_images_progress`` frames, the status endpoint and the job's result,
so they are kept in one place and shaped once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FRAME_TYPE = "example_images_progress"
MAX_ERRORS = 50  # the most recent image failures kept for the status and the frames

SUCCESS = "success"
FAILED = "failed"
SKIPPED = "skipped"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@dataclass
class ModelTarget:
    """A model whose example images are wanted. ``images`` None: read them from its sidecar when its turn comes."""

    model_type: str
    file_path: str
    name: str
    sha256: str
    images: list[Any] | None = None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.sha256[:8]})" if self.sha256 else self.name


@dataclass
class ImageFailure:
    index: int
    url: str
    error: str
    kind: str


@dataclass
class ModelOutcome:
    """What one model's run did. ``status``: success (every image is on disk), failed, or skipped."""

    target: ModelTarget
    status: str = SUCCESS
    message: str = ""
    downloaded: list[str] = field(default_factory=list)
    present: int = 0
    failures: list[ImageFailure] = field(default_factory=list)
    cancelled: bool = False

    def finish(self) -> "ModelOutcome":
        if self.status == SKIPPED:
            return self
        if self.failures:
            self.status = FAILED
            self.message = (f"{len(self.failures)} of {len(self.failures) + len(self.downloaded) + self.present} "
                            f"example images failed")
        else:
            self.status = SUCCESS
            self.message = f"{len(self.downloaded)} downloaded, {self.present} already present"
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "file_path": self.target.file_path,
            "model_name": self.target.name,
            "sha256": self.target.sha256,
            "status": self.status,
            "message": self.message,
            "downloaded": list(self.downloaded),
            "present": self.present,
            "failures": [vars(f).copy() for f in self.failures],
        }


@dataclass
class ExampleProgress:
    """A bulk run's running totals (models and images)."""

    job_id: str = ""
    status: str = "queued"  # queued | running | completed | cancelled | error
    total: int = 0
    processed: int = 0
    success: int = 0
    failures: int = 0
    skipped: int = 0
    current_model: str = ""
    images_downloaded: int = 0
    images_present: int = 0
    images_failed: int = 0
    optimize: bool = False
    model_types: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    last_error: str | None = None
    error: str | None = None  # why the run stopped (status "error")
    message: str = ""

    def add(self, outcome: ModelOutcome) -> None:
        self.processed += 1
        self.images_downloaded += len(outcome.downloaded)
        self.images_present += outcome.present
        self.images_failed += len(outcome.failures)
        if outcome.status == SKIPPED:
            self.skipped += 1
        elif outcome.status == FAILED:
            self.failures += 1
        else:
            self.success += 1
        for failure in outcome.failures:
            self.record_error({"model": outcome.target.name, "file_path": outcome.target.file_path,
                               "sha256": outcome.target.sha256, "index": failure.index, "url": failure.url,
                               "error": failure.error})

    def record_error(self, entry: dict[str, Any]) -> None:
        self.errors.append(entry)
        del self.errors[:-MAX_ERRORS]
        self.last_error = f"{entry.get('model', '')}: {entry['error']}" if entry.get("model") else entry["error"]

    def summary_message(self) -> str:
        text = (f"Example images of {self.processed} of {plural(self.total, 'model')}: {self.success} complete, "
                f"{self.failures} with failures, {self.skipped} skipped; {plural(self.images_downloaded, 'image')} "
                f"downloaded, {self.images_present} already present, {self.images_failed} failed")
        return ("Cancelled. " + text) if self.status == "cancelled" else text

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "status": self.status,
            "total": self.total,
            "processed": self.processed,
            "success": self.success,
            "failures": self.failures,
            "skipped": self.skipped,
            "current_model": self.current_model,
            "images_downloaded": self.images_downloaded,
            "images_present": self.images_present,
            "images_failed": self.images_failed,
            "optimize": self.optimize,
            "model_types": list(self.model_types),
            "errors": [dict(e) for e in self.errors],
            "last_error": self.last_error,
            "error": self.error,
            "message": self.message,
        }

    def frame(self) -> dict[str, Any]:
        return {"type": FRAME_TYPE, **self.to_dict()}
