"""``--comfyui DIR``: the standalone server takes the model roots of a ComfyUI install on disk."""
from __future__ import annotations

import pytest

from lora_manager.py.standalone_server import parse_args


def test_comfyui_flag_adds_install_and_yaml_roots(tmp_path):
    for folder in ("loras", "checkpoints", "unet", "embeddings", "vae"):
        (tmp_path / "models" / folder).mkdir(parents=True)
    (tmp_path / "more").mkdir()
    (tmp_path / "extra_model_paths.yaml").write_text("x:\n  base_path: .\n  loras: more\n", encoding="utf-8")
    own = tmp_path / "own"
    options = parse_args(["--loras", str(own), "--comfyui", str(tmp_path)])
    assert options.roots["lora"] == [str(own), str(tmp_path / "models" / "loras"), str(tmp_path / "more")]
    assert options.roots["checkpoint"] == [str(tmp_path / "models" / f) for f in ("checkpoints", "unet")]
    assert options.roots["embedding"] == [str(tmp_path / "models" / "embeddings")]


def test_comfyui_flag_with_a_missing_dir_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--comfyui", str(tmp_path / "nope")])
    assert "not a directory" in capsys.readouterr().err
