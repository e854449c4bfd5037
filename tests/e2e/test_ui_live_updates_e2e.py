"""Progress over WebSockets in a real browser: models_changed refreshes the grid, jobs show and cancel,
the socket comes back after a server restart."""
from __future__ import annotations

import pytest

from support.library import lm_sidecar, write_lora

pytestmark = pytest.mark.e2e


def open_loras(page, server):
    page.goto(server.url + "loras")
    page.wait_for_selector("html[data-ready='true']")
    page.wait_for_selector(".model-card:not(.skeleton)")


def test_models_changed_refreshes_the_grid_and_the_scan_job_shows(fresh_server, page):
    open_loras(page, fresh_server)
    assert page.locator("#count").inner_text() == "10 models"
    write_lora(fresh_server.library, "new/aurora.safetensors", sidecar=lm_sidecar("aurora", model_name="Aurora Borealis"))
    page.click("#rescan")  # the scan job broadcasts its progress and models_changed
    page.wait_for_function("document.querySelector('#count').textContent === '11 models'")
    page.wait_for_selector(".model-card[aria-label='Aurora Borealis']")
    job = page.locator("#status-area [data-job-id]").first
    job.wait_for()
    assert "Scan" in job.inner_text()
    assert job.locator(".progress").get_attribute("role") == "progressbar"
    # a change made by another client (here: the HTTP API directly) reaches this page too
    (fresh_server.library / "zebra_stripes.safetensors").unlink()
    fresh_server.get("/api/lm/loras/scan")
    page.wait_for_function("document.querySelector('#count').textContent === '10 models'")


def test_a_running_job_can_be_cancelled(fresh_server, page):
    open_loras(page, fresh_server)
    page.click("#fetch-all")  # Civitai is unreachable: each model takes a few retries, so the job runs a while
    item = page.locator("#status-area [data-job-id]").first
    item.wait_for()
    item.locator("button", has_text="Cancel").click()
    page.wait_for_function("document.querySelector('#status-area [data-job-id]')?.textContent.includes('Cancelled')",
                           timeout=20_000)


def test_socket_reconnects_after_a_server_restart(fresh_server, page, restart):
    open_loras(page, fresh_server)
    page.wait_for_timeout(300)  # let both sockets connect
    fresh_server.stop()
    offline = page.locator(".status-offline")
    offline.wait_for()
    assert "reconnecting" in offline.inner_text()
    server = restart(fresh_server)
    try:
        offline.wait_for(state="hidden", timeout=30_000)
        write_lora(server.library, "later.safetensors", sidecar=lm_sidecar("later", model_name="Later Model"))
        server.get("/api/lm/loras/scan")
        page.wait_for_selector(".model-card[aria-label='Later Model']")
    finally:
        server.stop()
