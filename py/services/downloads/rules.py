"""Decisions taken about a version before any byte is transferred: skip it by the settings, or expect an
early-access refusal.

Why: the browser extension queues whole creator pages; users exclude base models they cannot run and do not
want versions they downloaded (and deleted) before. Those rules, and the early-access wording users see, are
pure functions of the version metadata and the settings, so they are decided here and tested alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

PREVIOUSLY_DOWNLOADED = "previously_downloaded_version"
BASE_MODEL_EXCLUDED = "base_model_excluded"


@dataclass(frozen=True)
class SkipDecision:
    """Why a download is not done; ``body`` is the 200 answer of ``download-model-get`` (without the id)."""

    reason: str
    message: str
    version_id: int
    file_name: str
    base_model: str | None = None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"success": True, "skipped": True, "status": "skipped", "reason": self.reason,
                               "message": self.message, "model_version_id": self.version_id,
                               "file_name": self.file_name}
        if self.base_model is not None:
            out["base_model"] = self.base_model
        return out


def _file_name(version: Mapping[str, Any], file: Mapping[str, Any] | None) -> str:
    name = (file or {}).get("name")
    return str(name) if name else str(version.get("name") or "")


def decide_skip(version: Mapping[str, Any], file: Mapping[str, Any] | None, *, skip_previously_downloaded: bool,
                previously_downloaded: bool, excluded_base_models: Iterable[Any]) -> SkipDecision | None:
    """The settings' verdict on a version: skipped (and why) or None to download it.

    Base models compare case-insensitively and ignore surrounding blanks ("sdxl 1.0" excludes "SDXL 1.0")."""
    version_id = int(version["id"])
    file_name = _file_name(version, file)
    if skip_previously_downloaded and previously_downloaded:
        return SkipDecision(PREVIOUSLY_DOWNLOADED,
                            f"Skipped download for '{file_name}' because version {version_id} was already "
                            "downloaded before", version_id, file_name)
    excluded = {b.strip().casefold() for b in excluded_base_models if isinstance(b, str) and b.strip()}
    base_model = str(version.get("baseModel") or "").strip()
    if base_model and base_model.casefold() in excluded:
        return SkipDecision(BASE_MODEL_EXCLUDED,
                            f"Skipped download for '{file_name}' because its base model '{base_model}' is "
                            "excluded in the settings", version_id, file_name, base_model)
    return None


# -- early access ------------------------------------------------------------------------------------
def _parse_when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def early_access_until(version: Mapping[str, Any], now: datetime | None = None) -> str | None:
    """When the version is early access, the end of that period as users read it ("2030-01-31 12:00 UTC";
    "an unannounced date" when Civitai gives none); None for a public version.

    Civitai marks it with ``availability: "EarlyAccess"`` and a future ``earlyAccessEndsAt``; either is enough."""
    now = now or datetime.now(timezone.utc)
    raw = version.get("earlyAccessEndsAt")
    ends = _parse_when(raw)
    flagged = str(version.get("availability") or "").strip().lower() == "earlyaccess"
    if not flagged and (ends is None or ends <= now):
        return None
    if ends is not None:
        return ends.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return str(raw).strip() if isinstance(raw, str) and raw.strip() else "an unannounced date"


def _version_label(version: Mapping[str, Any], model: Mapping[str, Any] | None) -> str:
    name = str(version.get("name") or "").strip()
    if name:
        return name
    summary = version.get("model") if isinstance(version.get("model"), Mapping) else {}
    return str((model or {}).get("name") or summary.get("name") or f"version {version.get('id')}")


def early_access_notice(version: Mapping[str, Any], model: Mapping[str, Any] | None, until: str) -> str:
    """The progress message shown before the transfer of an early-access version."""
    return (f"{_version_label(version, model)} is an early-access version until {until}; the download needs a "
            "Civitai API key with access")


def early_access_error(version: Mapping[str, Any], model: Mapping[str, Any] | None, until: str) -> str:
    """The error of an early-access download that Civitai refused (HTTP 401/403)."""
    return (f"Early access restriction: {_version_label(version, model)} is in early access until {until}; "
            "sign in with a Civitai API key that has access, or wait")
