"""Set a damaged file aside: rename it next to itself as ``<name>.corrupt-<timestamp>``, never delete it.

Why: a settings file, sidecar, recipe or database that cannot be read still holds the user's data; it is
kept for inspection or recovery while a healthy file takes its place. One naming rule for every such file.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Iterable

logger = logging.getLogger(__name__)

SQLITE_COMPANIONS = ("-wal", "-shm")


def aside_path(path: Path) -> Path:
    """A free ``<name>.corrupt-<stamp>[-n]`` name beside ``path``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    return candidate


def set_aside(path: str | os.PathLike[str], reason: str, *, companions: Iterable[str] = ()) -> Path:
    """Rename ``path`` (and files named ``path + suffix`` for each companion suffix) aside; log why."""
    source = Path(path)
    target = aside_path(source)
    if source.exists():
        os.replace(source, target)
    for suffix in companions:
        companion = Path(str(source) + suffix)
        if companion.exists():
            os.replace(companion, Path(str(target) + suffix))
    logger.warning("%s was unusable (%s); kept as %s", source, reason, target.name)
    return target
