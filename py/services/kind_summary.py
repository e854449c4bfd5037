"""Every model kind of the table with its label and how many files the library holds of it.

Why: the UI offers only the kinds a user keeps files of, but clients must see every kind (a kind with no files
is listed with 0) to know what the server can serve. ``diffusion_models`` has no service of its own (its folders
are checkpoints, see py/library/kinds.py): it is counted from the checkpoint listing, by sub type.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..library.kinds import KINDS, SERVED_BY
from .model_service import PAGE_TYPES

if TYPE_CHECKING:
    from ..app import AppContext

DIFFUSION_SUB_TYPE = "diffusion_model"


def _count(context: "AppContext", kind: str) -> int:
    served_by = SERVED_BY.get(kind, kind)
    service = context.services.get(served_by)
    if service is None or service.index is None or not service.ready.is_set():
        return 0
    if served_by == kind:
        return len(service.index)
    return service.derived("diffusion_count", lambda: sum(
        1 for r in service.index.projection.values() if r.sub_type == DIFFUSION_SUB_TYPE))


def kinds_summary(context: "AppContext") -> list[dict[str, Any]]:
    """One entry per kind, in table order: its API name, label, aliases, the API it is served under, count."""
    out: list[dict[str, Any]] = []
    for kind in KINDS:
        served_by = SERVED_BY.get(kind.name, kind.name)
        out.append({
            "name": kind.name,
            "label": kind.label,
            "aliases": list(kind.aliases),
            "folders": list(kind.folders),
            "served_by": served_by,
            "api": f"/api/lm/{PAGE_TYPES[served_by]}",
            "count": _count(context, kind.name),
        })
    return out
