"""``--vae DIR`` and the other kinds' flags, and ``--comfyui DIR`` feeding every kind, on the standalone server."""
from __future__ import annotations

import pytest

from lora_manager.py.library.kinds import EXTRA_KINDS
from lora_manager.py.standalone_server import ROOT_FLAGS, parse_args


def test_every_new_kind_has_a_flag_in_both_spellings(tmp_path):
    vae, te, te2 = tmp_path / "vae", tmp_path / "te", tmp_path / "te2"
    for folder in (vae, te, te2):
        folder.mkdir()
    options = parse_args(["--vae", str(vae), "--text_encoders", str(te), "--text-encoders", str(te2)])
    assert options.roots == {"vae": [str(vae)], "text_encoders": [str(te), str(te2)]}
    assert set(EXTRA_KINDS) <= set(ROOT_FLAGS.values())


def test_a_kind_flag_naming_no_folder_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--controlnet", str(tmp_path / "nope")])
    assert "--controlnet" in capsys.readouterr().err


def test_comfyui_flag_feeds_the_new_kinds(tmp_path):
    for folder in ("vae", "clip", "ipadapter", "upscale_models"):
        (tmp_path / "models" / folder).mkdir(parents=True)
    (tmp_path / "shared_vae").mkdir()
    (tmp_path / "extra_model_paths.yaml").write_text("x:\n  base_path: .\n  vae: shared_vae\n", encoding="utf-8")
    options = parse_args(["--comfyui", str(tmp_path)])
    assert options.roots["vae"] == [str(tmp_path / "models" / "vae"), str(tmp_path / "shared_vae")]
    assert options.roots["text_encoders"] == [str(tmp_path / "models" / "clip")]
    assert options.roots["ipadapter"] == [str(tmp_path / "models" / "ipadapter")]
    assert "diffusion_models" not in options.roots  # its folders are checkpoints
