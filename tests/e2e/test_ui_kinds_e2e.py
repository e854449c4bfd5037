"""The kind switcher: on a library holding LoRAs and VAEs, the LoRA page offers the VAE page, which lists the VAE
with what its header says; saving the settings page keeps the VAE roots it does not edit; a library of LoRAs only
shows no switcher."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from e2e.conftest import NO_ANCHOR, ROOT, UNREACHABLE_CIVITAI, _attach
from lora_manager.py.library.safetensors import write_safetensors_header
from support.library import write_lora

pytestmark = pytest.mark.e2e


def test_switcher_opens_the_vae_page(tmp_path: Path, page, small_server):
    loras, vae = tmp_path / "loras", tmp_path / "vae"
    write_lora(loras, "ink.safetensors")
    vae.mkdir()
    write_safetensors_header(vae / "sdxl_vae.safetensors", {"decoder.conv_in.weight": ("F16", [512, 4, 3, 3])},
                             {"format": "pt"})
    data = tmp_path / "data"
    data.mkdir()
    (data / "settings.json").write_text(json.dumps({"version": 1, "libraries": {"default": {"roots": {
        "lora": [str(loras)], "vae": [str(vae)]}}}}), encoding="utf-8")
    env = {**os.environ, **NO_ANCHOR, "LORA_MANAGER_CIVITAI_BASE_URL": UNREACHABLE_CIVITAI, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "standalone.py"), "--port", "0", "--data-dir",
                             str(data)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=tmp_path, env=env)
    server = _attach(proc, loras, tmp_path / "data", expected=1)
    try:
        page.goto(server.url + "loras")
        page.wait_for_selector("html[data-ready='true']")
        switcher = page.locator("#kind-switcher")
        switcher.locator("a[data-kind='vae']").wait_for()
        assert switcher.locator("a").all_inner_texts() == ["LoRAs 1", "VAEs 1"]
        assert switcher.locator("a[data-kind='lora']").get_attribute("aria-current") == "page"
        switcher.locator("a[data-kind='vae']").click()
        page.wait_for_url("**/kinds/vae")
        page.wait_for_selector(".model-card:not(.skeleton)")
        assert "sdxl_vae" in page.locator(".model-card").first.inner_text()
        assert page.title().startswith("VAEs")
        assert switcher.locator("a[data-kind='vae']").get_attribute("aria-current") == "page"
        page.goto(server.url + "settings")
        page.click("#save-settings")
        page.wait_for_selector(".form-status.ok")
        assert server.settings()["libraries"]["default"]["roots"]["vae"] == [str(vae)]
        assert page.js_errors == []
    finally:
        server.stop()
    page.goto(small_server.url + "loras")  # LoRAs only: no switcher
    page.wait_for_selector(".model-card:not(.skeleton)")
    assert page.locator("#kind-switcher").is_hidden()
    assert page.js_errors == []
