"""Every page renders in both themes without script errors; screenshots are kept for a human look."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

PAGES = ["loras", "checkpoints", "settings", "recipes", "downloads", "stats"]


def _shot_dir(tmp_path: Path) -> Path:
    target = Path(os.environ.get("LM_E2E_SHOTS", tmp_path))
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_pages_render_in_both_themes(small_server, page, dark_page, theme, tmp_path):
    tab = page if theme == "light" else dark_page
    shots = _shot_dir(tmp_path)
    for name in PAGES:
        tab.goto(small_server.url + name)
        tab.wait_for_selector("html[data-ready='true']")
        assert tab.evaluate("document.documentElement.dataset.theme") == theme
        if name == "loras":
            tab.wait_for_selector(".model-card:not(.skeleton)")
        elif name == "checkpoints":
            tab.wait_for_selector(".grid-empty:not([hidden])")
        elif name == "settings":
            tab.wait_for_selector("#save-settings")
        else:
            tab.wait_for_selector(f".{name}-page")
        # every page keeps all navigation entries, and the current one is marked
        assert tab.locator("#main-nav a").count() == 8
        assert tab.locator(f"#main-nav a[data-page='{name}']").get_attribute("aria-current") == "page"
        tab.screenshot(path=str(shots / f"{name}-{theme}.png"))
    tab.goto(small_server.url + "loras")
    tab.locator(".model-card:not(.skeleton)").first.click()
    tab.wait_for_selector(".modal .model-name-content")
    tab.wait_for_selector("#save-details")
    tab.screenshot(path=str(shots / f"details-{theme}.png"))
    assert tab.js_errors == []


def test_background_differs_between_themes(small_server, page, dark_page):
    colors = []
    for tab in (page, dark_page):
        tab.goto(small_server.url + "loras")
        tab.wait_for_selector("html[data-ready='true']")
        colors.append(tab.evaluate("getComputedStyle(document.body).backgroundColor"))
    assert colors[0] != colors[1]
