"""Preview conversion and companion files of a downloaded model."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from lora_manager.py.services.downloads import artifacts


def _image(mode: str, size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("mode, size, width", [("P", (1024, 300), 512), ("LA", (40, 20), 40), ("RGB", (512, 5), 512)])
def test_to_webp_bounds_width_and_keeps_aspect(mode, size, width):
    with Image.open(io.BytesIO(artifacts.to_webp(_image(mode, size)))) as image:
        assert image.format == "WEBP" and image.width == width
        assert abs(image.height - round(size[1] * width / size[0])) <= 1


def test_to_webp_refuses_non_images():
    with pytest.raises(ValueError):
        artifacts.to_webp(b"\x00\x01 not an image")


def test_first_image_prefers_still_images():
    version = {"images": [{"url": "v.mp4", "type": "video"}, "junk", {"url": "a.png", "type": "image"}]}
    assert artifacts.first_image(version)["url"] == "a.png"
    assert artifacts.first_image({"images": [{"url": "v.mp4", "type": "video"}]}) is None


def test_existing_preview_and_user_edits_are_kept(tmp_path):
    model = tmp_path / "m.safetensors"
    model.write_bytes(b"x")
    preview = tmp_path / "m.webp"
    preview.write_bytes(b"old")
    assert artifacts.write_preview(model, b"new") == preview and preview.read_bytes() == b"old"
    (tmp_path / "m.metadata.json").write_text(
        '{"model_name": "Mine", "user_edited_fields": ["model_name", "civitai.trainedWords"], '
        '"civitai": {"trainedWords": ["kept"]}, "extra": 1}')
    data = artifacts.build_sidecar(model, model_type="checkpoint", version={"id": 1, "trainedWords": ["new"]},
                                   model={"name": "Theirs", "type": "Checkpoint"}, sha256="AB", preview=None)
    saved = artifacts.read_sidecar(artifacts.save_sidecar(model, data))
    assert saved["model_name"] == "Mine" and saved["civitai"]["trainedWords"] == ["kept"]
    assert saved["extra"] == 1 and saved["sub_type"] == "checkpoint" and saved["sha256"] == "ab"
    assert artifacts.companions(tmp_path / "gone" / "x.safetensors") == []
    removed = artifacts.delete_model_files(model)
    assert sorted(p.rsplit("/", 1)[1] for p in removed) == ["m.metadata.json", "m.safetensors", "m.webp"]
    assert artifacts.delete_model_files(model) == []
