"""The Updates view in a real browser against a real server whose Civitai is a local fake: "Check for updates" runs
the update-check job, the model with a newer version on Civitai is listed (the up-to-date one never is), and
"Ignore this version" removes its row and is kept by the server (the update status names the ignored version);
Undo brings the row back and "Ignore this model" removes it again (the status says the model is ignored)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from support.e2e_live import LiveServer, start_server
from support.library import lm_sidecar
from support.metadata_helpers import add_known_lora

pytestmark = pytest.mark.e2e


def link_sidecar(path: Path, name: str, model: Any, version: Any) -> None:
    civitai = {"id": version.id, "modelId": model.id, "name": version.name, "trainedWords": [],
               "model": {"name": name, "type": "LORA"}}
    path.with_name(path.stem + ".metadata.json").write_text(
        json.dumps(lm_sidecar(path.stem, model_name=name, civitai=civitai)), encoding="utf-8")


@pytest.fixture
def world(tmp_path: Path, civitai: Any) -> Iterator[tuple[LiveServer, dict[str, Any]]]:
    loras = tmp_path / "loras"
    old, old_path = add_known_lora(civitai, loras, "old.safetensors", seed=1, name="Old Style", images=0,
                                   versions_after=1)
    link_sidecar(old_path, "Old Style", old, old.versions[-1])
    current, current_path = add_known_lora(civitai, loras, "current.safetensors", seed=2, name="Current Style",
                                           images=0)
    link_sidecar(current_path, "Current Style", current, current.versions[0])
    live = start_server(tmp_path, loras, civitai_url=civitai.base_url, expected=2)
    try:
        yield live, {"old": old, "current": current}
    finally:
        live.stop()


def test_check_lists_the_outdated_model_and_ignoring_removes_it(world, page):
    server, models = world
    old, current = models["old"], models["current"]
    newest, local = old.versions[0], old.versions[-1]
    page.goto(server.url + "loras?view=updates")
    page.wait_for_selector("html[data-ready='true']")
    page.wait_for_selector("#updates-empty")  # nothing was checked yet

    page.click("#updates-check")
    row = page.locator(f".updates-row[data-model-id='{old.id}']")
    row.wait_for()
    page.locator("#updates-progress", has_text="Check finished.").wait_for()
    assert page.locator(".updates-row").count() == 1
    assert page.locator(f".updates-row[data-model-id='{current.id}']").count() == 0
    assert row.locator(".updates-name").inner_text() == "Old Style"
    assert row.locator(".updates-facts").inner_text() == f"Yours: {local.name} · newest: {newest.name} (1 newer)"
    assert row.locator(".updates-civitai").get_attribute("href") == (
        f"https://civitai.com/models/{old.id}?modelVersionId={newest.id}")

    row.locator(".updates-ignore-version").click()
    toast = page.locator(".toast", has_text="Version ignored for Old Style")
    toast.wait_for()
    row.wait_for(state="detached")
    page.wait_for_selector("#updates-empty")
    status = server.get(f"/api/lm/loras/updates/status/{old.id}")
    assert (status["update_available"], status["ignored"], status["ignored_versions"]) == (False, False, [newest.id])
    assert server.get("/api/lm/loras/list?update_available_only=true")["total"] == 0

    toast.locator("button", has_text="Undo").click()  # the version is new again
    row.wait_for()
    row.locator(".updates-ignore-model").click()
    page.locator(".toast", has_text="Updates of Old Style ignored").wait_for()
    row.wait_for(state="detached")
    status = server.get(f"/api/lm/loras/updates/status/{old.id}")
    assert (status["update_available"], status["ignored"], status["ignored_versions"]) == (False, True, [])
    assert page.js_errors == []
