"""Civitai REST API v1 client, plus the pure helpers that turn its answers into sidecar data.

Why: every Civitai call goes through ``ResilientHttp`` (rate limit, breaker, retries), and the API key must
only ever reach Civitai itself; keeping both rules in one client makes them impossible to bypass.
"""
from __future__ import annotations

import copy
import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

from ...library.edits import MAX_WORD, MAX_WORDS, InvalidEdit, check_json_value
from ...library.sidecar import MAX_STORED_INT
from ..remote.errors import ErrorKind, RemoteError
from ..remote.resilience import ResilientHttp, host_key

logger = logging.getLogger(__name__)

ENV_BASE_URL = "LORA_MANAGER_CIVITAI_BASE_URL"
DEFAULT_BASE_URL = "https://civitai.com"
CIVITAI_HOSTS = ("civitai.com", "civitai.green", "civitai.red")
API_PREFIX = "/api/v1"
MAX_BATCH = 100  # Civitai answers at most 100 hashes per by-hash batch
_HASH_RE = re.compile(r"[0-9a-f]{8,128}")

VERSION_KEYS = (
    "id",
    "modelId",
    "name",
    "createdAt",
    "updatedAt",
    "publishedAt",
    "trainedWords",
    "baseModel",
    "description",
    "downloadUrl",
)
MODEL_KEYS = ("name", "type", "nsfw", "poi", "description", "tags")
IMAGE_KEYS = ("url", "nsfwLevel", "width", "height", "type", "hash")


def resolve_civitai_base_url(setting_value: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """The Civitai site to talk to: the environment variable wins, then the setting, then civitai.com.

    A missing scheme means https; a trailing slash or ``/api/v1`` is dropped (paths are added per call).
    """
    for candidate in (environ.get(ENV_BASE_URL), setting_value):
        if candidate and candidate.strip():
            value = candidate.strip()
            if "://" not in value:
                value = "https://" + value
            value = value.rstrip("/")
            if value.lower().endswith(API_PREFIX):
                value = value[: -len(API_PREFIX)].rstrip("/")
            if not _hostname(value):
                logger.warning("Ignoring unusable Civitai base URL %r", candidate)
                continue
            return value
    return DEFAULT_BASE_URL


def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def is_civitai_host(hostname: str | None) -> bool:
    """True for civitai.com / civitai.green / civitai.red and their subdomains."""
    if not hostname:
        return False
    name = hostname.lower().rstrip(".")
    return any(name == root or name.endswith("." + root) for root in CIVITAI_HOSTS)


def _as_id(value: Any, what: str) -> int:
    """A positive integer id from an int or a digit string; anything else is a caller error."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if isinstance(value, int):
        result = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        result = int(value.strip())
    else:
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if result <= 0:
        raise ValueError(f"{what} must be positive, got {value!r}")
    return result


def _normalize_hash(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = value.strip().lower()
    return cleaned if _HASH_RE.fullmatch(cleaned) else None


class CivitaiClient:
    """Typed access to the Civitai endpoints the library needs. Missing things (404) are ``None``;
    every other failure raises a classified ``RemoteError``."""

    def __init__(self, http: ResilientHttp, *, base_url: str, api_key: str | None = None) -> None:
        self.http = http
        self.base_url = resolve_civitai_base_url(base_url, environ={})
        self.api_base = self.base_url + API_PREFIX
        self._base_host = host_key(self.base_url)
        self._api_key = (api_key or "").strip() or None

    @property
    def has_api_key(self) -> bool:
        return self._api_key is not None

    # -- the API key never leaves Civitai ------------------------------------------------------------
    def may_send_key(self, url: str) -> bool:
        """True when ``url`` is the configured base host, or a Civitai host over https."""
        try:
            key = host_key(url)
        except ValueError:
            return False
        if key == self._base_host:
            return True
        parts = urlsplit(url)
        return parts.scheme == "https" and is_civitai_host(parts.hostname)

    def auth_headers(self, url: str) -> dict[str, str]:
        """Headers carrying the API key, for ``url`` only if it may receive it (downloads use this too)."""
        if self._api_key and self.may_send_key(url):
            return {"Authorization": f"Bearer {self._api_key}"}
        return {}

    # -- plumbing ----------------------------------------------------------------------------------
    async def _request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> Any:
        url = self.api_base + path
        headers = {"Accept": "application/json", **self.auth_headers(url)}
        return await self.http.request_json(method, url, params=params, json=json, headers=headers)

    async def _get_object(self, path: str, params: Mapping[str, Any] | None = None) -> dict | None:
        """GET an object; 404 means it does not exist (None)."""
        try:
            answer = await self._request("GET", path, params=params)
        except RemoteError as exc:
            if exc.kind is ErrorKind.NOT_FOUND:
                return None
            raise
        if not isinstance(answer, dict):
            raise RemoteError(
                ErrorKind.MALFORMED, "Civitai sent an unexpected answer (not an object)", url=self.api_base + path
            )
        problem = answer_problem(answer)
        if problem:
            raise RemoteError(ErrorKind.MALFORMED, f"Civitai sent an unusable answer: {problem}",
                              url=self.api_base + path)
        return answer

    # -- endpoints ---------------------------------------------------------------------------------
    async def get_version_by_hash(self, sha256: str) -> dict | None:
        """The model version whose file has this hash, or None when Civitai does not know it."""
        normalized = _normalize_hash(sha256)
        if normalized is None:
            raise ValueError(f"Not a file hash: {sha256!r}")
        return await self._get_object(f"/model-versions/by-hash/{normalized}")

    async def get_versions_by_hashes(self, hashes: Iterable[str], batch_size: int = MAX_BATCH) -> dict[str, dict]:
        """Look many hashes up in batches; returns ``{lowercase sha256: version}`` for the ones Civitai knows.

        Answers are matched back through their files' ``hashes.SHA256``; invalid hashes are skipped.
        """
        wanted: list[str] = []
        seen: set[str] = set()
        for raw in hashes:
            normalized = _normalize_hash(raw)
            if normalized is None:
                logger.debug("Skipping invalid hash %r", raw)
                continue
            if normalized not in seen:
                seen.add(normalized)
                wanted.append(normalized)
        size = max(1, min(int(batch_size), MAX_BATCH))
        found: dict[str, dict] = {}
        for start in range(0, len(wanted), size):
            chunk = wanted[start : start + size]
            try:
                answer = await self._request("POST", "/model-versions/by-hash", json=chunk)
            except RemoteError as exc:
                if exc.kind is ErrorKind.NOT_FOUND:
                    continue
                raise
            if isinstance(answer, dict) and isinstance(answer.get("items"), list):
                answer = answer["items"]
            if not isinstance(answer, list):
                raise RemoteError(ErrorKind.MALFORMED, "Civitai sent an unexpected by-hash answer (not a list)")
            asked = set(chunk)
            for version in answer:
                if not isinstance(version, dict):
                    continue
                problem = answer_problem(version)
                if problem:
                    logger.warning("Skipping an unusable by-hash answer from Civitai: %s", problem)
                    continue
                for digest in _file_sha256s(version):
                    if digest in asked and digest not in found:
                        found[digest] = version
        return found

    async def get_version(self, version_id: int | str) -> dict | None:
        return await self._get_object(f"/model-versions/{_as_id(version_id, 'version_id')}")

    async def get_model(self, model_id: int | str) -> dict | None:
        """The model with all its ``modelVersions``, or None."""
        return await self._get_object(f"/models/{_as_id(model_id, 'model_id')}")

    async def get_user_models(self, username: str, cursor: str | None = None, limit: int = 100) -> dict:
        """One page of a creator's models (newest first, NSFW included):
        ``{"items": [...], "metadata": {"nextCursor": str | None, ...}}``."""
        if not isinstance(username, str) or not username.strip():
            raise ValueError("username is required")
        params: dict[str, str] = {
            "username": username.strip(),
            "limit": str(max(1, min(int(limit), 100))),
            "nsfw": "true",
        }
        if cursor not in (None, ""):
            params["cursor"] = str(cursor)
        answer = await self._get_object("/models", params=params)
        if answer is None:
            return {"items": [], "metadata": {"nextCursor": None}}
        items = answer.get("items")
        if not isinstance(items, list):
            raise RemoteError(ErrorKind.MALFORMED, "Civitai sent an unexpected model list (no items)")
        metadata = answer.get("metadata") if isinstance(answer.get("metadata"), dict) else {}
        metadata = dict(metadata)
        next_cursor = metadata.get("nextCursor")
        metadata["nextCursor"] = None if next_cursor in (None, "") else str(next_cursor)
        return {"items": [item for item in items if isinstance(item, dict)], "metadata": metadata}

    async def search_models(self, params: Any) -> dict:
        """One page of the public models search (``/models``); the caller validates the parameters."""
        answer = await self._get_object("/models", params=params)
        return answer if answer is not None else {"items": [], "metadata": {}}

    async def get_image(self, image_id: int | str) -> dict | None:
        """One image (with its generation ``meta``) by id, or None.

        The images endpoint is a search: an answer whose items all carry other ids is treated as
        "not found" rather than trusted.
        """
        wanted = _as_id(image_id, "image_id")
        answer = await self._get_object("/images", params={"imageId": str(wanted), "nsfw": "X", "withMeta": "true"})
        if answer is None:
            return None
        items = [item for item in answer.get("items") or [] if isinstance(item, dict)]
        for item in items:
            if str(item.get("id")) == str(wanted):
                return item
        if items and all(item.get("id") is None for item in items):
            return items[0]
        if items:
            logger.warning("Civitai answered image %s with other images only; treating it as missing", wanted)
        return None


def answer_problem(answer: Mapping[str, Any]) -> str:
    """Why a Civitai object may not be stored ('' when it may): ids must be whole numbers in SQLite's range,
    and every value a bounded JSON value (numbers within 64 bits, nesting at most 32 deep). An answer is
    checked before anything of it is written, so a hostile or broken one changes nothing."""
    for key in ("id", "modelId"):
        value = answer.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 0 < value <= MAX_STORED_INT):
            return f"{key} is not a valid id"
    try:
        check_json_value(answer, "the answer")
    except InvalidEdit as exc:
        return str(exc)
    return ""


def _file_sha256s(version: Mapping[str, Any]) -> list[str]:
    out = []
    for file in version.get("files") or []:
        if isinstance(file, dict) and isinstance(file.get("hashes"), dict):
            digest = _normalize_hash(file["hashes"].get("SHA256"))
            if digest:
                out.append(digest)
    return out


# -- sidecar data ----------------------------------------------------------------------------------
def version_to_civitai_block(version: Mapping[str, Any], model: Mapping[str, Any] | None = None) -> dict:
    """The ``civitai`` block of a sidecar, from a version answer and optionally its full model answer.

    Model-level fields (description, tags, creator) only come with the model; the version's own ``model``
    summary fills in what the model answer lacks.
    """
    block: dict[str, Any] = {key: copy.deepcopy(version[key]) for key in VERSION_KEYS if key in version}
    model = model or {}
    if "modelId" not in block and model.get("id") is not None:
        block["modelId"] = model["id"]
    words = block.get("trainedWords")
    kept = [w for w in words if isinstance(w, str) and len(w) <= MAX_WORD] if isinstance(words, list) else []
    block["trainedWords"] = kept[:MAX_WORDS]  # the same bounds as a user's edit

    summary = version.get("model") if isinstance(version.get("model"), dict) else {}
    model_info: dict[str, Any] = {}
    for key in MODEL_KEYS:
        if key in model and model[key] is not None:
            model_info[key] = copy.deepcopy(model[key])
        elif key in summary:
            model_info[key] = copy.deepcopy(summary[key])
    block["model"] = model_info

    files = version.get("files")
    block["files"] = [copy.deepcopy(f) for f in files if isinstance(f, dict)] if isinstance(files, list) else []
    images = version.get("images")
    block["images"] = (
        [{key: image[key] for key in IMAGE_KEYS if key in image} for image in images if isinstance(image, dict)]
        if isinstance(images, list)
        else []
    )
    creator = model.get("creator") if isinstance(model.get("creator"), dict) else version.get("creator")
    if isinstance(creator, dict):
        block["creator"] = {"username": creator.get("username"), "image": creator.get("image")}
    return block


# -- which file of a version to download --------------------------------------------------------------
def _parse_file_id(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit():  # '²' is a digit to str.isdigit but not to int()
        return int(text)
    return None


def _files(version: Mapping[str, Any] | None) -> list[dict]:
    files = (version or {}).get("files")
    return [f for f in files if isinstance(f, dict)] if isinstance(files, list) else []


def _attribute(file: Mapping[str, Any], key: str) -> Any:
    if key == "type":
        return file.get("type")
    metadata = file.get("metadata")
    return metadata.get(key) if isinstance(metadata, dict) else None


def primary_file(version: Mapping[str, Any] | None) -> dict | None:
    """The file Civitai marks ``primary`` (a ``Model`` file preferred when several are), or None."""
    primaries = [f for f in _files(version) if f.get("primary") is True]
    for file in primaries:
        if file.get("type") == "Model":
            return file
    return primaries[0] if primaries else None


def select_file(
    version: Mapping[str, Any] | None,
    *,
    file_id: int | str | None = None,
    type: str | None = None,
    format: str | None = None,
    size: str | None = None,
    fp: str | None = None,
    is_primary: bool | None = None,
) -> dict | None:
    """The file to download: an explicit ``file_id`` wins; else the primary file when ``is_primary``;
    else the first file matching every given type/format/size/fp (case-insensitive); else the primary
    file; else the first file. None only when the version has no files."""
    files = _files(version)
    if not files:
        return None
    wanted_id = _parse_file_id(file_id)
    if wanted_id is not None:
        for file in files:
            if wanted_id in (_parse_file_id(file.get("id")), _parse_file_id(file.get("fileId"))):
                return file
    primary = primary_file(version)
    if is_primary and primary is not None:
        return primary
    criteria = {
        key: str(value).strip().lower()
        for key, value in (("type", type), ("format", format), ("size", size), ("fp", fp))
        if value is not None and str(value).strip()
    }
    if criteria:
        for file in files:
            if all(str(_attribute(file, key) or "").strip().lower() == value for key, value in criteria.items()):
                return file
    return primary if primary is not None else files[0]


@dataclass(frozen=True)
class FileSelection:
    """A parsed ``file_params`` request (the browser extension's file choice)."""

    file_id: int | None = None
    type: str | None = None
    format: str | None = None
    size: str | None = None
    fp: str | None = None
    is_primary: bool | None = None

    @classmethod
    def from_params(cls, value: Any) -> "FileSelection":
        """Accept a dict, a JSON object string, or a JSON string holding a JSON object string
        (queue rows are re-stringified on retry). Both ``id`` and ``fileId`` name the file."""
        decoded = value
        for _ in range(3):
            if not isinstance(decoded, str):
                break
            if not decoded.strip():
                decoded = None
                break
            try:
                decoded = json.loads(decoded)
            except ValueError as exc:
                raise ValueError(f"file_params is not valid JSON: {exc}") from exc
        if decoded is None:
            return cls()
        if not isinstance(decoded, dict):
            raise ValueError("file_params must be a JSON object")
        raw_id = decoded.get("id") if decoded.get("id") is not None else decoded.get("fileId")
        file_id = _parse_file_id(raw_id)
        if raw_id not in (None, "") and file_id is None:
            raise ValueError(f"file id must be an integer, got {raw_id!r}")
        primary = decoded.get("isPrimary", decoded.get("is_primary"))
        if isinstance(primary, str):
            primary = primary.strip().lower() in ("1", "true", "yes")

        def text(key: str) -> str | None:
            item = decoded.get(key)
            return str(item) if item not in (None, "") else None

        return cls(
            file_id,
            text("type"),
            text("format"),
            text("size"),
            text("fp"),
            bool(primary) if primary is not None else None,
        )

    def select(self, version: Mapping[str, Any] | None) -> dict | None:
        return select_file(
            version,
            file_id=self.file_id,
            type=self.type,
            format=self.format,
            size=self.size,
            fp=self.fp,
            is_primary=self.is_primary,
        )
