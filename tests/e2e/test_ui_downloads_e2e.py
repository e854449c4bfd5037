"""The Downloads page in a real browser against a real server whose Civitai is a loopback fake: look up, start,
live progress with pause/resume, completion into the library, cancel, history retry, reconnect after a restart."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from support.e2e_live import LiveServer, start_server
from support.library import lm_sidecar, write_lora

pytestmark = pytest.mark.e2e

FILE_BYTES = 400_000
SLOW = 150_000  # bytes per second: a transfer lasts a few seconds, long enough to pause and cancel


@pytest.fixture
def live(tmp_path: Path, civitai: Any) -> Iterator[LiveServer]:
    loras = tmp_path / "loras"
    write_lora(loras, "existing.safetensors", sidecar=lm_sidecar("existing", model_name="Existing One"))
    server = start_server(tmp_path, loras, civitai_url=civitai.base_url, expected=1)
    yield server
    server.stop()


def register(civitai: Any, name: str) -> Any:
    """A LoRA model with two versions; the newest one's file is FILE_BYTES long."""
    return civitai.add_model(name, versions=[
        {"name": "v1.0", "files": [{"n_bytes": 8_000}]},
        {"name": "v2.0", "files": [{"n_bytes": FILE_BYTES}]},
    ])


def shot(page: Any, tmp_path: Path, name: str) -> None:
    """Keep a screenshot for a human look (in $LM_E2E_SHOTS when set)."""
    target = Path(os.environ.get("LM_E2E_SHOTS", tmp_path))
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"{name}.png"), full_page=True)


def open_downloads(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "downloads")
    page.wait_for_selector("html[data-ready='true']")
    page.wait_for_selector("#download-url")


def look_up(page: Any, url: str, server: LiveServer) -> None:
    """Look the model up and choose the server's LoRA folder as the destination root."""
    page.fill("#download-url", url)
    page.click("#download-lookup")
    page.wait_for_selector("#start-download:not([disabled])")
    page.wait_for_selector(f"#download-root option[value='{server.library.as_posix()}']", state="attached")
    page.select_option("#download-root", server.library.as_posix())


def active_item(page: Any) -> Any:
    item = page.locator("#active-downloads .download-item").first
    item.wait_for()
    return item


def wait_status(page: Any, status: str, timeout: float = 20_000) -> None:
    page.wait_for_selector(f"#active-downloads .download-item[data-status='{status}']", timeout=timeout)


def test_download_with_live_progress_pause_resume_into_the_library(live, civitai, page, tmp_path):
    model = register(civitai, "Aurora Style")
    newest = model.versions[0]
    civitai.slow(SLOW, path="/api/download")
    try:
        open_downloads(page, live)
        look_up(page, f"https://civitai.com/models/{model.id}?modelVersionId={newest.id}", live)
        assert page.inner_text("#download-model-name") == "Aurora Style"
        assert page.locator("#download-versions .choice").count() == 2
        assert page.is_checked(f"#download-versions input[value='{newest.id}']")
        assert page.is_checked("#download-default-path")
        page.click("#start-download")
        item = active_item(page)
        # live progress from the socket: bytes, speed and percent
        page.wait_for_function(
            "(() => { const s = document.querySelector('#active-downloads .download-stats'); "
            "return s && / of /.test(s.textContent) && /\\/s/.test(s.textContent); })()")
        assert item.get_attribute("data-status") == "downloading"
        assert item.locator("[role=progressbar]").count() == 1
        item.locator("button[data-action='pause']").click()
        wait_status(page, "paused")
        assert live.get("/api/lm/downloads/queue")["queue"][0]["status"] == "paused"
        paused_at = item.locator("[role=progressbar]").get_attribute("aria-valuenow")
        assert int(paused_at) < 100
        shot(page, tmp_path, "downloads-paused-light")
        item.locator("button[data-action='resume']").click()
        wait_status(page, "downloading")
    finally:
        civitai.slow(None)
    wait_status(page, "completed")
    assert item.locator("[role=progressbar]").get_attribute("aria-valuenow") == "100"
    history = page.locator("#download-history .history-item[data-status='completed']").first
    history.wait_for()
    assert "Aurora Style" in history.inner_text()
    files = [p for p in live.library.rglob("*.safetensors") if p.name != "existing.safetensors"]
    assert len(files) == 1 and files[0].stat().st_size > FILE_BYTES
    assert files[0].as_posix() in history.inner_text()
    shot(page, tmp_path, "downloads-completed-light")
    assert not list(live.library.rglob("*.part"))
    # the new model is in the LoRA grid
    page.goto(live.url + "loras")
    page.wait_for_function("document.querySelector('#count')?.textContent === '2 models'")
    page.wait_for_selector(".model-card:not(.skeleton)")
    assert page.js_errors == []


def test_cancel_then_retry_from_the_history(live, civitai, page):
    model = register(civitai, "Comet Trail")
    open_downloads(page, live)
    page.fill("#download-url", "not a civitai link")
    page.click("#download-lookup")
    assert "Civitai model URL" in page.locator("#download-error").inner_text()
    civitai.slow(SLOW / 4, path="/api/download")
    try:
        look_up(page, f"https://civitai.com/models/{model.id}", live)
        page.click("#start-download")
        item = active_item(page)
        page.wait_for_selector("#active-downloads .download-item[data-status='downloading'] button[data-action='cancel']")
        item.locator("button[data-action='cancel']").click()
        wait_status(page, "cancelled")
        row = page.locator("#download-history .history-item[data-status='cancelled']").first
        row.wait_for()
        assert not [p for p in live.library.rglob("*") if p.is_file() and "Comet" in p.name]
    finally:
        civitai.slow(None)
    item.locator("button[data-action='dismiss']").click()
    row.locator("button[data-action='retry']").click()
    wait_status(page, "completed")
    page.wait_for_selector("#download-history .history-item[data-status='completed']")
    assert page.locator("#download-history .history-item[data-status='cancelled']").count() == 0
    # clearing the completed entries empties the history
    page.click("#history-clear-completed")
    page.wait_for_selector("#history-empty:not([hidden])")
    assert page.js_errors == []


def test_socket_reconnects_after_a_restart_and_the_download_finishes(tmp_path, civitai, dark_page):
    page = dark_page
    model = register(civitai, "Nebula Glow")
    loras = tmp_path / "loras"
    write_lora(loras, "existing.safetensors")
    server = start_server(tmp_path, loras, civitai_url=civitai.base_url, expected=1)
    try:
        civitai.slow(SLOW / 2, path="/api/download")
        open_downloads(page, server)
        look_up(page, f"https://civitai.com/models/{model.id}", server)
        page.click("#start-download")
        page.wait_for_function(
            "/ of /.test(document.querySelector('#active-downloads .download-stats')?.textContent || '')")
        port = int(re.search(r":(\d+)/", server.url).group(1))
        server.stop()
        page.wait_for_selector(".status-offline:not([hidden])")
        shot(page, tmp_path, "downloads-offline-dark")
        civitai.slow(None)
        # the server resumes the queued download (it may land before the first listing: no count to wait for);
        # the page's socket comes back and sees it end
        server = start_server(tmp_path, loras, civitai_url=civitai.base_url, expected=None, port=port)
        wait_status(page, "completed", timeout=30_000)
        server.wait_for("/api/lm/loras/list?page_size=1", lambda body: body["total"] == 2)
        assert page.js_errors == []
    finally:
        civitai.slow(None)
        server.stop()
