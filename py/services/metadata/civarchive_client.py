"""CivArchive client: metadata and mirror URLs of models that were deleted from Civitai.

Why: a model taken down on Civitai is often still described (and mirrored on other hosts) by CivArchive;
``source=civarchive`` downloads fall back to it. Its answers are normalised here to the version/model
dict shape of Civitai's REST API v1, so the download manager, the sidecar writer and the path templates
consume them unchanged. Calls go through the shared ``ResilientHttp`` (rate limit, breaker, retries).
"""
from __future__ import annotations

import copy
import logging
import os
import re
from typing import Any, Mapping
from urllib.parse import urlsplit

from ..remote.errors import ErrorKind, RemoteError
from ..remote.resilience import ResilientHttp

logger = logging.getLogger(__name__)

ENV_BASE_URL = "LORA_MANAGER_CIVARCHIVE_BASE_URL"
DEFAULT_BASE_URL = "https://civarchive.com"
SOURCE = "civarchive"
_HASH_RE = re.compile(r"[0-9a-f]{64}")


def resolve_civarchive_base_url(environ: Mapping[str, str] = os.environ) -> str:
    """The CivArchive site to talk to: the environment variable (tests point it at a loopback fake), else
    civarchive.com. A missing scheme means https; a trailing slash or ``/api`` is dropped."""
    candidate = (environ.get(ENV_BASE_URL) or "").strip()
    if not candidate:
        return DEFAULT_BASE_URL
    value = candidate if "://" in candidate else "https://" + candidate
    value = value.rstrip("/")
    if value.lower().endswith("/api"):
        value = value[:-4].rstrip("/")
    try:
        host = urlsplit(value).hostname
    except ValueError:
        host = None
    if not host:
        logger.warning("Ignoring unusable CivArchive base URL %r", candidate)
        return DEFAULT_BASE_URL
    return value


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit():  # "²".isdigit() is True, but int("²") fails
        return int(text)
    return None


def _unwrap(payload: Any) -> dict:
    """CivArchive wraps some answers in ``{"data": ...}``; both forms are accepted."""
    if not isinstance(payload, dict):
        return {}
    data = payload.get("data")
    return data if isinstance(data, dict) else payload


# -- normalisation to Civitai's shape ----------------------------------------------------------------
def live_mirrors(file: Mapping[str, Any]) -> list[str]:
    """Absolute http(s) mirror URLs of a file that are not deleted, gated or paid; Civitai's own URL last
    (the model is usually gone there), then the file's ``downloadUrl`` when it is not listed."""
    others: list[str] = []
    civitai: list[str] = []
    for mirror in file.get("mirrors") or []:
        if not isinstance(mirror, dict):
            continue
        url = mirror.get("url")
        if not isinstance(url, str) or mirror.get("deletedAt") or mirror.get("is_paid") or mirror.get("is_gated"):
            continue
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        if parts.scheme not in ("http", "https") or not parts.hostname:
            continue
        is_civitai = str(mirror.get("source") or "").lower() == "civitai" or parts.hostname.endswith("civitai.com")
        (civitai if is_civitai else others).append(url)
    urls = others + civitai
    fallback = file.get("downloadUrl")
    if isinstance(fallback, str) and fallback.startswith(("http://", "https://")) and fallback not in urls:
        urls.append(fallback)
    return list(dict.fromkeys(urls))


def _normalize_file(file: Mapping[str, Any]) -> dict[str, Any]:
    hashes = file.get("hashes") if isinstance(file.get("hashes"), dict) else {}
    sha = str(file.get("sha256") or hashes.get("SHA256") or "").strip().lower()
    mirrors = live_mirrors(file)
    out: dict[str, Any] = {
        "id": _as_int(file.get("id")),
        "name": str(file.get("name") or ""),
        "type": str(file.get("type") or "Model"),
        "sizeKB": file.get("sizeKB"),
        "primary": bool(file.get("is_primary") or file.get("primary")),
        "hashes": {"SHA256": sha.upper()} if _HASH_RE.fullmatch(sha) else {},
        "downloadUrl": mirrors[0] if mirrors else None,
        "mirrors": mirrors,
    }
    if isinstance(file.get("metadata"), dict):
        out["metadata"] = copy.deepcopy(file["metadata"])
    return out


def _normalize_image(image: Mapping[str, Any]) -> dict[str, Any] | None:
    url = image.get("url")
    kind = str(image.get("type") or "image")
    if kind == "video" and isinstance(image.get("image_url"), str):
        url, kind = image["image_url"], "image"  # a still of the video makes the preview
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return None
    out = {"url": url, "type": kind, "nsfwLevel": _as_int(image.get("nsfwLevel")) or 1}
    for key in ("width", "height", "hash", "meta"):
        if image.get(key) is not None:
            out[key] = image[key]
    return out


def normalize(payload: Any) -> tuple[dict, dict] | None:
    """``(version, model)`` in Civitai's shape from a CivArchive model answer; None when it holds no version."""
    data = _unwrap(payload)
    raw = data.get("version")
    if not isinstance(raw, dict) or _as_int(raw.get("id")) is None:
        return None
    model_id = _as_int(raw.get("modelId")) or _as_int(data.get("id"))
    nsfw = bool(data.get("is_nsfw") or data.get("nsfw"))
    creator_name = data.get("creator_username") or data.get("creator_name")
    creator = {"username": str(creator_name), "image": ""} if creator_name else None
    files = [_normalize_file(f) for f in raw.get("files") or [] if isinstance(f, dict)]
    if files and not any(f["primary"] for f in files):
        first_model = next((f for f in files if f["type"] == "Model"), files[0])
        first_model["primary"] = True
    images = [i for i in (_normalize_image(x) for x in raw.get("images") or [] if isinstance(x, dict)) if i]
    trigger = next((w for w in (raw.get("trigger"), raw.get("trainedWords")) if isinstance(w, list)), [])
    primary = next((f for f in files if f["primary"]), None)
    version: dict[str, Any] = {
        "id": _as_int(raw.get("id")),
        "modelId": model_id,
        "name": str(raw.get("name") or ""),
        "baseModel": raw.get("baseModel"),
        "description": raw.get("description"),
        "trainedWords": [w for w in trigger if isinstance(w, str)],
        "nsfwLevel": _as_int(raw.get("nsfw_level")) or _as_int(data.get("nsfw_level")) or 0,
        "stats": {key: raw.get(key) or 0 for key in ("downloadCount", "ratingCount", "rating")},
        "model": {"name": str(data.get("name") or ""), "type": data.get("type"), "nsfw": nsfw},
        "files": files,
        "images": images,
        "downloadUrl": primary["downloadUrl"] if primary else None,
        "source": SOURCE,
    }
    for key in ("createdAt", "updatedAt", "publishedAt"):
        if raw.get(key):
            version[key] = raw[key]
    if creator:
        version["creator"] = creator
    tags = data.get("tags") if isinstance(data.get("tags"), list) else []
    model: dict[str, Any] = {
        "id": model_id,
        "name": str(data.get("name") or ""),
        "type": data.get("type"),
        "description": data.get("description"),
        "nsfw": nsfw,
        "tags": [t for t in tags if isinstance(t, str)],
        "modelVersions": [
            {"id": _as_int(v.get("id")), "name": str(v.get("name") or "")}
            for v in data.get("versions") or [] if isinstance(v, dict) and _as_int(v.get("id")) is not None
        ],
        "source": SOURCE,
    }
    if creator:
        model["creator"] = creator
    return version, model


class CivArchiveClient:
    """The two CivArchive endpoints a download needs. Missing things (404) are ``None``; every other
    failure raises a classified ``RemoteError``. No API key is ever sent to CivArchive."""

    def __init__(self, http: ResilientHttp, *, base_url: str | None = None) -> None:
        self.http = http
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")

    async def _get(self, path: str, params: Mapping[str, str] | None = None) -> dict | None:
        url = self.base_url + path
        try:
            answer = await self.http.request_json("GET", url, params=params, headers={"Accept": "application/json"})
        except RemoteError as exc:
            if exc.kind is ErrorKind.NOT_FOUND:
                return None
            raise
        if not isinstance(answer, dict):
            raise RemoteError(ErrorKind.MALFORMED, "CivArchive sent an unexpected answer (not an object)", url=url)
        return answer

    async def get_model_version(self, model_id: int, version_id: int | None = None) -> tuple[dict, dict] | None:
        """``(version, model)`` of a model's version (its latest when ``version_id`` is None), or None.

        CivArchive may file a version under another model id; the answer names it and is asked once more."""
        params = {"modelVersionId": str(version_id)} if version_id is not None else None
        found = normalize(await self._get(f"/api/models/{int(model_id)}", params))
        if found is None:
            return None
        version, _model = found
        actual = version.get("modelId")
        if actual is not None and actual != int(model_id):
            logger.info("CivArchive files version %s under model %s (asked for %s)", version["id"], actual, model_id)
            params = {"modelVersionId": str(version_id if version_id is not None else version["id"])}
            found = normalize(await self._get(f"/api/models/{actual}", params))
            if found is None:
                return None
            version = found[0]
        if version_id is not None and version.get("id") != int(version_id):
            return None
        return found

    async def get_version_by_hash(self, sha256: str) -> tuple[dict, dict] | None:
        """``(version, model)`` of the file with this sha256, or None when CivArchive does not know it."""
        digest = str(sha256 or "").strip().lower()
        if not _HASH_RE.fullmatch(digest):
            raise ValueError(f"Not a sha256: {sha256!r}")
        answer = await self._get(f"/api/sha256/{digest}")
        if answer is None:
            return None
        found = normalize(answer)
        if found is not None:
            return found
        # a bare file record: look its version up through the model endpoint
        for record in _unwrap(answer).get("files") or []:
            if not isinstance(record, dict):
                continue
            model_id, version_id = _as_int(record.get("model_id")), _as_int(record.get("model_version_id"))
            if model_id is not None:
                return await self.get_model_version(model_id, version_id)
        return None


__all__ = ["CivArchiveClient", "DEFAULT_BASE_URL", "ENV_BASE_URL", "SOURCE", "live_mirrors", "normalize",
           "resolve_civarchive_base_url"]
