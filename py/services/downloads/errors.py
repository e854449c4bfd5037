"""Errors of the download area, each carrying the message users see (and, for requests, the HTTP status)."""
from __future__ import annotations


class DownloadError(Exception):
    """A request or download that cannot go on; ``message`` is shown to the user, ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


class ControlError(Exception):
    """A pause/resume/cancel/skip that does not apply (unknown id, already paused, ...)."""
