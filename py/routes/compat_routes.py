"""ComfyUI-Lora-Manager's calls that belong to no model type: libraries, Civitai vocabularies, trained words,
example workflows, the recipe folder tree and its old page path.

Its UI and widgets call these; each answers in that project's shape (API differences: docs/API-DIFFERENCES.md).
Handlers parse, call a service, shape JSON.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from ..library.paths import PathNotAllowed, confine
from ..library.safetensors import is_safetensors_name
from ..services.civitai_vocabulary import base_model_categories, base_models_payload, priority_tag_suggestions
from ..services.example_workflows import WorkflowError, list_workflows, load_workflow
from ..services.library_switch import LibrarySwitcher, SwitchError, library_payloads
from ..services.model_lookup import folder_tree
from ..services.trained_words import trained_words as read_trained_words
from ..settings import MODEL_TYPES
from .http import ApiError, json_ok, read_json_object
from .recipe_routes import RecipeRoutes

if TYPE_CHECKING:
    from ..app import AppContext

logger = logging.getLogger(__name__)

MAX_LIBRARY_NAME = 200


class CompatRoutes:
    def __init__(self, context: "AppContext") -> None:
        self.context = context
        self.switcher = LibrarySwitcher(context)

    # -- libraries -------------------------------------------------------------------------------
    def _libraries(self) -> dict[str, object]:
        return {"libraries": library_payloads(self.context), "active_library": self.context.settings.active_library}

    async def libraries(self, request: web.Request) -> web.Response:
        return json_ok({"success": True, **self._libraries()})

    async def activate_library(self, request: web.Request) -> web.Response:
        """``{"library": name}`` (or ``library_name``): serve that library now (its own index database)."""
        body = await read_json_object(request)
        name = body.get("library") or body.get("library_name")
        if name is not None and not isinstance(name, str):
            raise ApiError("Invalid value for library: expected a library name")
        if not name or not name.strip():
            raise ApiError("Library name is required")
        if len(name) > MAX_LIBRARY_NAME:
            raise ApiError(f"Invalid value for library: longer than {MAX_LIBRARY_NAME} characters")
        try:
            result = await self.switcher.activate(name.strip())
        except SwitchError as exc:
            raise ApiError(exc.message, exc.status) from None
        return json_ok({"success": True, **self._libraries(), "switched": result.switched,
                        "previous_library": result.previous_library})

    # -- vocabularies ----------------------------------------------------------------------------
    async def base_models(self, request: web.Request) -> web.Response:
        return json_ok({"success": True, "data": base_models_payload()})

    async def base_model_categories(self, request: web.Request) -> web.Response:
        return json_ok({"success": True, "data": base_model_categories()})

    async def priority_tags(self, request: web.Request) -> web.Response:
        settings = self.context.settings
        configured = getattr(settings, "priority_tags", None) or getattr(settings, "extra", {}).get("priority_tags")
        return json_ok({"success": True, "tags": priority_tag_suggestions(configured)})

    # -- trained words ---------------------------------------------------------------------------
    async def trained_words(self, request: web.Request) -> web.Response:
        """``file_path`` of a safetensors model inside the library -> its kohya tag frequencies."""
        raw = request.query.get("file_path", "")
        if not raw.strip():
            raise ApiError("Missing file_path parameter")
        roots = [root for model_type in MODEL_TYPES for root in self.context.roots_for(model_type)]
        try:
            confined = confine(raw, roots, through_links=True)
        except PathNotAllowed as exc:
            raise ApiError(str(exc), 403) from None
        if not is_safetensors_name(confined.path):
            raise ApiError("File must be a safetensors file")
        if not await asyncio.to_thread(confined.path.is_file):
            raise ApiError("File not found", 404)
        try:
            words, class_tokens = await asyncio.to_thread(read_trained_words, confined.path)
        except OSError as exc:
            raise ApiError(f"Could not read the file: {exc.strerror or exc}", 403 if exc.errno == 13 else 404) from None
        return json_ok({"success": True, "trained_words": [[w, n] for w, n in words], "class_tokens": class_tokens})

    # -- example workflows -----------------------------------------------------------------------
    async def example_workflows(self, request: web.Request) -> web.Response:
        return json_ok({"success": True, "workflows": await asyncio.to_thread(list_workflows)})

    async def example_workflow(self, request: web.Request) -> web.Response:
        try:
            workflow = await asyncio.to_thread(load_workflow, request.match_info["filename"])
        except WorkflowError as exc:
            raise ApiError(exc.message, exc.status) from None
        return json_ok({"success": True, "workflow": workflow})

    # -- recipes ---------------------------------------------------------------------------------
    async def recipe_folder_tree(self, request: web.Request) -> web.Response:
        service = RecipeRoutes(self.context).service
        return json_ok({"success": True, "tree": folder_tree(service.folders())})

    async def old_recipes_page(self, request: web.Request) -> web.StreamResponse:
        """ComfyUI-Lora-Manager's recipes page lived at ``/loras/recipes``; its links and bookmarks land here."""
        query = request.rel_url.raw_query_string
        raise web.HTTPFound("/recipes" + (f"?{query}" if query else ""))


def route_table(context: "AppContext") -> list[web.AbstractRouteDef]:
    routes = CompatRoutes(context)
    return [
        web.get("/api/lm/settings/libraries", routes.libraries),
        web.post("/api/lm/settings/libraries/activate", routes.activate_library),
        web.get("/api/lm/base-models", routes.base_models),
        web.get("/api/lm/base-models/categories", routes.base_model_categories),
        web.get("/api/lm/priority-tags", routes.priority_tags),
        web.get("/api/lm/trained-words", routes.trained_words),
        web.get("/api/lm/example-workflows", routes.example_workflows),
        web.get("/api/lm/example-workflows/{filename}", routes.example_workflow),
        web.get("/api/lm/recipes/unified-folder-tree", routes.recipe_folder_tree),
        web.get("/loras/recipes", routes.old_recipes_page),
    ]
