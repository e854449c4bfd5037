"""The one composition root: build the AppContext, attach routes, start and stop cleanly.

Both ways of running (inside ComfyUI, standalone) call ``create_context`` and ``attach_to_app``; nothing
else builds services, so tests get a fresh, complete context per test.
"""
from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from aiohttp import web

from .library.index import LibraryDatabase
from .routes.middleware import ALLOWED_HOSTS, OWN_RESOURCES, OWNS_WHOLE_APP, STARTUP_GATE, api_middleware
from .services.events import EventHub
from .services.jobs import JobManager
from .library.kinds import SERVED_KINDS
from .services.model_service_factory import ModelServiceFactory
from .services.server_i18n import ServerI18nManager
from .settings import RuntimePaths, Settings, SettingsStore, resolve_recipes_dir
from .version import VersionInfo, read_version_info

logger = logging.getLogger(__name__)

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
LOCALES_DIR = PACKAGE_ROOT / "locales"
CONTEXT_KEY: web.AppKey["AppContext"] = web.AppKey("lora_manager_context")


@dataclass
class AppContext:
    """Every service of one running server. Built by ``create_context``; owned by the aiohttp app."""

    paths: RuntimePaths
    settings_store: SettingsStore
    hub: EventHub
    jobs: JobManager
    i18n: ServerI18nManager
    factory: ModelServiceFactory
    version: VersionInfo
    database: LibraryDatabase
    extra_roots: dict[str, list[str]] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)
    components: dict[str, Any] = field(default_factory=dict)  # area services (downloads, lifecycle, recipes...)
    route_errors: dict[str, str] = field(default_factory=dict)
    fully_started: asyncio.Event = field(default_factory=asyncio.Event)
    _recipes_dir: Path | None = None
    _started: bool = False
    _finishing: "asyncio.Task[None] | None" = None

    @property
    def settings(self) -> Settings:
        return self.settings_store.settings

    def roots_for(self, model_type: str) -> list[Path]:
        """The roots of a type: active library first, then this run's extra roots, deduplicated; the default
        root (see ``default_root``) comes first, so whatever picks "the first root" picks the default."""
        seen: set[str] = set()
        roots: list[Path] = []
        for raw in [*self.settings.library.roots.get(model_type, []), *self.extra_roots.get(model_type, [])]:
            path = Path(raw).expanduser()
            key = str(path.resolve()) if path.exists() else str(path)
            if key not in seen:
                seen.add(key)
                roots.append(path)
        default = self._default_among(roots, model_type, diffusion=False)
        if default is not None and roots[0] != default:
            roots.remove(default)
            roots.insert(0, default)
        return roots

    def all_roots(self) -> list[Path]:
        """The roots of every served kind: where a model path named by a client may lie."""
        return [root for model_type in self.services for root in self.roots_for(model_type)]

    def default_root(self, model_type: str, *, diffusion: bool = False) -> Path | None:
        """Where downloads of a type go when the client names no root: the library's ``default_<type>_root``
        (``default_unet_root`` for diffusion models) when it is one of the roots, else the first root the user
        gave, never the data folder's own default library while the user gave another root."""
        return self._default_among(self.roots_for(model_type), model_type, diffusion=diffusion)

    def _default_among(self, roots: list[Path], model_type: str, *, diffusion: bool) -> Path | None:
        if not roots:
            return None
        configured = self.settings.library.default_root(model_type, diffusion=diffusion)
        if configured:
            wanted = os.path.normcase(os.path.normpath(os.path.expanduser(configured)))
            for root in roots:
                if os.path.normcase(os.path.normpath(str(root))) == wanted:
                    return root
        own = self.paths.default_library_dir.resolve()
        given = [root for root in roots if not _inside(root, own)]
        return (given or roots)[0]

    @property
    def recipes_dir(self) -> Path:
        """The recipes folder of this run, decided once (see ``resolve_recipes_dir``): the recipe store, the
        nodes and the preview route must agree on it while the server runs."""
        if self._recipes_dir is None:
            extra = [Path(p).expanduser() for p in self.extra_roots.get("lora", [])]
            folder, why = resolve_recipes_dir(self.settings, extra, self.paths.default_recipes_dir)
            self._recipes_dir = folder
            logger.info("Recipes folder: %s (%s)", folder, why)
        return self._recipes_dir

    def service(self, model_type: str) -> Any:
        return self.services[model_type]

    async def start(self, *, early: bool = False) -> None:
        """Bind the event hub and start every model service (warm start from the index, then validate), then
        the area components.

        With ``early`` this returns as soon as the index database is open: the model projections load and the
        components start in the background, listings are served from the database meanwhile, and other API
        requests wait for ``fully_started`` (see the API middleware).
        """
        if self._started:
            return
        self._started = True
        self.hub.bind_loop(asyncio.get_running_loop())
        await self.database.open()
        if self.database.healed_from is not None:
            self.hub.broadcast("fetch-progress", {
                "type": "cache_health_warning",
                "message": f"The library index was damaged; it was set aside as {self.database.healed_from.name} "
                           "and is being rebuilt from the files on disk",
            })
        for service in self.services.values():
            await service.start(early=early)
        if early:
            self._finishing = asyncio.create_task(self._start_components(), name="lm-start-components")
        else:
            await self._start_components()

    async def _start_components(self) -> None:
        for service in self.services.values():
            await service.ready.wait()
        for component in self.components.values():
            await component.start()
        self.fully_started.set()

    async def close(self, *, job_grace: float | None = None) -> None:
        """Close the components, stop the jobs (a running one gets ``job_grace`` seconds, by default the job
        manager's grace, to end on its own before it is cancelled), then the services, the index database and
        the event hub."""
        if not self._started:
            return
        self._started = False
        if self._finishing is not None and not self._finishing.done():
            self._finishing.cancel()
            await asyncio.gather(self._finishing, return_exceptions=True)
        self.fully_started.clear()
        for component in reversed(list(self.components.values())):
            await component.close()
        await self.jobs.shutdown(grace=job_grace)
        for service in self.services.values():
            await service.close()
        await self.database.close()
        await self.hub.close()


def register_default_model_types(factory: ModelServiceFactory) -> None:
    from .routes.model_routes import ModelRoutes
    from .services.model_service import ModelService

    for model_type in SERVED_KINDS:  # every kind through the same service and routes (py/library/kinds.py)
        factory.register_model_type(model_type, ModelService, ModelRoutes)


def create_context(
    paths: RuntimePaths,
    *,
    extra_roots: dict[str, list[str]] | None = None,
    factory: ModelServiceFactory | None = None,
    import_candidates: Sequence[Path] = (),
) -> AppContext:
    """Load settings (healing a corrupt file; with none, importing the first readable of ``import_candidates``,
    ComfyUI-Lora-Manager's settings files), build services. Synchronous: call it from a thread or at start."""
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    store = SettingsStore(paths.settings_path, import_candidates=import_candidates)
    store.load()
    for warning in store.warnings:
        logger.warning("%s", warning)
    hub = EventHub()
    i18n = ServerI18nManager(LOCALES_DIR)
    i18n.set_locale(store.settings.language)
    if factory is None:
        factory = ModelServiceFactory()
        register_default_model_types(factory)
    context = AppContext(
        paths=paths,
        settings_store=store,
        hub=hub,
        jobs=JobManager(hub, max_concurrency=2),
        i18n=i18n,
        factory=factory,
        version=read_version_info(PACKAGE_ROOT),
        database=LibraryDatabase(paths.db_dir / f"{_slug(store.settings.active_library)}.sqlite"),
        extra_roots={k: list(v) for k, v in (extra_roots or {}).items()},
    )
    for model_type in factory.registered_types():
        context.services[model_type] = factory.get_service_class(model_type)(model_type, context)
    register_components(context)
    return context


def register_components(context: AppContext) -> None:
    """Area services, each built from the context and given ``async start()``/``async close()``.

    One line per area; they start after the model services (in this order) and close before them.
    """
    from .nodes.usage import UsageService
    from .services.downloads.manager import DownloadManager
    from .services.example_images.service import ExampleImagesService
    from .services.lifecycle import ModelLifecycleService
    from .services.metadata.service import MetadataService
    from .services.recipes.service import RecipeService

    context.components["metadata"] = MetadataService(context)
    context.components["lifecycle"] = ModelLifecycleService(context)
    context.components["downloads"] = DownloadManager(context)
    context.components["usage"] = UsageService(context)
    context.components["recipes"] = RecipeService(context)
    context.components["example_images"] = ExampleImagesService(context)


def route_modules() -> list[Any]:
    """Every area's route module; each exposes ``route_table(context)``. Model types go through the factory."""
    from .routes import (compat_routes, discover_routes, download_routes, example_images_routes, hf_routes,
                         kinds_routes, lifecycle_routes, metadata_routes, recipe_routes, system_routes)

    return [system_routes, metadata_routes, lifecycle_routes, download_routes, recipe_routes, example_images_routes,
            compat_routes, discover_routes, kinds_routes, hf_routes]


def _inside(path: Path, folder: Path) -> bool:
    try:
        resolved = path.resolve()
    except OSError:
        return False
    return resolved == folder or folder in resolved.parents


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "library"


def attach_to_app(app: web.Application, context: AppContext, *, early: bool = False) -> None:
    """Add the middleware, every route table and the start/stop hooks to an app (ours or ComfyUI's).

    ``early`` starts serving before the library projections are loaded (see ``AppContext.start``).
    """
    app[CONTEXT_KEY] = context
    app[STARTUP_GATE] = context.fully_started
    app[ALLOWED_HOSTS] = lambda: context.settings.allowed_hosts
    if not app.frozen:
        app.middlewares.append(api_middleware)
    before = set(app.router.resources())
    for module in route_modules():
        app.router.add_routes(module.route_table(context))
    registered = context.factory.setup_all_routes(
        app, context, on_error=lambda name, exc: context.route_errors.__setitem__(name, str(exc))
    )
    logger.debug("Model routes registered for: %s", ", ".join(registered))
    app[OWN_RESOURCES] = frozenset(set(app.router.resources()) - before)

    async def _on_startup(_app: web.Application) -> None:
        await context.start(early=early)

    async def _on_shutdown(_app: web.Application) -> None:
        await context.close()

    app.on_startup.append(_on_startup)
    app.on_shutdown.append(_on_shutdown)


def build_app(context: AppContext, *, client_max_size: int = 16 * 1024 * 1024,
              early: bool = False) -> web.Application:
    """A standalone aiohttp app serving the whole API and UI."""
    app = web.Application(client_max_size=client_max_size, handler_args={"max_line_size": 65536, "max_field_size": 65536})
    app[OWNS_WHOLE_APP] = True
    attach_to_app(app, context, early=early)
    return app
