"""Accessibility and small screens: axe-core on every page finds no serious or critical violation, and at a
390 px-wide phone every nav tab is reachable."""
from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
PAGES = {"loras": ".model-card:not(.skeleton)", "recipes": ".recipes-page", "downloads": ".downloads-page",
         "settings": "#save-settings", "stats": "#stats[data-loaded='true']", "no-such-page": "body",
         "loras?view=duplicates": ".dupes-group", "loras?view=updates": "#updates-empty"}


def serious_violations(tab) -> list[str]:
    tab.add_script_tag(path=str(AXE))
    result = tab.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['nodes'][0]['html'][:120]}" for v in result["violations"]
            if v["impact"] in ("serious", "critical")]


KNOWN_GAPS = {
    "loras": "nested-interactive: a card (role=option) holds its own buttons; the card markup needs a grid pattern",
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_GAPS[n], strict=True))
                                  if n in KNOWN_GAPS else n for n in PAGES])
def test_no_serious_accessibility_violations(small_server, page, name):
    page.goto(small_server.url + name)
    page.wait_for_selector(PAGES[name])
    assert serious_violations(page) == []
    assert page.js_errors == []


def test_every_nav_tab_is_reachable_at_390_px(small_server, page):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(small_server.url + "loras")
    page.wait_for_selector("html[data-ready='true']")
    for link in page.locator("#main-nav a").all():
        link.scroll_into_view_if_needed()
        assert link.is_visible()
        box = link.bounding_box()
        assert box is not None and box["width"] > 0 and 0 <= box["x"] and box["x"] + box["width"] <= 390
