"""StandaloneServer: run the manager without ComfyUI, on its own aiohttp server.

Why: the same routes and UI as inside ComfyUI, for people who manage their library outside it. Binds
127.0.0.1 by default; ``--data-dir`` keeps everything of a run in one folder.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from aiohttp import web

from .app import AppContext, build_app, create_context
from .library.comfyui_dir import comfyui_install_roots
from .library.gc_tuning import freeze_startup_heap
from .library.kinds import EXTRA_KINDS, SERVED_KINDS
from .routes.system_routes import standalone_route_table
from .anchor_settings import anchor_settings_candidates, custom_nodes_dirs_near
from .settings import MODEL_TYPES, PACKAGE_ROOT, RuntimePaths, resolve_runtime_paths

logger = logging.getLogger(__name__)

# --vae DIR, --controlnet DIR, --text_encoders DIR (and --text-encoders DIR)...: one flag per kind of the table.
ROOT_FLAGS = {"loras": "lora", "checkpoints": "checkpoint", "embeddings": "embedding", **{k: k for k in EXTRA_KINDS}}
DEFAULT_FOLDERS = {"lora": "loras", "checkpoint": "checkpoints", "embedding": "embeddings"}


@dataclass
class Options:
    host: str = "127.0.0.1"
    port: int = 8188
    settings: str | None = None
    data_dir: str | None = None
    demo: bool = False
    roots: dict[str, list[str]] = field(default_factory=dict)
    log_level: str = "INFO"
    demo_dir: Path | None = None  # set when --demo generated a throwaway library; removed at stop
    import_from: list[Path] | None = None  # ComfyUI-Lora-Manager settings files to import (None: look for them)


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="standalone.py", description="LoRA Manager standalone server")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8188, help="port to listen on (default 8188; 0 = any free port)")
    parser.add_argument("--settings", help="settings file to use (default: platform config folder)")
    parser.add_argument("--data-dir", help="folder for settings, index databases and caches of this run")
    for flag, model_type in ROOT_FLAGS.items():
        names = dict.fromkeys((f"--{flag}", f"--{flag.replace('_', '-')}"))
        parser.add_argument(*names, dest=flag, action="append", default=[], metavar="DIR",
                            help=f"add a {model_type} root for this run (repeatable)")
    parser.add_argument("--comfyui", metavar="DIR", help="read model roots of the ComfyUI install in DIR "
                        "(DIR/models/<folder> and DIR/extra_model_paths.yaml)")
    parser.add_argument("--demo", action="store_true", help="generate a small demo library in a throwaway folder")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be from 0 to 65535")
    roots = {ROOT_FLAGS[flag]: [str(Path(p).expanduser().resolve()) for p in getattr(args, flag)] for flag in ROOT_FLAGS}
    for kind in EXTRA_KINDS:  # new flags, so no old command line relies on naming a folder made later
        for given, root in zip(getattr(args, kind), roots[kind]):
            if not Path(root).is_dir():
                parser.error(f"--{kind} {given}: not a directory")
    if args.comfyui and not Path(args.comfyui).expanduser().is_dir():
        parser.error(f"--comfyui {args.comfyui}: not a directory")
    if args.comfyui:
        found = comfyui_install_roots(Path(args.comfyui).expanduser().resolve())
        for model_type in SERVED_KINDS:
            roots[model_type] = list(dict.fromkeys(roots.get(model_type, []) + found.get(model_type, [])))
    return Options(host=args.host, port=args.port, settings=args.settings, data_dir=args.data_dir, demo=args.demo,
                   roots={k: v for k, v in roots.items() if v}, log_level=args.log_level)


def prepare_context(options: Options) -> AppContext:
    """Settings (imported from ComfyUI-Lora-Manager on a first run that finds its file), default library
    folders and the demo library; synchronous (file work before serving).

    The data folder's own default library is created only when the user gave no root at all: with
    ``--loras DIR`` downloads go to DIR, never to an empty library nobody asked for."""
    extra_roots = {k: list(v) for k, v in options.roots.items()}
    data_dir = options.data_dir
    if options.demo:
        from .demo import generate_demo_library

        demo_dir = Path(tempfile.mkdtemp(prefix="lora-manager-demo-"))
        options.demo_dir = demo_dir
        if data_dir is None:
            data_dir = str(demo_dir / "data")
        for model_type, folder in generate_demo_library(demo_dir / "models").items():
            extra_roots.setdefault(model_type, []).append(str(folder))
        logger.info("Demo library generated in %s", demo_dir)
    paths: RuntimePaths = resolve_runtime_paths(options.settings, data_dir)
    candidates = options.import_from
    if candidates is None:
        candidates = anchor_settings_candidates(custom_nodes_dirs=custom_nodes_dirs_near(PACKAGE_ROOT))
    context = create_context(paths, extra_roots=extra_roots, import_candidates=candidates)
    store = context.settings_store
    user_gave_roots = any(extra_roots.values()) or any(store.settings.library.roots.values())
    if store.created and not user_gave_roots:
        roots = {}
        for model_type in MODEL_TYPES:
            folder = paths.default_library_dir / DEFAULT_FOLDERS[model_type]
            folder.mkdir(parents=True, exist_ok=True)
            roots[model_type] = [str(folder)]
        store.update({"libraries": {store.settings.active_library: {"roots": roots}}})
        logger.info("Created settings at %s and a default library at %s", paths.settings_path,
                    paths.default_library_dir)
    return context


class StandaloneServer:
    """Owns the aiohttp runner of one standalone run."""

    def __init__(self, options: Options):
        self.options = options
        self.context: AppContext | None = None
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        self.context = await asyncio.to_thread(prepare_context, self.options)
        app = build_app(self.context, early=True)
        app.router.add_routes(standalone_route_table(self.context))
        freeze_startup_heap()  # this process is the server: what is loaded now stays loaded
        self.runner = web.AppRunner(app, handler_cancellation=False, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.options.host, self.options.port)
        await site.start()
        port = self.options.port
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            port = server.sockets[0].getsockname()[1]
        host = self.options.host if ":" not in self.options.host else f"[{self.options.host}]"
        self.url = f"http://{host}:{port}/"
        ctx = self.context
        logger.info("LoRA Manager is running at %s (settings: %s, data: %s)", self.url, ctx.paths.settings_path,
                    ctx.paths.data_dir)
        for model_type in SERVED_KINDS:
            found = ctx.roots_for(model_type)
            if found or model_type in MODEL_TYPES:  # the other kinds only when they have roots
                logger.info("  %s roots: %s", model_type, ", ".join(str(r) for r in found) or "none")
        return self.url

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        if self.options.demo_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self.options.demo_dir, True)
            self.options.demo_dir = None

    async def run_until_stopped(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
                pass
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    logging.basicConfig(level=getattr(logging, options.log_level),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(StandaloneServer(options).run_until_stopped())
    except OSError as exc:
        logger.error("Could not start the server: %s", exc)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(os.sys.argv[1:]))
