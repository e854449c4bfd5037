"""Bulk tag rename and removal in a real browser: each selected sidecar on disk and the API carry the change,
models outside the selection keep their tags; "Select all N" takes every model of the current filter."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def tags_on_disk(model: Path) -> list[str]:
    return json.loads(model.with_name(model.stem + ".metadata.json").read_text(encoding="utf-8"))["tags"]


def test_bulk_replace_and_remove_tags(fresh_server, page):
    oil = fresh_server.library / "styles" / "oil_paint.safetensors"
    water = fresh_server.library / "styles" / "watercolor.safetensors"
    anime = fresh_server.library / "styles" / "anime" / "anime_lineart.safetensors"
    page.goto(fresh_server.url + "loras")
    page.wait_for_selector("html[data-ready='true']")
    page.click(".model-card[aria-label='Oil Paint']", modifiers=["Control"])
    page.click(".model-card[aria-label='Watercolor Dream']", modifiers=["Control"])
    page.click("#bulk-replace-tag")
    page.fill("#bulk-replace-from", "Painting")
    page.fill("#bulk-replace-to", "paint")
    page.click("#bulk-replace-submit")
    page.locator(".toast", has_text="Tag replaced on 2 models").wait_for()
    assert tags_on_disk(oil) == ["paint"] and tags_on_disk(water) == ["style", "paint"]
    page.click("#bulk-remove-tags")
    assert page.locator(".bulk-remove-tag[value='painting']").count() == 0  # the dialog offers the tags as written
    page.locator(".bulk-remove-tag[value='style']").check()
    page.click("#bulk-remove-submit")
    page.locator(".toast", has_text="Tags removed from 1 models").wait_for()
    assert tags_on_disk(water) == ["paint"] and tags_on_disk(oil) == ["paint"]
    assert tags_on_disk(anime) == ["style", "anime"]
    listed = {i["file_name"]: i["tags"] for i in fresh_server.get("/api/lm/loras/list?page_size=100")["items"]}
    assert listed["watercolor"] == ["paint"] and listed["anime_lineart"] == ["style", "anime"]

    page.click("#bulk-clear")
    page.locator("#tag-filters .chip", has_text="character").click()
    page.locator(".model-card[aria-label='Brave Knight']").focus()
    page.keyboard.press("Control+a")  # the whole filter, as the button does
    page.locator(".bulk-count", has_text="3 selected").wait_for()
    page.click("#bulk-clear")
    page.locator("#select-all", has_text="Select all 3").click()
    page.locator(".bulk-count", has_text="3 selected").wait_for()
    page.click("#bulk-remove-tags")
    page.fill("#bulk-remove-other", "character, not-there")
    page.click("#bulk-remove-submit")
    page.locator(".toast", has_text="Tags removed from 3 models").wait_for()
    characters = fresh_server.library / "characters"
    assert tags_on_disk(characters / "knight.safetensors") == [] and tags_on_disk(characters / "robot.safetensors") == ["scifi"]
    assert tags_on_disk(anime) == ["style", "anime"]
    assert page.js_errors == []
