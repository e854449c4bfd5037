"""Settings: a typed, validated settings object with a safe on-disk life.

Why: settings are the one file users edit by hand and the one whose loss hurts most (roots, API key,
templates). Every save is atomic, a file that cannot be parsed is set aside and never deleted, and every
update is validated as a whole before it is written.
"""
from __future__ import annotations

import copy
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import platformdirs

from .library.aside import set_aside
from .library.atomic import atomic_write_json

logger = logging.getLogger(__name__)

SETTINGS_VERSION = 1
APP_NAME = "lora-manager"
MODEL_TYPES = ("lora", "checkpoint", "embedding")
WATCH_MODES = ("off", "poll", "notify")
DISPLAY_NAMES = ("model_name", "file_name")
TEMPLATE_FIELDS = ("base_model", "first_tag", "author", "model_name", "version_name")
PACKAGE_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_TEMPLATES = {"lora": "{base_model}/{first_tag}", "checkpoint": "{base_model}", "embedding": "{base_model}"}


class SettingsError(ValueError):
    """Settings that fail validation; ``problems`` lists every reason, for one clear message."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class Library:
    """A named set of roots per model type. Roots are absolute paths as the user wrote them."""

    name: str
    roots: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in MODEL_TYPES})

    def to_dict(self) -> dict[str, Any]:
        return {"roots": {t: list(self.roots.get(t, [])) for t in MODEL_TYPES}}


@dataclass
class Settings:
    """Everything the user can configure. Unknown keys from newer versions are kept in ``extra``."""

    libraries: dict[str, Library] = field(default_factory=lambda: {"default": Library("default")})
    active_library: str = "default"
    civitai_api_key: str = ""
    civitai_base_url: str = "https://civitai.com"
    language: str = "en"
    download_path_templates: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    watch_mode: str = "off"
    poll_interval_seconds: int = 60
    hash_checkpoints_lazily: bool = True
    download_concurrency: int = 3
    recipes_dir: str = ""
    trash_retention_days: int = 7
    display_name: str = "model_name"
    skip_previously_downloaded_model_versions: bool = False
    download_skip_base_models: list[str] = field(default_factory=list)
    example_images_path: str = ""
    download_example_images: bool = False
    allowed_hosts: list[str] = field(default_factory=list)
    fetch_allowed_hosts: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def library(self) -> Library:
        return self.libraries[self.active_library]

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.extra)
        data.update(
            {
                "version": SETTINGS_VERSION,
                "libraries": {name: lib.to_dict() for name, lib in self.libraries.items()},
                "active_library": self.active_library,
                "civitai_api_key": self.civitai_api_key,
                "civitai_base_url": self.civitai_base_url,
                "language": self.language,
                "download_path_templates": dict(self.download_path_templates),
                "watch_mode": self.watch_mode,
                "poll_interval_seconds": self.poll_interval_seconds,
                "hash_checkpoints_lazily": self.hash_checkpoints_lazily,
                "download_concurrency": self.download_concurrency,
                "recipes_dir": self.recipes_dir,
                "trash_retention_days": self.trash_retention_days,
                "display_name": self.display_name,
                "skip_previously_downloaded_model_versions": self.skip_previously_downloaded_model_versions,
                "download_skip_base_models": list(self.download_skip_base_models),
                "example_images_path": self.example_images_path,
                "download_example_images": self.download_example_images,
                "allowed_hosts": list(self.allowed_hosts),
                "fetch_allowed_hosts": list(self.fetch_allowed_hosts),
            }
        )
        return data

    def to_public_dict(self) -> dict[str, Any]:
        """What the API shows: the API key is never echoed back in full."""
        data = self.to_dict()
        key = self.civitai_api_key
        data["civitai_api_key"] = mask_secret(key)
        data["civitai_api_key_set"] = bool(key)
        return data

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Settings":
        """Validate a whole settings document; raises ``SettingsError`` listing every problem."""
        if not isinstance(raw, Mapping):
            raise SettingsError(["settings must be a JSON object"])
        data = migrate(dict(raw))
        problems: list[str] = []
        known = set(cls.__dataclass_fields__) | {"version"}
        settings = cls(extra={k: v for k, v in data.items() if k not in known})

        libraries = _validate_libraries(data.get("libraries", {"default": {}}), problems)
        if libraries:
            settings.libraries = libraries
        active = data.get("active_library", "default")
        if not isinstance(active, str) or active not in settings.libraries:
            problems.append(f"active_library must name one of the libraries ({', '.join(settings.libraries)})")
        else:
            settings.active_library = active

        settings.civitai_api_key = _string(data, "civitai_api_key", "", problems)
        base_url = _string(data, "civitai_base_url", "https://civitai.com", problems)
        if base_url and not base_url.startswith(("http://", "https://")):
            problems.append("civitai_base_url must start with http:// or https://")
        settings.civitai_base_url = base_url.rstrip("/")
        settings.language = _string(data, "language", "en", problems) or "en"
        settings.download_path_templates = _validate_templates(data.get("download_path_templates"), problems)
        settings.watch_mode = _choice(data, "watch_mode", "off", WATCH_MODES, problems)
        settings.poll_interval_seconds = _int(data, "poll_interval_seconds", 60, 5, 86400, problems)
        settings.hash_checkpoints_lazily = _bool(data, "hash_checkpoints_lazily", True, problems)
        settings.download_concurrency = _int(data, "download_concurrency", 3, 1, 16, problems)
        settings.recipes_dir = _string(data, "recipes_dir", "", problems)
        if settings.recipes_dir and not os.path.isabs(settings.recipes_dir):
            problems.append("recipes_dir must be an absolute path (or empty for the default)")
        settings.trash_retention_days = _int(data, "trash_retention_days", 7, 1, 3650, problems)
        settings.display_name = _choice(data, "display_name", "model_name", DISPLAY_NAMES, problems)
        settings.skip_previously_downloaded_model_versions = _bool(
            data, "skip_previously_downloaded_model_versions", False, problems
        )
        settings.download_skip_base_models = _string_list(data, "download_skip_base_models", problems)
        settings.example_images_path = _string(data, "example_images_path", "", problems)
        if settings.example_images_path and not os.path.isabs(settings.example_images_path):
            problems.append("example_images_path must be an absolute path (or empty for none)")
        settings.download_example_images = _bool(data, "download_example_images", False, problems)
        settings.allowed_hosts = _host_list(data, "allowed_hosts", problems)
        settings.fetch_allowed_hosts = _host_list(data, "fetch_allowed_hosts", problems)
        if problems:
            raise SettingsError(problems)
        return settings

    def updated(self, changes: Mapping[str, Any]) -> "Settings":
        """A new validated Settings with ``changes`` applied; a masked API key leaves the key as it is."""
        data = self.to_dict()
        for key, value in changes.items():
            if key == "civitai_api_key" and isinstance(value, str) and value == mask_secret(self.civitai_api_key):
                continue
            if key == "civitai_api_key_set":
                continue
            data[key] = copy.deepcopy(value)
        return Settings.from_dict(data)


def mask_secret(secret: str) -> str:
    if not secret:
        return ""
    if len(secret) <= 8:
        return "*" * len(secret)
    return "*" * (len(secret) - 4) + secret[-4:]


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring older settings documents up to ``SETTINGS_VERSION``.

    Version 0 (no ``version`` key) is also how ComfyUI-Lora-Manager's flat documents look: ``folder_paths``
    holding root lists per type becomes the default library.
    """
    version = data.get("version", 0)
    if not isinstance(version, int) or version < 1:
        folder_paths = data.pop("folder_paths", None)
        if isinstance(folder_paths, dict) and "libraries" not in data:
            roots = {
                "lora": folder_paths.get("loras", []),
                "checkpoint": list(folder_paths.get("checkpoints", [])) + list(folder_paths.get("unet", [])),
                "embedding": folder_paths.get("embeddings", []),
            }
            data["libraries"] = {"default": {"roots": roots}}
        api_key = data.pop("civitai_api_key", data.get("civitai_api_key", ""))
        data["civitai_api_key"] = api_key
        data["version"] = 1
    return data


def _validate_libraries(value: Any, problems: list[str]) -> dict[str, Library]:
    if not isinstance(value, Mapping) or not value:
        problems.append("libraries must be a non-empty object of named libraries")
        return {}
    result: dict[str, Library] = {}
    for name, body in value.items():
        if not isinstance(name, str) or not name.strip():
            problems.append("library names must be non-empty strings")
            continue
        if not isinstance(body, Mapping):
            problems.append(f"library '{name}' must be an object")
            continue
        roots_raw = body.get("roots", {})
        if not isinstance(roots_raw, Mapping):
            problems.append(f"library '{name}': roots must be an object of lists per model type")
            continue
        roots: dict[str, list[str]] = {t: [] for t in MODEL_TYPES}
        for model_type, paths in roots_raw.items():
            if model_type not in MODEL_TYPES:
                problems.append(f"library '{name}': unknown model type '{model_type}' (use {', '.join(MODEL_TYPES)})")
                continue
            if not isinstance(paths, list) or not all(isinstance(p, str) and p.strip() for p in paths):
                problems.append(f"library '{name}': roots.{model_type} must be a list of folder paths")
                continue
            for path in paths:
                if not os.path.isabs(os.path.expanduser(path)):
                    problems.append(f"library '{name}': root '{path}' must be an absolute path")
            roots[model_type] = [os.path.expanduser(p) for p in paths]
        result[name] = Library(name, roots)
    return result


def _validate_templates(value: Any, problems: list[str]) -> dict[str, str]:
    templates = dict(DEFAULT_TEMPLATES)
    if value is None:
        return templates
    if not isinstance(value, Mapping):
        problems.append("download_path_templates must be an object of templates per model type")
        return templates
    for model_type, template in value.items():
        if model_type not in MODEL_TYPES:
            problems.append(f"download_path_templates: unknown model type '{model_type}'")
            continue
        if not isinstance(template, str):
            problems.append(f"download_path_templates.{model_type} must be a string")
            continue
        problem = template_problem(template)
        if problem:
            problems.append(f"download_path_templates.{model_type}: {problem}")
            continue
        templates[model_type] = template
    return templates


def template_problem(template: str) -> str | None:
    """Why a download path template is unusable, or None. Only known ``{fields}``, no absolute or ``..`` parts."""
    import string

    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"malformed template ({exc})"
    for _literal, field_name, spec, conversion in parsed:
        if field_name is None:
            continue
        if field_name not in TEMPLATE_FIELDS or spec or conversion:
            return f"unknown field '{{{field_name}}}' (use {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)})"
    if template.startswith(("/", "\\")) or any(part == ".." for part in template.replace("\\", "/").split("/")):
        return "must be a relative path without '..'"
    return None


def _string(data: Mapping[str, Any], key: str, default: str, problems: list[str]) -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        problems.append(f"{key} must be a string")
        return default
    return value.strip()


def _int(data: Mapping[str, Any], key: str, default: int, low: int, high: int, problems: list[str]) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{key} must be a whole number from {low} to {high}")
        return default
    if not low <= value <= high:
        problems.append(f"{key} must be from {low} to {high}")
        return default
    return value


def _bool(data: Mapping[str, Any], key: str, default: bool, problems: list[str]) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        problems.append(f"{key} must be true or false")
        return default
    return value


def _string_list(data: Mapping[str, Any], key: str, problems: list[str]) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append(f"{key} must be a list of strings")
        return []
    return list(dict.fromkeys(item.strip() for item in value if item.strip()))


_HOST_NAME = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9_]([a-z0-9_.-]{0,251}[a-z0-9_])?)(:[0-9]{1,5})?$")
MAX_HOST_ENTRIES = 100


def _host_list(data: Mapping[str, Any], key: str, problems: list[str]) -> list[str]:
    """Host names (optionally ``name:port``), lower-cased, trailing dots dropped: the user's allow lists."""
    values = _string_list(data, key, problems)
    hosts: list[str] = []
    for value in values[:MAX_HOST_ENTRIES + 1]:
        host = value.lower().rstrip(".")
        if not _HOST_NAME.match(host):
            problems.append(f"{key}: '{value}' is not a host name (e.g. my-pc.local or 192.168.1.20)")
            continue
        hosts.append(host)
    if len(values) > MAX_HOST_ENTRIES:
        problems.append(f"{key}: at most {MAX_HOST_ENTRIES} hosts")
    return list(dict.fromkeys(hosts))


def _choice(data: Mapping[str, Any], key: str, default: str, choices: tuple[str, ...], problems: list[str]) -> str:
    value = data.get(key, default)
    if value not in choices:
        problems.append(f"{key} must be one of {', '.join(choices)}")
        return default
    return value


@dataclass(frozen=True)
class RuntimePaths:
    """Where this run keeps its settings, databases and caches."""

    settings_path: Path
    data_dir: Path

    @property
    def db_dir(self) -> Path:
        return self.data_dir / "db"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def default_library_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def default_recipes_dir(self) -> Path:
        return self.data_dir / "recipes"


def resolve_runtime_paths(
    settings_arg: str | None = None,
    data_dir_arg: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> RuntimePaths:
    """``--data-dir`` keeps everything of this run; ``--settings`` or portable mode put settings next to the package."""
    portable = environ.get("LORA_MANAGER_PORTABLE", "") in ("1", "true", "yes")
    if data_dir_arg:
        data_dir = Path(data_dir_arg).expanduser().resolve()
    elif portable or settings_arg:
        data_dir = PACKAGE_ROOT / "data"
    else:
        data_dir = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    if settings_arg:
        settings_path = Path(settings_arg).expanduser().resolve()
    elif data_dir_arg:
        settings_path = data_dir / "settings.json"
    elif portable:
        settings_path = PACKAGE_ROOT / "settings.json"
    else:
        settings_path = Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "settings.json"
    return RuntimePaths(settings_path=settings_path, data_dir=data_dir)


class SettingsStore:
    """Owns the settings file: load (creating or healing it), validate, save atomically.

    Methods are synchronous on purpose: callers run them in a worker thread.
    """

    def __init__(self, path: Path):
        self.path = path
        self.settings = Settings()
        self.warnings: list[str] = []
        self.created = False

    def load(self) -> Settings:
        try:
            raw_bytes = self.path.read_bytes()
        except FileNotFoundError:
            self.created = True
            self.settings = Settings()
            self.save(self.settings)
            logger.info("Created default settings at %s", self.path)
            return self.settings
        try:
            raw = json.loads(raw_bytes.decode("utf-8"))
            self.settings = Settings.from_dict(raw)
        except (UnicodeDecodeError, json.JSONDecodeError, SettingsError) as exc:
            aside = set_aside(self.path, str(exc))
            self.settings = Settings()
            self.save(self.settings)
            self.warnings.append(f"Settings file could not be used ({exc}); it was kept as {aside.name} and defaults were written")
        return self.settings

    def save(self, settings: Settings) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path, settings.to_dict())
        self.settings = settings

    def update(self, changes: Mapping[str, Any]) -> Settings:
        """Validate the merged document first; the file changes only if it is valid."""
        new_settings = self.settings.updated(changes)
        self.save(new_settings)
        return new_settings
