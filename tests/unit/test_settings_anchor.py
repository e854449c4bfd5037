"""ComfyUI-Lora-Manager's settings shapes: read into ours, written back so that project still reads them.

Documents are built here in each shape that project has written (see its py/services/settings_manager.py):
old flat files, the current file with libraries plus top-level copies, its names for our keys.
"""
from __future__ import annotations

import json

import pytest

from lora_manager.py.anchor_settings import folder_paths_from_roots, roots_from_folder_paths
from lora_manager.py.settings import Settings, SettingsError, SettingsStore


def current_shape(tmp) -> dict:
    """The current shape: libraries with folder lists, the active one copied at the top level."""
    comfy = {
        "folder_paths": {"loras": [f"{tmp}/ComfyUI/models/loras"], "checkpoints": [f"{tmp}/ComfyUI/models/checkpoints"],
                         "unet": [f"{tmp}/ComfyUI/models/diffusion_models"], "embeddings": [f"{tmp}/ComfyUI/models/embeddings"]},
        "extra_folder_paths": {"loras": [f"{tmp}/nas/loras"]},
        "default_lora_root": f"{tmp}/nas/loras", "default_checkpoint_root": f"{tmp}/ComfyUI/models/checkpoints",
        "default_unet_root": f"{tmp}/ComfyUI/models/diffusion_models", "default_embedding_root": "",
        "recipes_path": "", "metadata": {"display_name": "ComfyUI", "source": "comfyui"},
        "created_at": "2025-01-01T00:00:00+00:00", "updated_at": "2025-02-01T00:00:00+00:00",
    }
    studio = {"folder_paths": {"loras": [f"{tmp}/studio/loras"], "checkpoints": [], "unet": [], "embeddings": []},
              "extra_folder_paths": {}, "default_lora_root": f"{tmp}/studio/loras", "recipes_path": f"{tmp}/studio/recipes"}
    return {
        "civitai_api_key": "abc123def456", "language": "de", "libraries": {"comfyui": comfy, "studio": studio},
        "active_library": "comfyui",
        "folder_paths": comfy["folder_paths"], "extra_folder_paths": comfy["extra_folder_paths"],
        "default_lora_root": comfy["default_lora_root"], "default_checkpoint_root": comfy["default_checkpoint_root"],
        "default_unet_root": comfy["default_unet_root"], "default_embedding_root": "", "recipes_path": "",
        "model_name_display": "file_name", "auto_download_example_images": True, "show_only_sfw": True,
        "blur_mature_content": False, "civitai_host": "civitai.green", "use_portable_settings": False,
        "proxy_enabled": True, "proxy_host": "10.0.0.2", "proxy_port": "3128", "proxy_type": "http",
        "priority_tags": {"lora": "character, style"}, "download_path_templates": {"lora": "{base_model}/{first_tag}",
                                                                                 "unet": "{base_model}"},
        "example_images_path": f"{tmp}/examples", "skip_previously_downloaded_model_versions": True,
    }


def test_current_shape_gives_every_folder_of_every_library(tmp_path):
    settings, warnings = Settings.from_document(current_shape(tmp_path))
    assert warnings == []
    comfy = settings.libraries["comfyui"]
    assert settings.active_library == "comfyui"
    assert comfy.roots == {"lora": [f"{tmp_path}/ComfyUI/models/loras", f"{tmp_path}/nas/loras"],
                           "checkpoint": [f"{tmp_path}/ComfyUI/models/checkpoints",
                                          f"{tmp_path}/ComfyUI/models/diffusion_models"],
                           "embedding": [f"{tmp_path}/ComfyUI/models/embeddings"]}
    assert comfy.default_root("lora") == f"{tmp_path}/nas/loras"
    assert comfy.default_root("checkpoint", diffusion=True) == f"{tmp_path}/ComfyUI/models/diffusion_models"
    assert settings.libraries["studio"].recipes_path == f"{tmp_path}/studio/recipes"
    assert settings.display_name == "file_name" and settings.download_example_images is True
    assert settings.skip_previously_downloaded_model_versions is True and settings.language == "de"
    assert settings.download_path_templates["unet"] == "{base_model}"
    # a template it never set is its default, not ours
    assert settings.download_path_templates["checkpoint"] == "{base_model}/{first_tag}"


def test_flat_file_becomes_the_default_library_with_its_defaults(tmp_path):
    flat = {"civitai_api_key": "k", "folder_paths": {"loras": ["/m/loras"], "checkpoints": ["/m/ckpt"],
                                                    "unet": ["/m/unet"], "embeddings": ["/m/emb"]},
            "default_lora_root": "/m/loras", "recipes_path": "/m/recipes", "download_path_template": "{base_model}",
            "autoDownloadExampleImages": True}
    settings, _ = Settings.from_document(flat)
    assert settings.active_library == "default"
    assert settings.library.roots == {"lora": ["/m/loras"], "checkpoint": ["/m/ckpt", "/m/unet"], "embedding": ["/m/emb"]}
    assert settings.library.default_root("lora") == "/m/loras" and settings.library.recipes_path == "/m/recipes"
    assert settings.download_path_templates == {t: "{base_model}" for t in ("lora", "checkpoint", "embedding")}
    assert settings.download_example_images is True
    doc = settings.to_document()
    assert doc["download_path_template"] == "{base_model}" and doc["autoDownloadExampleImages"] is True
    assert "download_example_images" not in doc  # written under its name only: one key, one meaning


def test_library_without_folders_takes_the_top_level_ones():
    """Its rule: a single (or the active) library with no folder lists is seeded from the top level."""
    doc = {"libraries": {"default": {"created_at": "x"}}, "active_library": "default",
           "folder_paths": {"loras": ["/m/loras"]}}
    settings, warnings = Settings.from_document(doc)
    assert settings.library.roots["lora"] == ["/m/loras"]
    assert settings.library.extra == {"created_at": "x"}
    assert any("top-level folder_paths" in w for w in warnings)


def test_round_trip_keeps_both_shapes_and_every_key(tmp_path):
    path = tmp_path / "settings.json"
    original = current_shape(tmp_path)
    path.write_text(json.dumps(original), encoding="utf-8")
    store = SettingsStore(path)
    store.load()
    assert path.read_text(encoding="utf-8") == json.dumps(original)  # loading never rewrites the file
    store.update({"language": "fr"})
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["language"] == "fr"
    for key, value in original.items():
        if key == "download_path_templates":  # same meaning: the types it left out are spelled with its default
            assert saved[key] == {"checkpoint": "{base_model}/{first_tag}", "embedding": "{base_model}/{first_tag}",
                                  **value}
        elif key not in ("language", "libraries"):
            assert saved[key] == value, key  # its keys, its folder lists, its copies: exactly as they were
    for name, body in original["libraries"].items():
        for key, value in body.items():
            assert saved["libraries"][name][key] == value, (name, key)
    comfy = saved["libraries"]["comfyui"]
    assert comfy["roots"]["checkpoint"] == [f"{tmp_path}/ComfyUI/models/checkpoints",
                                            f"{tmp_path}/ComfyUI/models/diffusion_models"]
    assert "display_name" not in saved and saved["model_name_display"] == "file_name"
    again = SettingsStore(path)
    assert again.load() == store.settings


def test_changing_roots_rewrites_its_lists_split_as_before(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(current_shape(tmp_path)), encoding="utf-8")
    store = SettingsStore(path)
    store.load()
    body = store.settings.to_dict()["libraries"]["comfyui"]
    roots = body["roots"]
    roots["checkpoint"].append(f"{tmp_path}/more_checkpoints")
    roots["lora"].remove(f"{tmp_path}/ComfyUI/models/loras")
    store.update({"libraries": {**store.settings.to_dict()["libraries"], "comfyui": {**body, "roots": roots}}})
    saved = json.loads(path.read_text(encoding="utf-8"))
    for where in (saved["libraries"]["comfyui"], saved):  # the library and its top-level copy
        assert where["folder_paths"] == {"loras": [], "checkpoints": [f"{tmp_path}/ComfyUI/models/checkpoints",
                                                                       f"{tmp_path}/more_checkpoints"],
                                         "unet": [f"{tmp_path}/ComfyUI/models/diffusion_models"],
                                         "embeddings": [f"{tmp_path}/ComfyUI/models/embeddings"]}
        assert where["extra_folder_paths"] == {"loras": [f"{tmp_path}/nas/loras"]}
    assert saved["libraries"]["comfyui"]["metadata"] == {"display_name": "ComfyUI", "source": "comfyui"}


def test_updates_in_its_names_apply_to_the_active_library(tmp_path):
    settings, _ = Settings.from_document(current_shape(tmp_path))
    new_root = f"{tmp_path}/new/loras"
    changed = settings.updated({"folder_paths": {"loras": [new_root], "checkpoints": [], "unet": [], "embeddings": []},
                                "default_lora_root": new_root, "model_name_display": "model_name"})
    assert changed.library.roots["lora"] == [new_root, f"{tmp_path}/nas/loras"]  # its extra folder stays
    assert changed.library.default_root("lora") == new_root
    assert changed.display_name == "model_name" and changed.to_document()["model_name_display"] == "model_name"
    assert changed.libraries["studio"] == settings.libraries["studio"]
    with pytest.raises(SettingsError) as info:
        settings.updated({"default_checkpoint_root": "relative/folder"})
    assert "default_checkpoint_root" in str(info.value)


def test_paths_we_cannot_use_are_kept_not_dropped(tmp_path):
    """Its example file on Linux: Windows paths. They are reported, left in the file, and not scanned."""
    doc = {"use_portable_settings": False, "civitai_api_key": "your_civitai_api_key_here",
           "folder_paths": {"loras": ["C:/path/to/your/loras_folder", "/real/loras"], "checkpoints": [],
                            "unet": [], "embeddings": []}}
    settings, warnings = Settings.from_document(doc)
    assert settings.library.roots["lora"] == ["/real/loras"] and settings.civitai_api_key == ""
    assert any("C:/path/to/your/loras_folder" in w for w in warnings)
    written = settings.updated({"language": "ja"}).to_document()
    assert written["folder_paths"]["loras"] == ["C:/path/to/your/loras_folder", "/real/loras"]
    assert written["civitai_api_key"] == "your_civitai_api_key_here"
    added = settings.updated({"libraries": {"default": {"roots": {"lora": ["/real/loras", "/other"]}}}}).to_document()
    assert added["folder_paths"]["loras"] == ["/real/loras", "/other", "C:/path/to/your/loras_folder"]


def test_folder_list_conversions_are_inverse():
    old = {"loras": ["/a", "/b"], "checkpoints": ["/c"], "unet": ["/u"], "embeddings": [], "future": ["/f"]}
    extra = {"loras": ["/x"], "unet": ["/xu"]}
    roots, unusable = roots_from_folder_paths(old, extra)
    assert unusable == []
    assert roots == {"lora": ["/a", "/b", "/x"], "checkpoint": ["/c", "/u", "/xu"], "embedding": []}
    primary, extra_back = folder_paths_from_roots(roots, old, extra)
    assert primary == old and extra_back == extra
