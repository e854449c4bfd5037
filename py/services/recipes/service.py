"""RecipeService: the recipes area component (store, matching, analysis, imports, export, bulk import).

Why: routes stay thin; every use case of recipes lives here, over the RecipeStore (files + cache) and the
model services (library matching). Blocking work (Pillow, zip, files) runs in worker threads.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import urlsplit

from ...library.paths import PathNotAllowed, confine, to_api_path
from ...library.media import sniff_media
from ..remote.errors import ErrorKind, RemoteError
from .convert import best_hash, ordered_hashes, parsed_to_recipe, recipe_from_text, ref_to_checkpoint
from .export import ExportError, build_zip, export_filename, is_zip, read_zip, share_image
from .images import encode_recipe_webp
from .lora_syntax import LoraSyntaxEntry, format_lora_syntax
from .matching import IN_LIBRARY, MISSING, LibraryMatcher, match_fields, match_recipe_lora
from .parsers import (GEN_PARAM_KEYS, ImageReadError, NoGenerationMetadata, ParsedGeneration, ResourceRef,
                      extract_image_metadata, parse_civitai_meta, parse_metadata_text)
from .query import QueryPage, RecipeQuery, run_query
from .records import (IMAGE_EXTENSIONS, MEDIA_EXTENSIONS, VIDEO_EXTENSIONS, RecipeEntry, fingerprint, memory_match,
                      preview_url, words)
from .store import RecipeNotFound, RecipeStore, RecipeStoreError, normalise_recipe

if TYPE_CHECKING:
    from ...app import AppContext
    from ..jobs import JobContext

logger = logging.getLogger(__name__)

NO_METADATA = "No generation metadata found"
MAX_MEDIA_BYTES = 64 * 1024 * 1024
IMPORT_CONCURRENCY = 4
CIVITAI_IMAGE_RE = re.compile(r"^/images/(\d+)")
CIVITAI_SITES = ("civitai.com", "civitai.green", "civitai.red")
EDITABLE = {"title": str, "tags": list, "favorite": bool, "source_path": str, "preview_nsfw_level": int,
            "base_model": str, "gen_params": dict, "loras": list, "checkpoint": (dict, type(None)), "notes": str}
PARAM_ALIASES = {"negativePrompt": "negative_prompt", "cfgScale": "cfg_scale", "clipSkip": "clip_skip",
                 "denoisingStrength": "denoising_strength", "Size": "size", "cfg": "cfg_scale",
                 "denoise": "denoising_strength"}
TYPE_WORDS = {str: "a string", list: "a list", bool: "true or false", dict: "an object", int: "a whole number"}
REMOTE_PARAM_KEYS = ("prompt", "negative_prompt", "steps", "sampler", "cfg_scale", "seed", "size", "clip_skip",
                     "denoising_strength")


class RecipeError(Exception):
    """A request the recipes area refuses: message for the user, HTTP status, extra JSON fields."""

    def __init__(self, message: str, status: int = 400, **extra: Any):
        super().__init__(message)
        self.message = message
        self.status = status
        self.extra = extra


def civitai_image_id(url: str) -> str | None:
    """The image id of a Civitai image page URL (civitai.com / .green / .red), else None."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not any(host == s or host.endswith("." + s) for s in CIVITAI_SITES):
        return None
    match = CIVITAI_IMAGE_RE.match(parts.path)
    return match.group(1) if match else None


def normalise_gen_params(params: dict[str, Any], keep: Iterable[str] = GEN_PARAM_KEYS) -> dict[str, Any]:
    allowed = set(keep)
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = PARAM_ALIASES.get(key, key)
        if name in allowed and value is not None and value != "":
            out[name] = value
    return out


def _ext_of(name: str | None) -> str:
    ext = os.path.splitext(name or "")[1].lower()
    return ext


def _sniff_extension(data: bytes) -> str:
    """The media extension the bytes prove ('' when they prove none)."""
    return sniff_media(data) or ""


def _formatted(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else ""


class RecipeService:
    """The recipes component: ``context.components["recipes"]``."""

    def __init__(self, context: "AppContext"):
        self.context = context
        self.store: RecipeStore | None = None
        self._matchers: dict[str, LibraryMatcher] = {}
        from ..remote.clients import remote_clients

        self._remote_clients = remote_clients(context)  # registered with the components: closed with them
        self._sweep_job: Any = None
        self._import_slots = asyncio.Semaphore(2)
        self.unavailable = ""

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        recipes_dir = Path(self.context.recipes_dir)
        store = RecipeStore(recipes_dir, self.context.paths.cache_dir / "recipes.sqlite")
        try:
            count = await store.open()
        except Exception as exc:  # noqa: BLE001 - an unusable recipes folder must not stop the server
            logger.exception("Recipes are unavailable: %s", recipes_dir)
            self.unavailable = f"The recipes folder cannot be used: {exc}"
            return
        self.store = store
        if self.store.cache.healed_from is not None:
            self.context.hub.broadcast("fetch-progress", {
                "type": "cache_health_warning",
                "message": f"The recipe cache was damaged; it was set aside as {self.store.cache.healed_from.name} "
                           "and is being rebuilt from the recipe files",
            })
        logger.info("Recipes: %d from the cache", count)
        self._sweep_job = self.context.jobs.start("recipes:scan", self._sweep_work, title="Validate recipes")
        try:
            await self.store.purge_trash(self.context.settings.trash_retention_days)
        except OSError:
            logger.warning("Could not purge the recipe trash", exc_info=True)

    async def _sweep_work(self, job: "JobContext") -> dict[str, Any]:
        summary = await self.require_store().sweep(job.cancel_event, lambda d, t: job.report(d, t, stage="recipes"))
        if summary.added or summary.updated or summary.removed:
            self.context.hub.broadcast("fetch-progress", {"type": "recipes_changed"})
        return {"total": summary.total, "added": summary.added, "updated": summary.updated,
                "removed": summary.removed, "healed": summary.healed, "problems": summary.problems[:50]}

    async def wait_ready(self) -> None:
        """Wait for the startup sweep (tests and bulk operations)."""
        if self._sweep_job is not None:
            try:
                await self._sweep_job.wait()
            except Exception:  # noqa: BLE001 - reported through the job
                pass

    async def close(self) -> None:
        if self.store is not None:
            await self.store.close()

    def require_store(self) -> RecipeStore:
        if self.store is None:
            raise RecipeError(self.unavailable or "Recipes are not ready yet", 503)
        return self.store

    def matcher(self, model_type: str) -> LibraryMatcher:
        matcher = self._matchers.get(model_type)
        if matcher is None:
            source = self.context.services.get(model_type)
            matcher = LibraryMatcher(source if source is not None and getattr(source, "index", None) else None)
            if matcher.source is not None:
                self._matchers[model_type] = matcher
        return matcher

    # -- remote ------------------------------------------------------------------------------------
    def civitai(self) -> Any:
        return self._remote_clients.civitai()

    async def download_media(self, url: str) -> bytes:
        """GET a media URL (bounded size) through the shared resilient client."""
        client = self.civitai()
        http = client.http
        from ..remote.errors import classify_status
        from ..remote.resilience import host_key

        async def operation() -> bytes:
            session = await http.session()
            async with session.get(url, headers=client.auth_headers(url), timeout=http.timeout) as response:
                error = classify_status(response.status, response.headers, str(response.url))
                if error is not None:
                    raise error
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_chunked(256 * 1024):
                    size += len(chunk)
                    if size > MAX_MEDIA_BYTES:
                        raise RemoteError(ErrorKind.INTERNAL, "The image is too large to import", url=url)
                    chunks.append(chunk)
                return b"".join(chunks)

        try:
            return await http.call(host_key(url), operation, describe=f"GET {url}")
        except ValueError as exc:
            raise RecipeError(f"Invalid image URL: {url}") from exc

    # -- items -------------------------------------------------------------------------------------
    def lora_item(self, lora: dict[str, Any], *, by_name: bool = True) -> dict[str, Any]:
        item = dict(lora)
        item.update(match_fields(match_recipe_lora(self.matcher("lora"), lora, by_name=by_name)))
        return item

    def checkpoint_item(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        match = self.matcher("checkpoint").match(
            hashes=[checkpoint.get("hash")], version_id=checkpoint.get("modelVersionId"),
            names=[checkpoint.get("file_name"), checkpoint.get("modelName")])
        return {**checkpoint, **match_fields(match)}

    def item(self, entry: RecipeEntry) -> dict[str, Any]:
        """The list item of API-COMPAT §3 (LoRAs and checkpoint matched against the library)."""
        data = entry.data
        image = entry.image_path or str(data.get("file_path") or "")
        item: dict[str, Any] = {
            "id": entry.id,
            "file_path": image,
            "title": entry.title,
            "folder": entry.folder,
            "base_model": entry.base_model,
            "fingerprint": entry.fingerprint,
            "created_date": entry.created,
            "modified": entry.modified,
            "favorite": entry.favorite,
            "has_workflow": bool(data.get("workflow")),
            "tags": [t for t in data.get("tags") or [] if isinstance(t, str)],
            "loras": [self.lora_item(lora) for lora in data.get("loras") or [] if isinstance(lora, dict)],
            "gen_params": data.get("gen_params") if isinstance(data.get("gen_params"), dict) else {},
            "file_url": preview_url(image) if entry.image_path else "",
            "created_date_formatted": _formatted(entry.created),
            "modified_formatted": _formatted(entry.modified),
        }
        for key in ("source_path", "preview_nsfw_level", "width", "height"):
            if key in data:
                item[key] = data[key]
        if isinstance(data.get("checkpoint"), dict):
            item["checkpoint"] = self.checkpoint_item(data["checkpoint"])
        return item

    # -- listing -----------------------------------------------------------------------------------
    async def list_recipes(self, query: RecipeQuery) -> dict[str, Any]:
        store = self.require_store()
        search_rows: set[int] | None = None
        memory = None
        if query.search.strip() and not (query.lora_hash or query.checkpoint_hash):
            if store.index_ready:
                search_rows = await store.search_rows(query.search, query.search_fields)
            else:
                query_words = words(query.search)
                fields = list(query.search_fields)
                memory = (lambda e: memory_match(e, query_words, fields)) if query_words else None
        ordered = store.ordered(query.sort_by if query.sort_by != "random" else "date")
        page: QueryPage = run_query(ordered, query, search_rows, memory)
        return {"items": [self.item(e) for e in page.items], "total": page.total, "page": page.page,
                "page_size": page.page_size, "total_pages": page.total_pages}

    def get_recipe(self, recipe_id: str) -> dict[str, Any]:
        entry = self._require(recipe_id)
        item = self.item(entry)
        full = {**item, **entry.data}
        for key in ("loras", "checkpoint", "file_path", "file_url", "folder", "fingerprint"):
            if key in item:
                full[key] = item[key]
        return full

    def _require(self, recipe_id: str) -> RecipeEntry:
        try:
            return self.require_store().require(recipe_id)
        except RecipeNotFound:
            raise RecipeError("Recipe not found", 404) from None

    # -- edits -------------------------------------------------------------------------------------
    async def update(self, recipe_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        self._require(recipe_id)
        if not changes:
            raise RecipeError("No changes given: send a JSON object of the fields to change")
        for key, value in changes.items():
            kind = EDITABLE.get(key)
            if kind is None:
                raise RecipeError(f"Field {key} cannot be edited (editable: {', '.join(sorted(EDITABLE))})")
            if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise RecipeError(f"Invalid value for {key}: expected a whole number")
            if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
                raise RecipeError(f"Invalid value for {key}: expected {TYPE_WORDS.get(kind, 'an object')}")
        if "tags" in changes:
            if not all(isinstance(t, str) for t in changes["tags"]):
                raise RecipeError("Invalid value for tags: expected a list of strings")
            changes["tags"] = list(dict.fromkeys(t.strip() for t in changes["tags"] if t.strip()))
        if "title" in changes and not changes["title"].strip():
            raise RecipeError("The title cannot be empty")
        entry = await self._write(self.require_store().update(recipe_id, changes))
        self.context.hub.broadcast("fetch-progress", {"type": "recipes_changed", "recipe_id": recipe_id})
        return {"success": True, "recipe_id": recipe_id, "recipe": self.item(entry)}

    async def _write(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except RecipeNotFound as exc:
            raise RecipeError(str(exc) or "Recipe not found", 404) from None
        except RecipeStoreError as exc:
            raise RecipeError(exc.message, 507 if "disk is full" in exc.message else 500) from None
        except PathNotAllowed as exc:
            raise RecipeError(str(exc), 400) from None

    async def delete(self, recipe_ids: list[str]) -> dict[str, Any]:
        for recipe_id in recipe_ids:
            self._require(recipe_id)
        batch_id, ids = await self._write(self.require_store().delete(recipe_ids))
        self.context.hub.broadcast("fetch-progress", {"type": "recipes_changed"})
        noun = "Recipe" if len(ids) == 1 else f"{len(ids)} recipes"
        return {"success": True, "message": f"{noun} deleted (undo is possible)", "batch_id": batch_id,
                "deleted": ids}

    async def undo_delete(self, batch_id: str) -> dict[str, Any]:
        restored = await self._write(self.require_store().undo_delete(batch_id))
        if restored:
            self.context.hub.broadcast("fetch-progress", {"type": "recipes_changed"})
        return {"success": True, "restored": restored}

    # -- analysis ----------------------------------------------------------------------------------
    def _analysis_item(self, ref: ResourceRef, kind: str, source_format: str = "") -> dict[str, Any]:
        model_type = "checkpoint" if kind == "checkpoint" else "lora"
        match = self.matcher(model_type).match(
            hashes=ordered_hashes(ref), version_id=ref.model_version_id,
            names=[ref.file_name, ref.name, ref.model_name])
        record = match.record
        version_id = match.version_id or ref.model_version_id or 0
        base_url = self.civitai().base_url if match.status == MISSING else ""
        item: dict[str, Any] = {
            "id": version_id,
            "modelId": ref.model_id or (record.civitai_model_id if record else None) or 0,
            "name": ref.model_name or (record.display_name if record else "") or ref.file_name or ref.name,
            "version": ref.version_name or "",
            "type": kind,
            "weight": ref.strength_model,
            "hash": (record.sha256 if record and record.sha256 else best_hash(ref)),
            "existsLocally": match.in_library,
            "localPath": record.file_path if record else "",
            "file_name": record.file_name if record else (ref.file_name or ref.name),
            "thumbnailUrl": record.preview_url() if record else "",
            "preview_url": record.preview_url() if record else "",
            "inLibrary": match.in_library,
            "baseModel": record.base_model if record else "",
            "size": record.size if record else 0,
            "downloadUrl": f"{base_url}/api/download/models/{version_id}" if match.status == MISSING else "",
            "isDeleted": False,
            "matchStatus": match.status,
            "matchedBy": match.via,
        }
        if ref.strength_clip is not None and ref.strength_clip != ref.strength_model:
            item["clipStrength"] = ref.strength_clip
        if kind == "lora":
            item.update(_confidence_fields(ref, source_format))
        return item

    def matching_recipes(self, print_: str) -> list[str]:
        if not print_:
            return []
        return [e.id for e in self.require_store().all() if e.fingerprint == print_]

    def analysis(self, parsed: ParsedGeneration, *, extension: str, is_video: bool = False) -> dict[str, Any]:
        loras = [self._analysis_item(ref, "lora", parsed.source_format) for ref in parsed.loras]
        checkpoint = self._analysis_item(parsed.checkpoint, "checkpoint") if parsed.checkpoint else None
        base_model = parsed.base_model or (checkpoint or {}).get("baseModel") or ""
        recipe_loras = [{"hash": l["hash"], "modelVersionId": l["id"], "file_name": l["file_name"],
                         "strength": l["weight"]} for l in loras]
        print_ = fingerprint(recipe_loras)
        result: dict[str, Any] = {
            "success": True,
            "loras": loras,
            "gen_params": dict(parsed.gen_params),
            "base_model": base_model,
            "is_video": is_video,
            "extension": extension,
            "fingerprint": print_,
            "matching_recipes": self.matching_recipes(print_),
            "source_format": parsed.source_format,
        }
        if parsed.raw.get("title"):
            result["title"] = parsed.raw["title"]
        if parsed.raw.get("tags"):
            result["tags"] = parsed.raw["tags"]
        if checkpoint is not None:
            result["checkpoint"] = checkpoint
        return result

    async def analyze_bytes(self, data: bytes, *, filename: str | None = None,
                            meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """Parse an uploaded or downloaded image; Civitai ``meta`` (URL case) wins over embedded text."""
        if not data:
            raise RecipeError("The image is empty", 400, loras=[])
        extension = _sniff_extension(data) or _ext_of(filename) or ".png"
        is_video = extension in VIDEO_EXTENSIONS
        parsed: ParsedGeneration | None = None
        if meta:
            try:
                parsed = parse_civitai_meta(meta)
            except NoGenerationMetadata:
                parsed = None
        if parsed is None or not parsed.has_content():
            try:
                parsed = await asyncio.to_thread(_parse_image, data)
            except ImageReadError as exc:
                raise RecipeError(f"Could not read the image: {exc.reason}", 400, loras=[]) from None
            except NoGenerationMetadata:
                raise RecipeError(NO_METADATA, 422, loras=[]) from None
        return self.analysis(parsed, extension=extension, is_video=is_video)

    async def analyze_url(self, url: str) -> dict[str, Any]:
        if not isinstance(url, str) or not url.strip():
            raise RecipeError("Missing required parameter: url", 400, loras=[])
        url = url.strip()
        meta = None
        image_id = civitai_image_id(url)
        media_url = url
        if image_id is not None:
            image = await self._civitai_image(image_id, loras=True)
            media_url = str(image.get("url") or "")
            meta = image.get("meta") if isinstance(image.get("meta"), dict) else None
            if not media_url:
                raise RecipeError("Civitai has no media for this image", 404, loras=[])
        elif urlsplit(url).scheme not in ("http", "https"):
            raise RecipeError("The URL must start with http:// or https://", 400, loras=[])
        data = await self._remote(self.download_media(media_url), loras=True)
        result = await self.analyze_bytes(data, filename=urlsplit(media_url).path, meta=meta)
        if not result["is_video"]:
            result["image_base64"] = base64.b64encode(data).decode("ascii")
        return result

    async def analyze_local(self, raw_path: str) -> dict[str, Any]:
        """Analyze a file on disk; the path must lie inside a library root or the recipes folder."""
        roots = self._allowed_roots()
        try:
            confined = confine(raw_path, roots)
        except PathNotAllowed as exc:
            raise RecipeError(str(exc), 403, loras=[]) from None
        path = confined.path
        if not path.is_file():
            raise RecipeError(f"File not found: {raw_path}", 404, loras=[])
        if path.suffix.lower() not in MEDIA_EXTENSIONS:
            raise RecipeError(f"Not an image file: {raw_path}", 400, loras=[])
        data = await asyncio.to_thread(path.read_bytes)
        result = await self.analyze_bytes(data, filename=path.name)
        result["file_path"] = to_api_path(str(path))
        return result

    def _allowed_roots(self) -> list[Path]:
        roots = [root for t in ("lora", "checkpoint", "embedding") for root in self.context.roots_for(t)]
        roots.append(Path(self.context.recipes_dir))
        return roots

    # -- saving ------------------------------------------------------------------------------------
    def fill_from_library(self, recipe: dict[str, Any]) -> dict[str, Any]:
        """Complete LoRA hashes, file names and version ids from the local library where a match is found."""
        for lora in recipe.get("loras") or []:
            if not isinstance(lora, dict):
                continue
            match = match_recipe_lora(self.matcher("lora"), lora)
            record = match.record
            if record is None:
                continue
            if record.sha256 and len(str(lora.get("hash") or "")) != 64:
                lora["hash"] = record.sha256
            if not lora.get("file_name"):
                lora["file_name"] = record.file_name
            if not lora.get("modelVersionId") and record.civitai_version_id:
                lora["modelVersionId"] = record.civitai_version_id
        checkpoint = recipe.get("checkpoint")
        if isinstance(checkpoint, dict):
            match = self.matcher("checkpoint").match(hashes=[checkpoint.get("hash")],
                                                     version_id=checkpoint.get("modelVersionId"),
                                                     names=[checkpoint.get("file_name"), checkpoint.get("modelName")])
            if match.record is not None:
                if match.record.sha256 and not checkpoint.get("hash"):
                    checkpoint["hash"] = match.record.sha256
                if not recipe.get("base_model") and match.record.base_model not in ("", "Unknown"):
                    recipe["base_model"] = match.record.base_model
        return recipe

    async def save_recipe(self, recipe: dict[str, Any], media: bytes, extension: str, *,
                          folder: str = "") -> RecipeEntry:
        """Store a recipe: images are re-encoded to WebP with the recipe embedded; videos are kept as they are."""
        if not media:
            raise RecipeError("No image data given")
        ext = extension.lower() if extension else ""
        if ext and not ext.startswith("."):
            ext = "." + ext
        sniffed = _sniff_extension(media)
        if sniffed in VIDEO_EXTENSIONS:
            ext = sniffed
        elif ext in VIDEO_EXTENSIONS:  # a name or type that says video, bytes that are not a video container
            raise RecipeError("The file is not an MP4 or WebM video")
        data = normalise_recipe(self.fill_from_library(dict(recipe)))
        if ext in VIDEO_EXTENSIONS:
            stored, stored_ext = media, ext
        else:
            try:
                stored = await asyncio.to_thread(encode_recipe_webp, media, data)
            except ImageReadError as exc:
                raise RecipeError(f"Could not read the image: {exc.reason}") from None
            stored_ext = ".webp"
        entry = await self._write(self.require_store().add(data, stored, stored_ext, folder))
        self.context.hub.broadcast("fetch-progress", {"type": "recipes_changed", "recipe_id": entry.id})
        return entry

    def save_answer(self, entry: RecipeEntry) -> dict[str, Any]:
        return {"success": True, "recipe_id": entry.id, "image_path": entry.image_path,
                "json_path": entry.json_path,
                "matching_recipes": [i for i in self.matching_recipes(entry.fingerprint) if i != entry.id]}

    async def save(self, *, media: bytes, extension: str, name: str, tags: list[str],
                   metadata: dict[str, Any], folder: str = "") -> dict[str, Any]:
        if not name.strip():
            raise RecipeError("Missing required parameter: name")
        recipe: dict[str, Any] = {
            "title": name.strip(),
            "base_model": metadata.get("base_model") if isinstance(metadata.get("base_model"), str) else "",
            "loras": metadata.get("loras") if isinstance(metadata.get("loras"), list) else [],
            "gen_params": metadata.get("gen_params") if isinstance(metadata.get("gen_params"), dict) else {},
            "tags": [t for t in tags if isinstance(t, str) and t.strip()],
            "favorite": False,
        }
        for key in ("checkpoint", "source_path", "preview_nsfw_level"):
            if metadata.get(key) is not None:
                recipe[key] = metadata[key]
        entry = await self.save_recipe(recipe, media, extension, folder=folder)
        return self.save_answer(entry)

    # -- remote imports ------------------------------------------------------------------------------
    async def _remote(self, awaitable: Any, *, loras: bool = False) -> Any:
        extra = {"loras": []} if loras else {}
        try:
            return await awaitable
        except RemoteError as exc:
            if exc.kind is ErrorKind.BLOCKED:  # the client chose an address the fetch rule refuses
                raise RecipeError(exc.message, 400, **extra) from None
            status = 404 if exc.kind is ErrorKind.NOT_FOUND else 502
            raise RecipeError(f"Could not fetch from Civitai: {exc.message}", status, **extra) from None

    async def _civitai_image(self, image_id: str, *, loras: bool = False) -> dict[str, Any]:
        image = await self._remote(self.civitai().get_image(image_id), loras=loras)
        if image is None:
            raise RecipeError(f"Civitai image {image_id} not found", 404, **({"loras": []} if loras else {}))
        return image

    def check_image_exists(self, image_ids: Iterable[str]) -> dict[str, Any]:
        by_image: dict[str, str] = {}
        for entry in self.require_store().all():
            if entry.image_id and entry.image_id not in by_image:
                by_image[entry.image_id] = entry.id
        return {"success": True, "results": {
            i: {"in_library": i in by_image, "recipe_id": by_image.get(i)} for i in image_ids}}

    async def import_remote(self, *, image_url: str, name: str, resources: list[Any], tags: list[str],
                            gen_params: dict[str, Any], base_model: str = "", source_path: str = "") -> dict[str, Any]:
        async with self._import_slots:
            media, meta, civitai_base = await self._fetch_media(image_url)
            embedded = await self._parse_quietly(media)
            civitai_parsed = _civitai_parse(meta)
            loras: list[dict[str, Any]] = []
            checkpoint: dict[str, Any] | None = None
            for resource in resources:
                if not isinstance(resource, dict):
                    continue
                kind = str(resource.get("type") or "").lower()
                entry = {"file_name": "", "hash": "", "strength": resource.get("weight", 1.0),
                         "modelVersionId": resource.get("modelVersionId") or 0,
                         "modelName": str(resource.get("modelName") or ""),
                         "modelVersionName": str(resource.get("modelVersionName") or ""),
                         "modelId": resource.get("modelId") or 0}
                if kind in ("lora", "lycoris", "locon", "dora"):
                    loras.append(entry)
                elif kind == "checkpoint" and checkpoint is None:
                    checkpoint = {"type": "checkpoint", "modelId": entry["modelId"],
                                  "modelVersionId": entry["modelVersionId"], "modelName": entry["modelName"],
                                  "modelVersionName": entry["modelVersionName"]}
            sources = [p for p in (civitai_parsed, embedded) if p is not None]
            for parsed in sources:
                _fill_loras(loras, parsed)
            if not loras:
                for parsed in sources:
                    if parsed.loras:
                        loras = parsed_to_recipe(parsed)["loras"]
                        break
            if checkpoint is None:
                for parsed in sources:
                    if parsed.checkpoint is not None:
                        checkpoint = ref_to_checkpoint(parsed.checkpoint, parsed.base_model or "")
                        break
            params: dict[str, Any] = {}
            for parsed in reversed(sources):  # embedded, then Civitai, then the request win
                params.update(normalise_gen_params(parsed.gen_params, REMOTE_PARAM_KEYS))
            params.update(normalise_gen_params(gen_params, REMOTE_PARAM_KEYS))
            base = base_model or civitai_base or next((p.base_model for p in sources if p.base_model), "") or ""
            recipe: dict[str, Any] = {"title": name, "base_model": base, "loras": loras, "gen_params": params,
                                      "tags": tags, "source_path": source_path or image_url, "favorite": False}
            if checkpoint is not None:
                recipe["checkpoint"] = checkpoint
            entry = await self.save_recipe(recipe, media, _ext_of(urlsplit(image_url).path))
            return self.save_answer(entry)

    async def import_from_url(self, image_url: str, *, force: bool = False) -> dict[str, Any]:
        image_id = civitai_image_id(image_url)
        if image_id is None:
            raise RecipeError("Could not extract Civitai image ID from URL")
        if not force:
            for entry in self.require_store().all():
                if entry.image_id == image_id:
                    return {"success": True, "recipe_id": entry.id, "name": entry.title, "already_exists": True}
        async with self._import_slots:
            media, meta, civitai_base = await self._fetch_media(image_url)
            parsed = _civitai_parse(meta)
            if parsed is None or not parsed.loras:
                parsed = await self._parse_quietly(media) or parsed
            if parsed is None:
                raise RecipeError(NO_METADATA, 422)
            recipe = parsed_to_recipe(parsed)
            recipe["gen_params"] = normalise_gen_params(recipe["gen_params"], REMOTE_PARAM_KEYS)
            prompt = str(recipe["gen_params"].get("prompt") or "")
            title = " ".join(prompt.split()[:10]) or f"Civitai Image {image_id}"
            recipe.update({"title": title, "source_path": image_url, "favorite": False,
                           "base_model": recipe.get("base_model") or civitai_base or ""})
            entry = await self.save_recipe(recipe, media, "")
            answer = self.save_answer(entry)
            answer.update({"name": title, "already_exists": False})
            return answer

    async def _fetch_media(self, image_url: str) -> tuple[bytes, dict[str, Any] | None, str]:
        image_id = civitai_image_id(image_url)
        meta = None
        base = ""
        media_url = image_url
        if image_id is not None:
            image = await self._civitai_image(image_id)
            media_url = str(image.get("url") or "")
            if not media_url:
                raise RecipeError("Civitai has no media for this image", 404)
            meta = image.get("meta") if isinstance(image.get("meta"), dict) else None
            base = str(image.get("baseModel") or "")
        elif urlsplit(image_url).scheme not in ("http", "https"):
            raise RecipeError("The image URL must start with http:// or https://")
        media = await self._remote(self.download_media(media_url))
        if not media:
            raise RecipeError("The image download was empty", 502)
        return media, meta, base

    async def _parse_quietly(self, media: bytes) -> ParsedGeneration | None:
        if _sniff_extension(media) in VIDEO_EXTENSIONS:
            return None
        try:
            return await asyncio.to_thread(_parse_image, media)
        except (ImageReadError, NoGenerationMetadata):
            return None

    # -- recipe helpers ----------------------------------------------------------------------------
    def syntax(self, recipe_id: str) -> dict[str, Any]:
        entry = self._require(recipe_id)
        parts: list[str] = []
        for lora in entry.data.get("loras") or []:
            if not isinstance(lora, dict) or lora.get("isDeleted") or lora.get("exclude"):
                continue
            record = match_recipe_lora(self.matcher("lora"), lora).record
            if record is not None:
                name = f"{record.folder}/{record.file_name}" if record.folder else record.file_name
            else:
                name = str(lora.get("file_name") or lora.get("modelName") or "").strip()
            if not name:
                continue
            strength = float(lora.get("strength", 1.0))
            clip = float(lora.get("clipStrength", strength))
            parts.append(format_lora_syntax(LoraSyntaxEntry(name, strength, clip, (0, 0))))
        if not parts:
            raise RecipeError("No LoRAs found in this recipe")
        return {"success": True, "syntax": " ".join(parts)}

    def for_lora(self, digest: str) -> dict[str, Any]:
        wanted = digest.strip().lower()
        if not wanted:
            raise RecipeError("Missing required parameter: hash")
        entries = [e for e in self.require_store().ordered("date") if wanted in e.lora_hashes]
        entries.reverse()
        return {"success": True, "recipes": [self.item(e) for e in entries]}

    def find_duplicates(self) -> dict[str, Any]:
        groups: dict[str, list[RecipeEntry]] = {}
        for entry in self.require_store().ordered("date"):
            if entry.fingerprint:
                groups.setdefault(entry.fingerprint, []).append(entry)
        out = []
        for print_, entries in sorted(groups.items()):
            if len(entries) > 1:
                out.append({"fingerprint": print_, "count": len(entries), "recipes": [
                    {"id": e.id, "title": e.title, "file_url": preview_url(e.image_path) if e.image_path else "",
                     "created_date": e.created, "modified": e.modified, "loras_count": e.loras_count}
                    for e in entries]})
        return {"success": True, "duplicate_groups": out}

    def missing_resources(self, recipe_id: str) -> list[dict[str, Any]]:
        entry = self._require(recipe_id)
        missing = []
        for lora in entry.data.get("loras") or []:
            if not isinstance(lora, dict) or lora.get("exclude"):
                continue
            match = match_recipe_lora(self.matcher("lora"), lora)
            if match.status == MISSING and match.version_id:
                missing.append({"type": "lora", "model_version_id": match.version_id,
                                "name": lora.get("modelName") or lora.get("file_name") or ""})
        checkpoint = entry.data.get("checkpoint")
        if isinstance(checkpoint, dict):
            item = self.checkpoint_item(checkpoint)
            vid = checkpoint.get("modelVersionId")
            if item["matchStatus"] != IN_LIBRARY and isinstance(vid, int) and vid > 0:
                missing.append({"type": "checkpoint", "model_version_id": vid, "name": checkpoint.get("modelName", "")})
        return missing

    async def download_missing(self, recipe_id: str) -> dict[str, Any]:
        """Queue every missing LoRA/checkpoint of a recipe in the download queue, in one call."""
        missing = self.missing_resources(recipe_id)
        if not missing:
            return {"success": True, "queued": [], "message": "Nothing is missing"}
        downloads = self.context.components.get("downloads")
        if downloads is None or not callable(getattr(downloads, "submit", None)):
            raise RecipeError("Downloading missing models is not available yet", 501, missing=missing)
        from ..downloads.manager import DownloadParams

        queued = []
        for item in missing:
            params = DownloadParams(download_id=uuid.uuid4().hex, model_version_id=item["model_version_id"],
                                    source="recipe")
            try:
                downloads.precheck(params)
                downloads.submit(params)
            except Exception as exc:  # noqa: BLE001 - one refused download must not stop the others
                item["error"] = str(getattr(exc, "message", None) or exc)
                continue
            queued.append({**item, "download_id": params.download_id})
        return {"success": True, "queued": queued, "missing": missing}

    # -- share / export / import -------------------------------------------------------------------
    async def share(self, recipe_id: str) -> tuple[bytes, str]:
        entry = self._require(recipe_id)
        try:
            data, ext = await asyncio.to_thread(share_image, entry)
        except FileNotFoundError:
            raise RecipeError("The recipe image is missing", 404) from None
        return data, export_filename(entry, ext)

    async def export_zip(self, recipe_ids: list[str]) -> bytes:
        if not recipe_ids:
            raise RecipeError("No recipes given: send ids")
        entries = [self._require(i) for i in dict.fromkeys(recipe_ids)]
        return await asyncio.to_thread(build_zip, entries)

    async def import_file(self, data: bytes, filename: str = "") -> dict[str, Any]:
        """Import an exported zip (restoring every recipe) or one image carrying a recipe or generation data."""
        if not data:
            raise RecipeError("The uploaded file is empty")
        imported: list[str] = []
        problems: list[str] = []
        if is_zip(data):
            try:
                archived, problems = await asyncio.to_thread(read_zip, data)
            except ExportError as exc:
                raise RecipeError(str(exc)) from None
            for item in archived:
                recipe = dict(item.recipe)
                recipe.pop("file_path", None)
                try:
                    entry = await self.save_recipe(recipe, item.media, item.extension)
                except RecipeError as exc:
                    problems.append(f"{recipe.get('id', '?')}: {exc.message}")
                    continue
                imported.append(entry.id)
        else:
            try:
                recipe = await asyncio.to_thread(_recipe_from_image, data)
            except ImageReadError as exc:
                raise RecipeError(f"Could not read the image: {exc.reason}") from None
            except NoGenerationMetadata:
                raise RecipeError(NO_METADATA, 422) from None
            if not recipe.get("title"):
                recipe["title"] = os.path.splitext(os.path.basename(filename))[0] or "Imported recipe"
            entry = await self.save_recipe(recipe, data, _ext_of(filename))
            imported.append(entry.id)
        if not imported and problems:
            raise RecipeError("Nothing could be imported: " + "; ".join(problems[:5]), 400, problems=problems)
        return {"success": True, "imported": imported, "problems": problems}

    # -- bulk import -------------------------------------------------------------------------------
    def start_bulk_import(self, raw_folder: str, *, recursive: bool = True) -> dict[str, Any]:
        try:
            confined = confine(raw_folder, self._allowed_roots())
        except PathNotAllowed as exc:
            raise RecipeError(str(exc), 403) from None
        if not confined.path.is_dir():
            raise RecipeError(f"Folder not found: {raw_folder}", 404)
        folder = confined.path
        job = self.context.jobs.start("recipes:bulk-import", lambda ctx: self._bulk_import(ctx, folder, recursive),
                                      title=f"Import recipes from {folder.name}")
        return {"success": True, "job_id": job.id}

    async def _bulk_import(self, job: "JobContext", folder: Path, recursive: bool) -> dict[str, Any]:
        recipes_root = Path(self.context.recipes_dir).resolve()
        files = await asyncio.to_thread(_list_images, folder, recursive, recipes_root)
        known = {e.source_path for e in self.require_store().all() if e.source_path}
        todo = [f for f in files if to_api_path(str(f)) not in known]
        counts = {"imported": 0, "skipped": len(files) - len(todo), "failed": 0}
        failures: list[str] = []
        done = 0
        slots = asyncio.Semaphore(IMPORT_CONCURRENCY)

        def progress(current: str = "") -> None:
            job.report(done, len(todo), **counts)
            self.context.hub.broadcast("fetch-progress", {
                "type": "batch_import_progress", "job_id": job.job_id, "status": "processing", "total": len(todo),
                "processed": done, **counts, "current_name": current})

        async def one(path: Path) -> None:
            nonlocal done
            async with slots:
                if job.cancelled:
                    return
                try:
                    data = await asyncio.to_thread(path.read_bytes)
                    recipe = await asyncio.to_thread(_recipe_from_image, data)
                    recipe.setdefault("title", "")
                    recipe["title"] = recipe["title"] or path.stem
                    recipe["source_path"] = to_api_path(str(path))
                    await self.save_recipe(recipe, data, path.suffix.lower())
                    counts["imported"] += 1
                except NoGenerationMetadata:
                    counts["skipped"] += 1
                except (ImageReadError, RecipeError, OSError) as exc:
                    counts["failed"] += 1
                    failures.append(f"{path.name}: {getattr(exc, 'message', None) or getattr(exc, 'reason', None) or exc}")
                done += 1
                progress(path.name)

        progress()
        await asyncio.gather(*(one(p) for p in todo))
        status = "cancelled" if job.cancelled else "completed"
        summary = {"status": status, "total": len(todo), "processed": done, **counts, "failures": failures[:50]}
        self.context.hub.broadcast("fetch-progress", {"type": "batch_import_progress", "job_id": job.job_id, **summary})
        return summary

    # -- small lists -------------------------------------------------------------------------------
    def top_tags(self, limit: int) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for entry in self.require_store().all():
            for tag in entry.data.get("tags") or []:
                if isinstance(tag, str):
                    counts[tag] = counts.get(tag, 0) + 1
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return [{"tag": t, "count": c} for t, c in (ranked[:limit] if limit else ranked)]

    def base_models(self, limit: int) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for entry in self.require_store().all():
            if entry.base_model:
                counts[entry.base_model] = counts.get(entry.base_model, 0) + 1
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return [{"name": n, "count": c} for n, c in (ranked[:limit] if limit else ranked)]

    def folders(self) -> list[str]:
        return sorted({e.folder for e in self.require_store().all()} | {""}, key=str.casefold)


def _confidence_fields(ref: ResourceRef, source_format: str) -> dict[str, Any]:
    """Why a LoRA is listed: how sure the reading is, the graph node it came from, and the reason in words."""
    reason = ref.reason or (f"listed in the image's {source_format} metadata" if source_format else "")
    return {"confidence": ref.confidence, "nodeId": ref.node_id, "reason": reason}


def _parse_image(data: bytes) -> ParsedGeneration:
    parsed = parse_metadata_text(extract_image_metadata(data).text)
    if not parsed.has_content():
        raise NoGenerationMetadata()
    return parsed


def _recipe_from_image(data: bytes) -> dict[str, Any]:
    return recipe_from_text(extract_image_metadata(data).text)


def _civitai_parse(meta: dict[str, Any] | None) -> ParsedGeneration | None:
    if not meta:
        return None
    try:
        parsed = parse_civitai_meta(meta)
    except NoGenerationMetadata:
        return None
    return parsed if parsed.has_content() else None


def _fill_loras(loras: list[dict[str, Any]], parsed: ParsedGeneration) -> None:
    """Give request LoRAs (version ids from the page) the hashes and file names the metadata knows."""
    by_version = {ref.model_version_id: ref for ref in parsed.loras if ref.model_version_id}
    for lora in loras:
        ref = by_version.get(lora.get("modelVersionId"))
        if ref is None:
            continue
        if not lora.get("hash"):
            lora["hash"] = best_hash(ref)
        if not lora.get("file_name") and ref.file_name:
            lora["file_name"] = ref.file_name


def _list_images(folder: Path, recursive: bool, skip: Path) -> list[Path]:
    found: list[Path] = []
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as listing:
                items = sorted(listing, key=lambda i: i.name)
        except OSError:
            continue
        for item in items:
            if item.name.startswith("."):
                continue
            if item.is_dir(follow_symlinks=False):
                if recursive and Path(item.path).resolve() != skip:
                    stack.append(Path(item.path))
            elif os.path.splitext(item.name)[1].lower() in IMAGE_EXTENSIONS:
                found.append(Path(item.path))
    return sorted(found)
