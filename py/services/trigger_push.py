"""Pushing trigger words to Trigger Word Toggle nodes in the ComfyUI page (``POST loras/get_trigger_words``).

Why: ComfyUI-Lora-Manager's loader widgets ask the server to send the words of the LoRAs they hold to the
toggle nodes linked to them, as the ComfyUI event ``trigger_word_update``; the server answers from its index.
Standalone there is no ComfyUI page to send to, so nothing is sent.
"""
from __future__ import annotations

import logging
from typing import Any

from ..nodes.trigger_words import EVENT

logger = logging.getLogger(__name__)

MAX_TARGETS = 256


class BadTargets(ValueError):
    pass


def parse_targets(raw: Any) -> list[dict[str, Any]]:
    """``node_ids`` as the widgets send them (ids, or ``{"node_id", "graph_id"}`` objects) as event payload
    stubs; whole-number ids become numbers, as the anchor sends them."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BadTargets("Invalid value for node_ids: expected a list of node ids")
    if len(raw) > MAX_TARGETS:
        raise BadTargets(f"Invalid value for node_ids: at most {MAX_TARGETS} nodes")
    targets = []
    for entry in raw:
        graph = None
        if isinstance(entry, dict):
            graph = entry.get("graph_id")
            entry = entry.get("node_id")
        if isinstance(entry, bool) or not isinstance(entry, (int, str)) or not str(entry).strip():
            raise BadTargets("Invalid value for node_ids: each entry is a node id or {node_id, graph_id}")
        text = str(entry).strip()
        if len(text) > 64 or (graph is not None and (not isinstance(graph, (str, int)) or len(str(graph)) > 64)):
            raise BadTargets("Invalid value for node_ids: a node or graph id is too long")
        target: dict[str, Any] = {"id": int(text) if text.isascii() and text.isdigit() else text}
        if graph is not None:
            target["graph_id"] = str(graph)
        targets.append(target)
    return targets


def send_trigger_words(targets: list[dict[str, Any]], text: str) -> int:
    """Send ``text`` to every target through ComfyUI's PromptServer; how many were sent (0 standalone)."""
    if not targets:
        return 0
    try:
        from server import PromptServer  # type: ignore[import-not-found]

        instance = PromptServer.instance
    except Exception:  # noqa: BLE001 - not inside ComfyUI
        return 0
    sent = 0
    for target in targets:
        try:
            instance.send_sync(EVENT, {**target, "message": text})
            sent += 1
        except Exception as exc:  # noqa: BLE001 - a page update is a convenience
            logger.debug("Could not send trigger words to node %s: %s", target.get("id"), exc)
    return sent
