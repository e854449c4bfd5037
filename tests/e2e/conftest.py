"""Real-browser fixtures: the standalone server as a subprocess on a generated library, headless Chromium.

The Playwright sync API is used from plain ``def`` tests and fixtures (no event loop runs there).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from support.e2e_live import LiveServer, ThreadedFakeCivitai, ThreadedFakeHf, read_url_and_drain
from support.library import lm_sidecar, write_image, write_lora

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
UNREACHABLE_CIVITAI = "http://127.0.0.1:9"  # discard port: metadata calls fail fast and clearly
NO_ANCHOR = {"LORA_MANAGER_ANCHOR_CONFIG_DIR": ""}  # a first run never imports settings from the real home


def start_server(tmp: Path, library: Path, *, expected: int) -> LiveServer:
    data_dir = tmp / "data"
    env = {**os.environ, **NO_ANCHOR, "LORA_MANAGER_CIVITAI_BASE_URL": UNREACHABLE_CIVITAI, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "standalone.py"), "--port", "0", "--data-dir", str(data_dir),
                             "--loras", str(library)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            cwd=tmp, env=env)
    return _attach(proc, library, data_dir, expected=expected)


def _attach(proc: subprocess.Popen[str], library: Path, data_dir: Path, *, expected: int) -> LiveServer:
    """Read the URL from the server's log line, keep draining its log, wait for the library to be listed."""
    url, log = read_url_and_drain(proc)
    server = LiveServer(url=url, proc=proc, library=library, data_dir=data_dir, log=log)
    server.wait_for_total(expected)
    return server


# -- libraries -------------------------------------------------------------------------------------
SMALL_MODELS: list[dict[str, Any]] = [
    {"rel": "styles/anime/anime_lineart.safetensors", "name": "Anime Lineart", "base": "SD 1.5", "tags": ["style", "anime"],
     "favorite": True, "preview": ".png"},
    {"rel": "styles/anime/anime_shading.safetensors", "name": "Anime Shading", "base": "SD 1.5", "tags": ["style", "anime"]},
    {"rel": "styles/watercolor.safetensors", "name": "Watercolor Dream", "base": "SDXL 1.0", "family": "sdxl",
     "tags": ["style", "painting"], "preview": ".webp"},
    {"rel": "styles/oil_paint.safetensors", "name": "Oil Paint", "base": "SDXL 1.0", "family": "sdxl", "tags": ["painting"]},
    {"rel": "characters/knight.safetensors", "name": "Brave Knight", "base": "SD 1.5", "tags": ["character"],
     "preview": ".jpg"},
    {"rel": "characters/wizard.safetensors", "name": "Old Wizard", "base": "SDXL 1.0", "family": "sdxl", "tags": ["character"]},
    {"rel": "characters/robot.safetensors", "name": "Steel Robot", "base": "Flux.1 D", "family": "flux", "tags": ["character", "scifi"],
     "favorite": True},
    {"rel": "concepts/neon_city.safetensors", "name": "Neon City", "base": "Flux.1 D", "family": "flux", "tags": ["scifi"],
     "preview": ".png"},
    {"rel": "concepts/forest.safetensors", "name": "Deep Forest", "base": "SD 1.5", "tags": ["landscape"]},
    {"rel": "zebra_stripes.safetensors", "name": "Zebra Stripes", "base": "SD 1.5", "tags": []},
]
BIG_COUNT = 2000
COLORS = [(210, 80, 80), (80, 160, 210), (90, 190, 120), (200, 170, 60), (150, 90, 200)]


def build_small_library(root: Path) -> list[dict[str, Any]]:
    """Ten LoRAs in folders, with sidecars in ComfyUI-Lora-Manager's format and a few previews."""
    for number, spec in enumerate(SMALL_MODELS):
        stem = Path(spec["rel"]).stem
        sidecar = lm_sidecar(stem, model_name=spec["name"], base_model=spec["base"], tags=spec["tags"],
                             favorite=spec.get("favorite", False),
                             civitai={"id": 2000 + number, "modelId": 500 + number, "name": "v1.0",
                                      "trainedWords": [f"{stem}_trigger"], "baseModel": spec["base"]})
        path = write_lora(root, spec["rel"], family=spec.get("family", "sd15"), sidecar=sidecar)
        if spec.get("preview"):
            write_image(path.with_name(stem + spec["preview"]), size=(64, 80), color=COLORS[number % len(COLORS)])
    return SMALL_MODELS


def build_big_library(root: Path, count: int) -> None:
    """``count`` bare LoRAs named model_0000...; a few in sub-folders."""
    for number in range(count):
        folder = f"batch_{number % 4}/" if number % 3 == 0 else ""
        write_lora(root, f"{folder}model_{number:04d}.safetensors")


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def civitai() -> Iterator[Any]:
    """A FakeCivitai on its own thread for one test module (each test registers the models it needs)."""
    with ThreadedFakeCivitai() as threaded:
        yield threaded.fake


@pytest.fixture
def hf() -> Iterator[Any]:
    """A FakeHf (Hugging Face and its CDN) on its own thread."""
    with ThreadedFakeHf() as threaded:
        yield threaded.fake


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("small")
    library = tmp / "loras"
    build_small_library(library)
    server = start_server(tmp, library, expected=len(SMALL_MODELS))
    yield server
    server.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A small library on its own server, for tests that restart it or change the library."""
    library = tmp_path / "loras"
    build_small_library(library)
    server = start_server(tmp_path, library, expected=len(SMALL_MODELS))
    yield server
    server.stop()


def restart_server(server: LiveServer) -> LiveServer:
    """Stop ``server`` and start a new process on the same port, data folder and library."""
    port = server.url.rstrip("/").rsplit(":", 1)[1]
    server.stop()
    data_dir = server.data_dir
    env = {**os.environ, **NO_ANCHOR, "LORA_MANAGER_CIVITAI_BASE_URL": UNREACHABLE_CIVITAI, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "standalone.py"), "--port", port, "--data-dir", str(data_dir),
                             "--loras", str(server.library)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True, cwd=data_dir.parent, env=env)
    return _attach(proc, server.library, data_dir, expected=len(SMALL_MODELS))


@pytest.fixture
def restart() -> Any:
    """``restart(server)``: the same server again after a stop (for reconnect tests)."""
    return restart_server


@pytest.fixture(scope="module")
def big_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """2,000 LoRAs, for virtual scrolling."""
    tmp = tmp_path_factory.mktemp("big")
    library = tmp / "loras"
    build_big_library(library, BIG_COUNT)
    server = start_server(tmp, library, expected=BIG_COUNT)
    yield server
    server.stop(grace=2.0)  # its clean shutdown is covered elsewhere; background hashing may still be winding down


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _open_page(browser: Any, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               color_scheme: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme=color_scheme)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # type: ignore[attr-defined]
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shots = tmp_path_factory.getbasetemp() / "e2e-screenshots"
        shots.mkdir(exist_ok=True)
        target = shots / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', request.node.name)}.png"
        try:
            page.screenshot(path=str(target), full_page=True)
            print(f"screenshot saved: {target}")
        except Exception as exc:  # noqa: BLE001 - a failed screenshot must not hide the test failure
            print(f"screenshot failed: {exc}")
    context.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A fresh browser context (empty localStorage) in the light system theme."""
    yield from _open_page(browser, request, tmp_path_factory, "light")


@pytest.fixture
def dark_page(browser: Any, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from _open_page(browser, request, tmp_path_factory, "dark")
