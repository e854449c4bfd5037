"""Match recipe LoRAs and checkpoints to the local library: sha256, AutoV2/AutoV3/short hashes, Civitai version
id, then name.

Why a separate matcher: the same rules answer analyze-image, the recipe list (``inLibrary``/``localPath``), the
syntax and "download what is missing"; prefix and name indexes are built once per library change, so matching a
page of recipes costs a few dictionary lookups.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Protocol

from ...library.records import ModelRecord

IN_LIBRARY = "in_library"
MISSING = "missing"
UNKNOWN = "unknown"
MatchStatus = Literal["in_library", "missing", "unknown"]

AUTOV2_LENGTH = 10
AUTOV3_LENGTH = 12
MODEL_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft")
_HEX_RE = re.compile(r"[0-9a-f]{8,64}")


class LibrarySource(Protocol):
    """What the matcher needs from a ModelService."""

    def find_by_sha256(self, sha256: str) -> list[ModelRecord]: ...

    def find_by_version_id(self, version_id: int) -> list[ModelRecord]: ...

    def all_records(self) -> list[ModelRecord]: ...


@dataclass
class Match:
    status: MatchStatus
    record: ModelRecord | None = None
    version_id: int | None = None
    via: str = ""  # sha256 | autov3 | autov2 | short | version_id | name

    @property
    def in_library(self) -> bool:
        return self.status == IN_LIBRARY


def name_key(name: Any) -> str:
    """Comparable form of a model name: basename without extension, lowercase, letters and digits only."""
    if not isinstance(name, str):
        return ""
    base = re.split(r"[\\/]", name.strip())[-1]
    lower = base.lower()
    for ext in MODEL_EXTENSIONS:
        if lower.endswith(ext):
            base = base[: -len(ext)]
            break
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", base).casefold())


def clean_hash(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    text = value.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    return text if _HEX_RE.fullmatch(text) else ""


class LibraryMatcher:
    """Matches against one model type's library; its indexes follow the library's projection version."""

    def __init__(self, source: LibrarySource | None):
        self.source = source
        self._version: Any = object()
        self._sha10: dict[str, list[ModelRecord]] = {}
        self._v3: dict[str, list[ModelRecord]] = {}
        self._v3_full: dict[str, list[ModelRecord]] = {}
        self._names: dict[str, list[ModelRecord]] = {}
        self._records: list[ModelRecord] = []

    def _library_version(self) -> Any:
        index = getattr(self.source, "index", None)
        projection = getattr(index, "projection", None)
        version = getattr(projection, "version", None)
        return (id(projection), version) if version is not None else None

    def _refresh(self) -> None:
        version = self._library_version()
        if version is not None and version == self._version:
            return
        records = sorted(self.source.all_records(), key=lambda r: r.file_path) if self.source else []
        sha10: dict[str, list[ModelRecord]] = {}
        v3: dict[str, list[ModelRecord]] = {}
        v3_full: dict[str, list[ModelRecord]] = {}
        names: dict[str, list[ModelRecord]] = {}
        for record in records:
            if record.status != "ok":
                continue
            if record.sha256:
                sha10.setdefault(record.sha256[:AUTOV2_LENGTH], []).append(record)
            if record.autov3:
                v3.setdefault(record.autov3[:AUTOV3_LENGTH], []).append(record)
                v3_full.setdefault(record.autov3, []).append(record)
            for key in {name_key(record.file_name), name_key(record.model_name)}:
                if key:
                    names.setdefault(key, []).append(record)
        self._sha10, self._v3, self._v3_full, self._names, self._records = sha10, v3, v3_full, names, records
        self._version = version if version is not None else object()

    def _usable(self, records: Iterable[ModelRecord]) -> ModelRecord | None:
        for record in records:
            if record.status == "ok":
                return record
        return None

    def by_hash(self, value: Any) -> tuple[ModelRecord | None, str]:
        """The local record for a hash of any known kind, and which kind matched."""
        digest = clean_hash(value)
        if not digest or self.source is None:
            return None, ""
        if len(digest) == 64:
            record = self._usable(self.source.find_by_sha256(digest))
            if record is not None:
                return record, "sha256"
            self._refresh()
            record = self._usable(self._v3_full.get(digest, ()))
            return (record, "autov3") if record is not None else (None, "")
        self._refresh()
        if len(digest) == AUTOV3_LENGTH:
            record = self._usable(self._v3.get(digest, ()))
            if record is not None:
                return record, "autov3"
        if len(digest) == AUTOV2_LENGTH:
            record = self._usable(self._sha10.get(digest, ()))
            if record is not None:
                return record, "autov2"
        if len(digest) >= AUTOV2_LENGTH:
            for record in self._records:
                if record.status == "ok" and ((record.sha256 and record.sha256.startswith(digest)) or
                                              (record.autov3 and record.autov3.startswith(digest))):
                    return record, "short"
        return None, ""

    def by_version(self, version_id: Any) -> ModelRecord | None:
        wanted = _positive(version_id)
        if self.source is None or wanted is None:
            return None
        return self._usable(self.source.find_by_version_id(wanted))

    def by_name(self, *names: Any) -> ModelRecord | None:
        if self.source is None:
            return None
        self._refresh()
        for name in names:
            key = name_key(name)
            if key:
                record = self._usable(self._names.get(key, ()))
                if record is not None:
                    return record
        return None

    def match(self, *, hashes: Iterable[Any] = (), version_id: Any = None, names: Iterable[Any] = (),
              by_name: bool = True) -> Match:
        """sha256 and other hashes first, then the Civitai version id, then the name.

        Not in the library: ``missing`` when a version id says where to download it, else ``unknown``.
        """
        for value in hashes:
            record, via = self.by_hash(value)
            if record is not None:
                return Match(IN_LIBRARY, record, record.civitai_version_id or _positive(version_id), via)
        record = self.by_version(version_id)
        if record is not None:
            return Match(IN_LIBRARY, record, record.civitai_version_id, "version_id")
        if by_name:
            record = self.by_name(*names)
            if record is not None:
                return Match(IN_LIBRARY, record, record.civitai_version_id or _positive(version_id), "name")
        vid = _positive(version_id)
        return Match(MISSING, None, vid) if vid else Match(UNKNOWN)


def _positive(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str) and value.strip().isdecimal() and int(value) > 0:
        return int(value)
    return None


def match_recipe_lora(matcher: LibraryMatcher, lora: dict[str, Any], *, by_name: bool = True) -> Match:
    return matcher.match(hashes=[lora.get("hash")], version_id=lora.get("modelVersionId"),
                         names=[lora.get("file_name"), lora.get("modelName")], by_name=by_name)


def match_fields(match: Match) -> dict[str, Any]:
    """The fields a recipe LoRA/checkpoint carries in API answers."""
    record = match.record
    return {
        "inLibrary": match.in_library,
        "preview_url": record.preview_url() if record else "",
        "localPath": record.file_path if record else "",
        "matchStatus": match.status,
    }
