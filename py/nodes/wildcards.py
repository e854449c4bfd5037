"""Wildcard expansion for the Prompt and Text nodes: ``__name__`` and ``{a|b|c}``.

Files: ``<folder>/<name>.txt`` (one value per line, ``#`` comments), ``.json`` (a list, or nested objects whose
paths become ``a/b`` keys) and ``.yaml``/``.yml`` when PyYAML is installed. Keys are the relative path without
extension, lower case, ``/``-separated; ``__style/*__`` picks from every key under ``style/``. The folders are
this project's ``<data dir>/wildcards`` and ComfyUI-Lora-Manager's ``wildcards`` folder beside its settings,
so a user switching keeps theirs. A seed makes the expansion repeatable; unknown keys are left as written.
"""
from __future__ import annotations

import fnmatch
import json
import logging
import os
import random
import re
from pathlib import Path
from typing import Any, Iterable

logger = logging.getLogger(__name__)

__all__ = ["WildcardSet", "contains_dynamic_syntax", "wildcard_folders"]

_WILDCARD = re.compile(r"__([\w\s.\-+/*\\]+?)__")
_OPTIONS = re.compile(r"{([^{}]*)}")
_WEIGHT = re.compile(r"^\s*(\d+(?:\.\d+)?)::")
MAX_PASSES = 100
MAX_FILE_BYTES = 8 << 20
EXTENSIONS = (".txt", ".json", ".yaml", ".yml")


def contains_dynamic_syntax(text: Any) -> bool:
    return isinstance(text, str) and bool(_WILDCARD.search(text) or _OPTIONS.search(text))


def wildcard_folders(context: Any) -> list[Path]:
    """Where wildcard files are read from for a running app (ours first)."""
    from ..anchor_settings import anchor_config_dir

    folders = [Path(context.paths.data_dir) / "wildcards"] if context is not None else []
    anchor = anchor_config_dir()
    if anchor is not None:
        folders.append(anchor / "wildcards")
    return folders


def _flatten(prefix: str, value: Any, out: dict[str, list[str]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}/{str(key).lower()}" if prefix else str(key).lower(), inner, out)
    elif isinstance(value, (list, tuple)):
        items = [str(v).strip() for v in value if isinstance(v, (str, int, float)) and str(v).strip()]
        if items and prefix:
            out.setdefault(prefix, []).extend(items)
    elif isinstance(value, (str, int, float)) and prefix and str(value).strip():
        out.setdefault(prefix, []).append(str(value).strip())


def _read(path: Path, key: str, out: dict[str, list[str]]) -> None:
    if path.stat().st_size > MAX_FILE_BYTES:
        logger.warning("Wildcard file %s is larger than %d bytes; skipped", path, MAX_FILE_BYTES)
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        lines = [line.strip() for line in text.splitlines()]
        values = [line for line in lines if line and not line.startswith("#")]
        if values:
            out.setdefault(key, []).extend(values)
        return
    if suffix == ".json":
        data = json.loads(text)
    else:
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            logger.info("Wildcard file %s needs PyYAML; skipped", path)
            return
        data = yaml.safe_load(text)
    # An object's keys name wildcards themselves (``{"style": {"anime": [...]}}`` is ``__style/anime__``); a list
    # is the values of the file's own key.
    _flatten("" if isinstance(data, dict) else key, data, out)


class WildcardSet:
    """The wildcard table of some folders, re-read only when a file was added, changed or removed."""

    def __init__(self, folders: Iterable[Path]) -> None:
        self.folders = [Path(f) for f in folders]
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._table: dict[str, list[str]] = {}

    def _files(self) -> list[tuple[Path, str]]:
        found: list[tuple[Path, str]] = []
        for folder in self.folders:
            if not folder.is_dir():
                continue
            for dirpath, _dirs, files in os.walk(folder):
                for name in sorted(files):
                    if name.lower().endswith(EXTENSIONS):
                        path = Path(dirpath) / name
                        key = path.relative_to(folder).with_suffix("").as_posix().lower()
                        found.append((path, key))
        return found

    def table(self) -> dict[str, list[str]]:
        files = self._files()
        signature = []
        for path, _key in files:
            try:
                st = path.stat()
            except OSError:
                continue
            signature.append((str(path), st.st_size, st.st_mtime_ns))
        if tuple(signature) != self._signature:
            table: dict[str, list[str]] = {}
            for path, key in files:
                try:
                    _read(path, key, table)
                except (OSError, ValueError) as exc:
                    logger.warning("Wildcard file %s could not be read: %s", path, exc)
            self._table, self._signature = table, tuple(signature)
        return self._table

    def expand(self, text: Any, seed: int | None = None) -> Any:
        """``text`` with every option group and known wildcard replaced (nested ones too)."""
        if not contains_dynamic_syntax(text):
            return text
        rng = random.Random(seed) if seed is not None else random.Random()
        table = self.table()
        current = text
        for _ in range(MAX_PASSES):
            after = _OPTIONS.sub(lambda m: _choose_option(m.group(1), rng), current)
            after = _WILDCARD.sub(lambda m: _choose_wildcard(m, table, rng), after)
            if after == current:
                break
            current = after
        return current


def _choose_option(body: str, rng: random.Random) -> str:
    options = body.split("|")
    weights = []
    values = []
    for option in options:
        match = _WEIGHT.match(option)
        weights.append(float(match.group(1)) if match else 1.0)
        values.append(option[match.end():] if match else option)
    if sum(weights) <= 0:
        return rng.choice(values)
    return rng.choices(values, weights=weights, k=1)[0]


def _choose_wildcard(match: re.Match[str], table: dict[str, list[str]], rng: random.Random) -> str:
    key = match.group(1).replace("\\", "/").strip("/").lower()
    values = table.get(key)
    if values is None and any(c in key for c in "*?["):
        values = [v for name, items in sorted(table.items()) if fnmatch.fnmatchcase(name, key) for v in items]
    if not values:
        return match.group(0)
    return rng.choice(values)
