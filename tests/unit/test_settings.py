"""Settings: validation with clear messages, migration, atomic saves, corrupt files set aside."""
from __future__ import annotations

import json
import os

import pytest

from lora_manager.py.settings import (Settings, SettingsError, SettingsStore, mask_secret, resolve_runtime_paths,
                                      template_problem)


def test_defaults_round_trip():
    settings = Settings()
    assert Settings.from_dict(settings.to_dict()) == settings


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as info:
        Settings.from_dict({"watch_mode": "x", "poll_interval_seconds": 1, "hash_checkpoints_lazily": "yes",
                            "libraries": {"a": {"roots": {"lora": ["relative/path"]}}}, "active_library": "b",
                            "civitai_base_url": "ftp://x", "recipes_dir": "rel", "language": 5})
    problems = info.value.problems
    assert len(problems) == 8
    assert any("absolute path" in p for p in problems)


def test_unknown_keys_are_kept():
    settings = Settings.from_dict({"future_option": {"x": 1}})
    assert settings.to_dict()["future_option"] == {"x": 1}


def test_reference_flat_document_is_migrated():
    settings = Settings.from_dict({"folder_paths": {"loras": ["/m/loras"], "checkpoints": ["/m/ckpt"],
                                                    "unet": ["/m/unet"], "embeddings": ["/m/emb"]},
                                   "civitai_api_key": "k"})
    assert settings.library.roots == {"lora": ["/m/loras"], "checkpoint": ["/m/ckpt", "/m/unet"],
                                      "embedding": ["/m/emb"]}
    assert settings.civitai_api_key == "k"


@pytest.mark.parametrize("template,ok", [("{base_model}/{first_tag}", True), ("", True), ("{x}", False),
                                         ("/abs/{base_model}", False), ("a/../b", False), ("{base_model", False),
                                         ("{base_model!r}", False)])
def test_template_validation(template, ok):
    assert (template_problem(template) is None) is ok


def test_mask_secret():
    assert mask_secret("") == ""
    assert mask_secret("short") == "*****"
    assert mask_secret("abcdefghijkl") == "********ijkl"


def test_store_creates_defaults(tmp_path):
    store = SettingsStore(tmp_path / "cfg" / "settings.json")
    store.load()
    assert store.created
    assert json.loads((tmp_path / "cfg" / "settings.json").read_text())["version"] == 1


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00", b"[1,2]"])
def test_corrupt_settings_are_set_aside_never_deleted(tmp_path, content):
    path = tmp_path / "settings.json"
    path.write_bytes(content)
    store = SettingsStore(path)
    settings = store.load()
    assert settings == Settings()
    asides = list(tmp_path.glob("settings.json.corrupt-*"))
    assert len(asides) == 1 and asides[0].read_bytes() == content
    assert store.warnings and asides[0].name in store.warnings[0]
    # a second corrupt file on the same second gets its own name
    path.write_bytes(content)
    SettingsStore(path).load()
    assert len(list(tmp_path.glob("settings.json.corrupt-*"))) == 2


def test_a_value_we_cannot_use_is_reported_and_kept_not_the_file_set_aside(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"version": 1, "watch_mode": "bogus", "libraries": {"default": {"roots": {
        "lora": [str(tmp_path / "loras"), "relative/loras"]}}}}))
    store = SettingsStore(path)
    settings = store.load()
    assert not list(tmp_path.glob("settings.json.corrupt-*"))
    assert settings.watch_mode == "off" and settings.library.roots["lora"] == [str(tmp_path / "loras")]
    assert any("watch_mode" in w for w in store.warnings) and any("relative/loras" in w for w in store.warnings)
    store.update({"language": "de"})
    saved = json.loads(path.read_text())
    assert saved["watch_mode"] == "bogus" and saved["language"] == "de"
    assert saved["libraries"]["default"]["roots"]["lora"] == [str(tmp_path / "loras"), "relative/loras"]
    store.update({"watch_mode": "poll"})  # the user's own choice replaces the kept value
    assert json.loads(path.read_text())["watch_mode"] == "poll"


def test_failed_save_leaves_the_old_file(tmp_path):
    path = tmp_path / "settings.json"
    store = SettingsStore(path)
    store.load()
    before = path.read_bytes()
    with pytest.raises(SettingsError):
        store.update({"download_concurrency": 0})
    assert path.read_bytes() == before
    with pytest.raises(TypeError):
        store.update({"future": object()})  # cannot be encoded: nothing is written
    assert path.read_bytes() == before
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_runtime_paths(tmp_path):
    by_data = resolve_runtime_paths(None, str(tmp_path / "d"), environ={})
    assert by_data.settings_path == tmp_path / "d" / "settings.json"
    assert by_data.db_dir == tmp_path / "d" / "db"
    explicit = resolve_runtime_paths(str(tmp_path / "s.json"), None, environ={})
    assert explicit.settings_path == tmp_path / "s.json"
    portable = resolve_runtime_paths(None, None, environ={"LORA_MANAGER_PORTABLE": "1"})
    assert portable.settings_path.name == "settings.json" and portable.data_dir.name == "data"
    default = resolve_runtime_paths(None, None, environ={})
    assert "lora-manager" in str(default.settings_path)
