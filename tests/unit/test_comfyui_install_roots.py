"""Roots of a ComfyUI install on disk: models/<folder>, extra_model_paths.yaml, and bad yaml files."""
from __future__ import annotations

import logging

import pytest

from lora_manager.py.library.comfyui_dir import comfyui_install_roots, extra_model_paths
from lora_manager.py.library.kinds import KINDS, all_folders, kind_named, kinds_for_folder

ISSUE_FOLDERS = ("vae", "upscale_models", "controlnet", "text_encoders", "clip", "diffusion_models", "unet",
                 "clip_vision", "style_models", "ipadapter", "animatediff_models")


def test_every_issue_folder_has_a_kind_and_aliases_resolve():
    for folder in ISSUE_FOLDERS:
        assert kinds_for_folder(folder), folder
    assert kind_named("clip").name == "text_encoders"
    assert kind_named("unet").name == "diffusion_models"
    assert kind_named("nope") is None
    assert kinds_for_folder("unet") == ("checkpoint", "diffusion_models")
    assert len({k.name for k in KINDS}) == len(KINDS)


def test_install_with_every_folder_lists_each_kind(tmp_path):
    for folder in all_folders():
        (tmp_path / "models" / folder).mkdir(parents=True)
    roots = comfyui_install_roots(tmp_path)
    assert set(roots) == {k.name for k in KINDS}
    assert roots["text_encoders"] == [str(tmp_path / "models" / f) for f in ("text_encoders", "clip")]
    assert str(tmp_path / "models" / "unet") in roots["checkpoint"]


def test_extra_model_paths_yaml_adds_roots_against_base_path(tmp_path):
    (tmp_path / "models" / "vae").mkdir(parents=True)
    other = tmp_path / "shared"
    for sub in ("vae", "loras", "loras2", "clip"):
        (other / sub).mkdir(parents=True)
    (tmp_path / "extra_model_paths.yaml").write_text(
        "a111:\n  base_path: shared\n  vae: vae\n  loras: |\n    loras\n    loras2\n  missing_dir: x\n"
        "  clip: clip\n  ipadapter: not-there\n  controlnet: 5\nplain: 3\n", encoding="utf-8")
    roots = comfyui_install_roots(tmp_path)
    assert roots["vae"] == [str(tmp_path / "models" / "vae"), str((other / "vae").resolve())]
    assert roots["lora"] == [str((other / "loras").resolve()), str((other / "loras2").resolve())]
    assert roots["text_encoders"] == [str((other / "clip").resolve())]
    assert "ipadapter" not in roots and "controlnet" not in roots


@pytest.mark.parametrize("text", ["a: [unclosed\n", "- just\n- a list\n", "\xff\xfe".encode("latin-1")])
def test_bad_yaml_is_a_log_line_not_a_crash(tmp_path, caplog, text):
    path = tmp_path / "extra_model_paths.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with caplog.at_level(logging.WARNING):
        assert extra_model_paths(path) == {}
    assert "model paths are ignored" in caplog.text
    assert path.read_bytes() == (text if isinstance(text, bytes) else text.encode())


def test_missing_or_empty_yaml_gives_no_roots(tmp_path):
    assert extra_model_paths(tmp_path / "none.yaml") == {}
    (tmp_path / "e.yaml").write_text("", encoding="utf-8")
    assert extra_model_paths(tmp_path / "e.yaml") == {}
    assert comfyui_install_roots(tmp_path) == {}
