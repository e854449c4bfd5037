"""The literal value an input of an API-format prompt holds: a widget literal, or what a chain of primitive,
logic, switch, text and string-joining nodes produces from literals.

Why: a switch decides which LoRAs ran only once its selector's value is known, and that value very often comes
through links (a ``PrimitiveBoolean`` promoted out of a subgraph, a ``ComfyNotNode``, another switch); prompts
arrive the same way (Text nodes, concatenations, trigger-word toggles). Every lookup is bounded and cycle-safe,
and says whether the value was decided or guessed.
"""
from __future__ import annotations

import json
import re
from typing import Any

from .prompt_graph import Node, PromptGraph, is_link
from .switches import choose, truth

__all__ = ["GraphValues", "MAX_VALUE_VISITS"]

MAX_VALUE_VISITS = 512  # nodes visited for one value
MAX_VALUE_DEPTH = 64

_PRIMITIVES = frozenset({
    "PrimitiveBoolean", "PrimitiveInt", "PrimitiveFloat", "PrimitiveString", "PrimitiveStringMultiline",
    "PrimitiveNode", "PrimitiveCombo",
})
_VALUE_KEYS = ("value", "text", "string", "prompt", "STRING", "Text", "boolean", "int", "float", "number",
               "seed", "noise_seed")
_JOIN_RE = re.compile(r"^(?:text|string|str|prompt)_?([a-z]|\d{1,2})$", re.IGNORECASE)
_DELIMITER_KEYS = ("delimiter", "separator", "sep", "join_with")
_TOGGLE_KEYS = ("toggle_trigger_words", "toggle_state")
_NOT_NODES = {"ComfyNotNode": "value", "InvertBooleanNode": "boolean"}
_ALL_ANY = {"ComfyAndNode": all, "ComfyOrNode": any}
_UNKNOWN = (None, False)


class GraphValues:
    """Reads literal values through links; ``read`` answers ``(value, decided)``."""

    def __init__(self, graph: PromptGraph) -> None:
        self.graph = graph

    # -- public --------------------------------------------------------------------------------------

    def read(self, value: Any, key: str = "") -> tuple[Any, bool]:
        return self._read(value, key, [MAX_VALUE_VISITS], ())

    def scalar(self, value: Any, key: str = "") -> Any:
        """A decided str/int/float (bools excluded), else None."""
        result, decided = self.read(value, key)
        if decided and isinstance(result, (str, int, float)) and not isinstance(result, bool):
            return result
        return None

    def text(self, value: Any) -> str | None:
        result, decided = self.read(value, "text")
        return result if decided and isinstance(result, str) else None

    # -- evaluation ----------------------------------------------------------------------------------

    def _read(self, value: Any, key: str, budget: list[int], path: tuple[str, ...]) -> tuple[Any, bool]:
        if not is_link(value):
            if isinstance(value, dict) and "__value__" in value:
                value = value["__value__"]
            return (value, True) if isinstance(value, (str, int, float, bool)) else _UNKNOWN
        source = self.graph.source(value)
        if source is None or budget[0] <= 0 or len(path) > MAX_VALUE_DEPTH:
            return _UNKNOWN
        node, _slot = source
        if node.id in path:
            return _UNKNOWN
        budget[0] -= 1
        return self._node_value(node, key, budget, (*path, node.id))

    def _node_value(self, node: Node, key: str, budget: list[int], path: tuple[str, ...]) -> tuple[Any, bool]:
        inputs = node.inputs
        if any(is_link(inputs.get(name)) for name in ("clip", "model")):
            return _UNKNOWN  # generated at run time (a prompt enhancer), not held by the graph

        def sub(inner: Any, inner_key: str = key) -> tuple[Any, bool]:
            return self._read(inner, inner_key, budget, path)

        choice = choose(node, lambda inner: sub(inner, ""))
        if choice is not None:
            if not choice.decided or len(choice.selected) != 1:
                return _UNKNOWN
            return sub(inputs[choice.selected[0]])
        if node.class_type in _PRIMITIVES and "value" in inputs:
            return sub(inputs["value"])
        if node.class_type in _NOT_NODES:
            inner, decided = sub(inputs.get(_NOT_NODES[node.class_type]), "")
            flag = truth(inner) if decided else None
            return (not flag, True) if flag is not None else _UNKNOWN
        if node.class_type in _ALL_ANY:
            flags = []
            for name, inner in inputs.items():
                if isinstance(name, str) and name.startswith("value"):
                    got, decided = sub(inner, "")
                    flag = truth(got) if decided else None
                    if flag is None:
                        return _UNKNOWN
                    flags.append(flag)
            return (_ALL_ANY[node.class_type](flags), True) if flags else _UNKNOWN
        toggles = next((inputs[name] for name in _TOGGLE_KEYS if name in inputs), None)
        if toggles is not None and not is_link(toggles):
            words = _active_toggles(toggles)
            if words is not None:
                return words, True
        for name in (key, *_VALUE_KEYS):
            if name and name in inputs:
                return sub(inputs[name], name)
        joined = self._joined(node, sub)
        if joined is not None:
            return joined
        literals = [v for v in inputs.values() if isinstance(v, (str, int, float)) and not isinstance(v, bool)]
        if len(inputs) == 1 and literals:
            return literals[0], True
        return _UNKNOWN

    def _joined(self, node: Node, sub: Any) -> tuple[Any, bool] | None:
        parts = sorted((name for name in node.inputs if isinstance(name, str) and _JOIN_RE.match(name)),
                       key=_part_order)
        if not parts:
            return None
        delimiter_key = next((name for name in _DELIMITER_KEYS if name in node.inputs), None)
        delimiter: Any = ", "
        if delimiter_key is not None:
            delimiter, decided = sub(node.inputs[delimiter_key], "")
            if not decided or not isinstance(delimiter, str):
                return _UNKNOWN
            delimiter = delimiter.replace("\\n", "\n")
        pieces = []
        for name in parts:
            piece, decided = sub(node.inputs[name], "text")
            if not decided:
                return _UNKNOWN
            if isinstance(piece, str) and piece:
                pieces.append(piece)
        return delimiter.join(pieces), True


def _part_order(name: str) -> tuple[int, str]:
    match = _JOIN_RE.match(name)
    suffix = match.group(1) if match else ""
    return (int(suffix), "") if suffix.isdigit() else (ord(suffix.lower()) - ord("a"), "")


def _active_toggles(state: Any) -> str | None:
    """The words a trigger-word toggle passes on: the active entries of its saved state."""
    if isinstance(state, dict):
        state = state.get("__value__")
    if isinstance(state, str):
        try:
            state = json.loads(state)
        except ValueError:
            return None
    if not isinstance(state, list):
        return None
    words = [item["text"].strip() for item in state
             if isinstance(item, dict) and isinstance(item.get("text"), str) and item.get("active", True)]
    return ", ".join(word for word in words if word)
