"""Virtual scrolling on a library of 2,000 models: few cards in the DOM, the last model reachable."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e
COUNT = 2000  # the big_server fixture of conftest.py


def test_only_rows_in_view_are_rendered_and_the_end_is_reachable(big_server, page):
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "/loras/list" in r.url else None)
    page.goto(big_server.url + "loras")
    page.wait_for_selector("html[data-ready='true']")
    page.wait_for_selector(".model-card[aria-label='model_0000']")
    assert page.locator("#count").inner_text() == f"{COUNT} models"
    cards = page.locator(".model-card").count()
    assert 0 < cards < 200, cards
    spacer = page.evaluate("document.querySelector('.grid-spacer').offsetHeight")
    cols = page.evaluate("getComputedStyle(document.querySelector('.models-grid')).gridTemplateColumns.split(' ').length")
    assert spacer >= (COUNT / cols) * 300  # the scroll height stands for every row
    first_pages = {u for u in requests if "page=" in u}

    page.evaluate("const s = document.querySelector('.grid-scroller'); s.scrollTop = s.scrollHeight")
    page.wait_for_selector(".model-card[aria-label='model_1999']")
    assert page.locator(".model-card").count() < 200
    assert page.locator(".model-card[aria-label='model_0000']").count() == 0
    assert len({u for u in requests if "page=" in u}) <= len(first_pages) + 2  # only the pages in view were fetched

    # keyboard: End jumps to the last model, Home back to the first
    page.focus(".model-card[aria-label='model_1999']")
    page.keyboard.press("Home")
    page.wait_for_function("document.activeElement.getAttribute('aria-label') === 'model_0000'")
    page.keyboard.press("End")
    page.wait_for_function("document.activeElement.getAttribute('aria-label') === 'model_1999'")


def test_middle_of_the_library_loads_on_demand(big_server, page):
    page.goto(big_server.url + "loras")
    page.wait_for_selector(".model-card[aria-label='model_0000']")
    page.evaluate("const s = document.querySelector('.grid-scroller'); s.scrollTop = s.scrollHeight / 2")
    page.wait_for_function("document.querySelectorAll('.model-card:not(.skeleton)').length > 0 && "
                           "!document.querySelector('.model-card[aria-label=\"model_0000\"]')")
    names = page.locator(".model-card:not(.skeleton)").evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
    numbers = [int(n.split("_")[1]) for n in names]
    assert 800 < min(numbers) and max(numbers) < 1200
    assert numbers == sorted(numbers)


def test_shift_range_and_select_all_cover_cards_never_loaded(big_server, page):
    page.goto(big_server.url + "loras")
    page.click(".model-card[aria-label='model_0000']", modifiers=["Control"])
    page.evaluate("const s = document.querySelector('.grid-scroller'); s.scrollTop = s.scrollHeight")
    page.click(".model-card[aria-label='model_1999']", modifiers=["Shift"])
    page.locator(".bulk-count", has_text=f"{COUNT} selected").wait_for()
    page.click("#bulk-clear")
    page.locator("#select-all", has_text=f"Select all {COUNT}").click()  # the whole filter, loaded or not
    page.locator(".bulk-count", has_text=f"{COUNT} selected").wait_for()
    assert page.js_errors == []
