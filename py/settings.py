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
from typing import Any, Callable, Mapping, Sequence

import platformdirs

from .anchor_settings import (ALIASES, DEFAULT_ROOT_KEY, DEFAULT_ROOT_KEYS, DIFFUSION_ROOT_KEY, LEGACY_TEMPLATE_KEY,
                              MIRROR_KEYS, PLACEHOLDER_API_KEY, TEMPLATE_DEFAULT, alias_value, folder_paths_from_roots,
                              clean_paths, has_paths, identity, is_anchor_document, roots_from_folder_paths, usable)
from .library.aside import set_aside
from .library.atomic import atomic_write_json
from .library.kinds import EXTRA_KINDS, SERVED_KINDS

logger = logging.getLogger(__name__)

SETTINGS_VERSION = 1
APP_NAME = "lora-manager"
MODEL_TYPES = ("lora", "checkpoint", "embedding")
WATCH_MODES = ("off", "poll", "notify")
DISPLAY_NAMES = ("model_name", "file_name")
# Civitai's NSFW levels are bit flags (1 PG, 2 PG13, 4 R, 8 X, 16 XXX); a preview at or above the chosen level is
# blurred. ComfyUI-Lora-Manager's names and values (its ``mature_blur_level``).
MATURE_BLUR_LEVELS = ("PG13", "R", "X", "XXX")
TEMPLATE_FIELDS = ("base_model", "first_tag", "author", "model_name", "version_name")
TEMPLATE_TYPES = (*MODEL_TYPES, "unet")  # "unet": ComfyUI-Lora-Manager's template for diffusion models
PACKAGE_ROOT = Path(__file__).resolve().parent.parent

SECRET_KEYS = ("civitai_api_key", "proxy_password", "llm_api_key", "hf_token")  # masked in the API
DEFAULT_TEMPLATES = {"lora": "{base_model}/{first_tag}", "checkpoint": "{base_model}", "embedding": "{base_model}"}


class SettingsError(ValueError):
    """Settings that fail validation; ``problems`` lists every reason, for one clear message."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class Library:
    """A named set of roots per model type, with its default folders and its recipes folder.

    Roots are absolute paths as the user wrote them. ``default_roots`` and ``recipes_path`` use
    ComfyUI-Lora-Manager's names (``default_lora_root``...), as its libraries do. ``extra`` keeps every other key
    of the library's object as written (``metadata``, timestamps, keys of newer versions); its folder lists
    (``folder_paths``/``extra_folder_paths``) are kept as read, to be written back unchanged or re-split.
    """

    name: str
    roots: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in MODEL_TYPES})
    default_roots: dict[str, str] = field(default_factory=dict)
    recipes_path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    folder_paths: Any = field(default=None, compare=False)  # its lists as read (None: never had them)
    extra_folder_paths: Any = field(default=None, compare=False)
    kept: dict[str, Any] = field(default_factory=dict, compare=False)  # our keys' values we could not use, as written
    raw: Any = field(default=None, compare=False)  # a library entry that was not an object, written back as it was

    def to_dict(self) -> dict[str, Any]:
        if self.raw is not None:
            return copy.deepcopy(self.raw)
        body = copy.deepcopy(self.extra)
        roots = {t: list(self.roots.get(t, [])) for t in MODEL_TYPES}
        kinds = {k: list(self.roots[k]) for k in EXTRA_KINDS if self.roots.get(k)}  # VAEs...: only in ``roots``
        derived, _ = roots_from_folder_paths(self.folder_paths, self.extra_folder_paths)
        if isinstance(self.folder_paths, Mapping) and same_folders(derived, roots):
            body["folder_paths"] = copy.deepcopy(self.folder_paths)  # unchanged: its lists exactly as written
            if self.extra_folder_paths is not None:
                body["extra_folder_paths"] = copy.deepcopy(self.extra_folder_paths)
        else:
            body["folder_paths"], body["extra_folder_paths"] = folder_paths_from_roots(
                roots, self.folder_paths, self.extra_folder_paths)
        body["roots"] = {**roots, **kinds}
        for key in DEFAULT_ROOT_KEYS:
            body[key] = self.default_roots.get(key, "")
        body["recipes_path"] = self.recipes_path
        body.update(copy.deepcopy(self.kept))
        return body

    def default_root(self, model_type: str, *, diffusion: bool = False) -> str:
        """The configured default folder of a type ('' = none); diffusion models have their own."""
        if diffusion and model_type == "checkpoint" and self.default_roots.get(DIFFUSION_ROOT_KEY):
            return self.default_roots[DIFFUSION_ROOT_KEY]
        return self.default_roots.get(DEFAULT_ROOT_KEY.get(model_type, ""), "")


@dataclass
class Settings:
    """Everything the user can configure. Unknown keys (of newer versions, of ComfyUI-Lora-Manager) are kept in
    ``extra``; ``kept`` holds values of our keys that a file gave but we could not use (written back as they
    were); ``aliases`` names the keys a file gave under ComfyUI-Lora-Manager's name (written back under it)."""

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
    blur_mature_content: bool = True
    mature_blur_level: str = "R"
    show_only_sfw: bool = False
    allowed_hosts: list[str] = field(default_factory=list)
    fetch_allowed_hosts: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    kept: dict[str, Any] = field(default_factory=dict, compare=False)
    aliases: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def library(self) -> Library:
        return self.libraries[self.active_library]

    def to_dict(self) -> dict[str, Any]:
        """The settings as the API shows them (and as updates start from)."""
        data = copy.deepcopy(self.extra)
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
                "blur_mature_content": self.blur_mature_content,
                "mature_blur_level": self.mature_blur_level,
                "show_only_sfw": self.show_only_sfw,
                "allowed_hosts": list(self.allowed_hosts),
                "fetch_allowed_hosts": list(self.fetch_allowed_hosts),
            }
        )
        for name, alias in self.aliases.items():
            data[alias] = copy.deepcopy(data[name])  # its name for the setting shows the value in use
        return data

    def to_document(self) -> dict[str, Any]:
        """The settings file: ``to_dict`` with ComfyUI-Lora-Manager's names kept, values we could not use
        written back as they were, and its top-level copies of the active library's folders, so that project
        still reads the file as its own."""
        data = self.to_dict()
        for name in self.aliases:
            data.pop(name, None)
        data.update(copy.deepcopy(self.kept))
        active = data["libraries"].get(self.active_library) if isinstance(data.get("libraries"), dict) else None
        if isinstance(active, Mapping):
            for key in MIRROR_KEYS:
                if key in active:
                    data[key] = copy.deepcopy(active[key])
        return data

    def to_public_dict(self) -> dict[str, Any]:
        """What the API shows: secrets (the Civitai key, and ComfyUI-Lora-Manager's proxy password and LLM key
        kept from its file) are never echoed back in full."""
        data = self.to_dict()
        for name in SECRET_KEYS:
            if isinstance(data.get(name), str):
                data[name] = mask_secret(data[name])
        data["civitai_api_key_set"] = bool(self.civitai_api_key)
        return data

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Settings":
        """Validate a whole settings document; raises ``SettingsError`` listing every problem."""
        settings, _warnings = _parse(raw, lenient=False, previous=None)
        return settings

    @classmethod
    def from_document(cls, raw: Any) -> tuple["Settings", list[str]]:
        """Read a settings file leniently: a value we cannot use is reported, left in the file as it is, and its
        default used, so one odd value never costs the user the rest of the file. Raises ``SettingsError`` only
        for a document that is not a JSON object."""
        return _parse(raw, lenient=True, previous=None)

    def updated(self, changes: Mapping[str, Any]) -> "Settings":
        """A new validated Settings with ``changes`` applied; a masked API key leaves the key as it is.

        Changes may use ComfyUI-Lora-Manager's names (``model_name_display``...) and its top-level library keys
        (``folder_paths``, ``default_lora_root``, ``recipes_path``...), which apply to the active library. A
        library object given is merged into the library's current one, so keys the client did not send stay.
        """
        data = self.to_dict()
        changes = dict(changes)
        for name, aliases in ALIASES.items():
            given = next((a for a in aliases if a in changes), None)
            if name not in changes and given is not None:
                changes[name] = changes[given]
        for name, alias in self.aliases.items():  # its name shows our value: never let the stale copy win
            if alias not in changes and name in changes:
                data[alias] = copy.deepcopy(changes[name])
        mirrors = {key: changes.pop(key) for key in MIRROR_KEYS if key in changes}
        for key, value in changes.items():
            current = self.civitai_api_key if key == "civitai_api_key" else self.extra.get(key)
            if key in SECRET_KEYS and isinstance(value, str) and isinstance(current, str) and value == mask_secret(current):
                continue  # the masked value shown by the API, sent back: the secret stays as it is
            if key == "civitai_api_key_set":
                continue
            if key == "libraries" and isinstance(value, Mapping):
                current = data.get("libraries", {})
                value = {name: ({**current[name], **body} if isinstance(body, Mapping)
                                and isinstance(current.get(name), Mapping) else body)
                         for name, body in value.items()}
            data[key] = copy.deepcopy(value)
        if mirrors:
            libraries = data.get("libraries")
            active = data.get("active_library")
            if isinstance(libraries, dict) and isinstance(active, str) and isinstance(libraries.get(active), dict):
                libraries[active] = {**libraries[active], **copy.deepcopy(mirrors)}
        settings, _warnings = _parse(data, lenient=False, previous=self)
        settings.kept = {k: v for k, v in self.kept.items() if k not in changes and k not in mirrors}
        settings.aliases = dict(self.aliases)
        return settings


def mask_secret(secret: str) -> str:
    if not secret:
        return ""
    if len(secret) <= 8:
        return "*" * len(secret)
    return "*" * (len(secret) - 4) + secret[-4:]


def migrate(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """Bring a document of any known shape to ours, in memory; nothing the file holds is dropped.

    ComfyUI-Lora-Manager's shapes: a flat file whose top-level ``folder_paths`` (and ``default_*_root``,
    ``recipes_path``) become a library; a current file whose libraries hold ``folder_paths`` (a library without
    folders takes the top-level ones, as that project does); its names for our keys (``model_name_display``...);
    its single ``download_path_template``; its template default for a type without one. Returns the document,
    the aliases used (our key -> its key) and notes for the log.
    """
    notes: list[str] = []
    aliases: dict[str, str] = {}
    anchor = is_anchor_document(data)
    for name in ALIASES:
        found = alias_value(data, name)
        if name not in data and found is not None:
            aliases[name] = found[0]
            data[name] = copy.deepcopy(found[1])
    if anchor:
        templates = data.get("download_path_templates")
        if isinstance(templates, str):
            try:
                templates = json.loads(templates)
            except ValueError:
                templates = None
        legacy = data.get(LEGACY_TEMPLATE_KEY)
        if not templates and isinstance(legacy, str):
            templates = {t: legacy for t in MODEL_TYPES}
        if templates is None or isinstance(templates, Mapping):
            data["download_path_templates"] = {**{t: TEMPLATE_DEFAULT for t in MODEL_TYPES}, **(templates or {})}
    top = {key: data[key] for key in MIRROR_KEYS if key in data}
    libraries = data.get("libraries")
    if "libraries" not in data or (isinstance(libraries, Mapping) and not libraries and top):
        active = data.get("active_library")
        name = active.strip() if isinstance(active, str) and active.strip() else "default"
        data["libraries"] = {name: copy.deepcopy(top)} if top else {"default": {}}
        if "active_library" not in data or name != active:
            data["active_library"] = name
        if has_paths(top.get("folder_paths")):
            notes.append(f"the top-level folder_paths became library '{name}'")
    elif isinstance(libraries, Mapping) and has_paths(top.get("folder_paths")):
        active = data.get("active_library")
        target = active if isinstance(active, str) and active in libraries else (
            next(iter(libraries)) if len(libraries) == 1 else None)
        body = libraries.get(target) if target is not None else None
        if isinstance(body, Mapping) and not has_paths(body.get("folder_paths")) and not has_paths(
                body.get("extra_folder_paths")) and not has_paths(body.get("roots")):
            seeded = dict(body)
            for key in MIRROR_KEYS:
                if key in top and not (has_paths(seeded.get(key)) if "folder" in key else seeded.get(key)):
                    seeded[key] = copy.deepcopy(top[key])
            data["libraries"] = {**libraries, target: seeded}
            notes.append(f"library '{target}' had no folders; it took the top-level folder_paths")
    data["version"] = SETTINGS_VERSION
    return data, aliases, notes


_SETTING_PARSERS: dict[str, Callable[[Mapping[str, Any], list[str]], Any]] = {
    "civitai_api_key": lambda d, p: _string(d, "civitai_api_key", "", p),
    "civitai_base_url": lambda d, p: _base_url(d, p),
    "language": lambda d, p: _string(d, "language", "en", p) or "en",
    "download_path_templates": lambda d, p: _validate_templates(d.get("download_path_templates"), p),
    "watch_mode": lambda d, p: _choice(d, "watch_mode", "off", WATCH_MODES, p),
    "poll_interval_seconds": lambda d, p: _int(d, "poll_interval_seconds", 60, 5, 86400, p),
    "hash_checkpoints_lazily": lambda d, p: _bool(d, "hash_checkpoints_lazily", True, p),
    "download_concurrency": lambda d, p: _int(d, "download_concurrency", 3, 1, 16, p),
    "recipes_dir": lambda d, p: _absolute(d, "recipes_dir", "recipes_dir must be an absolute path (or empty for the default)", p),
    "trash_retention_days": lambda d, p: _int(d, "trash_retention_days", 7, 1, 3650, p),
    "display_name": lambda d, p: _choice(d, "display_name", "model_name", DISPLAY_NAMES, p),
    "skip_previously_downloaded_model_versions": lambda d, p: _bool(
        d, "skip_previously_downloaded_model_versions", False, p),
    "download_skip_base_models": lambda d, p: _string_list(d, "download_skip_base_models", p),
    "example_images_path": lambda d, p: _absolute(
        d, "example_images_path", "example_images_path must be an absolute path (or empty for none)", p),
    "download_example_images": lambda d, p: _bool(d, "download_example_images", False, p),
    "blur_mature_content": lambda d, p: _bool(d, "blur_mature_content", True, p),
    "mature_blur_level": lambda d, p: _blur_level(d, p),
    "show_only_sfw": lambda d, p: _bool(d, "show_only_sfw", False, p),
    "allowed_hosts": lambda d, p: _host_list(d, "allowed_hosts", p),
    "fetch_allowed_hosts": lambda d, p: _host_list(d, "fetch_allowed_hosts", p),
}
LIBRARY_OWN_KEYS = ("roots", "folder_paths", "extra_folder_paths", *DEFAULT_ROOT_KEYS, "recipes_path")


def _parse(raw: Any, *, lenient: bool, previous: "Settings | None") -> tuple[Settings, list[str]]:
    """One reading of a document: strict (every problem raises, for updates) or lenient (for files).

    ``previous`` is the settings an update starts from: library keys it already had are taken as they are, so
    a value read leniently from the file never makes an unrelated update fail.
    """
    if not isinstance(raw, Mapping):
        raise SettingsError(["settings must be a JSON object"])
    original = dict(raw)
    data, aliases, notes = migrate(copy.deepcopy(original)) if previous is None else (dict(raw), {}, [])
    problems: list[str] = []
    warnings: list[str] = [f"Settings: {note}" for note in notes]
    kept: dict[str, Any] = {}

    def settle(key: str, local: list[str]) -> bool:
        """Report ``local`` problems of ``key``; True when its value can be used."""
        if not local:
            return True
        if not lenient:
            problems.extend(local)
            return False
        warnings.extend(f"Settings: {p}; the value is kept in the file and not used" for p in local)
        if key in original:  # as read (templates with that project's defaults spelled out: the same meaning)
            kept[key] = copy.deepcopy(data.get(key, original[key]))
        return False

    known = set(Settings.__dataclass_fields__) | {"version", *MIRROR_KEYS}
    settings = Settings(extra={k: copy.deepcopy(v) for k, v in data.items() if k not in known})

    libraries = _validate_libraries(data.get("libraries"), lenient, previous, problems, warnings, kept)
    if libraries:
        settings.libraries = libraries
    active = data.get("active_library", "default")
    if not isinstance(active, str) or active not in settings.libraries:
        message = f"active_library must name one of the libraries ({', '.join(settings.libraries)})"
        if lenient:
            settings.active_library = next(iter(settings.libraries))
            warnings.append(f"Settings: {message}; serving '{settings.active_library}'")
        else:
            problems.append(message)
    else:
        settings.active_library = active

    for key, parse in _SETTING_PARSERS.items():
        local: list[str] = []
        value = parse(data, local)
        if key == "civitai_api_key" and lenient and value == PLACEHOLDER_API_KEY:
            kept[key], value = original.get(key, value), ""  # the example file's placeholder: no key
        if not settle(key, local):
            if key in aliases:
                aliases.pop(key)
                kept.pop(key, None)
            value = parse({}, [])
            if key == "download_path_templates" and lenient:
                value = _validate_templates(data.get(key), [])  # the templates that are fine, defaults for the rest
        setattr(settings, key, value)
    if problems:
        raise SettingsError(problems)
    settings.kept = kept
    settings.aliases = aliases
    return settings, warnings


def _validate_libraries(value: Any, lenient: bool, previous: "Settings | None", problems: list[str],
                        warnings: list[str], kept: dict[str, Any]) -> dict[str, Library]:
    if not isinstance(value, Mapping) or not value or not all(isinstance(n, str) and n.strip() for n in value):
        message = ("libraries must be a non-empty object of named libraries" if not isinstance(value, Mapping)
                   or not value else "library names must be non-empty strings")
        if lenient:
            warnings.append(f"Settings: {message}; the value is kept in the file and a default library is used")
            kept["libraries"] = copy.deepcopy(value)
            return {}
        problems.append(message)
        return {}
    result: dict[str, Library] = {}
    for name, body in value.items():
        prev = previous.libraries.get(name) if previous is not None else None
        library = _parse_library(name, body, lenient, prev, problems, warnings)
        if library is not None:
            result[name] = library
    return result


def _parse_library(name: str, body: Any, lenient: bool, prev: Library | None, problems: list[str],
                   warnings: list[str]) -> Library | None:
    """One library object, in our shape (``roots``) or ComfyUI-Lora-Manager's (``folder_paths``), or both."""
    def report(message: str) -> None:
        if lenient:
            warnings.append(f"Settings: library '{name}': {message}; kept in the file and not used")
        else:
            problems.append(f"library '{name}': {message}")

    if not isinstance(body, Mapping):
        if lenient:
            warnings.append(f"Settings: library '{name}' is not an object; it is kept in the file and not used")
            return Library(name, raw=copy.deepcopy(body))
        problems.append(f"library '{name}' must be an object")
        return None
    prev_body = prev.to_dict() if prev is not None else None

    def unchanged(key: str) -> bool:
        return prev_body is not None and (key not in body or (key in prev_body and body[key] == prev_body[key]))

    library = Library(name, extra={k: copy.deepcopy(v) for k, v in body.items() if k not in LIBRARY_OWN_KEYS})
    library.folder_paths = copy.deepcopy(body.get("folder_paths"))
    library.extra_folder_paths = copy.deepcopy(body.get("extra_folder_paths"))
    fp, efp = body.get("folder_paths"), body.get("extra_folder_paths")
    folders_given = isinstance(fp, Mapping) or isinstance(efp, Mapping)
    if prev is not None and unchanged("roots") and unchanged("folder_paths") and unchanged("extra_folder_paths"):
        source = "previous"
    elif prev is not None:  # an update: whichever list the client changed
        source = "roots" if "roots" in body and not unchanged("roots") else "folders" if folders_given else "roots"
    elif folders_given and (has_paths(fp) or has_paths(efp) or "roots" not in body):
        source = "folders"  # a file: its lists are what that project (or the user) last wrote
    else:
        source = "roots"
    if source == "previous":
        library.roots = copy.deepcopy(prev.roots)  # type: ignore[union-attr]
        if "roots" in prev.kept:  # type: ignore[union-attr]
            library.kept["roots"] = copy.deepcopy(prev.kept["roots"])  # type: ignore[union-attr]
    elif source == "folders":
        library.roots, unusable = roots_from_folder_paths(fp, efp)
        for path in unusable:
            report(f"folder '{path}' is not an absolute path here")
        if "roots" in body:  # ours beside its lists, naming the same folders: keep our order
            ours = _validate_roots(name, body.get("roots"), [], True)
            if same_folders(ours, library.roots):
                library.roots = ours
            # its lists know only LoRAs, checkpoints and embeddings: the other kinds' roots are ours alone
            library.roots.update({k: ours[k] for k in EXTRA_KINDS if ours.get(k)})
    else:
        local: list[str] = []
        library.roots = _validate_roots(name, body.get("roots"), local, lenient)
        for message in local:
            report(message)
        if local and lenient:
            library.kept["roots"] = copy.deepcopy(body.get("roots"))
    for key in (*DEFAULT_ROOT_KEYS, "recipes_path"):
        if prev is not None and unchanged(key):
            value = prev.recipes_path if key == "recipes_path" else prev.default_roots.get(key, "")
            if key in prev.kept:
                library.kept[key] = copy.deepcopy(prev.kept[key])
        else:
            raw_value = body.get(key, "")
            value = raw_value.strip() if isinstance(raw_value, str) else ""
            if raw_value is not None and not isinstance(raw_value, str):
                report(f"{key} must be a folder path")
                library.kept[key] = copy.deepcopy(raw_value)
            elif value and not os.path.isabs(os.path.expanduser(value)):
                report(f"{key} '{value}' must be an absolute path")
                library.kept[key] = copy.deepcopy(raw_value)
                value = ""
            value = os.path.expanduser(value) if value else ""
        if key == "recipes_path":
            library.recipes_path = value
        elif value:
            library.default_roots[key] = value
    return library


def _validate_roots(name: str, roots_raw: Any, problems: list[str], lenient: bool) -> dict[str, list[str]]:
    roots: dict[str, list[str]] = {t: [] for t in MODEL_TYPES}
    if roots_raw is None:
        return roots
    if not isinstance(roots_raw, Mapping):
        problems.append("roots must be an object of lists per model type")
        return roots
    for model_type, paths in roots_raw.items():
        if model_type not in SERVED_KINDS:
            problems.append(f"unknown model type '{model_type}' (use {', '.join(SERVED_KINDS)})")
            continue
        if not isinstance(paths, list) or not all(isinstance(p, str) and p.strip() for p in paths):
            problems.append(f"roots.{model_type} must be a list of folder paths")
            if lenient and isinstance(paths, list):
                paths = [p for p in paths if isinstance(p, str) and p.strip()]
            else:
                continue
        good: list[str] = []
        for path in paths:
            if not os.path.isabs(os.path.expanduser(path)):
                problems.append(f"root '{path}' must be an absolute path")
                continue
            good.append(os.path.expanduser(path))
        roots[model_type] = good
    return roots


def _validate_templates(value: Any, problems: list[str]) -> dict[str, str]:
    templates = dict(DEFAULT_TEMPLATES)
    if value is None:
        return templates
    if not isinstance(value, Mapping):
        problems.append("download_path_templates must be an object of templates per model type")
        return templates
    for model_type, template in value.items():
        if model_type not in TEMPLATE_TYPES:
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


def same_folders(a: Mapping[str, Sequence[str]], b: Mapping[str, Sequence[str]]) -> bool:
    """Whether two root maps name the same folders per type (order aside)."""
    return all(sorted({identity(p) for p in a.get(t, [])}) == sorted({identity(p) for p in b.get(t, [])})
               and len(a.get(t, [])) == len(b.get(t, [])) for t in MODEL_TYPES)


def _base_url(data: Mapping[str, Any], problems: list[str]) -> str:
    base_url = _string(data, "civitai_base_url", "https://civitai.com", problems)
    if base_url and not base_url.startswith(("http://", "https://")):
        problems.append("civitai_base_url must start with http:// or https://")
        return "https://civitai.com"
    return base_url.rstrip("/")


def _absolute(data: Mapping[str, Any], key: str, message: str, problems: list[str]) -> str:
    value = _string(data, key, "", problems)
    if value and not os.path.isabs(value):
        problems.append(message)
        return ""
    return value


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


def _blur_level(data: Mapping[str, Any], problems: list[str]) -> str:
    """``mature_blur_level``: one of PG13, R, X, XXX (any case, as ComfyUI-Lora-Manager reads it)."""
    value = data.get("mature_blur_level", "R")
    if isinstance(value, str) and value.strip().upper() in MATURE_BLUR_LEVELS:
        return value.strip().upper()
    problems.append(f"mature_blur_level must be one of {', '.join(MATURE_BLUR_LEVELS)}")
    return "R"


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


def _has_entries(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(True for _ in entries)
    except OSError:
        return False


def resolve_recipes_dir(settings: Settings, extra_lora_roots: Sequence[Path], default_dir: Path) -> tuple[Path, str]:
    """Where this run keeps recipes, and why (for the log).

    The active library's ``recipes_path`` (ComfyUI-Lora-Manager's setting), else ``recipes_dir``, else recipes
    this server already keeps in ``<data-dir>/recipes``, else ``<first LoRA root>/recipes``, where
    ComfyUI-Lora-Manager keeps them (it takes the alphabetically first of its LoRA folders), else, with no LoRA
    root at all, ``<data-dir>/recipes``.
    """
    library = settings.library
    if library.recipes_path:
        return Path(library.recipes_path), "the library's recipes_path"
    if settings.recipes_dir:
        return Path(settings.recipes_dir), "recipes_dir"
    primary = [p for p in clean_paths((library.folder_paths or {}).get("loras")
                                      if isinstance(library.folder_paths, Mapping) else None) if usable(p)]
    lora_roots = [os.path.expanduser(p) for p in primary] or list(library.roots.get("lora", [])) or [
        str(p) for p in extra_lora_roots]
    anchor_dir = Path(os.path.abspath(os.path.join(min(lora_roots, key=str.casefold), "recipes"))) if lora_roots else None
    if _has_entries(default_dir):
        if anchor_dir is not None and _has_entries(anchor_dir):
            logger.warning("Recipes are read from %s; %s holds recipes too (ComfyUI-Lora-Manager's place): set "
                           "recipes_dir to use that folder instead", default_dir, anchor_dir)
        return default_dir, "recipes already kept in the data folder"
    if anchor_dir is not None:
        return anchor_dir, "the first LoRA root (alphabetically, as ComfyUI-Lora-Manager picks it)"
    return default_dir, "no LoRA root is configured"


def describe_import(settings: Settings) -> str:
    """One line for the log: what an imported settings file gave us."""
    parts = []
    for name, library in settings.libraries.items():
        counts = ", ".join(f"{len(library.roots.get(t, []))} {t}" for t in MODEL_TYPES)
        active = " (active)" if name == settings.active_library else ""
        defaults = ", ".join(f"{k}={v}" for k, v in sorted(library.default_roots.items()))
        recipes = f", recipes_path={library.recipes_path}" if library.recipes_path else ""
        parts.append(f"library '{name}'{active}: {counts} folders" + (f", {defaults}" if defaults else "") + recipes)
    parts.append("Civitai API key set" if settings.civitai_api_key else "no Civitai API key")
    if settings.extra:
        names = sorted(settings.extra)
        parts.append(f"{len(names)} other keys kept as they are ({', '.join(names[:8])}{', ...' if len(names) > 8 else ''})")
    return "; ".join(parts)


class SettingsStore:
    """Owns the settings file: load (creating, importing or healing it), validate, save atomically.

    ``import_candidates`` are settings files of ComfyUI-Lora-Manager: with no file of our own, the first one
    that can be read is imported into ours (theirs is only read). Methods are synchronous on purpose: callers
    run them in a worker thread.
    """

    def __init__(self, path: Path, *, import_candidates: Sequence[Path] = ()):
        self.path = path
        self.import_candidates = list(import_candidates)
        self.settings = Settings()
        self.warnings: list[str] = []
        self.created = False
        self.imported_from: Path | None = None

    def load(self) -> Settings:
        try:
            raw_bytes = self.path.read_bytes()
        except FileNotFoundError:
            imported = self._import_existing()
            if imported is not None:
                return imported
            self.created = True
            self.settings = Settings()
            self.save(self.settings)
            logger.info("Created default settings at %s", self.path)
            return self.settings
        try:
            raw = json.loads(raw_bytes.decode("utf-8"))
            self.settings, warnings = Settings.from_document(raw)
            self.warnings.extend(warnings)
        except (UnicodeDecodeError, json.JSONDecodeError, SettingsError) as exc:
            aside = set_aside(self.path, str(exc))
            self.settings = Settings()
            self.save(self.settings)
            self.warnings.append(f"Settings file could not be used ({exc}); it was kept as {aside.name} and defaults were written")
        return self.settings

    def _import_existing(self) -> Settings | None:
        for candidate in self.import_candidates:
            try:
                if candidate.resolve() == self.path.resolve():
                    continue
                raw = json.loads(candidate.read_bytes().decode("utf-8"))
                settings, warnings = Settings.from_document(raw)
            except (OSError, UnicodeDecodeError, ValueError, SettingsError) as exc:
                logger.warning("ComfyUI-Lora-Manager settings at %s could not be read (%s); not imported", candidate, exc)
                continue
            self.save(settings)
            self.imported_from = candidate
            self.warnings.extend(warnings)
            logger.info("Imported ComfyUI-Lora-Manager settings from %s into %s (that file is left as it is): %s",
                        candidate, self.path, describe_import(settings))
            return settings
        return None

    def save(self, settings: Settings) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path, settings.to_document(), private=True)  # it holds the API key
        self.settings = settings

    def update(self, changes: Mapping[str, Any]) -> Settings:
        """Validate the merged document first; the file changes only if it is valid."""
        new_settings = self.settings.updated(changes)
        self.save(new_settings)
        return new_settings
