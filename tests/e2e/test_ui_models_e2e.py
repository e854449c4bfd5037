"""The model grid in a real browser: search, filters, details and edits, keyboard, bulk delete and undo."""
from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.e2e


def open_loras(page, server):
    page.goto(server.url + "loras")
    page.wait_for_selector("html[data-ready='true']")
    page.wait_for_selector(".model-card:not(.skeleton)")


def card_names(page):
    page.wait_for_selector(".model-card:not(.skeleton)")
    return page.locator(".model-card:not(.skeleton) .card-name").all_inner_texts()


def wait_for_cards(page, expected, selector=".model-card:not(.skeleton) .card-name", timeout=10.0):
    """The grid is drawn a frame after the count changes: wait until the cards show ``expected`` (any order)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        found = sorted(page.locator(selector).all_inner_texts())
        if found == sorted(expected) or time.monotonic() > deadline:
            return found
        page.wait_for_timeout(50)


def test_search_narrows_the_grid_and_the_count(small_server, page):
    open_loras(page, small_server)
    assert page.locator("#count").inner_text() == "10 models"
    page.fill("#search", "knight")
    page.wait_for_function("document.querySelector('#count').textContent === '1 models'")
    assert card_names(page) == ["Brave Knight"]
    page.fill("#search", "anme")  # fuzzy: one letter missing still finds both anime models
    page.wait_for_function("document.querySelector('#count').textContent === '2 models'")
    assert sorted(card_names(page)) == ["Anime Lineart", "Anime Shading"]
    page.fill("#search", "")
    page.wait_for_function("document.querySelector('#count').textContent === '10 models'")


def test_filters_base_model_tag_favorites_folder_and_letter(small_server, page):
    open_loras(page, small_server)
    page.locator("#base-model-filters label", has_text="SDXL 1.0").locator("input").check()
    page.wait_for_function("document.querySelector('#count').textContent === '3 models'")
    assert wait_for_cards(page, ["SDXL 1.0"] * 3, ".model-card:not(.skeleton) .card-base") == ["SDXL 1.0"] * 3
    page.click("#tag-filters .chip:text-is('painting')")
    page.wait_for_function("document.querySelector('#count').textContent === '2 models'")
    assert wait_for_cards(page, ["Oil Paint", "Watercolor Dream"]) == ["Oil Paint", "Watercolor Dream"]
    page.click("#clear-filters")
    page.wait_for_function("document.querySelector('#count').textContent === '10 models'")
    page.check("#favorites-only")
    page.wait_for_function("document.querySelector('#count').textContent === '2 models'")
    assert wait_for_cards(page, ["Anime Lineart", "Steel Robot"]) == ["Anime Lineart", "Steel Robot"]
    page.uncheck("#favorites-only")
    page.click(".folder-node[data-folder='characters']")
    page.wait_for_function("document.querySelector('#count').textContent === '3 models'")
    assert wait_for_cards(page, ["Brave Knight", "Old Wizard", "Steel Robot"]) == [
        "Brave Knight", "Old Wizard", "Steel Robot"]
    page.click(".folder-node[data-folder='']")
    page.click(".letter[data-letter='Z']")
    page.wait_for_function("document.querySelector('#count').textContent === '1 models'")
    assert wait_for_cards(page, ["Zebra Stripes"]) == ["Zebra Stripes"]


def test_sort_by_name_descending(small_server, page):
    open_loras(page, small_server)
    page.select_option("#sort", "name:desc")
    page.wait_for_function("document.querySelector('.model-card .card-name')?.textContent === 'Zebra Stripes'")


def test_details_edit_persists_to_the_sidecar(fresh_server, page):
    """Edits the library: on its own server, so the shared one stays as every other test expects it."""
    open_loras(page, fresh_server)
    page.click(".model-card[aria-label='Deep Forest']")
    modal = page.locator(".modal")
    assert modal.locator(".model-name-content").inner_text() == "Deep Forest"
    page.wait_for_selector("#save-details")
    assert page.locator(".lora-syntax").inner_text() == "<lora:forest:0.8>"
    page.fill("#edit-name", "Deep Forest Renamed")
    page.fill("#edit-notes", "Works best at 0.6")
    page.fill("#edit-tags", "landscape, trees")
    page.fill("#edit-trigger-words", "dense forest, moss")
    page.fill("#edit-strength", "0.6")
    page.fill("#edit-clip-strength", "0.4")
    page.check("#edit-favorite")
    assert page.locator(".lora-syntax").inner_text() == "<lora:forest:0.6:0.4>"
    page.click("#save-details")
    page.wait_for_selector(".form-status.ok")
    assert modal.locator(".model-name-content").inner_text() == "Deep Forest Renamed"

    sidecar = json.loads((fresh_server.library / "concepts" / "forest.metadata.json").read_text(encoding="utf-8"))
    assert sidecar["model_name"] == "Deep Forest Renamed"
    assert sidecar["notes"] == "Works best at 0.6"
    assert sidecar["tags"] == ["landscape", "trees"]
    assert sidecar["favorite"] is True
    assert sidecar["civitai"]["trainedWords"] == ["dense forest", "moss"]
    assert sidecar["civitai"]["modelId"] == 508  # the rest of the civitai block is kept
    assert json.loads(sidecar["usage_tips"]) == {"strength": 0.6, "clip_strength": 0.4}
    assert {"model_name", "notes", "favorite", "civitai.trainedWords"} <= set(sidecar["user_edited_fields"])
    assert sidecar["an_unknown_field"] == {"kept": True}

    page.keyboard.press("Escape")
    page.wait_for_selector(".modal", state="detached")
    page.wait_for_selector(".model-card[aria-label='Deep Forest Renamed']")
    # the identity and metadata tabs of the edited model
    page.click(".model-card[aria-label='Deep Forest Renamed']")
    page.click("#tab-identity")
    page.wait_for_selector(".identity-table")
    identity = page.locator(".identity-table").inner_text()
    assert "SD 1.5" in identity and "VRAM" in identity
    page.click("#tab-metadata")
    assert "Works best at 0.6" in page.locator(".metadata-json").inner_text()


def test_copy_syntax_puts_lora_syntax_on_the_clipboard(small_server, page):
    open_loras(page, small_server)
    page.click(".model-card[aria-label='Brave Knight']")
    page.click("#copy-syntax")
    page.wait_for_selector(".toast-success")
    assert page.evaluate("navigator.clipboard.readText()") == "<lora:knight:0.8>"
    link = page.locator("#civitai-link")
    assert link.get_attribute("href") == "https://civitai.com/models/504?modelVersionId=2004"


def test_keyboard_arrows_enter_and_escape(small_server, page):
    open_loras(page, small_server)
    page.focus("#search")
    page.keyboard.press("ArrowDown")
    focused = "document.activeElement.dataset.index"
    assert page.evaluate(focused) == "0"
    page.keyboard.press("ArrowRight")
    assert page.evaluate(focused) == "1"
    cols = page.evaluate("getComputedStyle(document.querySelector('.models-grid')).gridTemplateColumns.split(' ').length")
    page.keyboard.press("ArrowDown")
    assert page.evaluate(focused) == str(1 + cols)
    page.keyboard.press("ArrowLeft")
    assert page.evaluate(focused) == str(cols)
    name = page.evaluate("document.activeElement.getAttribute('aria-label')")
    page.keyboard.press("Enter")
    assert page.locator(".modal .model-name-content").inner_text() == name
    page.keyboard.press("Escape")
    page.wait_for_selector(".modal", state="detached")
    assert page.evaluate(focused) == str(cols)  # focus returns to the card
    page.keyboard.press(" ")
    page.wait_for_selector(".modal")
    page.keyboard.press("Escape")
    page.wait_for_selector(".modal", state="detached")


def test_versions_tab_keeps_extension_hooks_and_shows_errors(small_server, page):
    open_loras(page, small_server)
    page.click(".model-card[aria-label='Neon City']")
    page.click("#tab-versions")
    tab = page.locator(".modal .model-versions-tab")
    assert tab.get_attribute("data-model-id") == "507"
    error = tab.locator("[role='alert']")
    error.wait_for(timeout=20_000)
    assert "could not be loaded" in error.inner_text()
    assert "Civitai" in error.inner_text()
    # the extension asks for a refresh with a CustomEvent: the tab fetches again
    page.evaluate("document.querySelector('.model-versions-tab').dispatchEvent(new CustomEvent('lm:refreshVersions'))")
    tab.locator("[role='alert']").wait_for(timeout=20_000)


def test_bulk_delete_then_undo(fresh_server, page):
    """Deletes (and restores) models: on its own server, so a failure half-way cannot change the shared one."""
    lifecycle = fresh_server.library / "styles" / "oil_paint.safetensors"
    open_loras(page, fresh_server)
    page.click(".model-card[aria-label='Oil Paint']", modifiers=["Control"])
    page.click(".model-card[aria-label='Old Wizard']", modifiers=["Control"])
    bar = page.locator(".bulk-bar")
    bar.wait_for()
    assert bar.locator(".bulk-count").inner_text() == "2 selected"
    assert page.locator(".model-card.selected").count() == 2
    page.click("#bulk-delete")
    page.click(".modal .btn-danger")
    toast = page.locator(".toast", has_text="2 models deleted")
    toast.wait_for()
    assert not lifecycle.exists()
    assert not (fresh_server.library / "characters" / "wizard.safetensors").exists()
    page.wait_for_function("document.querySelector('#count').textContent === '8 models'")
    assert bar.is_hidden()
    toast.locator(".toast-action").click()
    page.locator(".toast", has_text="Models restored").wait_for()
    assert lifecycle.exists() and lifecycle.with_name("oil_paint.metadata.json").exists()
    page.wait_for_function("document.querySelector('#count').textContent === '10 models'")
    page.wait_for_selector(".model-card[aria-label='Old Wizard']")


def test_shift_selects_a_range_and_escape_clears(small_server, page):
    open_loras(page, small_server)
    page.click(".model-card[data-index='1'] .card-select")
    page.click(".model-card[data-index='4']", modifiers=["Shift"])
    assert page.locator(".model-card.selected").count() == 4
    page.keyboard.press("Escape")
    assert page.locator(".model-card.selected").count() == 0
    page.click("#select-visible")
    assert re.fullmatch(r"10 selected", page.locator(".bulk-count").inner_text())
    page.click("#bulk-clear")
    assert page.locator(".bulk-bar").is_hidden()
