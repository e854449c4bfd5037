"""Routes of one model type under ``/api/lm/{loras|checkpoints|embeddings}/...``: parse, call, shape JSON."""
from __future__ import annotations

import asyncio
import errno
import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Awaitable, TypeVar

from aiohttp import web
from multidict import MultiMapping

from ..library.edits import InvalidEdit
from ..library.hashing import autov3_matches_sshs
from ..library.paths import PathNotAllowed, to_api_path
from ..library.query import MAX_PAGE_SIZE, ListQuery, collect_matches, parse_sort
from ..library.records import ModelRecord
from ..library.sidecar import SidecarError, read_sidecar, sidecar_path_for
from ..nodes.trigger_words import join_trigger_groups
from ..services.jobs import JobConflict
from ..services.lifecycle import LifecycleError
from ..services.model_lookup import (BadName, clean_name, excluded_page, find_by_name, find_by_relative_path,
                                     folder_tree)
from ..services.model_service import PAGE_TYPES, MetadataWriteError, ModelNotFound, ModelService, SharedSidecar
from ..services.trigger_push import BadTargets, parse_targets, send_trigger_words
from .http import (ApiError, json_ok, json_text, optional_bool, optional_int, read_json_object, require_component,
                   require_str, serves_while_loading, state_changing)
from .middleware import wait_while_loading

if TYPE_CHECKING:
    from ..app import AppContext

CIVITAI_WEB = "https://civitai.com"
SINGULAR = {"lora": "Lora", "checkpoint": "Checkpoint", "embedding": "Embedding"}  # the other kinds: "Model"
MAX_NAMES = 1000
MAX_SELECT = 10_000  # file paths one "select all matching" answers (a bulk request takes as many)
SFW_BELOW = 4  # Civitai's R flag: with show_only_sfw, lists keep previews rated PG-13 or lower (or unrated)


T = TypeVar("T")
_WRITE_STATUS = {errno.ENOSPC: 507, errno.EACCES: 403, errno.EPERM: 403, errno.EROFS: 403}


async def run_edit(work: Awaitable[T]) -> T:
    """A model edit (``ModelService.edit`` and its callers) with its refusals as the user's 4xx/5xx answers."""
    try:
        return await work
    except InvalidEdit as exc:
        raise ApiError(str(exc)) from None
    except SharedSidecar as exc:
        raise ApiError(exc.message, 409) from None
    except ModelNotFound as exc:
        raise ApiError(str(exc), 404) from None
    except MetadataWriteError as exc:
        raise ApiError(exc.strerror or str(exc), _WRITE_STATUS.get(exc.errno, 500)) from None


def _split_many(query: MultiMapping[str], *names: str) -> tuple[str, ...]:
    """Repeatable params (``tag=a&tag=b``) and plural comma lists (``tags=a,b``) as one tuple, blanks dropped."""
    values: list[str] = []
    for name in names:
        for raw in query.getall(name, []):
            parts = raw.split(",") if name.endswith("s") else [raw]
            values.extend(part.strip() for part in parts if part.strip())
    return tuple(dict.fromkeys(values))


def parse_list_query(query: MultiMapping[str], model_type: str) -> ListQuery:
    """The list parameters of API-COMPAT §3, validated; page_size is clamped to ``MAX_PAGE_SIZE``."""
    page = optional_int(query, "page", 1, low=1)
    page_size = optional_int(query, "page_size", 20, low=1, high=MAX_PAGE_SIZE, clamp=True)
    sort_by, descending, seed = parse_sort(query.get("sort_by"))
    hashes: list[str] = list(_split_many(query, "hash", "lora_hash", "checkpoint_hash", "lora_hashes",
                                         "checkpoint_hashes"))
    if query.get("hashes"):
        try:
            parsed = json.loads(query["hashes"])
        except json.JSONDecodeError:
            parsed = query["hashes"].split(",")
        if not isinstance(parsed, list):
            raise ApiError("Invalid value for hashes: expected a JSON list")
        hashes.extend(str(h).strip() for h in parsed if str(h).strip())
    tag_logic = (query.get("tag_logic") or "any").lower()
    if tag_logic not in ("any", "all"):
        raise ApiError("Invalid value for tag_logic: use any or all")
    civitai_model_id = optional_int(query, "civitai_model_id", None)
    fuzzy = optional_bool(query, "fuzzy_search", False) or optional_bool(query, "fuzzy", False)
    return ListQuery(
        page=page or 1,
        page_size=page_size or 20,
        sort_by=sort_by,
        descending=descending,
        random_seed=seed,
        folder=query.get("folder"),
        recursive=optional_bool(query, "recursive", True),
        folder_include=_split_many(query, "folder_include"),
        folder_exclude=_split_many(query, "folder_exclude"),
        search=query.get("search", ""),
        fuzzy=fuzzy,
        search_filename=optional_bool(query, "search_filename", True),
        search_modelname=optional_bool(query, "search_modelname", True),
        search_tags=optional_bool(query, "search_tags", False),
        search_creator=optional_bool(query, "search_creator", False),
        base_models=_split_many(query, "base_model", "base_models"),
        sub_types=_split_many(query, "model_type", "civitai_model_type"),
        tag_include=_split_many(query, "tag_include", "tag", "tags"),
        tag_exclude=_split_many(query, "tag_exclude"),
        tag_logic=tag_logic,
        favorites_only=optional_bool(query, "favorites_only", False),
        update_available_only=optional_bool(query, "update_available_only", False),
        first_letter=query.get("first_letter", ""),
        hashes=tuple(dict.fromkeys(h.lower() for h in hashes)),
        civitai_model_id=civitai_model_id,
    )


def _limit(query: MultiMapping[str], default: int, maximum: int) -> int | None:
    """``limit``: default when absent, 0 = all, clamped to ``maximum`` (API-COMPAT §4.6)."""
    value = optional_int(query, "limit", default, low=0, high=maximum, clamp=True)
    return None if value == 0 else value


class ModelRoutes:
    """The route class registered for each model type through ModelServiceFactory."""

    def __init__(self, model_type: str, context: "AppContext"):
        self.model_type = model_type
        self.context = context
        self.prefix = f"/api/lm/{PAGE_TYPES[model_type]}"

    @property
    def service(self) -> ModelService:
        return self.context.service(self.model_type)

    def _ready_service(self) -> ModelService:
        service = self.service
        if not service.ready.is_set():
            raise ApiError("Service not ready", 503)
        return service

    def _record(self, raw_path: Any) -> ModelRecord:
        if not isinstance(raw_path, str) or not raw_path.strip():
            raise ApiError("Missing required parameter: file_path")
        try:
            return self._ready_service().resolve(raw_path)
        except PathNotAllowed as exc:
            raise ApiError(str(exc), 403) from None
        except ModelNotFound as exc:
            raise ApiError(str(exc), 404) from None

    def _named(self, raw_name: Any) -> ModelRecord | None:
        """The model a widget names (``stem`` or ``folder/stem``, see ``model_lookup``); None when unknown."""
        try:
            name = clean_name(raw_name)
        except BadName as exc:
            raise ApiError(str(exc)) from None
        return find_by_name(self._ready_service().all_records(), name)

    def _target(self, query: MultiMapping[str]) -> ModelRecord:
        """``file_path`` (our clients) or ``name`` (ComfyUI-Lora-Manager's widgets); 404 when unknown."""
        if query.get("file_path"):
            return self._record(query.get("file_path"))
        if "name" not in query:
            raise ApiError("Missing required parameter: file_path or name")
        record = self._named(query.get("name"))
        if record is None:
            raise ApiError(f"{SINGULAR.get(self.model_type, 'Model')} not found: {query.get('name', '').strip()}", 404)
        return record

    def route_table(self) -> list[web.AbstractRouteDef]:
        p = self.prefix
        return [
            web.get(f"{p}/list", self.list_models),
            web.get(f"{p}/file-paths", self.file_paths),
            web.get(f"{p}/base-models", self.base_models),
            web.get(f"{p}/top-tags", self.top_tags),
            web.get(f"{p}/search-tags", self.search_tags),
            web.get(f"{p}/folders", self.folders),
            web.get(f"{p}/folder-tree", self.folder_tree),
            web.get(f"{p}/roots", self.roots),
            web.get(f"{p}/metadata", self.metadata),
            web.get(f"{p}/info", self.info),
            web.get(f"{p}/get-trigger-words", self.trigger_words),
            web.get(f"{p}/preview-url", self.preview_url),
            web.get(f"{p}/civitai-url", self.civitai_url),
            web.get(f"{p}/get-notes", self.get_notes),
            web.get(f"{p}/relative-paths", self.relative_paths),
            web.get(f"{p}/letter-counts", self.letter_counts),
            web.get(f"{p}/find-duplicates", self.find_duplicates),
            web.get(f"{p}/find-filename-conflicts", self.find_filename_conflicts),
            web.get(f"{p}/scan", self.scan),
            web.post(f"{p}/compute-hash", self.compute_hash),
            web.post(f"{p}/save-metadata", self.save_metadata),
            # ComfyUI-Lora-Manager's calls (its UI and widgets)
            web.get(f"{p}/excluded", self.excluded),
            web.get(f"{p}/unified-folder-tree", self.unified_folder_tree),
            web.get(f"{p}/model-description", self.model_description),
            web.get(p + "/info/{name:.+}", self.info_by_name),
            web.post(f"{p}/set-preview-from-url", self.set_preview_from_url),
        ] + (self._lora_only_routes() if self.model_type == "lora" else [])

    def _lora_only_routes(self) -> list[web.AbstractRouteDef]:
        p = self.prefix
        return [
            web.get(f"{p}/usage-tips-by-path", self.usage_tips_by_path),
            web.post(f"{p}/get_trigger_words", self.push_trigger_words),
        ]

    # -- listing ---------------------------------------------------------------------------------
    @serves_while_loading
    async def list_models(self, request: web.Request) -> web.Response:
        """Answers from the index database while the projection loads, when the query allows it."""
        service = self.service
        query = parse_list_query(request.query, self.model_type)
        if self.context.settings.show_only_sfw and not query.hashes:  # ComfyUI-Lora-Manager's rule: under R
            query = replace(query, below_nsfw_level=SFW_BELOW)
        result = await service.early_list(query) if not service.ready.is_set() else None
        if result is None:
            await wait_while_loading(service.ready)
            result = service.list_models(query)
        return json_text(service.list_json.page(result.items, {
            "total": result.total,
            "page": result.page,
            "page_size": result.page_size,
            "total_pages": result.total_pages,
            "scan_in_progress": service.scanning,
        }, include_usage=query.sort_by == "usage"))

    async def file_paths(self, request: web.Request) -> web.Response:
        """The file paths of every model the list filters (same parameters as ``list``) match, in list order, at
        most ``limit`` (default and maximum ``MAX_SELECT``); ``truncated`` says when there are more."""
        service = self._ready_service()
        query = parse_list_query(request.query, self.model_type)
        if self.context.settings.show_only_sfw and not query.hashes:
            query = replace(query, below_nsfw_level=SFW_BELOW)
        limit = optional_int(request.query, "limit", MAX_SELECT, low=1, high=MAX_SELECT, clamp=True) or MAX_SELECT
        records, total = collect_matches(service.list_models, query, limit)
        return json_ok({"success": True, "file_paths": [to_api_path(r.file_path) for r in records], "total": total,
                        "truncated": total > len(records)})

    async def base_models(self, request: web.Request) -> web.Response:
        limit = _limit(request.query, 20, 100)
        counts = self._ready_service().base_models()[:limit]
        return json_ok({"success": True, "base_models": [{"name": n, "count": c} for n, c in counts]})

    async def top_tags(self, request: web.Request) -> web.Response:
        limit = _limit(request.query, 20, 200)
        counts = self._ready_service().top_tags()[:limit]
        return json_ok({"success": True, "tags": [{"tag": t, "count": c} for t, c in counts]})

    async def search_tags(self, request: web.Request) -> web.Response:
        """``q`` (ComfyUI-Lora-Manager) or ``search``: tags holding the text, most used first."""
        needle = (request.query.get("q") or request.query.get("search") or "").strip().casefold()
        limit = _limit(request.query, 20, 200)
        counts = [(t, c) for t, c in self._ready_service().top_tags() if needle in t.casefold()][:limit]
        return json_ok({"success": True, "tags": [{"tag": t, "count": c} for t, c in counts]})

    async def _folders(self) -> list[str]:
        return await self._ready_service().folders(hide=self.context.recipes_dir)

    async def folders(self, request: web.Request) -> web.Response:
        return json_ok({"success": True, "folders": await self._folders()})

    async def folder_tree(self, request: web.Request) -> web.Response:
        return json_ok({"success": True, "tree": folder_tree(await self._folders())})

    async def unified_folder_tree(self, request: web.Request) -> web.Response:
        """The folders of every root merged into one tree (ComfyUI-Lora-Manager's folder picker)."""
        return json_ok({"success": True, "tree": folder_tree(await self._folders())})

    async def roots(self, request: web.Request) -> web.Response:
        return json_ok({"success": True, "roots": [to_api_path(str(r)) for r in self.service.roots()]})

    async def relative_paths(self, request: web.Request) -> web.Response:
        needle = request.query.get("search", "").strip().casefold()
        limit = _limit(request.query, 50, 500)
        service = self._ready_service()
        rel = service.derived("relative_paths", lambda: [(p, p.casefold()) for p in sorted(
            (f"{r.folder}/{r.file_name}{r.extension}" if r.folder else f"{r.file_name}{r.extension}")
            for r in service.all_records())])
        matches = [p for p, folded in rel if needle in folded][:limit] if needle else [p for p, _ in rel[:limit]]
        return json_ok({"success": True, "relative_paths": matches})

    async def letter_counts(self, request: web.Request) -> web.Response:
        service = self._ready_service()

        def count() -> dict[str, int]:
            counts: dict[str, int] = {}
            for record in service.all_records():
                if not record.exclude:
                    counts[record.letter] = counts.get(record.letter, 0) + 1
            return dict(sorted(counts.items()))

        return json_ok({"success": True, "letter_counts": service.derived("letter_counts", count)})

    async def find_duplicates(self, request: web.Request) -> web.Response:
        groups: dict[str, list[ModelRecord]] = {}
        for record in self._ready_service().all_records():
            if record.sha256:
                groups.setdefault(record.sha256, []).append(record)
        dupes = [
            {"hash": sha, "models": [r.to_list_item() for r in sorted(rs, key=lambda r: r.file_path)]}
            for sha, rs in sorted(groups.items()) if len(rs) > 1
        ]
        return json_ok({"success": True, "duplicates": dupes, "count": len(dupes)})

    async def find_filename_conflicts(self, request: web.Request) -> web.Response:
        groups: dict[str, list[ModelRecord]] = {}
        for record in self._ready_service().all_records():
            groups.setdefault(record.file_name.casefold(), []).append(record)
        conflicts = [
            {"filename": rs[0].file_name, "models": [r.to_list_item() for r in sorted(rs, key=lambda r: r.file_path)]}
            for _name, rs in sorted(groups.items()) if len(rs) > 1
        ]
        return json_ok({"success": True, "conflicts": conflicts, "count": len(conflicts)})

    # -- one model -------------------------------------------------------------------------------
    async def metadata(self, request: web.Request) -> web.Response:
        record = self._record(request.query.get("file_path"))
        try:
            data = await asyncio.to_thread(read_sidecar, sidecar_path_for(record.file_path))
        except (FileNotFoundError, SidecarError):
            data = {}
        except OSError as exc:
            raise ApiError(f"Could not read metadata: {exc.strerror or exc}", 500) from None
        return json_ok({"success": True, "metadata": data})

    async def info(self, request: web.Request) -> web.Response:
        """The full identity report of one model: every value with where it came from."""
        record = self._record(request.query.get("file_path"))
        identity = await self.service.index.identity_of(record)
        return json_ok({
            "success": True,
            "file_path": to_api_path(record.file_path),
            "file_name": record.file_name,
            "model_type": record.model_type,
            "status": record.status,
            "status_reason": record.status_reason,
            "size": record.size,
            "base_model": {"value": record.base_model, "source": record.base_model_source},
            "identity": identity,
            "hashes": {
                "status": record.hash_status,
                "sha256": record.sha256,
                "autov2": record.sha256[:10] if record.sha256 else "",
                "autov3": record.autov3,
                "sshs_model_hash": identity.get("sshs_model_hash"),
                "autov3_matches_sshs": autov3_matches_sshs(record.autov3, identity.get("sshs_model_hash")),
            },
            "sidecar_status": record.sidecar_status,
            "trigger_words": {"value": record.trigger_words, "source": identity.get("trigger_words_source", "")},
            "vram_estimate_bytes": identity.get("vram_estimate_bytes", round(record.size * 1.2)),
        })

    async def trigger_words(self, request: web.Request) -> web.Response:
        """By ``name`` (unknown: an empty list, as ComfyUI-Lora-Manager answers) or ``file_path``."""
        if request.query.get("file_path"):
            record: ModelRecord | None = self._record(request.query.get("file_path"))
        else:
            record = self._named(request.query.get("name"))
        return json_ok({"success": True, "trigger_words": list(record.trigger_words) if record else []})

    async def get_notes(self, request: web.Request) -> web.Response:
        record = self._target(request.query)
        return json_ok({"success": True, "notes": record.notes, "file_path": to_api_path(record.file_path)})

    async def preview_url(self, request: web.Request) -> web.Response:
        """``""`` when the model has no preview (ComfyUI-Lora-Manager names its placeholder image instead)."""
        record = self._target(request.query)
        return json_ok({"success": True, "preview_url": record.preview_url()})

    async def civitai_url(self, request: web.Request) -> web.Response:
        record = self._target(request.query)
        url = None
        if record.civitai_model_id is not None:
            url = f"{CIVITAI_WEB}/models/{record.civitai_model_id}"
            if record.civitai_version_id is not None:
                url += f"?modelVersionId={record.civitai_version_id}"
        return json_ok({"success": True, "civitai_url": url, "model_id": record.civitai_model_id,
                        "version_id": record.civitai_version_id})

    async def info_by_name(self, request: web.Request) -> web.Response:
        """The list item of the model a widget names, with ``size`` (the anchor's cache-entry field)."""
        record = self._named(request.match_info.get("name"))
        if record is None:
            raise ApiError(f"{SINGULAR.get(self.model_type, 'Model')} not found", 404)
        return json_ok({**record.to_list_item(), "size": record.size})

    async def model_description(self, request: web.Request) -> web.Response:
        """The Civitai model description kept in the sidecar (``modelDescription``; empty when none)."""
        record = self._record(request.query.get("file_path"))
        try:
            data = await asyncio.to_thread(read_sidecar, sidecar_path_for(record.file_path))
        except (FileNotFoundError, SidecarError):
            data = {}
        except OSError as exc:
            raise ApiError(f"Could not read metadata: {exc.strerror or exc}", 500) from None
        description = data.get("modelDescription")
        return json_ok({"success": True, "description": description if isinstance(description, str) else ""})

    async def excluded(self, request: web.Request) -> web.Response:
        """Excluded models, paged like ``list`` (its search, sort and paging parameters)."""
        query = parse_list_query(request.query, self.model_type)
        result = excluded_page(self._ready_service().all_records(), query)
        return json_ok({"items": [r.to_list_item() for r in result.items], "total": result.total,
                        "page": result.page, "page_size": result.page_size, "total_pages": result.total_pages})

    async def usage_tips_by_path(self, request: web.Request) -> web.Response:
        """``relative_path`` as the autocomplete inserts it (``folder/file.safetensors``); unknown: ``""``."""
        raw = request.query.get("relative_path")
        try:
            clean_name(raw, "relative_path")
        except BadName as exc:
            raise ApiError(str(exc)) from None
        record = find_by_relative_path(self._ready_service().all_records(), str(raw).strip())
        return json_ok({"success": True, "usage_tips": (record.usage_tips if record else "") or ""})

    async def push_trigger_words(self, request: web.Request) -> web.Response:
        """``{lora_names, node_ids}``: send the LoRAs' trigger words to those Trigger Word Toggle nodes."""
        body = await read_json_object(request)
        names = body.get("lora_names", [])
        if not isinstance(names, list) or len(names) > MAX_NAMES:
            raise ApiError(f"Invalid value for lora_names: expected a list of at most {MAX_NAMES} LoRA names")
        try:
            targets = parse_targets(body.get("node_ids", []))
            wanted = [clean_name(name, "lora_names") for name in names]
        except (BadTargets, BadName) as exc:
            raise ApiError(str(exc)) from None
        records = self._ready_service().all_records()
        groups = [record.trigger_words for record in (find_by_name(records, n) for n in wanted) if record]
        text = join_trigger_groups(groups)
        sent = send_trigger_words(targets, text)
        return json_ok({"success": True, "trigger_words": text, "sent": sent})

    async def set_preview_from_url(self, request: web.Request) -> web.Response:
        """``{model_path, image_url, nsfw_level?}``: download the image (outbound-fetch rule) as the preview."""
        body = await read_json_object(request)
        model_path = body.get("model_path") or body.get("file_path")
        if not model_path:
            raise ApiError("Model path is required")
        image_url = body.get("image_url")
        if not image_url:
            raise ApiError("Image URL is required")
        if not isinstance(model_path, str) or not isinstance(image_url, str):
            raise ApiError("Invalid value: model_path and image_url must be strings")
        nsfw = optional_int(body, "nsfw_level", None, low=0)
        lifecycle = require_component(self.context, "lifecycle", "Model lifecycle operations")
        try:
            record = lifecycle.target_from_payload(self.model_type, {"file_path": model_path})
            data, filename, content_type = await lifecycle.fetch_preview(image_url.strip())
            updated = await lifecycle.replace_preview(self.model_type, record, data, filename=filename,
                                                      content_type=content_type, nsfw_level=nsfw)
        except LifecycleError as exc:
            raise ApiError(exc.message, exc.status) from None
        return json_ok({"success": True, "preview_url": updated.preview_url(),
                        "preview_nsfw_level": updated.preview_nsfw_level})

    # -- actions ---------------------------------------------------------------------------------
    @state_changing
    async def scan(self, request: web.Request) -> web.Response:
        full = optional_bool(request.query, "full_rebuild", False)
        service = self._ready_service()
        try:
            job = self.context.jobs.start(f"scan:{self.model_type}", lambda ctx: service.refresh(ctx, full_rebuild=full),
                                          title=f"Scan {PAGE_TYPES[self.model_type]}", exclusive=True)
        except JobConflict as exc:
            raise ApiError(str(exc), 409) from None
        summary = await job.wait()  # the job is its own task: a client that leaves does not stop it
        return json_ok({"success": True, "status": summary.status, "message": summary.message,
                        "total": summary.total, "added": summary.added, "updated": summary.updated,
                        "unchanged": summary.unchanged,
                        "removed": summary.removed, "problems": summary.problems[:100]})

    async def compute_hash(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        record = self._record(body.get("file_path"))
        if record.status != "ok":
            raise ApiError(f"Cannot hash an invalid model file: {record.status_reason}", 422)
        await self.service.hash_pending(paths=[record.file_path])
        updated = self.service.resolve(record.file_path)
        return json_ok({"success": True, "sha256": updated.sha256, "autov3": updated.autov3,
                        "hash_status": updated.hash_status})

    async def save_metadata(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        record = self._record(require_str(body, "file_path"))
        updates = {k: v for k, v in body.items() if k != "file_path"}
        if not updates:
            raise ApiError("Nothing to save: send the fields to change beside file_path")
        result = await run_edit(self.service.save_metadata(record, updates))
        item = result.record.to_list_item()
        return json_ok({"success": True, "auto_tags": item["auto_tags"], "model": item, **result.notice()})

