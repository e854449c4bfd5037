"""The Duplicates view in a real browser: LoRAs with the same bytes show as one group (the generated library has
identical files per family, plus a copy in another folder); "Keep this one" moves the other copies to the trash
(their files leave the disk), Undo brings them back; the copy's shared file name shows in the file-name tab."""
from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.e2e


def test_keep_one_copy_then_undo(fresh_server, page):
    library = fresh_server.library
    robot = library / "characters" / "robot.safetensors"
    kept = library / "concepts" / "neon_city.safetensors"
    copy = library / "copies" / "robot.safetensors"
    copy.parent.mkdir()
    shutil.copy2(robot, copy)
    fresh_server.get("/api/lm/loras/scan")

    def flux_group(body):
        return next((g for g in body["duplicates"] if any(m["file_name"] == "neon_city" for m in g["models"])), None)

    group = flux_group(fresh_server.wait_for("/api/lm/loras/find-duplicates",
                                             lambda body: len((flux_group(body) or {"models": []})["models"]) == 3))

    page.goto(fresh_server.url + "loras?view=duplicates")
    page.wait_for_selector("html[data-ready='true']")
    card = page.locator(f".dupes-group[data-hash='{group['hash']}']")
    card.wait_for()
    assert card.locator(".dupes-model").count() == 3
    card.locator(".dupes-verify").click()
    card.locator(".dupes-verdict", has_text="Verified: every copy has the same content.").wait_for()
    card.locator(f".dupes-model[data-file-path='{kept.as_posix()}'] .dupes-keep").click()
    page.locator(".modal .btn-danger").click()
    page.locator(".toast", has_text="2 copies moved to the trash").wait_for()
    card.wait_for(state="detached")
    assert kept.exists() and not robot.exists() and not copy.exists()
    assert flux_group(fresh_server.get("/api/lm/loras/find-duplicates")) is None

    page.locator(".toast button", has_text="Undo").click()
    card.locator(".dupes-model").nth(2).wait_for()
    assert robot.exists() and copy.read_bytes() == kept.read_bytes()

    page.click("#dupes-tab-names")
    page.locator(".dupes-group[data-filename='robot'] .dupes-model").nth(1).wait_for()
    assert page.js_errors == []
