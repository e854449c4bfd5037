"""A bulk tag edit (add, remove, replace) over many models: validated once, applied to each model's own tags.

Why: "rename tag ``sdxl`` to ``SDXL`` on these 300 models" must touch each model's tags as they are at the
moment its sidecar is written (another edit may have landed meanwhile), so the edit is a pure function of the
current tag list, applied inside each model's read-modify-write. Matching is case-insensitive, like the tag
filters; the order of the tags a model keeps is preserved.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .edits import MAX_TAG, MAX_TAGS, InvalidEdit, check_tags, clean_tags

MAX_BULK_MODELS = 10_000  # models one bulk tag edit may name


@dataclass(frozen=True)
class TagEdit:
    """Tags to add, to remove and to rename (casefolded old name -> new name)."""

    add: tuple[str, ...] = ()
    remove: frozenset[str] = frozenset()
    replace: tuple[tuple[str, str], ...] = ()

    def apply(self, tags: list[str] | tuple[str, ...]) -> list[str]:
        """The tag list after the edit: renames first, then removals, then additions; unique, order kept."""
        renames = dict(self.replace)
        renamed = [renames.get(tag.strip().casefold(), tag) for tag in tags]
        kept = [tag for tag in renamed if tag.strip().casefold() not in self.remove]
        return clean_tags(self.add, kept)


def tag_edit(body: Mapping[str, Any]) -> TagEdit:
    """Validate the ``add`` / ``remove`` / ``replace`` parts of a bulk tag request; at least one must change
    something. ``replace`` is an object ``{"old": "new"}``; an empty new name is refused (use ``remove``)."""
    add = check_tags(body.get("add", []), "add")
    remove = check_tags(body.get("remove", []), "remove")
    raw = body.get("replace", {})
    if not isinstance(raw, dict):
        raise InvalidEdit('Invalid value for replace: expected an object {"old tag": "new tag"}')
    if len(raw) > MAX_TAGS:
        raise InvalidEdit(f"Invalid value for replace: at most {MAX_TAGS} entries ({len(raw)} given)")
    replace: dict[str, str] = {}
    for old, new in raw.items():
        if not isinstance(new, str):
            raise InvalidEdit(f"Invalid value for replace[{old[:40]!r}]: expected a string")
        if len(old) > MAX_TAG or len(new) > MAX_TAG:
            raise InvalidEdit(f"Invalid value for replace: each tag at most {MAX_TAG} characters")
        if not old.strip() or not new.strip():
            raise InvalidEdit("Invalid value for replace: tag names cannot be blank (use remove to drop a tag)")
        replace[old.strip().casefold()] = new.strip()
    if not (add or remove or replace):
        raise InvalidEdit("Nothing to change: send add, remove or replace (a list of tags or an object)")
    added = {t.casefold() for t in add}  # a tag both added and removed stays, where it was
    return TagEdit(tuple(add), frozenset(t.casefold() for t in remove) - added, tuple(replace.items()))
