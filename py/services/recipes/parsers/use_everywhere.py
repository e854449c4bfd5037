"""Anything Everywhere (cg-use-everywhere) broadcasts, for workflows saved without their API prompt.

Why: with these nodes a LoRA loader's MODEL goes into an "Anything Everywhere" node and the sampler's ``model``
input stays unconnected in the saved UI graph; the pack's front end adds the links only when the prompt is
queued. Without the links the LoRA would look unused. A broadcaster's input feeds every unconnected input of
the same type on its graph level. Its restrictions (title/input regexes, groups, colours) are not evaluated:
regexes from an untrusted file are never run. So an input takes a broadcast only when one source is possible:
the single unrestricted broadcaster of that type, else the single restricted one. Two candidates are
ambiguous and the input stays unconnected (logged), as it would be for a graph ComfyUI refuses to run.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:  # the UI graph's records (``comfyui`` imports this module, so only for the types)
    from .comfyui import _Link, _UINode

logger = logging.getLogger(__name__)

BROADCASTER_TYPES = frozenset({"Anything Everywhere", "Anything Everywhere3", "Anything Everywhere?",
                               "Prompts Everywhere"})
_PROMPTS = "Prompts Everywhere"
_ANY = "*"
_RESTRICTION_KEYS = ("title_regex", "input_regex", "group_regex")


@dataclass(frozen=True)
class Broadcast:
    """One broadcasting input: the type it sends, the link that feeds it, and how it limits its targets."""

    type: str
    link_id: str
    restricted: bool
    name_hint: str | None = None  # Prompts Everywhere: "pos" or "neg", matched in the target input's name


def _restricted(node: _UINode) -> bool:
    """True when the node narrows its targets in a way we do not evaluate."""
    if node.type == "Anything Everywhere?":
        values = node.widgets if isinstance(node.widgets, list) else []
        if any(isinstance(v, str) and v.strip() not in ("", ".*") for v in values[:3]):
            return True
    props = node.properties.get("ue_properties")
    props = props if isinstance(props, dict) else node.properties
    if any(isinstance(props.get(key), str) and props.get(key).strip() not in ("", ".*") for key in _RESTRICTION_KEYS):
        return True
    return any(bool(props.get(key)) for key in ("group_restricted", "color_restricted"))


def _link_type(slot: dict[str, Any], link: _Link | None, nodes: dict[str, _UINode]) -> str | None:
    for candidate in (link.type if link else None, slot.get("type")):
        if isinstance(candidate, str) and candidate and candidate != _ANY:
            return candidate
    origin = nodes.get(link.origin) if link else None
    outputs = origin.outputs if origin else []
    out = outputs[link.origin_slot] if link and 0 <= link.origin_slot < len(outputs) else {}
    kind = out.get("type")
    return kind if isinstance(kind, str) and kind and kind != _ANY else None


def broadcasts(nodes: dict[str, _UINode], links: dict[str, _Link], active: Iterable[str]) -> list[Broadcast]:
    """Every broadcast of the active broadcaster nodes among ``nodes`` (one graph level)."""
    found: list[Broadcast] = []
    for node_id in active:
        node = nodes.get(node_id)
        if node is None or node.type not in BROADCASTER_TYPES:
            continue
        restricted = _restricted(node)
        connected = [slot for slot in node.inputs if slot.get("link") is not None]
        for index, slot in enumerate(connected):
            link_id = str(slot.get("link"))
            kind = _link_type(slot, links.get(link_id), nodes)
            if kind is None:
                continue
            hint = ("pos" if index == 0 else "neg") if node.type == _PROMPTS else None
            found.append(Broadcast(kind, link_id, restricted, hint))
    return found


def pick(candidates: list[Broadcast], slot: dict[str, Any], node_label: str) -> str | None:
    """The link id an unconnected input ``slot`` takes, or None when no single broadcast can reach it."""
    if slot.get("link") is not None or isinstance(slot.get("widget"), dict):
        return None
    kind, name = slot.get("type"), slot.get("name")
    if not isinstance(kind, str) or not isinstance(name, str):
        return None
    matching = [b for b in candidates if b.type == kind and (b.name_hint is None or b.name_hint in name.lower())]
    if not matching:
        return None
    for group in ([b for b in matching if not b.restricted], [b for b in matching if b.restricted]):
        sources = {b.link_id for b in group}
        if len(sources) == 1:
            return group[0].link_id
        if len(sources) > 1:
            logger.info("Input %r of node %s could take %d Anything Everywhere broadcasts; left unconnected",
                        name, node_label, len(sources))
            return None
    return None
