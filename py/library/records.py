"""ModelRecord: what the index knows about one model file, with its query keys computed at ingest.

Why: listing 100k models in milliseconds needs every sort key and the lowercase search text ready before a
request arrives; a record is rebuilt only when its file or sidecar changes.
"""
from __future__ import annotations

import functools
import json
import re
import sys
import unicodedata
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .paths import to_api_path

_NATURAL_SPLIT = re.compile(r"(\d+)")

SUB_TYPES = {"lora": ("lora", "locon", "dora", "loha", "lokr"), "checkpoint": ("checkpoint", "diffusion_model"),
             "embedding": ("embedding",)}  # kinds beyond these have one sub type: the kind itself


def natural_key(text: str) -> str:
    """'model 10' sorts after 'model 9'; case-insensitive; numbers compare as numbers.

    One string per record (not a tuple of parts) keeps 100k sort keys small: each run of digits becomes its
    length (as one character) followed by the digits, so a longer number sorts after a shorter one.
    """
    parts = _NATURAL_SPLIT.split(unicodedata.normalize("NFKC", text).casefold())
    out = []
    for part in parts:
        if part.isdigit():
            digits = part.lstrip("0") or "0"
            out.append(chr(0x30 + min(len(digits), 0xFFFF - 0x30)) + digits)
        else:
            out.append(part)
    return "".join(out)


def first_letter_group(name: str) -> str:
    """The letter bar's bucket: 'A'-'Z', '#' digits, '@' symbols, '漢' CJK, or the letter itself."""
    if not name:
        return "@"
    ch = unicodedata.normalize("NFKC", name.strip() or "@")[0]
    if ch.isdigit():
        return "#"
    if ch.isascii() and ch.isalpha():
        return ch.upper()
    name_of = unicodedata.name(ch, "")
    if "CJK" in name_of or "HIRAGANA" in name_of or "KATAKANA" in name_of or "HANGUL" in name_of:
        return "漢"
    if ch.isalpha():
        return ch.upper()
    return "@"


_NO_TAGS: frozenset[str] = frozenset()


def _folded(text: str) -> str:
    folded = text.casefold()
    return text if folded == text else folded


@dataclass(slots=True)
class ModelRecord:
    """One model file. ``file_path`` is absolute with '/' separators and is the identity."""

    file_path: str
    model_type: str
    root: str
    folder: str
    file_name: str
    extension: str
    size: int
    mtime_ns: int
    inode: int = 0
    sidecar_mtime_ns: int = 0
    sidecar_size: int = 0
    preview_path: str = ""
    model_name: str = ""
    base_model: str = "Unknown"
    base_model_source: str = "unknown"
    sub_type: str = ""
    tags: list[str] = field(default_factory=list)
    trigger_words: list[str] = field(default_factory=list)
    favorite: bool = False
    exclude: bool = False
    notes: str = ""
    usage_tips: str = "{}"
    preview_nsfw_level: int = 0
    from_civitai: bool = False
    civitai_model_id: int | None = None
    civitai_version_id: int | None = None
    civitai_name: str = ""
    creator: str = ""
    skip_metadata_refresh: bool = False
    sha256: str = ""
    autov3: str = ""
    hash_status: str = "pending"  # pending | done | error | invalid
    status: str = "ok"  # ok | invalid
    status_reason: str = ""
    sidecar_status: str = "ok"  # ok | missing | corrupt | read_only
    identity_json: str = "{}"  # "" when not loaded (a warm start leaves it in the index until asked for)
    network_type: str = ""  # from the identity report, kept apart for the listing
    # Kinds beyond lora/checkpoint/embedding (py/library/identify_kind.py): how the file is stored, for the listing.
    file_format: str = ""  # safetensors | gguf | pytorch-zip | pickle | unknown
    precision: str = ""  # the dominant tensor dtype, or the GGUF quantisation
    hf_url: str = ""  # the Hugging Face repository the file came from (sidecar ``hf_url``)
    usage_count: int = 0
    update_available: bool = field(default=False, compare=False)  # set from the update checks, never stored
    # Derived at ingest (never stored): query keys
    name_key: str = field(default="", compare=False)
    search_name: str = field(default="", compare=False)
    search_file: str = field(default="", compare=False)
    search_tags: str = field(default="", compare=False)
    search_creator: str = field(default="", compare=False)
    folder_key: str = field(default="", compare=False)
    letter: str = field(default="", compare=False)
    tags_lower: frozenset[str] = field(default=frozenset(), compare=False)
    search_default: str = field(default="", compare=False)  # file name + display name: the default search fields
    search_tokens: tuple[str, ...] = field(default=(), compare=False)  # words for fuzzy matching
    slot: int = field(default=-1, compare=False, repr=False)  # position in the projection's columns

    def __post_init__(self) -> None:
        self.refresh_keys()

    def refresh_keys(self) -> None:
        """The query keys. Each is the original string when folding changes nothing, and empty values are
        shared: at 100k models every byte per record is 100 kB."""
        self.intern_shared()
        display = self.model_name or self.file_name
        if not self.name_key:  # a key read back from the index is kept; ``evolve`` clears it
            self.name_key = natural_key(display)
        self.search_name = _folded(display)
        self.search_file = _folded(self.file_name)
        self.tags_lower = frozenset(t.casefold() for t in self.tags) if self.tags else _NO_TAGS
        self.search_tags = "\x1f".join(sorted(self.tags_lower)) if self.tags else ""
        self.search_creator = _folded(self.creator)
        self.folder_key = sys.intern(self.folder.casefold())
        self.letter = sys.intern(first_letter_group(display))
        self.search_default = self.search_file + "\x1f" + self.search_name
        self.search_tokens = ()  # built on the first fuzzy search (``fuzzy_tokens``)

    def fuzzy_tokens(self) -> tuple[str, ...]:
        """The words of the file and display names, for fuzzy matching; built once, on first use."""
        if not self.search_tokens:
            words = f"{self.search_file} {self.search_name}".replace("_", " ").replace("-", " ").split()
            self.search_tokens = tuple(dict.fromkeys(words))
        return self.search_tokens

    def intern_shared(self) -> None:
        """Values shared by many records become one object each: at 100k models this saves tens of megabytes."""
        intern = sys.intern
        self.root, self.folder, self.model_type = intern(self.root), intern(self.folder), intern(self.model_type)
        self.base_model, self.base_model_source = intern(self.base_model), intern(self.base_model_source)
        self.extension, self.sub_type = intern(self.extension), intern(self.sub_type)
        self.network_type = intern(self.network_type)
        self.file_format, self.precision = intern(self.file_format), intern(self.precision)
        self.hash_status, self.status, self.sidecar_status = (intern(self.hash_status), intern(self.status),
                                                              intern(self.sidecar_status))
        if len(self.usage_tips) <= 2:
            self.usage_tips = intern(self.usage_tips)
        if self.folder_key:
            self.folder_key = intern(self.folder_key)

    @property
    def mtime(self) -> float:
        return self.mtime_ns / 1e9

    @property
    def display_name(self) -> str:
        return self.model_name or self.file_name

    def evolve(self, **changes: Any) -> "ModelRecord":
        """A changed copy with fresh query keys (records in the projection are replaced, never mutated)."""
        return replace(self, **{"name_key": "", **changes})

    def identity(self) -> dict[str, Any]:
        """The identity report (parsed once per distinct text and shared: treat it as read-only); empty when
        it was not loaded (see ``ModelIndex.identity_of``)."""
        return parse_identity(self.identity_json or "{}")

    def network(self) -> str:
        return self.network_type or (self.identity().get("network_type", "") if self.identity_json else "")

    def preview_url(self) -> str:
        if not self.preview_path:
            return ""
        from urllib.parse import quote

        return "/api/lm/previews?path=" + quote(self.preview_path, safe="")

    def civitai_summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        if self.civitai_version_id is not None:
            summary["id"] = self.civitai_version_id
        if self.civitai_model_id is not None:
            summary["modelId"] = self.civitai_model_id
        if self.civitai_name:
            summary["name"] = self.civitai_name
        if self.trigger_words:
            summary["trainedWords"] = list(self.trigger_words)
        return summary

    def to_list_item(self, *, include_usage: bool = False) -> dict[str, Any]:
        """The list item of API-COMPAT §3, plus the identity fields of this project."""
        item: dict[str, Any] = {
            "model_name": self.display_name,
            "file_name": self.file_name,
            "preview_url": self.preview_url(),
            "preview_nsfw_level": self.preview_nsfw_level,
            "base_model": self.base_model,
            "folder": self.folder,
            "sha256": self.sha256,
            "file_path": to_api_path(self.file_path),
            "file_size": self.size,
            "modified": self.mtime,
            "tags": list(self.tags),
            "from_civitai": self.from_civitai,
            "usage_count": self.usage_count if include_usage else 0,
            "notes": self.notes,
            "favorite": self.favorite,
            "exclude": self.exclude,
            "update_available": self.update_available,
            "skip_metadata_refresh": self.skip_metadata_refresh,
            "sub_type": self.sub_type or SUB_TYPES.get(self.model_type, (self.model_type,))[0],
            "civitai": self.civitai_summary(),
            "auto_tags": auto_tags(self),
            "version_count": None,
            "hf_url": self.hf_url,
            "hash_status": self.hash_status,
            "status": self.status,
            "status_reason": self.status_reason,
            "network_type": self.network(),
            "base_model_source": self.base_model_source,
        }
        if self.model_type == "lora":
            item["usage_tips"] = self.usage_tips
        elif self.model_type not in SUB_TYPES:  # the other kinds: what their header says
            item["architecture"] = self.network_type
            item["format"] = self.file_format
            item["precision"] = self.precision
        return item


@functools.lru_cache(maxsize=8192)
def parse_identity(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def auto_tags(record: ModelRecord) -> list[str]:
    """Tags derived from what the file is, shown beside user tags (computed, never stored)."""
    tags: list[str] = []
    network = record.network()
    if network and network not in ("Unknown", "Full", "Embedding"):
        tags.append(str(network).lower())
    if record.trigger_words:
        tags.append("has-trigger-words")
    if not record.preview_path:
        tags.append("no-preview")
    if record.status != "ok":
        tags.append("invalid")
    return tags


STORED_FIELDS = tuple(f.name for f in fields(ModelRecord) if f.compare)
