"""Pure parts of metadata refresh and update checks: sidecar updates, version order, the update store."""
from __future__ import annotations

import io
import sqlite3

import pytest
from PIL import Image

from lora_manager.py.library.sidecar import apply_updates
from lora_manager.py.services.metadata.refresh import (
    ItemResult, RefreshSummary, encode_webp, first_preview_image, not_found_updates, refresh_updates,
)
from lora_manager.py.services.metadata.updates import UpdateEntry, UpdateStore, newer_versions, versions_from_model

VERSION = {
    "id": 11, "modelId": 1, "name": "v2", "baseModel": "Flux.1 D", "trainedWords": ["w1"],
    "model": {"name": "Remote", "type": "LORA"},
    "images": [{"url": "http://x/v.mp4", "type": "video"}, {"url": "http://x/a.png", "type": "image", "nsfwLevel": 2}],
}
MODEL = {"id": 1, "name": "Remote Full", "tags": ["t1", "t2"], "description": "<p>d</p>",
         "creator": {"username": "maker", "image": None}}


def test_refresh_updates_sets_civitai_fields():
    updates = refresh_updates({}, VERSION, MODEL, sha256="ab" * 32, now=5.0)
    assert updates["model_name"] == "Remote Full"
    assert updates["base_model"] == "Flux.1 D"
    assert updates["tags"] == ["t1", "t2"]
    assert updates["modelDescription"] == "<p>d</p>"
    assert updates["civitai"]["trainedWords"] == ["w1"]
    assert updates["civitai"]["creator"]["username"] == "maker"
    assert updates["from_civitai"] is True and updates["last_checked_at"] == 5.0


def test_refresh_updates_without_model_keeps_tags():
    updates = refresh_updates({}, VERSION, None, sha256="ab" * 32, now=1.0)
    assert "tags" not in updates and "modelDescription" not in updates
    assert updates["model_name"] == "Remote"


def test_refresh_updates_respects_user_edits():
    raw = {"model_name": "Mine", "tags": ["x"], "base_model": "B", "notes": "n",
           "civitai": {"trainedWords": ["mine"], "id": 3},
           "user_edited_fields": ["model_name", "tags", "base_model", "civitai.trainedWords"]}
    updates = refresh_updates(raw, VERSION, MODEL, sha256="ab" * 32, now=1.0)
    assert not {"model_name", "tags", "base_model", "notes"} & updates.keys()
    merged = apply_updates(raw, updates)
    assert merged["civitai"]["trainedWords"] == ["mine"] and merged["civitai"]["id"] == 11
    assert merged["model_name"] == "Mine" and merged["notes"] == "n"


def test_not_found_updates():
    assert not_found_updates(2.0, "cd" * 32) == {
        "from_civitai": False, "civitai_deleted": True, "db_checked": True, "sha256": "cd" * 32,
        "last_checked_at": 2.0}


def test_first_preview_image_skips_videos():
    assert first_preview_image(VERSION)["url"] == "http://x/a.png"
    assert first_preview_image({"images": [{"url": "v", "type": "video"}]}) is None
    assert first_preview_image({}) is None


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "L"])
def test_encode_webp(mode):
    buffer = io.BytesIO()
    Image.new(mode, (4, 4)).save(buffer, "PNG")
    data = encode_webp(buffer.getvalue())
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"


def test_encode_webp_rejects_garbage():
    with pytest.raises(ValueError, match="not a usable image"):
        encode_webp(b"\x89PNG\r\n\x1a\n truncated")


def test_summary_counts():
    summary = RefreshSummary(total=4)
    for status in ("updated", "not_found", "skipped", "failed"):
        summary.add(ItemResult("/p", "n", status, "why"))
    assert (summary.success, summary.not_found, summary.skipped_count, summary.failure_count) == (1, 1, 1, 1)
    assert summary.processed == 3 and summary.handled == 2
    assert summary.failures == [{"file_path": "/p", "name": "n", "error": "why"}]
    assert "record" not in ItemResult("/p", "n", "updated").to_dict()


def _entry(ids, **kw):
    return UpdateEntry("lora", 1, versions=[{"id": i, "name": f"v{i}"} for i in ids], checked_at=1.0, **kw)


def test_newer_versions_follow_list_order():
    entry = _entry([30, 20, 10])
    assert [v["id"] for v in newer_versions(entry, {10})] == [30, 20]
    assert newer_versions(entry, {30}) == []
    assert [v["id"] for v in newer_versions(entry, {20, 10})] == [30]
    assert [v["id"] for v in newer_versions(entry, {15})] == [30, 20]  # local version no longer listed
    assert newer_versions(entry, set()) == []
    assert newer_versions(None, {10}) == []
    assert newer_versions(_entry([30, 10], ignored=True), {10}) == []
    assert newer_versions(_entry([30, 10], ignored_versions=[30]), {10}) == []
    assert newer_versions(_entry([30, 10], not_found=True), {10}) == []


def test_versions_from_model_skips_drafts_and_junk():
    model = {"modelVersions": [{"id": 3, "name": "d", "status": "Draft"}, "junk", {"id": "x"},
                               {"id": 2, "name": "ok", "status": "Published", "publishedAt": "t"}, {"id": 1}]}
    assert versions_from_model(model) == [
        {"id": 2, "name": "ok", "published_at": "t", "base_model": None},
        {"id": 1, "name": "", "published_at": None, "base_model": None},
    ]


def test_store_round_trip_and_ignore(tmp_path):
    store = UpdateStore(tmp_path / "db" / "updates.sqlite")
    store.open()
    store.record_check("lora", {5: {"name": "M", "modelVersions": [{"id": 51}, {"id": 50}]}}, [6], 10.0)
    store.set_ignored("lora", 5, version_id=51)
    store.set_ignored("lora", 6)
    store.set_ignored("lora", 5, version_id=99)
    store.set_ignored("lora", 5, version_id=99, ignore=False)
    store.close()
    again = UpdateStore(tmp_path / "db" / "updates.sqlite")
    again.open()
    entry = again.get("lora", 5)
    assert entry.model_name == "M" and [v["id"] for v in entry.versions] == [51, 50]
    assert entry.ignored_versions == [51] and not entry.ignored
    assert again.get("lora", 6).ignored and again.get("lora", 6).not_found
    assert set(again.entries("lora")) == {5, 6} and again.entries("checkpoint") == {}
    again.record_check("lora", {5: {"name": "M2", "modelVersions": [{"id": 52}]}}, [], 11.0)
    assert again.get("lora", 5).ignored_versions == [51]  # choices survive a new check
    assert again.get("lora", 5).to_dict()["latest_version"]["id"] == 52
    again.close()


def test_store_skips_bad_rows(tmp_path):
    path = tmp_path / "updates.sqlite"
    store = UpdateStore(path)
    store.open()
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO model_updates (model_type, model_id, versions_json) VALUES ('lora', 1, 'not json')")
    conn.execute("INSERT INTO model_updates (model_type, model_id) VALUES ('lora', 2)")
    conn.commit()
    conn.close()
    store = UpdateStore(path)
    store.open()
    assert set(store.entries("lora")) == {2}
    store.close()


def test_store_requires_open(tmp_path):
    store = UpdateStore(tmp_path / "u.sqlite")
    with pytest.raises(RuntimeError, match="not open"):
        store.set_ignored("lora", 1)
