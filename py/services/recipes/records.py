"""Recipe documents (ComfyUI-Lora-Manager's ``*.recipe.json``) and the query keys derived from them.

Why one module: the store, the cache, the queries and the routes all read the same JSON; normalising it in one
place keeps unknown fields intact while every reader can rely on the known ones having sane types.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import quote

RECIPE_SUFFIX = ".recipe.json"
IMAGE_EXTENSIONS = (".webp", ".png", ".jpg", ".jpeg", ".gif")
VIDEO_EXTENSIONS = (".mp4", ".webm")
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS + VIDEO_EXTENSIONS
CHECKPOINT_KEYS = ("type", "modelId", "modelVersionId", "modelName", "modelVersionName", "hash", "file_name",
                   "baseModel")
SEARCH_FIELDS = ("title", "tags", "lora_name", "lora_model", "prompt")

_WORD_RE = re.compile(r"\w+", re.UNICODE)
_NATURAL_SPLIT = re.compile(r"(\d+)")
_IMAGE_ID_RE = re.compile(r"/images/(\d+)")


def _str(value: Any, default: str = "") -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return default


def _float(value: Any, default: float) -> float:
    if isinstance(value, bool):
        return default
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return default
    else:
        return default
    return number if math.isfinite(number) else default


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value.strip())
    return default


def normalise_lora(raw: Any) -> dict[str, Any] | None:
    """One recipe LoRA with the known fields typed; accepts the analyze-image shape (id/name/version/weight) too.

    Unknown keys are kept. None for anything that names no LoRA at all.
    """
    if not isinstance(raw, dict):
        return None
    out = dict(raw)
    out["file_name"] = _str(raw.get("file_name")).strip()
    out["hash"] = _str(raw.get("hash")).strip().lower()
    strength = raw.get("strength", raw.get("weight"))
    out["strength"] = _float(strength, 1.0)
    out["modelVersionId"] = _int(raw.get("modelVersionId", raw.get("id")), 0)
    out["modelName"] = _str(raw.get("modelName", raw.get("name"))).strip()
    out["modelVersionName"] = _str(raw.get("modelVersionName", raw.get("version")))
    out["isDeleted"] = bool(raw.get("isDeleted", False))
    out["exclude"] = bool(raw.get("exclude", False))
    if "clipStrength" in raw:
        clip = _float(raw.get("clipStrength"), out["strength"])
        out["clipStrength"] = clip
    for key in ("id", "name", "version", "weight", "inLibrary", "localPath", "preview_url", "matchStatus",
                "existsLocally", "thumbnailUrl", "downloadUrl", "type"):
        out.pop(key, None)
    if not (out["file_name"] or out["hash"] or out["modelVersionId"] or out["modelName"]):
        return None
    return out


def normalise_checkpoint(raw: Any) -> dict[str, Any] | None:
    """The recipe checkpoint in the shape the embedded metadata uses; None when it identifies nothing."""
    if not isinstance(raw, dict) or not raw:
        return None
    out = {k: v for k, v in raw.items() if k not in ("inLibrary", "localPath", "preview_url", "matchStatus",
                                                       "existsLocally", "thumbnailUrl", "downloadUrl")}
    out["type"] = _str(raw.get("type"), "checkpoint") or "checkpoint"
    out["modelId"] = _int(raw.get("modelId"), 0)
    out["modelVersionId"] = _int(raw.get("modelVersionId") or raw.get("id"), 0)
    out["modelName"] = _str(raw.get("modelName", raw.get("name"))).strip()
    out["modelVersionName"] = _str(raw.get("modelVersionName", raw.get("version")))
    out["hash"] = _str(raw.get("hash")).strip().lower()
    out["file_name"] = _str(raw.get("file_name")).strip()
    out["baseModel"] = _str(raw.get("baseModel"))
    for key in ("id", "name", "version"):
        out.pop(key, None)
    if not (out["modelName"] or out["hash"] or out["file_name"] or out["modelVersionId"]):
        return None
    return out


def fingerprint(loras: Iterable[Any]) -> str:
    """The LoRA set with strengths, order-free: recipes with the same fingerprint are duplicates.

    Same rule as ComfyUI-Lora-Manager (hash, or the version id of a deleted LoRA; strength rounded to 2
    places), extended to the version id or file name when no hash is known, so hash-less recipes compare too.
    """
    parts: list[tuple[str, float]] = []
    for lora in loras:
        if not isinstance(lora, dict) or lora.get("exclude"):
            continue
        key = _str(lora.get("hash")).strip().lower()
        if not key and _int(lora.get("modelVersionId"), 0):
            key = str(_int(lora.get("modelVersionId"), 0))
        if not key and _str(lora.get("file_name")).strip():
            key = "name:" + _str(lora.get("file_name")).strip().lower()
        if not key:
            continue
        parts.append((key, round(_float(lora.get("strength"), 1.0), 2) + 0.0))  # + 0.0: no "-0.0"
    parts.sort()
    return "|".join(f"{key}:{strength}" for key, strength in parts)


def natural_key(text: str) -> tuple[tuple[int, Any], ...]:
    parts = _NATURAL_SPLIT.split(unicodedata.normalize("NFKC", text).casefold())
    return tuple((0, int(p)) if p.isdecimal() else (1, p) for p in parts if p)


def words(text: str) -> list[str]:
    """Lowercase word tokens without diacritics, as the FTS index splits and folds them
    (unicode61 with ``remove_diacritics 2``: letters and digits; "é" matches "e")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("_", " "))
    folded = unicodedata.normalize("NFKC", "".join(c for c in decomposed if not unicodedata.combining(c)))
    return _WORD_RE.findall(folded)


def image_id_from_source(source: Any) -> str | None:
    """The Civitai image id in a ``source_path`` such as ``https://civitai.com/images/123``."""
    if not isinstance(source, str):
        return None
    match = _IMAGE_ID_RE.search(source)
    return match.group(1) if match else None


def preview_url(path: str) -> str:
    return "/api/lm/previews?path=" + quote(path, safe="") if path else ""


@dataclass(slots=True)
class RecipeEntry:
    """One recipe as the store knows it: its JSON (the truth) plus where it lives and its query keys.

    Keys every filter needs are computed at once; the costlier ones (name sort key, fingerprint, search text)
    on first use, so a warm start of 10k recipes stays well under a second.
    """

    id: str
    json_path: str  # absolute, '/' separators
    image_path: str  # absolute, '/' separators; '' when the image is missing
    folder: str  # relative to the recipes folder, '' for the top
    data: dict[str, Any]
    mtime_ns: int = 0
    size: int = 0
    rowid: int = 0  # the cache row (and FTS row) of this recipe
    title: str = field(default="", compare=False)
    created: float = field(default=0.0, compare=False)
    modified: float = field(default=0.0, compare=False)
    loras_count: int = field(default=0, compare=False)
    base_model: str = field(default="", compare=False)
    favorite: bool = field(default=False, compare=False)
    tags_lower: frozenset[str] = field(default=frozenset(), compare=False)
    lora_hashes: frozenset[str] = field(default=frozenset(), compare=False)
    checkpoint_hash: str = field(default="", compare=False)
    folder_key: str = field(default="", compare=False)
    image_id: str | None = field(default=None, compare=False)
    source_path: str = field(default="", compare=False)
    _title_key: tuple | None = field(default=None, compare=False, repr=False)
    _fingerprint: str | None = field(default=None, compare=False, repr=False)
    _search: dict[str, str] | None = field(default=None, compare=False, repr=False)
    _tokens: dict[str, tuple[str, ...]] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.refresh_keys()

    def refresh_keys(self) -> None:
        data = self.data
        self.title = _str(data.get("title"))
        self.created = _float(data.get("created_date"), 0.0)
        self.modified = _float(data.get("modified"), self.created)
        loras = data.get("loras")
        loras = [lora for lora in loras if isinstance(lora, dict)] if isinstance(loras, list) else []
        self.loras_count = len(loras)
        self.base_model = _str(data.get("base_model"))
        self.favorite = bool(data.get("favorite", False))
        tags = data.get("tags")
        self.tags_lower = frozenset(t.casefold() for t in tags if isinstance(t, str)) if isinstance(tags, list) \
            else frozenset()
        self.lora_hashes = frozenset(h.lower() for lora in loras if isinstance(h := lora.get("hash"), str) and h)
        checkpoint = data.get("checkpoint")
        self.checkpoint_hash = _str(checkpoint.get("hash")).lower() if isinstance(checkpoint, dict) else ""
        self.folder_key = self.folder.casefold()
        self.source_path = _str(data.get("source_path"))
        self.image_id = image_id_from_source(self.source_path) if self.source_path else None
        self._title_key = self._fingerprint = self._search = self._tokens = None

    @property
    def loras(self) -> list[dict[str, Any]]:
        loras = self.data.get("loras")
        return [lora for lora in loras if isinstance(lora, dict)] if isinstance(loras, list) else []

    @property
    def title_key(self) -> tuple:
        if self._title_key is None:
            self._title_key = natural_key(self.title)
        return self._title_key

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            loras = self.loras
            self._fingerprint = fingerprint(loras) if loras else _str(self.data.get("fingerprint"))
        return self._fingerprint

    @property
    def search(self) -> dict[str, str]:
        if self._search is None:
            tags = self.data.get("tags")
            gen = self.data.get("gen_params") if isinstance(self.data.get("gen_params"), dict) else {}
            self._search = search_texts(self.title, [t for t in tags if isinstance(t, str)]
                                        if isinstance(tags, list) else [], self.loras, _str(gen.get("prompt")))
        return self._search

    def tokens(self, name: str) -> tuple[str, ...]:
        """The words of one search field (cached): what the in-memory search compares with."""
        if self._tokens is None:
            self._tokens = {}
        found = self._tokens.get(name)
        if found is None:
            found = self._tokens[name] = tuple(dict.fromkeys(words(self.search.get(name, ""))))
        return found


def search_texts(title: str, tags: list[str], loras: list[dict[str, Any]], prompt: str) -> dict[str, str]:
    """Per search field, the text the FTS index holds (the in-memory fallback matches the same words)."""
    return {
        "title": title,
        "tags": " ".join(tags),
        "lora_name": " ".join(_str(lora.get("file_name")) for lora in loras),
        "lora_model": " ".join(_str(lora.get("modelName")) for lora in loras),
        "prompt": prompt,
    }


def memory_match(entry: RecipeEntry, query_words: list[str], fields: Iterable[str]) -> bool:
    """Every query word is a prefix of some word in the chosen fields (the FTS rule, without the index)."""
    tokens = [token for name in fields for token in entry.tokens(name)]
    return all(any(token.startswith(word) for token in tokens) for word in query_words)
