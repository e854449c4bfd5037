"""ComfyUI-Lora-Manager's settings: its folder lists, its renamed keys, and where its settings file lives.

Why: people switch from that project with a settings file it wrote in one of its shapes: old flat files with a
top-level ``folder_paths``, or the current one with ``libraries.<name>.folder_paths`` (plus ``extra_folder_paths``,
``default_*_root`` and ``recipes_path``) and top-level copies of the active library's values. We read every
shape, and what we write stays readable by that project: its folder lists are written beside ours, split the
way it split them (``unet`` folders are diffusion models; we scan them as checkpoints), its keys keep their
names. Pure functions, no I/O except ``anchor_settings_candidates`` (a few ``stat`` calls).
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import platformdirs

logger = logging.getLogger(__name__)

ANCHOR_APP_NAME = "ComfyUI-LoRA-Manager"  # its platformdirs app name (py/utils/settings_paths.py)
ANCHOR_PACKAGE_PREFIX = "comfyui-lora-manager"  # its folder under custom_nodes, any case (git clone or registry)
ANCHOR_CONFIG_ENV = "LORA_MANAGER_ANCHOR_CONFIG_DIR"  # where to look for its settings instead (tests, odd setups)

# Its folder-list keys and the model type each is scanned as here.
FOLDER_KEY_TYPE = {"loras": "lora", "checkpoints": "checkpoint", "unet": "checkpoint", "embeddings": "embedding"}
FOLDER_KEYS = tuple(FOLDER_KEY_TYPE)
DEFAULT_ROOT_KEY = {"lora": "default_lora_root", "checkpoint": "default_checkpoint_root",
                    "embedding": "default_embedding_root"}
DIFFUSION_ROOT_KEY = "default_unet_root"  # the default folder of diffusion models (its ``unet`` folders)
DEFAULT_ROOT_KEYS = ("default_lora_root", "default_checkpoint_root", "default_unet_root", "default_embedding_root")
# Per library in its current shape; at the top level they are copies of the active library's values.
LIBRARY_KEYS = ("folder_paths", "extra_folder_paths", *DEFAULT_ROOT_KEYS, "recipes_path")
MIRROR_KEYS = LIBRARY_KEYS

# Our key -> its names for the same setting (first match wins; the camelCase one is from its oldest files).
ALIASES: dict[str, tuple[str, ...]] = {
    "display_name": ("model_name_display",),
    "download_example_images": ("auto_download_example_images", "autoDownloadExampleImages"),
    "blur_mature_content": ("blurMatureContent",),
}
TEMPLATE_DEFAULT = "{base_model}/{first_tag}"  # what it uses for a model type without a template
LEGACY_TEMPLATE_KEY = "download_path_template"  # one template for every type, in its older files
PLACEHOLDER_API_KEY = "your_civitai_api_key_here"  # from its settings.json.example: no key


def identity(path: str) -> str:
    """The comparison form of a folder path (``~`` expanded, normalised, case-folded where the OS folds)."""
    return os.path.normcase(os.path.normpath(os.path.expanduser(path)))


def clean_paths(value: Any) -> list[str]:
    """A folder list as that project keeps it: strings only, stripped, empty ones and duplicates dropped."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return []
    out: list[str] = []
    for item in value:
        if isinstance(item, str) and item.strip() and item.strip() not in out:
            out.append(item.strip())
    return out


def has_paths(folder_paths: Any) -> bool:
    """Whether a ``folder_paths`` object names at least one folder."""
    return isinstance(folder_paths, Mapping) and any(clean_paths(v) for v in folder_paths.values())


def usable(path: str) -> bool:
    """Whether we can scan this folder entry: an absolute path once ``~`` is expanded."""
    return os.path.isabs(os.path.expanduser(path))


def roots_from_folder_paths(folder_paths: Any, extra_folder_paths: Any = None) -> tuple[dict[str, list[str]], list[str]]:
    """Our roots per type from its folder lists (primary folders first, then its extra folders), and the entries
    we cannot scan (not absolute here: a Windows path read on Linux, a relative path), which are kept, not used."""
    roots: dict[str, list[str]] = {"lora": [], "checkpoint": [], "embedding": []}
    unusable: list[str] = []
    seen: dict[str, set[str]] = {t: set() for t in roots}
    for mapping in (folder_paths, extra_folder_paths):
        if not isinstance(mapping, Mapping):
            continue
        for key in FOLDER_KEYS:
            model_type = FOLDER_KEY_TYPE[key]
            for path in clean_paths(mapping.get(key)):
                if not usable(path):
                    unusable.append(path)
                    continue
                expanded = os.path.expanduser(path)
                if identity(expanded) not in seen[model_type]:
                    seen[model_type].add(identity(expanded))
                    roots[model_type].append(expanded)
    return roots, unusable


def folder_paths_from_roots(roots: Mapping[str, Sequence[str]], old_folder_paths: Any,
                            old_extra_folder_paths: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Its ``folder_paths`` and ``extra_folder_paths`` for our roots, split the way the old lists split them.

    A checkpoint root that was one of its ``unet`` folders stays there; a root that was an extra folder stays
    an extra folder; keys it has that we do not know and entries we could not scan are kept as they were.
    """
    old_primary = dict(old_folder_paths) if isinstance(old_folder_paths, Mapping) else {}
    old_extra = dict(old_extra_folder_paths) if isinstance(old_extra_folder_paths, Mapping) else {}
    where: dict[str, tuple[str, bool]] = {}  # identity -> (its key, is extra)
    for is_extra, mapping in ((True, old_extra), (False, old_primary)):  # a primary entry wins over an extra one
        for key in FOLDER_KEYS:
            for path in clean_paths(mapping.get(key)):
                where[identity(path)] = (key, is_extra)
    primary: dict[str, Any] = {key: [] for key in FOLDER_KEYS}
    primary.update({k: v for k, v in old_primary.items() if k not in FOLDER_KEYS})
    extra: dict[str, Any] = {k: ([] if k in FOLDER_KEYS else v) for k, v in old_extra.items()}
    for model_type, default_key in (("lora", "loras"), ("checkpoint", "checkpoints"), ("embedding", "embeddings")):
        for root in roots.get(model_type, []):
            key, is_extra = where.get(identity(root), (default_key, False))
            if FOLDER_KEY_TYPE[key] != model_type:
                key, is_extra = default_key, False
            (extra if is_extra else primary).setdefault(key, []).append(root)
    for is_extra, mapping in ((False, old_primary), (True, old_extra)):
        target = extra if is_extra else primary
        for key in FOLDER_KEYS:
            for path in clean_paths(mapping.get(key)):
                if not usable(path) and path not in target.setdefault(key, []):
                    target[key].append(path)
    return primary, extra


def alias_value(data: Mapping[str, Any], field_name: str) -> tuple[str, Any] | None:
    """``(its key, value)`` for one of our settings given under that project's name, else None."""
    for alias in ALIASES.get(field_name, ()):
        if alias in data:
            return alias, data[alias]
    return None


# Keys only that project writes (its DEFAULT_SETTINGS and library keys, minus the ones we share with it).
ANCHOR_ONLY_KEYS = frozenset({
    "civitai_host", "download_backend", "aria2c_path", "use_portable_settings", "hash_chunk_size_mb",
    "onboarding_completed", "dismissed_banners", "enable_metadata_archive_db", "enable_civarchive_api",
    "metadata_provider_order", "proxy_enabled", "proxy_host", "proxy_port", "proxy_username", "proxy_password",
    "proxy_type", *LIBRARY_KEYS, "base_model_path_mappings", "example_images_open_mode", "example_images_local_root",
    "example_images_open_uri_template", "optimize_example_images", "auto_download_example_images",
    "autoplay_on_hover", "display_density", "recipes_layout",
    "card_info_display", "include_trigger_words", "compact_mode", "priority_tags", "model_name_display",
    "lora_syntax_format", "model_card_footer_action", "show_version_on_card", "version_grouping",
    "auto_organize_exclusions", "metadata_refresh_skip_paths", "backup_auto_enabled", "backup_retention_count",
    "use_new_license_icons", "group_by_model", "llm_provider", "llm_api_key", "llm_api_base", "llm_model",
    LEGACY_TEMPLATE_KEY, "autoDownloadExampleImages", "optimizeExampleImages", "blurMatureContent",
})


def is_anchor_document(data: Mapping[str, Any]) -> bool:
    """A document that project wrote: no ``version`` (we always write one) and one of its own keys, at the top
    or in a library."""
    if "version" in data:
        return False
    if any(key in data for key in ANCHOR_ONLY_KEYS):
        return True
    libraries = data.get("libraries")
    return isinstance(libraries, Mapping) and any(
        isinstance(body, Mapping) and any(key in body for key in LIBRARY_KEYS) for body in libraries.values())


def anchor_config_dir(environ: Mapping[str, str] = os.environ) -> Path | None:
    """That project's user config folder; ``LORA_MANAGER_ANCHOR_CONFIG_DIR`` overrides it ("" = do not look)."""
    if ANCHOR_CONFIG_ENV in environ:
        value = environ[ANCHOR_CONFIG_ENV].strip()
        return Path(value).expanduser() if value else None
    return Path(platformdirs.user_config_dir(ANCHOR_APP_NAME, appauthor=False))


def _portable_flag(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("use_portable_settings") is True


def anchor_package_dirs(custom_nodes_dirs: Iterable[Path], own_root: Path) -> list[Path]:
    """That project's package folders among the custom-node folders (``ComfyUI-Lora-Manager``, any case)."""
    found: list[Path] = []
    own = own_root.resolve()
    for folder in custom_nodes_dirs:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.casefold().startswith(ANCHOR_PACKAGE_PREFIX) and entry.is_dir():
                path = Path(entry.path)
                if path.resolve() != own:
                    found.append(path)
    return found


def anchor_settings_candidates(*, environ: Mapping[str, str] = os.environ, custom_nodes_dirs: Iterable[Path] = (),
                               own_root: Path | None = None) -> list[Path]:
    """Where that project's settings may be, in the order it would use them: a portable ``settings.json`` in its
    package folder (``use_portable_settings: true``), then its user config folder, then a package-folder file
    without the flag (an install it never moved). Only existing files are listed."""
    own_root = own_root or Path(__file__).resolve().parent.parent
    packaged = [folder / "settings.json" for folder in anchor_package_dirs(custom_nodes_dirs, own_root)]
    packaged = [p for p in packaged if p.is_file()]
    portable = [p for p in packaged if _portable_flag(p)]
    config_dir = anchor_config_dir(environ)
    user = [config_dir / "settings.json"] if config_dir is not None and (config_dir / "settings.json").is_file() else []
    ordered = portable + user + [p for p in packaged if p not in portable]
    return list(dict.fromkeys(ordered))


def custom_nodes_dirs_near(package_root: Path) -> list[Path]:
    """The custom-node folder this package sits in, when it sits in one (``ComfyUI/custom_nodes/<us>``)."""
    parent = package_root.resolve().parent
    return [parent] if parent.name.casefold() == "custom_nodes" else []
