"""The LoRA Manager sidebar inside the real ComfyUI frontend, talking to the real /api/lm routes."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from lora_manager.py.library.safetensors import write_safetensors_header
from support.comfy_frontend_backend import ComfyFrontendBackend, frontend_static_dir, start_comfy_frontend_backend
from support.library import lm_sidecar, write_image, write_lora

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TAB_BUTTON = "[data-testid='lora-manager-tab-button']"
ROW = ".lm-sidebar .lm-row:not(.lm-placeholder)"
APP = "window.comfyAPI.app.app"
BIG_LIBRARY = 640  # several list pages at 100 per page

LORAS: list[dict[str, Any]] = [
    {"rel": "styles/anime/anime_lineart.safetensors", "name": "Anime Lineart", "base": "SD 1.5", "tags": ["style", "anime"],
     "favorite": True, "preview": ".png", "strength": 0.7},
    {"rel": "styles/watercolor.safetensors", "name": "Watercolor Dream", "base": "SDXL 1.0", "family": "sdxl",
     "tags": ["style", "painting"], "preview": ".webp"},
    {"rel": "characters/knight.safetensors", "name": "Brave Knight", "base": "SD 1.5", "tags": ["character"],
     "preview": ".jpg", "strength": 0.8},
    {"rel": "characters/wizard.safetensors", "name": "Old Wizard", "base": "SDXL 1.0", "family": "sdxl",
     "tags": ["character"]},
    {"rel": "characters/robot.safetensors", "name": "Steel Robot", "base": "Flux.1 D", "family": "flux",
     "tags": ["character", "scifi"], "favorite": True},
    {"rel": "concepts/neon_city.safetensors", "name": "Neon City", "base": "Flux.1 D", "family": "flux", "tags": ["scifi"],
     "preview": ".png", "nsfw": 8},
    {"rel": "zebra_stripes.safetensors", "name": "Zebra Stripes", "base": "SD 1.5", "tags": []},
]


def _shared_dir() -> Path:
    return Path(__file__).resolve().parents[2].parent / "shared"


def build_library(models: Path) -> None:
    """LoRAs with sidecars (trigger words, usage tips, favorites), previews, one checkpoint and one embedding."""
    loras = models / "loras"
    for number, spec in enumerate(LORAS):
        stem = Path(spec["rel"]).stem
        tips = json.dumps({"strength": spec["strength"]}) if "strength" in spec else "{}"
        sidecar = lm_sidecar(stem, model_name=spec["name"], base_model=spec["base"], tags=spec["tags"],
                             favorite=spec.get("favorite", False), usage_tips=tips,
                             preview_nsfw_level=spec.get("nsfw", 0),
                             civitai={"id": 3000 + number, "modelId": 600 + number, "name": "v1.0",
                                      "trainedWords": [f"{stem}_trigger", "masterpiece"], "baseModel": spec["base"]})
        path = write_lora(loras, spec["rel"], family=spec.get("family", "sd15"), sidecar=sidecar)
        if spec.get("preview"):
            write_image(path.with_name(stem + spec["preview"]), size=(96, 128), color=(60 + 25 * number, 120, 200))
    checkpoint = models / "checkpoints" / "dreamshaper_8.safetensors"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors_header(checkpoint, {"model.diffusion_model.input_blocks.0.0.weight": ("F16", [320, 4, 3, 3])})
    for number in range(BIG_LIBRARY):
        write_lora(loras, f"bulk/bulk_{number:04d}.safetensors")
    embedding = models / "embeddings" / "easynegative.safetensors"
    embedding.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors_header(embedding, {"emb_params": ("F32", [8, 768])})


@pytest.fixture(scope="module")
def comfy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyFrontendBackend]:
    if frontend_static_dir() is None:
        pytest.skip("comfyui-frontend-package is not installed (pip install comfyui-frontend-package==1.58.1)")
    tmp = tmp_path_factory.mktemp("comfy")
    models = tmp / "models"
    build_library(models)
    backend = start_comfy_frontend_backend(tmp, {name: models / name for name in ("loras", "checkpoints", "embeddings")})
    try:
        backend.wait_ready()
        yield backend
    finally:
        backend.stop()


@pytest.fixture(scope="module")
def shared_page(browser: Any, comfy: ComfyFrontendBackend) -> Iterator[Any]:
    """One ComfyUI page for the tests that do not need a fresh load (booting the frontend takes seconds)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # type: ignore[attr-defined]
    open_comfyui(page, comfy)
    yield page
    context.close()


@pytest.fixture
def ui(shared_page: Any, comfy: ComfyFrontendBackend, request: pytest.FixtureRequest,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The shared page with an empty graph and the sidebar back at all LoRAs; a screenshot when the test fails."""
    page = shared_page
    reset_sidebar(page)
    page.js_errors.clear()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shots = tmp_path_factory.getbasetemp() / "e2e-screenshots"
        shots.mkdir(exist_ok=True)
        target = shots / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', request.node.name)}.png"
        page.screenshot(path=str(target))
        print(f"screenshot saved: {target}; unanswered requests: {comfy.missed}")


def reset_sidebar(page: Any) -> None:
    page.evaluate(f"() => {{ {APP}.graph.clear(); {APP}.canvas.deselectAll(); }}")
    if page.get_attribute(".lm-sidebar .lm-type[data-type='loras']", "aria-pressed") != "true":
        page.click(".lm-sidebar .lm-type[data-type='loras']")
    if page.get_attribute(".lm-sidebar .lm-filter-fav", "aria-pressed") == "true":
        page.click(".lm-sidebar .lm-filter-fav")
    for select in ("base", "folder", "tag"):
        page.select_option(f".lm-sidebar .lm-filter-{select}", "")
    page.fill(".lm-sidebar .lm-search", "")
    wait_total(page, len(LORAS) + BIG_LIBRARY)
    page.eval_on_selector(".lm-sidebar .lm-list", "el => { el.scrollTop = 0; }")


def open_comfyui(page: Any, backend: ComfyFrontendBackend) -> None:
    """Load ComfyUI with an empty graph and open the LoRA Manager tab."""
    page.route("http*://*/**", lambda route: route.abort() if not route.request.url.startswith(backend.url)
               else route.continue_())
    page.goto(backend.url)
    page.wait_for_function("() => window.comfyAPI?.app?.app?.graph && window.LiteGraph", timeout=30_000)
    page.wait_for_selector(TAB_BUTTON, timeout=30_000)
    page.evaluate("() => window.comfyAPI.app.app.graph.clear()")
    page.click(TAB_BUTTON)
    page.wait_for_selector(ROW)


def wait_total(page: Any, total: int) -> None:
    page.wait_for_function(f"() => document.querySelector('.lm-sidebar')?.dataset.total === '{total}'")


def row_names(page: Any) -> list[str]:
    return page.eval_on_selector_all(f"{ROW} .lm-name", "els => els.map(e => e.textContent)")





def add_node(page: Any, node_type: str, select: bool = True) -> int:
    return page.evaluate(f"""(type) => {{
        const app = {APP};
        const node = window.LiteGraph.createNode(type);
        node.pos = [420 + app.graph.nodes.length * 30, 160];
        app.graph.add(node);
        app.canvas.deselectAll();
        if ({'true' if select else 'false'}) app.canvas.selectNode(node);
        return node.id;
    }}""", node_type)


def widget_value(page: Any, node_id: int, name: str) -> Any:
    return page.evaluate(f"([id, name]) => {APP}.graph.getNodeById(id).widgets.find(w => w.name === name).value",
                         [node_id, name])


def click_row(page: Any, name: str) -> str:
    """Click the row of a model and return the sidebar's message once it changed."""
    page.evaluate("() => { document.querySelector('.lm-sidebar .lm-message').textContent = ''; }")
    page.locator(ROW, has_text=name).first.click()
    page.wait_for_function("() => document.querySelector('.lm-sidebar .lm-message').textContent !== ''")
    return page.text_content(".lm-sidebar .lm-message") or ""


def search(page: Any, text: str, total: int) -> None:
    page.fill(".lm-sidebar .lm-search", text)
    wait_total(page, total)


def save_look(page: Any, name: str) -> None:
    """Screenshots for a human look when LM_E2E_SHOTS names a folder."""
    folder = os.environ.get("LM_E2E_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"comfyui-sidebar-{name}.png"))


def test_sidebar_lists_the_library_virtualised_and_search_narrows_it(comfy, ui):
    page = ui
    total = len(LORAS) + BIG_LIBRARY
    wait_total(page, total)
    assert page.text_content(".lm-sidebar .lm-status") == f"{total} models"
    rows = page.locator(ROW).count()
    assert 5 < rows < 60, f"{rows} rows in the DOM for {total} models: the list is not virtualised"
    assert "Anime Lineart" in row_names(page)
    save_look(page, "list")

    # scrolling to the end fetches the last page and keeps the DOM small
    page.eval_on_selector(".lm-sidebar .lm-list", "el => { el.scrollTop = el.scrollHeight; }")
    page.wait_for_function("() => [...document.querySelectorAll('.lm-sidebar .lm-row .lm-name')]"
                           ".some(e => e.textContent === 'Zebra Stripes')")
    assert page.locator(ROW).count() < 60

    search(page, "knight", 1)
    assert row_names(page) == ["Brave Knight"]
    assert "knight_trigger" in page.text_content(f"{ROW} .lm-triggers")
    search(page, "bulk_0007", 1)
    search(page, "no such model at all", 0)
    assert page.text_content(".lm-sidebar .lm-status") == "No models found"
    search(page, "", total)
    assert page.js_errors == []
    assert comfy.missed == []


def test_filters_and_model_types(comfy, ui):
    page = ui
    page.wait_for_selector(".lm-sidebar .lm-filter-folder option[value='characters']", state="attached")
    page.select_option(".lm-sidebar .lm-filter-folder", "characters")
    wait_total(page, 3)
    assert sorted(row_names(page)) == ["Brave Knight", "Old Wizard", "Steel Robot"]
    page.select_option(".lm-sidebar .lm-filter-base", "Flux.1 D")
    wait_total(page, 1)
    assert row_names(page) == ["Steel Robot"]
    page.select_option(".lm-sidebar .lm-filter-folder", "")
    wait_total(page, 2)
    page.select_option(".lm-sidebar .lm-filter-base", "")
    page.select_option(".lm-sidebar .lm-filter-tag", "scifi")
    wait_total(page, 2)
    assert sorted(row_names(page)) == ["Neon City", "Steel Robot"]
    page.select_option(".lm-sidebar .lm-filter-tag", "")
    page.click(".lm-sidebar .lm-filter-fav")
    wait_total(page, 2)
    assert sorted(row_names(page)) == ["Anime Lineart", "Steel Robot"]
    assert page.get_attribute(".lm-sidebar .lm-filter-fav", "aria-pressed") == "true"
    page.click(".lm-sidebar .lm-filter-fav")
    wait_total(page, len(LORAS) + BIG_LIBRARY)

    page.click(".lm-sidebar .lm-type[data-type='checkpoints']")
    wait_total(page, 1)
    assert row_names(page) == ["dreamshaper_8"]
    page.click(".lm-sidebar .lm-type[data-type='embeddings']")
    wait_total(page, 1)
    assert row_names(page) == ["easynegative"]
    message = click_row(page, "easynegative")
    assert message == "Copied embedding:easynegative"
    assert page.evaluate("navigator.clipboard.readText()") == "embedding:easynegative"
    assert page.js_errors == []


def test_click_puts_lora_into_the_selected_loader(comfy, ui):
    page = ui
    loader = add_node(page, "LoraLoaderLM")
    assert widget_value(page, loader, "text") == ""
    search(page, "knight", 1)
    assert click_row(page, "Brave Knight").startswith("Added Brave Knight to ")
    assert widget_value(page, loader, "text") == "<lora:knight:0.8>"
    assert click_row(page, "Brave Knight").startswith("Brave Knight is already in ")
    assert widget_value(page, loader, "text") == "<lora:knight:0.8>"
    search(page, "zebra", 1)
    click_row(page, "Zebra Stripes")
    assert widget_value(page, loader, "text") == "<lora:knight:0.8> <lora:zebra_stripes:1.0>"

    # the core loader gets its combo set to the model's relative path
    core = add_node(page, "LoraLoader")
    search(page, "knight", 1)
    assert "now loads Brave Knight" in click_row(page, "Brave Knight")
    assert widget_value(page, core, "lora_name") == "characters/knight.safetensors"

    # nothing selected: the syntax goes to the clipboard, the nodes stay as they were
    page.evaluate(f"() => {APP}.canvas.deselectAll()")
    assert click_row(page, "Brave Knight") == "Copied <lora:knight:0.8>"
    assert page.evaluate("navigator.clipboard.readText()") == "<lora:knight:0.8>"
    assert widget_value(page, loader, "text") == "<lora:knight:0.8> <lora:zebra_stripes:1.0>"

    # the trigger-word button copies the trigger words
    page.locator(ROW, has_text="Brave Knight").locator(".lm-copy-triggers").click()
    page.wait_for_function("() => document.querySelector('.lm-sidebar .lm-message').textContent.includes('masterpiece')")
    assert page.evaluate("navigator.clipboard.readText()") == "knight_trigger, masterpiece"
    save_look(page, "added")
    assert page.js_errors == []


def test_mature_previews_are_blurred_until_their_thumbnail_is_clicked(comfy, ui):
    """The manager's blur settings (default: from R up); Neon City's preview is rated X, Anime Lineart's is not."""
    page = ui
    loader = add_node(page, "LoraLoaderLM")
    search(page, "neon city", 1)
    row = page.locator(ROW, has_text="Neon City")
    thumb = row.locator(".lm-thumb")
    thumb.locator("img").wait_for()
    assert "lm-nsfw" in thumb.get_attribute("class")
    assert page.evaluate("getComputedStyle(document.querySelector('.lm-thumb.lm-nsfw img')).filter").startswith("blur")
    row.hover()
    page.wait_for_selector(".lm-hover-preview.lm-visible img.lm-nsfw")
    thumb.click()  # reveals; the model is not added
    page.wait_for_function("() => !document.querySelector('.lm-sidebar .lm-thumb.lm-nsfw')")
    assert widget_value(page, loader, "text") == ""
    page.mouse.move(0, 0)
    row.locator(".lm-name").hover()
    page.wait_for_selector(".lm-hover-preview.lm-visible img:not(.lm-nsfw)")
    search(page, "anime lineart", 1)
    assert "lm-nsfw" not in page.locator(ROW, has_text="Anime Lineart").locator(".lm-thumb").get_attribute("class")
    assert page.js_errors == []


def test_drag_creates_a_loader_and_hover_shows_a_preview(comfy, ui):
    page = ui
    search(page, "anime lineart", 1)
    row = page.locator(ROW, has_text="Anime Lineart")
    row.hover()
    page.wait_for_selector(".lm-hover-preview.lm-visible img")
    page.wait_for_function("() => document.querySelector('.lm-hover-preview img').naturalWidth === 96")
    assert page.text_content(".lm-hover-preview .lm-hover-name") == "Anime Lineart"
    save_look(page, "hover")

    count = page.evaluate(f"() => {APP}.graph.nodes.length")
    row.drag_to(page.locator("#graph-canvas"), target_position={"x": 500, "y": 300})
    page.wait_for_function(f"(n) => {APP}.graph.nodes.length === n + 1", arg=count)
    created = page.evaluate(f"""() => {{
        const node = {APP}.graph.nodes.at(-1);
        return {{type: node.type, text: node.widgets.find(w => w.name === 'text').value}};
    }}""")
    assert created == {"type": "LoraLoaderLM", "text": "<lora:anime_lineart:0.7>"}
    assert "Anime Lineart" in page.text_content(".lm-sidebar .lm-message")
    assert page.js_errors == []


def test_manager_button_and_translations(comfy, page):
    comfy.settings["Comfy.Locale"] = "fr"  # a language ComfyUI's own frontend also speaks
    try:
        open_comfyui(page, comfy)
        assert page.text_content(".lm-sidebar .lm-title") == "Gestionnaire LoRA"
        assert page.get_attribute(".lm-sidebar .lm-search", "placeholder") == "Rechercher des modèles…"
        assert page.text_content(".lm-sidebar .lm-type[data-type='checkpoints']") == "Modèles checkpoint"
        with page.context.expect_page() as opened:
            page.click(".lm-sidebar .lm-open-manager")
        assert opened.value.url == comfy.url + "loras"
        opened.value.close()
    finally:
        comfy.settings.pop("Comfy.Locale", None)
    assert page.js_errors == []



def test_a_failing_library_shows_the_error_and_retry_recovers(comfy, ui):
    page = ui
    answer = {"status": 503, "content_type": "application/json",
              "body": json.dumps({"success": False, "error": "Service not ready"})}
    page.route("**/api/lm/loras/list?*", lambda route: route.fulfill(**answer))
    page.click(".lm-sidebar .lm-refresh")
    page.wait_for_selector(".lm-sidebar .lm-status .lm-error")
    assert page.text_content(".lm-sidebar .lm-status .lm-error") == "Could not load the library: Service not ready"
    assert page.locator(ROW).count() == 0
    page.unroute("**/api/lm/loras/list?*")
    page.click(".lm-sidebar .lm-retry")
    wait_total(page, len(LORAS) + BIG_LIBRARY)
    assert page.locator(ROW).count() > 5
    assert page.js_errors == []


def test_syntax_helpers_in_the_browser(comfy, ui):
    """The pure helpers, run as the browser loads them from /extensions/lora_manager/."""
    result = ui.evaluate("""async () => {
        const s = await import('/extensions/lora_manager/lm_syntax.js');
        return {
            tips: [s.recommendedStrength({usage_tips: '{"strength": 0.65}'}), s.recommendedStrength({usage_tips: 'not json'}),
                   s.recommendedStrength({usage_tips: '{"strength": "x"}'}), s.recommendedStrength({}),
                   s.recommendedStrength({usage_tips: {strength: 1.25}})],
            formats: [s.formatStrength(1), s.formatStrength(0.333333), s.formatStrength(-0.5)],
            append: [s.appendSyntax('', '<a>'), s.appendSyntax('x\\n', '<a>'), s.appendSyntax('x', '<a>')],
            has: [s.hasLora('<lora:a.b:1.0>', 'a.b'), s.hasLora('<lora:axb:1.0>', 'a.b'), s.hasLora(null, 'a')],
            combo: [s.matchComboValue(['x\\\\knight.safetensors', 'characters\\\\knight.safetensors'],
                                      {file_name: 'knight', folder: 'characters', file_path: '/m/characters/knight.safetensors'}),
                    s.matchComboValue(['other/knight.pt'], {file_name: 'knight', folder: '', file_path: '/m/knight.safetensors'}),
                    s.matchComboValue(undefined, {file_name: 'knight'}) ?? null],
            words: s.triggerWords({civitai: {trainedWords: [' a ', 'a', '', 'b']}}),
        };
    }""")
    assert result == {
        "tips": [0.65, 1.0, 1.0, 1.0, 1.25],
        "formats": ["1.0", "0.33", "-0.5"],
        "append": ["<a>", "x\n<a>", "x <a>"],
        "has": [True, False, False],
        "combo": ["characters\\knight.safetensors", "other/knight.pt", None],
        "words": ["a", "b"],
    }


def test_sidebar_follows_the_comfyui_palette(comfy, ui):
    page = ui
    background = "() => getComputedStyle(document.querySelector('.lm-sidebar')).backgroundColor"
    text = "() => getComputedStyle(document.querySelector('.lm-sidebar .lm-name')).color"
    dark = (page.evaluate(background), page.evaluate(text))
    page.evaluate(f"() => {APP}.extensionManager.setting.set('Comfy.ColorPalette', 'light')")
    try:
        page.wait_for_function(f"(dark) => ({background})() !== dark", arg=dark[0])
        light = (page.evaluate(background), page.evaluate(text))
        save_look(page, "light")
    finally:
        page.evaluate(f"() => {APP}.extensionManager.setting.set('Comfy.ColorPalette', 'dark')")
    assert light[0] != dark[0] and light[1] != dark[1]
