"""The words a LoRA was trained on, from its safetensors header (kohya's ``ss_tag_frequency``).

Why: the trigger-word editor suggests these (most frequent first) beside Civitai's trained words; they come
from the bounded header read, never from the tensor bytes.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any

from ..library.safetensors import InvalidModelFile, read_metadata

logger = logging.getLogger(__name__)

MAX_WORDS = 500


def trained_words(path: str | os.PathLike[str]) -> tuple[list[tuple[str, int]], str | None]:
    """``([(word, count), ...] most frequent first, class_tokens or None)``; empty for a file without kohya
    training metadata or with an unreadable header (logged). OS errors pass through."""
    try:
        metadata = read_metadata(path)
    except InvalidModelFile as exc:
        logger.info("No trained words in %s: %s", path, exc.reason)
        return [], None
    return _frequencies(metadata.get("ss_tag_frequency")), _class_tokens(metadata.get("ss_datasets"))


def _decode(text: Any) -> Any:
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _frequencies(text: Any) -> list[tuple[str, int]]:
    """Counts summed over every dataset folder of the training run."""
    data = _decode(text)
    counts: dict[str, int] = {}
    for folder in data.values() if isinstance(data, dict) else ():
        if not isinstance(folder, dict):
            continue
        for word, count in folder.items():
            if isinstance(word, str) and word.strip() and isinstance(count, int) and not isinstance(count, bool):
                counts[word.strip()] = counts.get(word.strip(), 0) + count
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0].casefold()))
    return ranked[:MAX_WORDS]


def _class_tokens(text: Any) -> str | None:
    data = _decode(text)
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        return None
    subsets = data[0].get("subsets")
    if not isinstance(subsets, list) or not subsets or not isinstance(subsets[0], dict):
        return None
    tokens = subsets[0].get("class_tokens")
    return tokens if isinstance(tokens, str) and tokens else None
