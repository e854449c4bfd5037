"""Re-link a model to a Civitai model and version from the card menu, in a real browser against a real server whose
Civitai is a local fake: the sidecar on disk and the API then name the chosen version; bad input and an unknown
model show an error in the dialog and leave the sidecar as it was."""
from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from support.e2e_live import LiveServer, start_server
from support.library import lm_sidecar, write_lora

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, civitai: Any) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("relink-ui")
    loras = tmp / "loras"
    write_lora(loras, "mystery.safetensors", sidecar=lm_sidecar("mystery", model_name="Mystery Style"))
    live = start_server(tmp, loras, civitai_url=civitai.base_url, expected=1)
    yield live
    live.stop()


def open_relink(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "loras")
    page.wait_for_selector("html[data-ready='true']")
    page.locator(".model-card").first.click(button="right")  # the one model; its name changes once re-linked
    page.click(".context-menu [data-menu-action='relink']")
    page.wait_for_selector("#relink-model-id")


def sidecar(server: LiveServer) -> dict[str, Any]:
    return json.loads((server.library / "mystery.metadata.json").read_text(encoding="utf-8"))


def test_bad_ids_and_an_unknown_model_show_an_error_and_change_nothing(server, page):
    before = sidecar(server)
    open_relink(page, server)
    page.fill("#relink-model-id", "0")
    page.click("#relink-submit")
    assert page.locator(".modal .form-error").inner_text() == "Enter a whole number of 1 or more"
    page.fill("#relink-model-id", "987654")
    page.click("#relink-submit")
    page.wait_for_function("document.querySelector('.modal .form-error')?.textContent.includes('987654')")
    assert sidecar(server) == before
    assert page.js_errors == []


def test_relink_to_a_chosen_version_writes_the_sidecar(server, civitai, page):
    model = civitai.add_model("Chosen Style", versions=[{"name": "v1"}, {"name": "v2"}])
    older = model.versions[0]
    open_relink(page, server)
    page.fill("#relink-model-id", str(model.id))
    page.fill("#relink-version-id", str(older.id))
    page.click("#relink-submit")
    page.wait_for_selector(".toast-success")
    assert page.locator(".toast-success .toast-text").last.inner_text() == "Re-linked to Civitai"
    written = sidecar(server)
    assert written["civitai"]["id"] == older.id
    assert written["civitai"]["modelId"] == model.id
    item = server.get("/api/lm/loras/list?page_size=10")["items"][0]
    assert item["civitai"]["id"] == older.id
    assert page.js_errors == []
