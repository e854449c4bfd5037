"""The Discover page in a real browser against a real server whose Civitai is a loopback fake: search, filter,
installed/outdated/new badges, load more, one-click download into the library."""
from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from support.e2e_live import LiveServer, start_server
from support.library import lm_sidecar, write_lora

pytestmark = pytest.mark.e2e


def _installed(loras: Path, stem: str, model: Any, version: Any) -> None:
    write_lora(loras, f"{stem}.safetensors", sidecar=lm_sidecar(stem, civitai={
        "id": version.id, "modelId": model.id, "name": version.name, "trainedWords": [], "baseModel": "SDXL 1.0",
        "model": {"name": model.name, "type": "LORA"}}))


def test_search_filter_badges_and_one_click_download(tmp_path: Path, civitai: Any, page: Any) -> None:
    current = civitai.add_model("Disco Current", versions=2)
    old = civitai.add_model("Disco Old", versions=2)
    fresh = civitai.add_model("Disco Fresh", versions=[{"files": [{"n_bytes": 20_000}]}])
    civitai.add_model("Disco Checkpoint", type="Checkpoint")
    loras = tmp_path / "loras"
    _installed(loras, "current", current, current.versions[0])
    _installed(loras, "old", old, old.versions[1])
    server: LiveServer = start_server(tmp_path, loras, civitai_url=civitai.base_url, expected=2)
    try:
        page.goto(server.url + "discover")
        page.wait_for_selector("html[data-ready='true']")
        page.fill("#discover-query", "disco")
        page.click("#discover-go")
        page.wait_for_selector(f"[data-model-id='{fresh.id}']")
        badges = {page.inner_text(f"[data-model-id='{m.id}'] h2"): page.get_attribute(
            f"[data-model-id='{m.id}'] .badge", "data-status") for m in (current, old, fresh)}
        assert badges == {"Disco Current": "installed", "Disco Old": "outdated", "Disco Fresh": "new"}
        assert page.locator("text=Disco Checkpoint").count() == 0  # LoRA is the default type

        page.select_option("#discover-type", "checkpoint")
        page.wait_for_selector("text=Disco Checkpoint")
        page.select_option("#discover-type", "lora")
        page.wait_for_selector(f"[data-model-id='{fresh.id}'] .discover-download")
        civitai.slow(5_000, path="/api/download")  # a few seconds: long enough to see the queue's progress
        page.click(f"[data-model-id='{fresh.id}'] .discover-download")
        page.wait_for_selector(f"[data-model-id='{fresh.id}'] .discover-download:disabled")
        page.goto(server.url + "downloads")
        page.wait_for_function("/^\\(\\d+%\\) /.test(document.title)", timeout=15_000)
        assert page.title().endswith("LoRA Manager")
        civitai.slow(None)
        deadline = time.monotonic() + 20
        target = None
        while time.monotonic() < deadline:
            found = [p for p in loras.rglob("*.safetensors") if p.stem not in ("current", "old")]
            if found:
                target = found[0]
                break
            time.sleep(0.1)
        assert target is not None and hashlib.sha256(target.read_bytes()).hexdigest() == fresh.versions[0].files[0].sha256
        listing = None
        while time.monotonic() < deadline:
            with urllib.request.urlopen(server.url + "api/lm/loras/list?page_size=50") as response:
                listing = json.load(response)
            if any(item.get("civitai", {}).get("id") == fresh.versions[0].id for item in listing["items"]):
                break
            time.sleep(0.1)
        assert any(item.get("civitai", {}).get("id") == fresh.versions[0].id for item in listing["items"])
    finally:
        civitai.slow(None)
        server.stop()
