"""The settings page shows the roots a run scans besides the library's own (``--loras DIR`` here; ComfyUI's
folders inside ComfyUI) and edits the default folder of each type, checked against the settings file."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def open_settings(page, server):
    page.goto(server.url + "settings")
    page.wait_for_selector("html[data-ready='true']")
    page.wait_for_selector("#save-settings")


def test_run_roots_are_shown_and_a_default_folder_is_saved(fresh_server, page, tmp_path):
    open_settings(page, fresh_server)
    library = str(fresh_server.library)
    assert page.locator("#run-roots-lora", has_text=library).count() == 1  # not "No folders yet"
    assert page.locator("#roots-lora", has_text="No folders yet").count() == 0
    second = tmp_path / "second-loras"
    second.mkdir()
    page.fill("#add-root-lora", str(second))
    page.click("#add-root-btn-lora")
    page.select_option("#default-root-default_lora_root", str(second))
    assert page.locator("#default-root-default_unet_root").count() == 1  # diffusion models have their own
    page.click("#save-settings")
    page.wait_for_selector(".form-status.ok")
    saved = fresh_server.settings()
    library_doc = saved["libraries"]["default"]
    assert library_doc["default_lora_root"] == str(second) and saved["default_lora_root"] == str(second)
    assert library_doc["folder_paths"]["loras"] == [str(second)]
    roots = fresh_server.get("/api/lm/loras/roots")["roots"]
    assert roots[0] == second.as_posix() and library in roots
    page.reload()
    page.wait_for_selector("#save-settings")
    assert page.input_value("#default-root-default_lora_root") == str(second)
    page.select_option("#default-root-default_lora_root", "")
    page.click("#save-settings")
    page.wait_for_selector(".form-status.ok")
    assert fresh_server.settings()["libraries"]["default"]["default_lora_root"] == ""
