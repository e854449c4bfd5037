"""The Recipes page in a real browser: import a real ComfyUI image (parsed LoRA and checkpoint with their library
status), the clear "no metadata" answer, save, find in the grid, details, copy syntax, delete and undo."""
from __future__ import annotations

import io
import os
import time
import urllib.error
from pathlib import Path
from typing import Any

import pytest

from support.library import lm_sidecar, write_lora

pytestmark = pytest.mark.e2e

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
EXAMPLES = SHARED / "fixtures" / "comfyui-examples"


def example(name: str) -> Path:
    if not EXAMPLES.is_dir():
        pytest.skip(f"../shared not present: {EXAMPLES}")
    return EXAMPLES / name


def plain_png(path: Path) -> Path:
    """A PNG without any generation metadata."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (48, 48), (120, 160, 200)).save(out, format="PNG")
    path.write_bytes(out.getvalue())
    return path


def shots_dir(tmp_path: Path) -> Path:
    target = Path(os.environ.get("LM_E2E_SHOTS", tmp_path))
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture(scope="module")
def recipe_server(small_server: Any) -> Any:
    """The small library plus the LoRA that lora.png uses, so it shows as in the library."""
    before = small_server.get("/api/lm/loras/list?page_size=1")["total"]
    civitai = {"id": 7001, "modelId": 701, "name": "v2", "trainedWords": [], "baseModel": "SD 1.5"}
    write_lora(small_server.library, "noise/epiNoiseoffset_v2.safetensors", metadata={"ss_output_name": "epiNoiseoffset_v2"},
               sidecar=lm_sidecar("epiNoiseoffset_v2", model_name="Noise Offset", civitai=civitai))
    deadline = time.monotonic() + 20
    while True:  # a scan already running answers 409: ask again once it is done
        try:
            small_server.get("/api/lm/loras/scan")
            break
        except urllib.error.HTTPError as exc:
            if exc.code != 409 or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    small_server.wait_for_total(before + 1)
    return small_server


def open_recipes(page: Any, server: Any) -> None:
    page.goto(server.url + "recipes")
    page.wait_for_selector("html[data-ready='true']")
    page.wait_for_selector("#import-recipe")


def test_import_save_find_delete_and_undo(recipe_server, page, tmp_path):
    image = example("lora.png")
    shots = shots_dir(tmp_path)
    open_recipes(page, recipe_server)
    page.wait_for_selector(".grid-empty:not([hidden])")
    assert "No recipes yet" in page.inner_text(".grid-empty")

    page.click("#import-recipe")
    page.wait_for_selector(".recipe-import-modal #recipe-drop")
    # an image without generation data is answered clearly
    page.set_input_files("#recipe-file", str(plain_png(tmp_path / "plain.png")))
    error = page.locator("#recipe-import-error")
    error.wait_for()
    assert "No generation metadata found" in error.inner_text()
    assert page.locator("#recipe-import-result").is_hidden()

    page.set_input_files("#recipe-file", str(image))
    page.wait_for_selector("#recipe-import-result:not([hidden]) #recipe-save")
    assert error.is_hidden()
    lora = page.locator("#recipe-import-result .resource[data-kind='lora']")
    assert lora.count() == 1
    assert lora.get_attribute("data-file-name") == "epiNoiseoffset_v2"
    assert lora.get_attribute("data-status") == "in-library"
    checkpoint = page.locator("#recipe-import-result .resource[data-kind='checkpoint']")
    assert "v1-5-pruned-emaonly" in checkpoint.inner_text()
    # only a name is known for this checkpoint (no hash, no Civitai id): not in the library, not downloadable
    assert checkpoint.get_attribute("data-status") == "unknown"
    assert "Not in library" in checkpoint.inner_text()
    assert page.inner_text("#recipe-import-result [data-param='prompt']") == "masterpiece best quality girl"
    assert page.inner_text("#recipe-import-result [data-param='seed']") == "851616030078638"
    page.screenshot(path=str(shots / "recipe-import-light.png"))
    page.fill("#recipe-name", "Noise girl")
    page.fill("#recipe-tags", "portrait, test")
    page.click("#recipe-save")
    page.wait_for_selector(".recipe-import-modal", state="detached")

    card = page.locator(".recipe-card[aria-label='Noise girl']")
    card.wait_for()
    assert page.inner_text("#count") == "1 recipes"
    page.wait_for_selector("#tag-filters .chip:text('portrait')")
    # search narrows the grid; a search without hits says so
    page.fill("#search", "zzzz-nothing")
    page.wait_for_selector(".grid-empty:not([hidden])")
    assert "No recipes match" in page.inner_text(".grid-empty")
    page.fill("#search", "")
    card.wait_for()

    card.click()
    dialog = page.locator(".recipe-modal")
    dialog.wait_for()
    page.wait_for_selector(".recipe-modal .resource[data-kind='lora'][data-status='in-library']")
    assert "masterpiece best quality girl" in dialog.locator("[data-param='prompt']").inner_text()
    page.screenshot(path=str(shots / "recipe-details-light.png"))
    page.click("#recipe-copy-syntax")
    page.wait_for_selector(".toast-success:has-text('<lora:')")
    assert page.evaluate("navigator.clipboard.readText()") == "<lora:noise/epiNoiseoffset_v2:1>"

    page.click("#recipe-delete")
    page.wait_for_selector(".recipe-modal", state="detached")
    page.wait_for_selector(".grid-empty:not([hidden])")
    assert page.inner_text("#count") == "0 recipes"
    page.locator(".toast .toast-action", has_text="Undo").click()
    card.wait_for()
    assert page.inner_text("#count") == "1 recipes"
    assert recipe_server.get("/api/lm/recipes")["total"] == 1
    assert page.js_errors == []


def test_recipes_page_in_the_dark_theme_and_german(recipe_server, dark_page, tmp_path):
    page = dark_page
    open_recipes(page, recipe_server)
    page.select_option("#language-select", "de")
    page.wait_for_function("document.querySelector('#import-recipe').textContent === 'Rezept importieren'")
    page.click("#import-recipe")
    page.wait_for_selector(".recipe-import-modal")
    assert "Bild hier ablegen" in page.inner_text("#recipe-drop")
    page.screenshot(path=str(shots_dir(tmp_path) / "recipe-import-dark.png"))
    page.keyboard.press("Escape")
    page.wait_for_selector(".recipe-import-modal", state="detached")
    page.select_option("#language-select", "en")
    page.wait_for_function("document.querySelector('#import-recipe').textContent === 'Import recipe'")
    assert page.js_errors == []
