"""Make JSON answers snapshot-stable: temp paths and timestamps become placeholders."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

VOLATILE_KEYS = {"modified", "created_at", "started_at", "finished_at", "seconds", "elapsed_seconds", "eta_seconds",
                 "mtime", "added_at", "completed_at", "created_date", "version"}


def scrub(value: Any, tmp: Path) -> Any:
    tmp_text = str(tmp)
    quoted = quote(tmp_text, safe="")
    if isinstance(value, dict):
        return {k: ("<volatile>" if k in VOLATILE_KEYS and v is not None else scrub(v, tmp)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, tmp) for v in value]
    if isinstance(value, str):
        return value.replace(tmp_text, "<tmp>").replace(quoted, "<tmp>")
    return value
