"""The statistics page in a real browser: the figures of GET /api/lm/stats as tables and Chart.js charts."""
from __future__ import annotations

import json
import urllib.request

import pytest

pytestmark = pytest.mark.e2e


def test_stats_page_shows_the_library_figures_and_draws_charts(small_server, page):
    with urllib.request.urlopen(small_server.url + "api/lm/stats") as resp:
        stats = json.load(resp)
    page.goto(small_server.url + "stats")
    page.wait_for_selector("#stats[data-loaded='true']")
    assert page.locator("#main-nav a[data-page='stats']").get_attribute("aria-current") == "page"
    base_rows = page.locator("#stats-base tr")
    assert base_rows.count() == len(stats["per_base_model"])
    assert stats["per_base_model"][0]["base_model"] in base_rows.first.inner_text()
    # the vendored library is served locally and draws on every chart canvas
    assert page.evaluate("typeof window.Chart") == "function"
    drawn = page.evaluate("[...document.querySelectorAll('#stats canvas')].map(c => !!window.Chart.getChart(c))")
    assert drawn == [True, True, True, True]
    assert page.locator("#stats-problems tr").count() == 4
    assert page.js_errors == []
