"""Hugging Face as a download source: its file addresses, its token, and the sha256 it states for a file.

Why: many LoRAs live only on Hugging Face. A ``https://huggingface.co/<owner>/<repo>/resolve/<rev>/<path>``
address (or the ``hf://owner/repo[@rev]/path`` shorthand) goes through the same queue, ``.part`` resume and
verification as a Civitai file: a HEAD request that does not follow the redirect reads the sha256 Hugging Face
states for LFS files (``X-Linked-Etag``, or ``ETag`` when it is 64 hex digits) and the size, before any byte
is written. The user's ``hf_token`` goes only to the Hugging Face host itself; aiohttp drops the
``Authorization`` header when a redirect leaves that origin (HF sends LFS files to a CDN host).
"""
from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote, unquote, urlsplit

from ...library.ingest import new_sidecar
from ...library.paths import to_api_path
from ...library.scanner import FileStat
from ...security.addresses import url_origin
from ..remote.errors import ErrorKind, RemoteError, classify_status
from ..remote.resilience import ResilientHttp, host_key

logger = logging.getLogger(__name__)

SOURCE = "huggingface"
ENV_BASE_URL = "LORA_MANAGER_HF_BASE_URL"  # a stand-in for huggingface.co (tests, a mirror)
DEFAULT_BASE_URL = "https://huggingface.co"
TOKEN_SETTING = "hf_token"
MAX_URL_LENGTH = 2048
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-/]{0,199}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class HfUrlError(ValueError):
    """An address that is not a Hugging Face file we can download."""


@dataclass(frozen=True)
class HfFile:
    """One file of one revision of one repository."""

    repo: str  # owner/name
    revision: str
    path: str  # inside the repository, '/' separated

    @property
    def file_name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def resolve_url(self, base_url: str) -> str:
        segments = "/".join(quote(s, safe="") for s in self.path.split("/"))
        return f"{base_url}/{self.repo}/resolve/{quote(self.revision, safe='')}/{segments}"

    def repo_url(self, base_url: str = DEFAULT_BASE_URL) -> str:
        return f"{base_url}/{self.repo}"


@dataclass(frozen=True)
class HfProbe:
    """What the HEAD answer said about the file (None when it did not say)."""

    sha256: str | None
    size: int | None


def resolve_base_url(environ: Mapping[str, str] = os.environ) -> str:
    value = (environ.get(ENV_BASE_URL) or "").strip().rstrip("/")
    if value and urlsplit(value).scheme in ("http", "https") and urlsplit(value).hostname:
        return value
    return DEFAULT_BASE_URL


def _check_name(part: str, what: str) -> str:
    if not _NAME.fullmatch(part) or part in (".", "..") or ".." in part:
        raise HfUrlError(f"Invalid Hugging Face {what}: {part[:100]!r}")
    return part


def _check_path(segments: list[str]) -> str:
    if not segments or any(s in ("", ".", "..") or any(c in s for c in "/\\\x00") for s in segments):
        raise HfUrlError("Invalid file path in the Hugging Face address")
    if len(segments) > 32 or any(len(s) > 255 for s in segments):
        raise HfUrlError("The file path in the Hugging Face address is too long")
    return "/".join(segments)


def _check_revision(revision: str) -> str:
    if not _REVISION.fullmatch(revision) or ".." in revision or revision.endswith("/"):
        raise HfUrlError(f"Invalid Hugging Face revision: {revision[:100]!r}")
    return revision


def hf_file(repo: str, path: str, revision: str = "main") -> HfFile:
    """The file named by ``repo`` (owner/name), ``path`` and ``revision``; raises ``HfUrlError``."""
    owner, _, name = str(repo).strip().partition("/")
    _check_name(owner, "owner")
    _check_name(name, "repository name")
    clean = _check_path([unquote(s) for s in str(path).strip().split("/")])
    return HfFile(f"{owner}/{name}", _check_revision(str(revision or "main").strip()), clean)


def parse_hf_url(text: str, base_url: str = DEFAULT_BASE_URL) -> HfFile:
    """A ``…/<owner>/<repo>/resolve|blob/<rev>/<path>`` address on huggingface.co or on ``base_url``'s host (a
    configured mirror), or an ``hf://owner/repo[@rev]/path`` shorthand; raises ``HfUrlError`` for anything else.
    The file is always fetched from ``base_url``: the address names a file, it never chooses the host."""
    text = str(text or "").strip()
    if not text or len(text) > MAX_URL_LENGTH:
        raise HfUrlError("A Hugging Face file address is required")
    if text.lower().startswith("hf://"):
        parts = text[5:].split("?", 1)[0].split("/")
        if len(parts) < 3:
            raise HfUrlError("Expected hf://owner/repo/path/to/file")
        name, _, revision = parts[1].partition("@")
        return hf_file(f"{parts[0]}/{name}", "/".join(parts[2:]), revision or "main")
    try:
        parts = urlsplit(text)
    except ValueError:
        raise HfUrlError("Not a valid address") from None
    site = url_origin(text)
    if parts.username or parts.password or site is None or site not in (url_origin(base_url),
                                                                          url_origin(DEFAULT_BASE_URL)):
        raise HfUrlError(f"Not a Hugging Face address (expected {base_url}/<owner>/<repo>/resolve/<revision>/<file>)")
    segments = parts.path.split("/")[1:]
    if len(segments) < 5 or segments[2] not in ("resolve", "blob"):
        raise HfUrlError("Expected a file address: <owner>/<repo>/resolve/<revision>/<file>")
    return hf_file(f"{segments[0]}/{segments[1]}", "/".join(segments[4:]), unquote(segments[3]))


def parse_repo_url(text: str) -> str:
    """``https://huggingface.co/<owner>/<repo>`` (a trailing slash allowed) as that canonical address, the link
    a model keeps to its repository (``set-hf-url``); raises ``HfUrlError`` for anything else."""
    text = str(text or "").strip()
    readable = len(text) <= MAX_URL_LENGTH and url_origin(text) is not None  # its port, if any, is a port
    parts = urlsplit(text) if readable else None
    segments = parts.path.strip("/").split("/") if parts else []
    if (parts is None or parts.scheme not in ("http", "https") or (parts.hostname or "").lower() != "huggingface.co"
            or parts.port is not None or parts.username or parts.query or parts.fragment or len(segments) != 2):
        raise HfUrlError("Invalid HuggingFace URL. Expected format: https://huggingface.co/user/repo")
    owner, name = (_check_name(segments[0], "owner"), _check_name(segments[1], "repository name"))
    return f"{DEFAULT_BASE_URL}/{owner}/{name}"


def token_from(extra: Mapping[str, Any]) -> str:
    token = extra.get(TOKEN_SETTING)
    return token.strip() if isinstance(token, str) else ""


def auth_headers(url: str, token: str, base_url: str) -> dict[str, str]:
    """The token, only for the Hugging Face host itself (same scheme, host and port as ``base_url``)."""
    site = url_origin(url)
    if token and site is not None and site == url_origin(base_url):
        return {"Authorization": f"Bearer {token}"}
    return {}


def stated_sha256(headers: Mapping[str, str]) -> str | None:
    """The sha256 HF states: ``X-Linked-Etag`` for LFS files, else ``ETag`` when it is 64 hex digits (a
    git blob's 40-hex sha1 says nothing about the bytes' sha256)."""
    for name in ("X-Linked-Etag", "ETag"):
        value = str(headers.get(name) or "").strip()
        if value.startswith("W/"):
            value = value[2:]
        value = value.strip('"').lower()
        if _SHA256.fullmatch(value):
            return value
    return None


def _stated_size(headers: Mapping[str, str], *, redirected: bool) -> int | None:
    """``X-Linked-Size``; ``Content-Length`` only of a direct answer (a redirect's is its own body's)."""
    for name in ("X-Linked-Size",) if redirected else ("X-Linked-Size", "Content-Length"):
        value = str(headers.get(name) or "").strip()
        if value.isdigit() and len(value) < 19:
            return int(value)
    return None


def _hf_error(error: RemoteError, file: HfFile, has_token: bool) -> RemoteError:
    """HF's answers with what the user can do about them."""
    if error.kind is ErrorKind.AUTH:
        hint = ("the token in the settings (hf_token) has no access to it" if has_token
                else "set a Hugging Face token (hf_token) in the settings")
        message = f"Hugging Face refused {file.repo} (HTTP {error.status}): it is private or gated; {hint}"
    elif error.kind is ErrorKind.NOT_FOUND:
        message = f"Hugging Face has no file {file.path} in {file.repo} at revision {file.revision} (HTTP 404)"
    elif error.kind is ErrorKind.RATE_LIMITED:
        message = "Hugging Face is rate limiting this machine (HTTP 429); try again later"
    else:
        return error
    return RemoteError(error.kind, message, error.status, error.retry_after, error.url, error.attempts)


async def probe(http: ResilientHttp, file: HfFile, url: str, headers: Mapping[str, str]) -> HfProbe:
    """HEAD the resolve address without following its redirect: the stated sha256 and size, or the error
    (401/404/429...) before a byte is written."""

    async def head() -> HfProbe:
        session = await http.session()
        async with session.head(url, headers=dict(headers), allow_redirects=False) as response:
            error = classify_status(response.status, response.headers, url)
            if error is not None:
                raise error
            size = _stated_size(response.headers, redirected=300 <= response.status < 400)
            return HfProbe(stated_sha256(response.headers), size)

    try:
        return await http.call(host_key(url), head, describe=f"Hugging Face {file.repo}/{file.path}")
    except RemoteError as exc:
        raise _hf_error(exc, file, "Authorization" in headers) from None


MAX_TREE_ENTRIES = 20_000


def model_files_of_tree(tree: Any, suffixes: frozenset[str]) -> list[dict[str, Any]]:
    """The model files of an HF tree answer, biggest first, as ``{"filename", "size"}``; raises
    ``RemoteError`` (MALFORMED) for an answer that is not a list of entries. Pure."""
    if not isinstance(tree, list) or len(tree) > MAX_TREE_ENTRIES:
        raise RemoteError(ErrorKind.MALFORMED, "Hugging Face answered an unexpected file list")
    files: list[dict[str, Any]] = []
    for entry in tree:
        if not isinstance(entry, dict) or entry.get("type", "file") != "file":
            continue
        path = entry.get("path")
        if not isinstance(path, str) or os.path.splitext(path)[1].lower() not in suffixes:
            continue
        lfs = entry.get("lfs") if isinstance(entry.get("lfs"), dict) else {}
        size = next((v for v in (lfs.get("size"), entry.get("size")) if isinstance(v, int) and v > 0), 0)
        files.append({"filename": path[:1000], "size": size})
    files.sort(key=lambda f: (-f["size"], f["filename"]))
    return files


async def list_model_files(http: ResilientHttp, base_url: str, repo: str, revision: str, token: str,
                           suffixes: frozenset[str]) -> list[dict[str, Any]]:
    """The model files of a repository at a revision, from HF's tree API (recursive)."""
    file = hf_file(repo, "x", revision)  # validates the names
    url = f"{base_url}/api/models/{file.repo}/tree/{quote(file.revision, safe='')}"
    try:
        tree = await http.request_json("GET", url, params={"recursive": "true"},
                                       headers=auth_headers(url, token, base_url))
    except RemoteError as exc:
        if exc.kind is ErrorKind.NOT_FOUND:
            raise RemoteError(exc.kind, f"Repo '{file.repo}' not found on Hugging Face (or no revision "
                                        f"{file.revision})", exc.status, url=exc.url) from None
        raise _hf_error(exc, file, bool(token)) from None
    return model_files_of_tree(tree, suffixes)


def build_sidecar(model_path: Path, *, model_type: str, file: HfFile, sha256: str) -> dict[str, Any]:
    """The sidecar of a file from Hugging Face: the one the scanner writes for a new file, with ``hf_url``."""
    st = os.stat(model_path)
    found = FileStat(path=to_api_path(str(model_path)), root="", folder="", stem=model_path.stem,
                     extension=model_path.suffix.lower(), size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino)
    data = new_sidecar(found, model_type, {"sha256": sha256.lower(), "base_model": "Unknown", "sub_type": model_type})
    data.update({"civitai_deleted": False, "hf_url": file.repo_url(), "metadata_source": SOURCE,
                 "last_checked_at": time.time()})
    return data
