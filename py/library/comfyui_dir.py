"""Model roots of a ComfyUI install on disk: DIR/models/<folder> plus DIR/extra_model_paths.yaml.

Why: the standalone server pointed at a ComfyUI install (``--comfyui DIR``) should see the same folders
ComfyUI does. The yaml is the user's file: an unparsable or odd one is one clear log line and is skipped,
never a crash; only string values naming existing directories are used, resolved against the section's
``base_path`` (itself relative to the yaml's folder), so nothing else in the file can name a root.
"""
from __future__ import annotations

import logging
from pathlib import Path

import yaml

from .kinds import KINDS, all_folders

logger = logging.getLogger(__name__)
MAX_YAML_BYTES = 1024 * 1024


def _dirs(base: Path, value: object) -> list[Path]:
    if not isinstance(value, str):
        return []
    found = []
    for line in value.splitlines():
        line = line.strip()
        if line:
            candidate = (base / Path(line).expanduser()).resolve()
            if candidate.is_dir():
                found.append(candidate)
    return found


def extra_model_paths(yaml_path: Path) -> dict[str, list[Path]]:
    """Folder name -> existing directories named in an ``extra_model_paths.yaml`` (empty when unusable)."""
    try:
        if yaml_path.stat().st_size > MAX_YAML_BYTES:
            logger.warning("%s is larger than %d bytes; its model paths are ignored", yaml_path, MAX_YAML_BYTES)
            return {}
        doc = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        logger.warning("%s cannot be read as YAML (%s); its model paths are ignored", yaml_path, exc)
        return {}
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        logger.warning("%s is not a mapping of sections; its model paths are ignored", yaml_path)
        return {}
    out: dict[str, list[Path]] = {}
    known = set(all_folders())
    for section in doc.values():
        if not isinstance(section, dict):
            continue
        base_value = section.get("base_path", "")
        base = yaml_path.parent / Path(base_value).expanduser() if isinstance(base_value, str) else yaml_path.parent
        for folder, value in section.items():
            if folder in known:
                out.setdefault(folder, []).extend(_dirs(base, value))
    return out


def comfyui_install_roots(comfyui_dir: Path) -> dict[str, list[str]]:
    """Kind -> root directories of a ComfyUI install, ``models/<folder>`` first, then the yaml's."""
    by_folder: dict[str, list[Path]] = {}
    for folder in all_folders():
        default = comfyui_dir / "models" / folder
        if default.is_dir():
            by_folder.setdefault(folder, []).append(default.resolve())
    for folder, dirs in extra_model_paths(comfyui_dir / "extra_model_paths.yaml").items():
        by_folder.setdefault(folder, []).extend(dirs)
    roots: dict[str, list[str]] = {}
    for kind in KINDS:
        found = [str(d) for f in kind.folders for d in by_folder.get(f, [])]
        if found:
            roots[kind.name] = list(dict.fromkeys(found))
    return roots
