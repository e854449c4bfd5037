"""ComfyUI-Lora-Manager's answer shapes for update records and Civitai version lists, built from what this
project keeps (the update-check store, the index, the download memory).

Why apart: these are pure functions of their inputs, so the routes only gather the inputs and the shapes are
tested without a network; the fields this project does not track (sizes, early-access windows, paid access)
are present with empty values so the anchor's UI reads them without special cases.
"""
from __future__ import annotations

import copy
from typing import Any, Iterable, Mapping

from ...library.records import ModelRecord
from .civitai_client import primary_file
from .updates import UpdateEntry, newer_versions

# Civitai model types each library type accepts, and how the anchor names them in its mismatch message.
CIVITAI_TYPES = {"lora": ("lora", "locon", "dora"), "checkpoint": ("checkpoint",), "embedding": ("textualinversion",)}
EXPECTED_TYPES = {"lora": "LORA, LoCon, or DORA", "checkpoint": "Checkpoint", "embedding": "TextualInversion"}
LICENSE_KEYS = ("allowNoCredit", "allowCommercialUse", "allowDerivatives", "allowDifferentLicense")


def local_versions(records: Iterable[ModelRecord], model_id: int) -> dict[int, ModelRecord]:
    """The local record of each version of a Civitai model (the smallest file path when several)."""
    found: dict[int, ModelRecord] = {}
    for record in sorted(records, key=lambda r: r.file_path):
        if record.civitai_model_id == model_id and record.civitai_version_id is not None:
            found.setdefault(record.civitai_version_id, record)
    return found


def update_record(model_type: str, model_id: int, entry: UpdateEntry | None, local: Mapping[int, ModelRecord],
                  downloaded: set[int]) -> dict[str, Any]:
    """``{"modelType", "modelId", "largestVersionId", "versionIds", "inLibraryVersionIds", "lastCheckedAt",
    "shouldIgnore", "hasUpdate", "versions": [...]}``, versions newest (highest id) first."""
    remote = {v["id"]: v for v in entry.versions} if entry is not None else {}
    ignored = set(entry.ignored_versions) if entry is not None else set()
    ids = sorted(set(remote) | set(local) | ignored, reverse=True)
    versions = []
    for version_id in ids:
        info = remote.get(version_id, {})
        record = local.get(version_id)
        versions.append({
            "versionId": version_id,
            "name": info.get("name") or (record.civitai_name if record is not None else None) or None,
            "baseModel": info.get("base_model") or (record.base_model if record is not None else None),
            "releasedAt": info.get("published_at"),
            "sizeBytes": record.size if record is not None else None,
            "previewUrl": (record.preview_url() or None) if record is not None else None,
            "isInLibrary": record is not None,
            "hasBeenDownloaded": version_id in downloaded,
            "shouldIgnore": version_id in ignored,
            "earlyAccessEndsAt": None,
            "isEarlyAccess": False,
            "usageControl": None,
            "isPaid": False,
            "paidAccess": None,
            "filePath": record.file_path if record is not None else None,
            "fileName": record.file_name if record is not None else None,
        })
    return {
        "modelType": model_type,
        "modelId": model_id,
        "largestVersionId": ids[0] if ids else None,
        "versionIds": ids,
        "inLibraryVersionIds": [v for v in ids if v in local],
        "lastCheckedAt": entry.checked_at if entry is not None else None,
        "shouldIgnore": entry.ignored if entry is not None else False,
        "hasUpdate": bool(newer_versions(entry, local)),
        "versions": versions,
    }


def type_mismatch(model_type: str, civitai_type: Any) -> str | None:
    """The anchor's refusal text when a Civitai model is not of this library type, else None."""
    if str(civitai_type or "").strip().lower() in CIVITAI_TYPES[model_type]:
        return None
    return f"Model type mismatch. Expected {EXPECTED_TYPES[model_type]}, got {civitai_type}"


def annotate_versions(model: Mapping[str, Any], local: Mapping[int, ModelRecord], downloaded: set[int]
                      ) -> list[dict[str, Any]]:
    """The model's Civitai versions as Civitai sends them, plus ``existsLocally``, ``hasBeenDownloaded``,
    ``localPath`` (when local) and ``modelSizeKB`` (of the primary model file)."""
    out = []
    for raw in model.get("modelVersions") or []:
        if not isinstance(raw, dict):
            continue
        version = copy.deepcopy(raw)
        version_id = version.get("id") if isinstance(version.get("id"), int) else None
        record = local.get(version_id) if version_id is not None else None
        version["existsLocally"] = record is not None
        version["hasBeenDownloaded"] = version_id in downloaded
        version.pop("localPath", None)
        if record is not None:
            version["localPath"] = record.file_path
        file = primary_file(version)
        if file is not None and "sizeKB" in file:
            version["modelSizeKB"] = file["sizeKB"]
        out.append(version)
    return out


def without_comfy_metadata(version: dict[str, Any]) -> dict[str, Any]:
    """A version answer without the images' ComfyUI workflow blobs (large, and no client reads them)."""
    for image in version.get("images") or []:
        meta = image.get("meta") if isinstance(image, dict) else None
        if isinstance(meta, dict):
            meta.pop("comfy", None)
    return version


def enrich_with_model(version: dict[str, Any], model: Mapping[str, Any] | None) -> dict[str, Any]:
    """The by-hash answer as the anchor gives it: the version's ``model`` summary completed with the model's
    description, tags and licence fields, and the model's ``creator``."""
    if not model:
        return version
    summary = version.get("model") if isinstance(version.get("model"), dict) else {}
    summary = dict(summary)
    summary["description"] = model.get("description")
    summary["tags"] = list(model.get("tags") or [])
    for key in LICENSE_KEYS:
        if key in model:
            summary[key] = copy.deepcopy(model[key])
    version["model"] = summary
    version["creator"] = copy.deepcopy(model.get("creator"))
    return version
