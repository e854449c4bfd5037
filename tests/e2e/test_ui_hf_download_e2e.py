"""A Hugging Face file pasted on the Downloads page lands in the library, verified, without leaving the app.

The server is the real standalone subprocess; Hugging Face and the CDN it redirects to are loopback fakes (the
pasted address is the real huggingface.co spelling: the server maps it to its configured Hugging Face address)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from support.e2e_live import LiveServer, start_server

pytestmark = pytest.mark.e2e

ADDRESS = "https://huggingface.co/someone/pixel-lora/resolve/main/loras/pixel_style.safetensors"


@pytest.fixture
def live(tmp_path: Path, hf: Any) -> Iterator[LiveServer]:
    loras = tmp_path / "loras"
    loras.mkdir()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # the fake CDN is on 127.0.0.1: the fetch rule lets only a configured local host through
    (data_dir / "settings.json").write_text(json.dumps({"version": 1, "fetch_allowed_hosts": [hf.cdn_host]}))
    server = start_server(tmp_path, loras, civitai_url="http://127.0.0.1:9", expected=0,
                          environ={"LORA_MANAGER_HF_BASE_URL": hf.base_url})
    yield server
    server.stop()


def test_a_pasted_hugging_face_address_downloads_verified_into_the_library(live, hf, page):
    blob = hf.add("someone/pixel-lora", "loras/pixel_style.safetensors", n_bytes=50_000)
    page.goto(live.url + "downloads")
    page.wait_for_selector("html[data-ready='true']")
    page.fill("#download-url", ADDRESS)
    page.click("#download-lookup")
    page.wait_for_selector("#start-download:not([disabled])")
    assert page.inner_text("#download-model-name") == "someone/pixel-lora · loras/pixel_style.safetensors"
    assert page.locator("#download-hf-note").is_visible()
    assert page.locator("#download-files").count() == 0  # one file: nothing to choose
    assert page.input_value("#download-type") == "loras"
    page.wait_for_selector(f"#download-root option[value='{live.library.as_posix()}']", state="attached")
    page.select_option("#download-root", live.library.as_posix())
    page.click("#start-download")
    page.wait_for_selector("#active-downloads .download-item[data-status='completed']", timeout=30_000)

    files = list(live.library.rglob("pixel_style.safetensors"))
    assert len(files) == 1 and files[0].read_bytes() == blob.data
    assert not list(live.library.rglob("*.part"))
    assert [r.method for r in hf.hf_requests] == ["HEAD", "GET"] and len(hf.cdn_requests) == 1
    listed = live.wait_for("/api/lm/loras/list?page_size=10", lambda body: body["total"] == 1)
    item = listed["items"][0]
    assert item["sha256"] == hashlib.sha256(blob.data).hexdigest()
    assert item["hf_url"] == "https://huggingface.co/someone/pixel-lora"
    assert page.js_errors == []


def test_an_address_that_is_neither_civitai_nor_a_hugging_face_file_is_refused_in_place(live, page):
    page.goto(live.url + "downloads")
    page.wait_for_selector("html[data-ready='true']")
    page.fill("#download-url", "https://huggingface.co/someone/pixel-lora")  # a repository, not a file
    page.click("#download-lookup")
    error = page.locator("#download-error")
    error.wait_for()
    assert "Hugging Face file address" in error.inner_text()
    assert page.locator("#download-chooser").is_hidden()
    assert live.get("/api/lm/downloads/queue")["queue"] == []
