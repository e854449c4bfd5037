"""Discover: search Civitai's public model catalog from the app, each result badged with its library status.

Why: users find models on Civitai; answering "installed / outdated / new" next to each result needs the local
index, so the search goes through our shared remote client (backoff, breaker, API key) and is joined with the
projections here. Answers are cached briefly on the app context (bounded), since people page back and forth.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .remote.clients import remote_clients
from .remote.errors import ErrorKind, RemoteError

COMPONENT_NAME = "discover"
TYPES = {"lora": "LORA", "locon": "LoCon", "dora": "DoRA", "checkpoint": "Checkpoint",
         "textualinversion": "TextualInversion"}
SORTS = ("Highest Rated", "Most Downloaded", "Newest")
PERIODS = ("AllTime", "Year", "Month", "Week", "Day")
NSFW_LEVELS = ("none", "soft", "mature", "x")
MAX_QUERY = 200
MAX_BASE_MODELS = 10
MAX_CURSOR = 200
MAX_VERSIONS = 20


class DiscoverError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class DiscoverQuery:
    """A validated search; ``key`` identifies it in the cache."""
    query: str | None
    types: tuple[str, ...]
    base_models: tuple[str, ...]
    sort: str
    period: str
    nsfw: str
    limit: int
    cursor: str | None

    def civitai_params(self) -> dict[str, Any]:
        params: list[tuple[str, str]] = [("sort", self.sort), ("period", self.period), ("limit", str(self.limit)),
                                         ("nsfw", "false" if self.nsfw == "none" else "true")]
        if self.query:
            params.append(("query", self.query))
        params += [("types", t) for t in self.types]
        params += [("baseModels", b) for b in self.base_models]
        if self.cursor:
            params.append(("cursor", self.cursor))
        return params  # type: ignore[return-value]


def _one(query: Mapping[str, Any], name: str) -> str | None:
    value = query.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def parse_query(query: Any) -> DiscoverQuery:
    """Validate every parameter (type, range, size); DiscoverError (400) otherwise. ``query`` is a MultiDict."""
    text = _one(query, "query")
    if text is not None and len(text) > MAX_QUERY:
        raise DiscoverError(f"query is too long (at most {MAX_QUERY} characters)")
    raw_types = [t for v in query.getall("types", []) for t in str(v).split(",") if t.strip()]
    types = []
    for raw in raw_types:
        found = TYPES.get(raw.strip().lower())
        if found is None:
            raise DiscoverError(f"Invalid types: {raw.strip()[:40]} (expected one of {', '.join(TYPES.values())})")
        types.append(found)
    bases = [b.strip() for v in query.getall("baseModels", []) for b in str(v).split(",") if b.strip()]
    if len(bases) > MAX_BASE_MODELS or any(len(b) > 60 for b in bases):
        raise DiscoverError(f"baseModels: at most {MAX_BASE_MODELS} names of at most 60 characters")
    sort = _one(query, "sort") or "Most Downloaded"
    if sort not in SORTS:
        raise DiscoverError(f"Invalid sort (expected one of {', '.join(SORTS)})")
    period = _one(query, "period") or "AllTime"
    if period not in PERIODS:
        raise DiscoverError(f"Invalid period (expected one of {', '.join(PERIODS)})")
    nsfw = (_one(query, "nsfw") or "none").lower()
    if nsfw not in NSFW_LEVELS:
        raise DiscoverError(f"Invalid nsfw (expected one of {', '.join(NSFW_LEVELS)})")
    raw_limit = _one(query, "limit") or "20"
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        raise DiscoverError("Invalid limit (expected an integer from 1 to 100)")
    cursor = _one(query, "cursor")
    if cursor is not None and (len(cursor) > MAX_CURSOR or not cursor.isprintable()):
        raise DiscoverError("Invalid cursor")
    return DiscoverQuery(text, tuple(types), tuple(bases), sort, period, nsfw, int(raw_limit), cursor)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _text(value: Any, limit: int = 300) -> str:
    return value[:limit] if isinstance(value, str) else ""


def compact_version(version: Mapping[str, Any]) -> dict[str, Any] | None:
    vid = _int(version.get("id"))
    if vid is None:
        return None
    files = [f for f in version.get("files") or [] if isinstance(f, dict)] if isinstance(
        version.get("files"), list) else []
    hashes = [str(f["hashes"]["SHA256"]).lower() for f in files
              if isinstance(f.get("hashes"), dict) and isinstance(f["hashes"].get("SHA256"), str)]
    images = version.get("images") if isinstance(version.get("images"), list) else []
    image = next((i for i in images if isinstance(i, dict) and isinstance(i.get("url"), str)), None)
    level = image.get("nsfwLevel") if image else None
    return {"id": vid, "name": _text(version.get("name")), "baseModel": _text(version.get("baseModel"), 60),
            "sha256": hashes[:5], "previewUrl": image["url"] if image else None,
            "previewNsfwLevel": level if _int(level) else 0}


def compact_model(model: Any) -> dict[str, Any] | None:
    """One result in the shape the page uses, or None when the remote item is unusable (skipped)."""
    if not isinstance(model, dict) or _int(model.get("id")) is None:
        return None
    raw_versions = model.get("modelVersions") if isinstance(model.get("modelVersions"), list) else []
    versions = [v for v in (compact_version(x) for x in raw_versions[:MAX_VERSIONS] if isinstance(x, dict)) if v]
    creator = model.get("creator") if isinstance(model.get("creator"), dict) else {}
    stats = model.get("stats") if isinstance(model.get("stats"), dict) else {}
    return {"id": model["id"], "name": _text(model.get("name")), "type": _text(model.get("type"), 40),
            "nsfw": model.get("nsfw") is True, "creator": _text(creator.get("username"), 100),
            "downloadCount": _int(stats.get("downloadCount")) or 0, "versions": versions}


class DiscoverService:
    """Searches through the shared remote client; a bounded TTL cache of raw pages lives on this component."""

    def __init__(self, context: Any, *, ttl: float = 90.0, max_entries: int = 64,
                 clock: Callable[[], float] = time.monotonic):
        self.context = context
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._cache: OrderedDict[tuple, tuple[float, dict]] = OrderedDict()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._cache.clear()

    async def _page(self, q: DiscoverQuery) -> dict:
        key = (q, self.context.settings.civitai_api_key or "")
        hit = self._cache.get(key)
        now = self.clock()
        if hit is not None and now - hit[0] < self.ttl:
            self._cache.move_to_end(key)
            return hit[1]
        client = remote_clients(self.context).civitai()
        try:
            answer = await client.search_models(q.civitai_params())
        except RemoteError as exc:
            status = 503 if exc.kind in (ErrorKind.UNAVAILABLE, ErrorKind.RATE_LIMITED) else 502
            raise DiscoverError(f"Civitai search failed: {exc.message}", status) from None
        self._cache[key] = (now, answer)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return answer

    def _status(self, model: dict) -> None:
        """installed (newest version or one of its hashes is local), outdated (an older one is), or new."""
        lookup = self._find
        newest = model["versions"][0]["id"] if model["versions"] else None
        installed_ids = [v["id"] for v in model["versions"] if lookup(v)]
        for v in model["versions"]:
            v["inLibrary"] = v["id"] in installed_ids
        if not installed_ids:
            model["libraryStatus"] = "new"
        else:
            model["libraryStatus"] = "installed" if newest in installed_ids else "outdated"

    def _find(self, version: dict) -> bool:
        for model_type in ("lora", "checkpoint", "embedding"):
            service = self.context.services.get(model_type)
            if service is None or service.index is None:
                continue
            if service.find_by_version_id(version["id"]):
                return True
            if any(service.find_by_sha256(h) for h in version["sha256"]):
                return True
        return False

    async def search(self, q: DiscoverQuery) -> dict[str, Any]:
        answer = await self._page(q)
        items = answer.get("items")
        if not isinstance(items, list):
            raise DiscoverError("Civitai sent an unusable search answer (no items)", 502)
        models = [m for m in (compact_model(x) for x in items[:100]) if m]
        for model in models:
            self._status(model)
        metadata = answer.get("metadata") if isinstance(answer.get("metadata"), dict) else {}
        cursor = metadata.get("nextCursor")
        cursor = str(cursor)[:MAX_CURSOR] if isinstance(cursor, (str, int)) and cursor != "" else None
        return {"success": True, "models": models, "nextCursor": cursor}


def discover_service(context: Any) -> DiscoverService:
    found = context.components.get(COMPONENT_NAME)
    if found is None:
        found = DiscoverService(context)
        context.components[COMPONENT_NAME] = found
    return found
