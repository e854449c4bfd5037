"""Bulk edits of a selection in a real browser: add tags and set the base model of every selected model; each
sidecar on disk and the API then carry the change, and models outside the selection are untouched."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def select_two(page: Any, server: Any) -> None:
    page.goto(server.url + "loras")
    page.wait_for_selector("html[data-ready='true']")
    page.click(".model-card[aria-label='Oil Paint']", modifiers=["Control"])
    page.click(".model-card[aria-label='Old Wizard']", modifiers=["Control"])
    page.locator(".bulk-bar").wait_for()


def sidecar(model: Path) -> dict[str, Any]:
    return json.loads(model.with_name(model.stem + ".metadata.json").read_text(encoding="utf-8"))


def by_name(server: Any) -> dict[str, dict[str, Any]]:
    return {item["file_name"]: item for item in server.get("/api/lm/loras/list?page_size=100")["items"]}


def test_bulk_add_tags_and_set_base_model(fresh_server, page):
    oil = fresh_server.library / "styles" / "oil_paint.safetensors"
    wizard = fresh_server.library / "characters" / "wizard.safetensors"
    others_before = {name: (item["tags"], item["base_model"]) for name, item in by_name(fresh_server).items()
                     if name not in ("oil_paint", "wizard")}
    select_two(page, fresh_server)
    page.click("#bulk-tags")
    page.fill("#bulk-tags-input", "painterly, , bulk-test")
    page.click("#bulk-tags-input-submit")
    page.locator(".toast", has_text="Tags added to 2 models").wait_for()
    for model in (oil, wizard):
        assert {"painterly", "bulk-test"} <= set(sidecar(model)["tags"])
    page.click("#bulk-base-model")
    page.fill("#bulk-base-input", "Illustrious")
    page.click("#bulk-base-input-submit")
    page.locator(".toast", has_text="Base model set for 2 models").wait_for()
    for model in (oil, wizard):
        assert sidecar(model)["base_model"] == "Illustrious"
    listed = by_name(fresh_server)
    for name in ("oil_paint", "wizard"):
        assert listed[name]["base_model"] == "Illustrious"
        assert {"painterly", "bulk-test"} <= set(listed[name]["tags"])
    assert {name: (item["tags"], item["base_model"]) for name, item in listed.items() if name in others_before} == others_before
    assert page.js_errors == []


def test_cancelled_bulk_dialog_changes_nothing(fresh_server, page):
    before = by_name(fresh_server)
    select_two(page, fresh_server)
    page.click("#bulk-base-model")
    page.wait_for_selector("#bulk-base-input")
    page.keyboard.press("Escape")
    page.wait_for_selector(".modal", state="detached")
    assert by_name(fresh_server) == before
