"""Download and example-image settings and actions in a real browser against a real server whose Civitai (and
its example media) is a loopback fake: the settings fields save and reload, the server's validation problems
and its "folder not set" answer reach the user, a run shows its job with cancel and ends with a toast, and the
details panel lists the stored files."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from support.e2e_live import LiveServer, start_server
from support.example_images_kit import ExampleModel, add_example_model
from support.library import lm_sidecar, write_lora

pytestmark = pytest.mark.e2e

NOT_CONFIGURED = "Set example_images_path in settings first"
RESET = {"example_images_path": "", "download_example_images": False,
         "skip_previously_downloaded_model_versions": False, "download_skip_base_models": []}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, civitai: Any) -> Iterator[tuple[LiveServer, ExampleModel]]:
    """Two LoRAs: "Starry Night" with two images and a video on the fake, "Plain Lines" with none."""
    tmp = tmp_path_factory.mktemp("examples-ui")
    loras = tmp / "loras"
    starry = add_example_model(civitai, loras, "starry_night.safetensors", seed=41, kinds=("image", "jpeg", "video"),
                               sidecar_extra={"model_name": "Starry Night"})
    write_lora(loras, "plain_lines.safetensors", sidecar=lm_sidecar("plain_lines", model_name="Plain Lines"))
    server = start_server(tmp, loras, civitai_url=civitai.base_url, expected=2)
    yield server, starry
    server.stop()


@pytest.fixture
def live(library: tuple[LiveServer, ExampleModel], civitai: Any) -> Iterator[LiveServer]:
    """The shared server with the example-image settings back at their defaults (and no faults) before each test."""
    server = library[0]
    server.post("/api/lm/settings", RESET)
    civitai.clear_faults()
    yield server
    civitai.clear_faults()
    server.post("/api/lm/settings", RESET)


def shot(page: Any, tmp_path: Path, name: str, selector: str) -> None:
    """Keep a screenshot of ``selector`` for a human look (in $LM_E2E_SHOTS when set)."""
    target = Path(os.environ.get("LM_E2E_SHOTS", tmp_path))
    target.mkdir(parents=True, exist_ok=True)
    page.locator(selector).screenshot(path=str(target / f"{name}.png"))


def open_settings(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "settings")
    page.wait_for_selector("html[data-ready='true']")
    page.wait_for_selector("#save-settings")


def open_loras(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "loras")
    page.wait_for_selector("html[data-ready='true']")
    page.wait_for_selector(".model-card[aria-label='Starry Night']")


def open_details(page: Any, name: str) -> None:
    page.click(f".model-card[aria-label='{name}']")
    page.wait_for_selector("#save-details")


def close_details(page: Any) -> None:
    page.keyboard.press("Escape")
    page.wait_for_selector(".modal-backdrop", state="detached")


def save(page: Any) -> None:
    page.click("#save-settings")
    page.wait_for_selector(".form-status.ok")


def test_settings_fields_save_reload_and_show_the_server_problems(live, page, tmp_path):
    open_settings(page, live)
    assert not page.is_checked("#skip-downloaded-versions")
    assert not page.is_checked("#download-example-images")
    assert page.input_value("#skip-base-models") == ""
    assert page.input_value("#example-images-path") == ""
    # every field has a visible label
    assert page.get_by_label("Skip versions downloaded before").count() == 1
    assert page.get_by_label("Download example images after each model download").count() == 1
    assert page.get_by_label("Example images folder").count() == 1

    # a relative folder: the server's own message, nothing written
    before = live.settings()
    page.fill("#example-images-path", "relative/examples")
    page.fill("#poll-interval", "1")
    page.click("#save-settings")
    problems = page.locator("#settings-problems")
    problems.wait_for()
    text = problems.inner_text()
    assert "Invalid settings" in text
    assert "example_images_path must be an absolute path" in text
    assert "poll_interval_seconds must be from 5 to 86400" in text  # every problem at once
    assert problems.get_attribute("role") == "alert"
    assert page.get_attribute("#example-images-path", "aria-invalid") == "true"
    assert page.get_attribute("#skip-base-models", "aria-invalid") is None
    assert live.settings() == before
    shot(page, tmp_path, "settings-example-images-invalid", "#settings-example-images")

    # valid values are saved as the server's types and shown again after a reload
    folder = tmp_path / "example images"
    page.fill("#poll-interval", "60")
    page.fill("#example-images-path", f"  {folder}  ")
    page.check("#skip-downloaded-versions")
    page.check("#download-example-images")
    page.fill("#skip-base-models", "SD 1.5, Pony ,, SD 1.5,  Flux.1 D")
    save(page)
    assert problems.count() == 0 or not problems.is_visible()
    saved = live.settings()
    assert saved["example_images_path"] == str(folder)
    assert saved["skip_previously_downloaded_model_versions"] is True
    assert saved["download_example_images"] is True
    assert saved["download_skip_base_models"] == ["SD 1.5", "Pony", "Flux.1 D"]
    page.reload()
    page.wait_for_selector("#save-settings")
    assert page.is_checked("#skip-downloaded-versions")
    assert page.is_checked("#download-example-images")
    assert page.input_value("#skip-base-models") == "SD 1.5, Pony, Flux.1 D"
    assert page.input_value("#example-images-path") == str(folder)
    assert page.get_attribute("#example-images-path", "aria-invalid") is None

    # an empty list and an empty folder are allowed
    page.fill("#skip-base-models", " , ")
    page.fill("#example-images-path", "")
    page.uncheck("#skip-downloaded-versions")
    page.uncheck("#download-example-images")
    save(page)
    saved = live.settings()
    assert saved["download_skip_base_models"] == []
    assert saved["example_images_path"] == ""
    assert saved["skip_previously_downloaded_model_versions"] is False
    assert saved["download_example_images"] is False
    assert page.js_errors == []


def test_download_examples_without_a_folder_shows_the_server_error(live, page):
    open_loras(page, live)
    button = page.locator("#download-examples")
    assert button.inner_text() == "Download example images"
    assert button.get_attribute("title") == "Download the example images of every model in LoRAs"
    button.click()
    toast = page.locator(".toast-error", has_text=NOT_CONFIGURED)
    toast.wait_for()
    assert toast.get_attribute("role") == "alert"
    assert button.is_enabled()
    # the details say how to get example images instead of showing an error
    open_details(page, "Starry Night")
    empty = page.locator("#example-images #example-images-empty")
    empty.wait_for()
    assert "Settings" in empty.inner_text()
    assert page.locator("#example-images .form-error").count() == 0
    close_details(page)
    assert page.js_errors == []


def test_run_for_the_selection_then_the_details_list_the_files(live, library, page, tmp_path):
    starry = library[1]
    root = tmp_path / "examples"
    live.post("/api/lm/settings", {"example_images_path": str(root)})
    open_loras(page, live)
    open_details(page, "Starry Night")
    page.locator("#example-images-empty", has_text="No example images downloaded").wait_for()
    assert page.inner_text("#example-images h3") == "Example images"
    close_details(page)

    page.click(".model-card[aria-label='Starry Night']", modifiers=["Control"])
    button = page.locator("#download-examples")
    assert button.get_attribute("title") == "Download the example images of the 1 selected models"
    button.click()
    page.locator(".toast-success", has_text="Downloading the example images of 1 model").wait_for()
    done = page.locator(".toast-success", has_text="Example images of 1 of 1 model: 1 complete")
    done.wait_for(timeout=20_000)
    assert "3 images downloaded" in done.inner_text()
    stored = sorted(p.name for p in (root / starry.sha256).iterdir())
    assert stored == ["image_0.png", "image_1.jpg", "image_2.mp4"]
    assert [p.name for p in root.iterdir()] == [starry.sha256]  # only the selection was fetched

    page.click("#bulk-clear")
    open_details(page, "Starry Night")
    items = page.locator("#example-images-list li")
    items.first.wait_for()
    assert items.count() == 3
    assert [items.nth(i).get_attribute("data-name") for i in range(3)] == stored
    images = page.locator("#example-images-list img")
    assert images.count() == 2
    assert images.first.get_attribute("alt") == "Example image 1: image_0.png"
    page.wait_for_function("[...document.querySelectorAll('#example-images-list img')]"
                           ".every((img) => img.complete && img.naturalWidth > 0)")
    video = page.locator("#example-images-list li.is-video video")
    assert video.count() == 1
    assert "image_2.mp4" in video.get_attribute("src")
    link = page.locator("#example-images-list li").first.locator("a")
    assert link.get_attribute("target") == "_blank"
    assert link.get_attribute("aria-label") == "Open image_0.png"
    assert page.request.get(live.url.rstrip("/") + link.get_attribute("href")).body()[:8] == b"\x89PNG\r\n\x1a\n"
    shot(page, tmp_path, "details-example-images", "#example-images")
    close_details(page)
    assert page.js_errors == []


def test_whole_library_run_shows_its_job_cancels_and_open_details_follow(live, library, civitai, page, tmp_path):
    starry = library[1]
    root = tmp_path / "examples"
    live.post("/api/lm/settings", {"example_images_path": str(root)})
    civitai.hold_after(0, n=1, path="/media")  # the first image waits until released
    open_loras(page, live)
    page.click("#download-examples")
    page.locator(".toast-success", has_text="Downloading the example images of 2 models").wait_for()
    row = page.locator("#status-area li.status-item", has_text="Download example images")
    row.wait_for()
    cancel = row.locator("button", has_text="Cancel")
    cancel.wait_for()
    assert cancel.get_attribute("aria-label") == "Cancel Download example images"
    assert row.locator("[role=progressbar]").count() == 1
    cancel.click()
    civitai.release()
    page.locator(".toast", has_text="Cancelled.").wait_for(timeout=20_000)
    page.locator("#status-area li.status-cancelled", has_text="Download example images").wait_for()
    assert live.get("/api/lm/example-images-status")["status"]["status"] == "cancelled"

    # a run started elsewhere: the open details list the files when it ends
    open_details(page, "Starry Night")
    page.locator("#example-images-empty, #example-images-list").first.wait_for()
    started = live.post("/api/lm/download-example-images", {"model_types": ["lora"]})
    assert started["success"] is True
    page.wait_for_function("document.querySelectorAll('#example-images-list li').length === 3", timeout=20_000)
    assert sorted(p.name for p in (root / starry.sha256).iterdir()) == ["image_0.png", "image_1.jpg", "image_2.mp4"]
    # no toast for a run this page did not start
    assert page.locator(".toast", has_text="Example images of 2 of 2 models").count() == 0
    close_details(page)
    open_details(page, "Plain Lines")
    page.locator("#example-images-empty", has_text="No example images downloaded").wait_for()
    close_details(page)
    assert page.js_errors == []
