"""Give the models read from a ComfyUI graph the hashes and Civitai ids the same image states elsewhere.

Why: the graph names a LoRA by its file name at generation time; a library file renamed since then would show
as missing although the image carries its hash. Saver nodes write A1111-style ``parameters`` beside the graph
(``Lora hashes``, ``Hashes``, ``Civitai resources``), and the workflow's nodes list their models with hashes and
download URLs in ``properties.models``; matching by hash first then finds the renamed file.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Iterable

from ._util import as_id, candidate_texts, file_stem, hash_entry, match_key
from .a1111 import parse_a1111_text
from .model import ParsedGeneration, ResourceRef

logger = logging.getLogger(__name__)

__all__ = ["enrich_from_text", "workflow_models"]

_HASH_KIND = {"sha256": "sha256", "autov2": "autov2", "autov3": "autov3", "blake3": "blake3"}
_VERSION_URL_RE = re.compile(r"civitai\.[a-z]+/api/download/models/(\d{1,12})|modelVersionId=(\d{1,12})")
MAX_MODEL_ENTRIES = 2000


def workflow_models(workflow: Any) -> list[ResourceRef]:
    """Models a UI workflow lists with a hash or a Civitai download URL (node ``properties.models``)."""
    if not isinstance(workflow, dict):
        return []
    nodes: list[Any] = list(workflow.get("nodes") or []) if isinstance(workflow.get("nodes"), list) else []
    definitions = workflow.get("definitions")
    subgraphs = definitions.get("subgraphs") if isinstance(definitions, dict) else None
    for sub in subgraphs if isinstance(subgraphs, list) else []:
        if isinstance(sub, dict) and isinstance(sub.get("nodes"), list):
            nodes.extend(sub["nodes"])
    entries: list[Any] = list(workflow.get("models") or []) if isinstance(workflow.get("models"), list) else []
    for node in nodes[:MAX_MODEL_ENTRIES]:
        properties = node.get("properties") if isinstance(node, dict) else None
        models = properties.get("models") if isinstance(properties, dict) else None
        if isinstance(models, list):
            entries.extend(models)
    refs: list[ResourceRef] = []
    for entry in entries[:MAX_MODEL_ENTRIES]:
        ref = _model_entry(entry)
        if ref is not None:
            refs.append(ref)
    return refs


def _model_entry(entry: Any) -> ResourceRef | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
        return None
    name = entry["name"].strip()
    kind = "lora" if str(entry.get("directory", "")).lower() in ("loras", "lora") else "checkpoint"
    ref = ResourceRef(kind=kind, name=name, file_name=file_stem(name))
    hash_type = str(entry.get("hash_type") or "").lower()
    found = hash_entry(entry.get("hash"), _HASH_KIND.get(hash_type))
    if found:
        ref.hashes[found[0]] = found[1]
    url = entry.get("url")
    match = _VERSION_URL_RE.search(url) if isinstance(url, str) else None
    if match:
        ref.model_version_id = as_id(match.group(1) or match.group(2))
    return ref if ref.hashes or ref.model_version_id else None


def _text_refs(text: dict[str, str]) -> list[ResourceRef]:
    refs: list[ResourceRef] = []
    for candidate in candidate_texts(text):
        parsed = parse_a1111_text(candidate)
        if parsed is not None:
            refs.extend(parsed.loras)
            if parsed.checkpoint is not None:
                refs.append(parsed.checkpoint)
    return refs


def _keys(ref: ResourceRef) -> set[str]:
    return {key for key in (match_key(ref.file_name), match_key(ref.name), match_key(ref.model_name)) if key}


def _fill(ref: ResourceRef, known: Iterable[ResourceRef]) -> None:
    keys = _keys(ref)
    for other in known:
        if other.kind == ref.kind and keys & _keys(other):
            _take_identity(ref, other)


def _take_identity(ref: ResourceRef, other: ResourceRef) -> None:
    """Hashes and Civitai ids ``other`` knows that ``ref`` lacks."""
    for kind, value in other.hashes.items():
        ref.hashes.setdefault(kind, value)
    ref.model_version_id = ref.model_version_id or other.model_version_id
    ref.model_id = ref.model_id or other.model_id
    ref.model_name = ref.model_name or other.model_name
    ref.version_name = ref.version_name or other.version_name


def _same_strength(a: ResourceRef, b: ResourceRef) -> bool:
    return abs(a.strength_model - b.strength_model) < 1e-3


def _pair_leftovers(loras: list[ResourceRef], known: list[ResourceRef]) -> None:
    """Give the hash of an entry no name paired to the one graph LoRA it can only belong to.

    Why: Civitai's re-exports and some savers list a LoRA under its display name ("Detail Tweaker XL") while the
    graph names the file ("add-detail-xl"). A lone unidentified LoRA on each side, or one strength that only one
    LoRA on each side has, pairs them; anything less certain is left unpaired rather than guessed.
    """
    candidates = [ref for ref in known if ref.kind == "lora" and (ref.hashes or ref.model_version_id)]
    spare = [ref for ref in candidates if not any(_keys(ref) & _keys(lora) for lora in loras)]
    bare = [lora for lora in loras if not lora.hashes and not lora.model_version_id]
    if not spare or not bare:
        return
    if len(spare) == 1 and len(bare) == 1:
        pairs = [(bare[0], spare[0])]
    else:
        pairs = []
        for lora in bare:
            mine = [ref for ref in spare if _same_strength(ref, lora)]
            rivals = [other for other in bare if _same_strength(other, lora)]
            if len(mine) == 1 and len(rivals) == 1:
                pairs.append((lora, mine[0]))
    for lora, ref in pairs:
        _take_identity(lora, ref)
        note = f"hash from the image's entry {ref.name!r}, the only one no name paired"
        lora.reason = f"{lora.reason}; {note}" if lora.reason else note


def enrich_from_text(result: ParsedGeneration, text: dict[str, str], workflow: Any = None) -> ParsedGeneration:
    """Copy hashes and ids onto ``result``'s LoRAs and checkpoint from the image's other metadata."""
    try:
        known = _text_refs(text) + workflow_models(workflow)
    except Exception:  # extra metadata must never break the graph reading
        logger.warning("could not read the hashes beside a ComfyUI graph", exc_info=True)
        return result
    if known:
        for ref in [*result.loras, *([result.checkpoint] if result.checkpoint else [])]:
            _fill(ref, known)
        _pair_leftovers(result.loras, known)
    return result
