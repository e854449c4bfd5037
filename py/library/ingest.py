"""Ingest: turn one swept file into a ModelRecord (header, identity, sidecar), healing what it can.

Why: this is the only place that reads a model's header and sidecar. It runs in worker threads, never
raises for one bad file (the record says ``invalid`` with a reason) and never hashes anything a sidecar
or the previous record already states.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .architecture import ModelIdentity, identify
from .identify_kind import identify_file
from .kinds import EXTRA_KINDS
from .artifacts import ALL_MODEL_EXTENSIONS
from .aside import set_aside
from .records import ModelRecord
from .safetensors import InvalidModelFile, read_header
from .scanner import FileStat, SIDECAR_SUFFIX
from .sidecar import SidecarError, SidecarRecord, civitai_info_to_sidecar, read_sidecar, write_sidecar

logger = logging.getLogger(__name__)


@dataclass
class IngestResult:
    record: ModelRecord
    problems: list[str] = field(default_factory=list)
    sidecar_written: bool = False
    stale_sidecar_hash: bool = False  # the sidecar's sha256 names the file's old bytes: clear it


def _sub_type(model_type: str, sidecar: SidecarRecord, raw: dict[str, Any], network_type: str, stat: FileStat) -> str:
    if model_type == "embedding" or model_type in EXTRA_KINDS:
        return model_type
    if model_type == "checkpoint":
        declared = raw.get("sub_type") or raw.get("model_type")
        if declared in ("checkpoint", "diffusion_model"):
            return declared
        return "diffusion_model" if "/diffusion_models/" in stat.root + "/" or "/unet/" in stat.root + "/" else "checkpoint"
    civitai_type = str((sidecar.civitai.get("model") or {}).get("type", "") if isinstance(sidecar.civitai.get("model"), dict) else "").lower()
    if civitai_type in ("locon", "dora", "lycoris"):
        return "locon" if civitai_type == "lycoris" else civitai_type
    mapped = {"LoCon": "locon", "DoRA": "dora", "LoHa": "loha", "LoKr": "lokr"}.get(network_type)
    return mapped or "lora"


def new_sidecar(stat: FileStat, model_type: str, learned: dict[str, str]) -> dict[str, Any]:
    """The sidecar written for a model that had none: what was learned, in ComfyUI-Lora-Manager's format."""
    data: dict[str, Any] = {
        "file_name": stat.stem,
        "model_name": stat.stem,
        "file_path": stat.path,
        "size": stat.size,
        "modified": stat.mtime_ns / 1e9,
        "sha256": learned["sha256"],
        "base_model": learned["base_model"],
        "preview_url": stat.preview_path,
        "preview_nsfw_level": 0,
        "notes": "",
        "from_civitai": False,
        "civitai": {},
        "tags": [],
        "modelDescription": "",
        "favorite": False,
        "exclude": False,
    }
    if model_type == "lora":
        data["usage_tips"] = "{}"
    else:
        data["sub_type"] = learned["sub_type"]
    return data


def sidecar_of_record(record: ModelRecord) -> dict[str, Any]:
    """A sidecar rebuilt from what the index knows, for a model whose sidecar is missing or was set aside:
    an edit then starts from everything known, not from an empty file."""
    data: dict[str, Any] = {
        "file_name": record.file_name,
        "model_name": record.model_name or record.file_name,
        "file_path": record.file_path,
        "size": record.size,
        "modified": record.mtime,
        "sha256": record.sha256,
        "base_model": record.base_model,
        "preview_url": record.preview_path,
        "preview_nsfw_level": record.preview_nsfw_level,
        "notes": record.notes,
        "from_civitai": record.from_civitai,
        "civitai": record.civitai_summary(),
        "tags": list(record.tags),
        "modelDescription": "",
        "favorite": record.favorite,
        "exclude": record.exclude,
    }
    if record.model_type == "lora":
        data["usage_tips"] = record.usage_tips
    else:
        data["sub_type"] = record.sub_type
    return data


def _stem_sibling_owner(raw: dict[str, Any], stat: FileStat) -> str:
    """The name of another model file of the same stem that this sidecar says it describes, if it exists."""
    stated = raw.get("file_path")
    if not isinstance(stated, str) or not stated:
        return ""
    name = stated.replace("\\", "/").rsplit("/", 1)[-1]
    own = stat.stem + stat.extension
    if name == own or not name.startswith(stat.stem) or name[len(stat.stem):].lower() not in ALL_MODEL_EXTENSIONS:
        return ""
    return name if os.path.isfile(os.path.join(os.path.dirname(stat.path), name)) else ""


def _stale_sidecar_hash(stated: str, previous: ModelRecord | None, unchanged: bool) -> bool:
    """Whether a sidecar's sha256 may describe bytes the file no longer has.

    The sidecar is written by whoever hashed the file last; when the file is rewritten in place the sidecar
    still names the old bytes. It is stale when the file changed and it states the hash we knew for the old
    bytes; the service then clears it from the sidecar (``IngestResult.stale_sidecar_hash``), so no later
    read, ours or another machine's, takes it back before the file is hashed again.
    """
    if previous is None:
        return False
    return not unchanged and stated.lower() == previous.sha256


def _kind_identity(stat: FileStat, model_type: str) -> tuple[ModelIdentity, dict[str, Any], str]:
    """Identity of a VAE, ControlNet, text encoder... from its header alone (see identify_kind): the report
    (family, base models, format, precision, tensor bytes) and why the file is invalid ('' when it is not)."""
    found = identify_file(Path(stat.path), model_type)
    identity = ModelIdentity(model_type=model_type, vram_estimate_bytes=found.vram_bytes or stat.size,
                             vram_estimate_source="tensor bytes" if found.vram_bytes else "file size")
    if found.family:
        identity.network_type, identity.network_type_source = found.family, f"header:{found.format}"
    if found.base_models:
        identity.base_model, identity.base_model_source = found.base_models[0], f"header:{found.format}"
    extra = {"format": found.format, "family": found.family, "base_models": list(found.base_models),
             "precision": found.precision}
    return identity, extra, found.error


def ingest_file(stat: FileStat, model_type: str, previous: ModelRecord | None = None, *,
                write_new_sidecars: bool = True) -> IngestResult:
    problems: list[str] = []
    header = None
    status, reason = "ok", ""
    kind_report: dict[str, Any] = {}
    if model_type in EXTRA_KINDS:
        identity, kind_report, error = _kind_identity(stat, model_type)
        if error:
            status, reason = "invalid", error
            problems.append(f"{stat.path}: {error}")
    elif stat.extension in (".safetensors", ".sft"):
        try:
            header = read_header(stat.path)
        except InvalidModelFile as exc:
            status, reason = "invalid", exc.reason
            problems.append(f"{stat.path}: {exc.reason}")
        except OSError as exc:
            status, reason = "invalid", f"unreadable: {exc.strerror or exc}"
            problems.append(f"{stat.path}: {reason}")
    if not kind_report:
        identity = identify(header, file_name=stat.stem + stat.extension, file_size=stat.size, model_type=model_type)

    raw: dict[str, Any] = {}
    sidecar_status = "missing"
    if stat.sidecar_path:
        try:
            raw = read_sidecar(stat.sidecar_path)
            sidecar_status = "ok"
        except SidecarError as exc:
            problems.append(f"{stat.sidecar_path}: {exc}")
            try:
                set_aside(stat.sidecar_path, str(exc))
            except OSError as move_exc:
                problems.append(f"{stat.sidecar_path}: could not set the bad sidecar aside ({move_exc})")
            sidecar_status = "corrupt"
            stat.sidecar_path, stat.sidecar_mtime_ns, stat.sidecar_size = "", 0, 0
        except OSError as exc:
            problems.append(f"{stat.sidecar_path}: unreadable sidecar ({exc.strerror or exc})")
            sidecar_status = "corrupt"
    shared_with = _stem_sibling_owner(raw, stat)
    if shared_with:  # x.pt beside x.ckpt: the sidecar describes the other file, so none of it is ours
        problems.append(f"{stat.path}: shares its metadata file with {shared_with}; its own metadata is not kept")
        raw, sidecar_status = {}, "missing"
    if not raw and stat.civitai_info_path and not shared_with:
        try:
            with open(stat.civitai_info_path, "rb") as handle:
                info = json.loads(handle.read().decode("utf-8"))
            if isinstance(info, dict):
                raw = civitai_info_to_sidecar(info, stat.path)
        except (OSError, ValueError) as exc:
            problems.append(f"{stat.civitai_info_path}: {exc}")
    sidecar = SidecarRecord.from_dict(raw)

    sha256 = ""
    autov3 = ""
    hash_status = "pending"
    unchanged = previous is not None and (previous.size, previous.mtime_ns, previous.inode) == (
        stat.size, stat.mtime_ns, stat.inode)
    stale_hash = bool(sidecar.sha256) and _stale_sidecar_hash(sidecar.sha256, previous, unchanged)
    if previous is not None and previous.hash_status == "done" and unchanged:
        sha256, autov3, hash_status = previous.sha256, previous.autov3, "done"
    elif stale_hash:
        logger.info("%s changed since it was hashed: the sidecar's sha256 is stale, it is hashed again", stat.path)
    elif sidecar.sha256:
        sha256, hash_status = sidecar.sha256.lower(), "done"
    if status != "ok":
        hash_status = "invalid" if not sha256 else hash_status

    base_model = sidecar.base_model or identity.base_model
    base_source = "sidecar" if sidecar.base_model else identity.base_model_source
    if sidecar.from_civitai and sidecar.civitai.get("baseModel"):
        base_source = "civitai"
    trigger_words = sidecar.trigger_words or list(identity.trigger_words)
    usage_tips = raw.get("usage_tips") if isinstance(raw.get("usage_tips"), str) else json.dumps(sidecar.usage_tips)
    identity_data = {**identity.to_dict(), **kind_report}
    sub_type = _sub_type(model_type, sidecar, raw, identity.network_type, stat)
    sidecar_written = False
    if not raw and write_new_sidecars and status == "ok" and not shared_with:
        sidecar_path = str(Path(stat.path).with_name(stat.stem + SIDECAR_SUFFIX))
        learned = {"sha256": sha256, "base_model": base_model or "Unknown", "sub_type": sub_type}
        try:
            write_sidecar(sidecar_path, new_sidecar(stat, model_type, learned), durable=False)
            sst = os.stat(sidecar_path)
            stat.sidecar_path, stat.sidecar_mtime_ns, stat.sidecar_size = sidecar_path, sst.st_mtime_ns, sst.st_size
            sidecar_status = "ok"
            sidecar_written = True
        except OSError as exc:
            sidecar_status = "read_only"
            problems.append(f"{sidecar_path}: could not write sidecar ({exc.strerror or exc}); kept in the index only")
    identity_data["trigger_words_source"] = "civitai" if sidecar.trigger_words else identity.trigger_words_source
    record = ModelRecord(
        file_path=stat.path,
        model_type=model_type,
        root=stat.root,
        folder=stat.folder,
        file_name=stat.stem,
        extension=stat.extension,
        size=stat.size,
        mtime_ns=stat.mtime_ns,
        inode=stat.inode,
        sidecar_mtime_ns=stat.sidecar_mtime_ns,
        sidecar_size=stat.sidecar_size,
        preview_path=stat.preview_path,
        model_name=sidecar.model_name or stat.stem,
        base_model=base_model or "Unknown",
        base_model_source=base_source,
        sub_type=sub_type,
        tags=list(sidecar.tags),
        trigger_words=trigger_words,
        favorite=sidecar.favorite,
        exclude=sidecar.exclude,
        notes=sidecar.notes,
        usage_tips=usage_tips or "{}",
        preview_nsfw_level=sidecar.preview_nsfw_level,
        from_civitai=sidecar.from_civitai,
        civitai_model_id=sidecar.civitai_model_id,
        civitai_version_id=sidecar.civitai_version_id,
        civitai_name=str(sidecar.civitai.get("name") or ""),
        creator=sidecar.creator or "",
        skip_metadata_refresh=sidecar.skip_metadata_refresh,
        sha256=sha256,
        autov3=autov3,
        hash_status=hash_status,
        status=status,
        status_reason=reason,
        sidecar_status=sidecar_status,
        identity_json=json.dumps(identity_data, ensure_ascii=False),
        network_type=identity.network_type,
        file_format=kind_report.get("format", ""),
        precision=kind_report.get("precision", ""),
        hf_url=sidecar.hf_url,
        usage_count=previous.usage_count if previous else 0,
        update_available=previous.update_available if previous else False,
    )
    return IngestResult(record, problems, sidecar_written, stale_hash)


def safe_ingest(stat: FileStat, model_type: str, previous: ModelRecord | None = None) -> IngestResult:
    """Ingest that never raises: one bad file becomes an invalid record with the reason."""
    try:
        return ingest_file(stat, model_type, previous)
    except Exception as exc:  # noqa: BLE001 - one bad file never breaks the scan
        logger.exception("Could not read %s", stat.path)
        record = ModelRecord(
            file_path=stat.path, model_type=model_type, root=stat.root, folder=stat.folder, file_name=stat.stem,
            extension=stat.extension, size=stat.size, mtime_ns=stat.mtime_ns, inode=stat.inode,
            preview_path=stat.preview_path, status="invalid", status_reason=f"unreadable: {exc}",
            hash_status="invalid",
        )
        return IngestResult(record, [f"{stat.path}: {exc}"])
