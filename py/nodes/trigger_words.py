"""Trigger words: the text format the LoRA nodes emit, the Trigger Word Toggle node and the push to it.

Format: the words of one LoRA are joined with ", ", the groups of different LoRAs with ",, " (so the toggle
can switch a LoRA's words as one group). The toggle keeps its on/off state in a workflow widget (JSON list of
``{"text", "active"}``); the loader tells the frontend about new words with the ComfyUI event
``trigger_word_update`` ``{"id": <toggle node id>, "message": <words>}``, sent only when they changed.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any, Iterable

from .resolve import NodeInputError

logger = logging.getLogger(__name__)

__all__ = ["GROUP_SEPARATOR", "EVENT", "join_trigger_groups", "split_trigger_words", "filter_trigger_words",
           "TriggerWordPusher", "toggles_fed_by", "TriggerWordToggleLM"]

GROUP_SEPARATOR = ",, "
EVENT = "trigger_word_update"
TOGGLE_CLASSES = frozenset({"TriggerWordToggleLM", "TriggerWord Toggle (LoraManager)"})
LOADER_TRIGGER_OUTPUT = 2  # index of ``trigger_words`` in the loaders' RETURN_TYPES
_GROUP_SPLIT = re.compile(r",{2,}")


def _clean(words: Iterable[Any]) -> list[str]:
    return [w.strip() for w in words if isinstance(w, str) and w.strip()]


def join_trigger_groups(groups: Iterable[Iterable[Any]]) -> str:
    """One group per LoRA; a word already emitted by an earlier LoRA is not repeated; empty groups vanish."""
    seen: set[str] = set()
    parts: list[str] = []
    for group in groups:
        words = []
        for word in _clean(group):
            if word.casefold() not in seen:
                seen.add(word.casefold())
                words.append(word)
        if words:
            parts.append(", ".join(words))
    return GROUP_SEPARATOR.join(parts)


def split_trigger_words(text: Any, *, group_mode: bool) -> list[str]:
    """Items the toggle shows: whole groups (``a, b``) in group mode, otherwise single words."""
    if not isinstance(text, str):
        return []
    if group_mode:
        items = [", ".join(_clean(group.split(","))) for group in _GROUP_SPLIT.split(text)]
    else:
        items = _clean(text.split(","))
    return list(dict.fromkeys(item for item in items if item))


def _parse_state(state: Any) -> dict[str, bool]:
    if state is None or state == "":
        return {}
    if isinstance(state, dict) and "__value__" in state:
        state = state["__value__"]
    if isinstance(state, str):
        try:
            state = json.loads(state)
        except ValueError as exc:
            raise NodeInputError(f"Trigger word toggle state is not valid JSON: {exc}") from exc
    if not isinstance(state, list):
        raise NodeInputError("Trigger word toggle state must be a list of {\"text\", \"active\"}")
    result: dict[str, bool] = {}
    for item in state:
        if isinstance(item, dict) and isinstance(item.get("text"), str):
            result[item["text"].strip()] = bool(item.get("active", True))
    return result


def filter_trigger_words(text: Any, state: Any, *, group_mode: bool = True, default_active: bool = True) -> str:
    """The active items of ``text`` joined with ", "; items the state does not mention use ``default_active``."""
    known = _parse_state(state)
    folded = {key.casefold(): value for key, value in known.items()}
    active = []
    for item in split_trigger_words(text, group_mode=group_mode):
        flag = known.get(item, folded.get(item.casefold(), default_active))
        if flag:
            active.append(item)
    return ", ".join(active)


def toggles_fed_by(prompt: Any, node_id: Any, output: int = LOADER_TRIGGER_OUTPUT) -> list[str]:
    """Ids of Trigger Word Toggle nodes whose input is linked to ``node_id``'s trigger-words output."""
    if not isinstance(prompt, dict) or node_id is None:
        return []
    found = []
    for key, node in prompt.items():
        if not isinstance(node, dict) or node.get("class_type") not in TOGGLE_CLASSES:
            continue
        inputs = node.get("inputs")
        link = inputs.get("trigger_words") if isinstance(inputs, dict) else None
        if isinstance(link, (list, tuple)) and len(link) == 2 and str(link[0]) == str(node_id) and link[1] == output:
            found.append(str(key))
    return sorted(found)


class TriggerWordPusher:
    """Sends a loader's trigger words to its toggles through ComfyUI's PromptServer, only when they changed."""

    def __init__(self) -> None:
        self._last: dict[str, str] = {}

    def push(self, prompt: Any, node_id: Any, words: str) -> list[str]:
        """Targets that were sent the words (empty when nothing changed or ComfyUI's server is absent)."""
        targets = [t for t in toggles_fed_by(prompt, node_id) if self._last.get(t) != words]
        if not targets:
            return []
        try:
            from server import PromptServer  # type: ignore[import-not-found]

            instance = PromptServer.instance
            for target in targets:
                instance.send_sync(EVENT, {"id": target, "message": words})
                self._last[target] = words
        except Exception as exc:  # noqa: BLE001 - the UI update is a convenience; the run goes on
            logger.debug("Could not push trigger words: %s", exc)
            return []
        return targets


class TriggerWordToggleLM:
    """Passes on the trigger words the user left switched on."""

    CATEGORY = "LoRA Manager"
    DESCRIPTION = "Switch trigger words on or off; the state is saved in the workflow."
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("filtered_trigger_words",)
    FUNCTION = "filter"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "trigger_words": ("STRING", {"forceInput": True, "tooltip": "Trigger words from a LoRA loader"}),
                "group_mode": ("BOOLEAN", {"default": True,
                                           "tooltip": "Switch the words of one LoRA together as a group"}),
                "default_active": ("BOOLEAN", {"default": True, "tooltip": "State of words not switched yet"}),
                "toggle_state": ("STRING", {"default": "[]", "multiline": False,
                                            "tooltip": "On/off state as JSON [{\"text\", \"active\"}]"}),
            },
            "hidden": {"unique_id": "UNIQUE_ID", "prompt": "PROMPT"},
        }

    def filter(self, trigger_words: str = "", group_mode: bool = True, default_active: bool = True,
               toggle_state: Any = "[]", unique_id: Any = None, prompt: Any = None) -> tuple[str]:
        from . import runtime

        result = (filter_trigger_words(trigger_words, toggle_state, group_mode=group_mode,
                                       default_active=default_active),)
        runtime.remember_outputs(prompt, unique_id, result)
        return result
