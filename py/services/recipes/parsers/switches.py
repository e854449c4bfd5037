"""Switch and selector nodes: which of their inputs carry data to their output, as ComfyUI would run them.

Why a table plus shape rules: the core ``ComfySwitchNode`` and the switches of popular packs (rgthree, Impact
Pack, Easy-Use, Crystools, Comfyroll...) each name their inputs differently, but they come in three shapes: a
boolean picks ``on_true``/``on_false``, an index picks ``input1``/``value0``..., or the first connected input
wins. The selector is read from its linked value (a primitive, a logic node, another switch) before its widget,
and a selector whose value cannot be told keeps every branch and says so.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from ._util import as_int
from .prompt_graph import Node

__all__ = ["Choice", "choose", "truth"]

# (value, decided) for an input value that may be a link
ValueReader = Callable[[Any], "tuple[Any, bool]"]

_BRANCH_PAIRS = (
    ("on_true", "on_false"), ("if_true", "if_false"), ("true", "false"), ("tt_value", "ff_value"),
    ("true_input", "false_input"), ("input_true", "input_false"), ("on", "off"), ("true_value", "false_value"),
)
_BOOL_KEYS = ("switch", "boolean", "Boolean", "bool", "cond", "condition", "value", "enabled", "select")
_INDEX_KEYS = ("select", "index", "Input", "input", "selection", "selected", "choice", "select_index")
_NUMBERED_RE = re.compile(r"^(.*?)_?(\d{1,3})$")
_FIRST_PRESENT = {
    "Any Switch (rgthree)": "any_",
    "Context Switch (rgthree)": "ctx_",
    "Context Switch Big (rgthree)": "ctx_",
    "Dynamic Context Switch (rgthree)": "ctx_",
    "Dynamic Context Switch Big (rgthree)": "ctx_",
}
_TRUE_WORDS = {"true", "1", "yes", "on"}
_FALSE_WORDS = {"false", "0", "no", "off", ""}


@dataclass(frozen=True)
class Choice:
    """``control``: the inputs that decide; ``selected``: the inputs whose data flows out; ``decided``: False
    when the selector's value could not be told (then ``selected`` holds every branch)."""

    control: tuple[str, ...]
    selected: tuple[str, ...]
    decided: bool
    reason: str = ""


def truth(value: Any) -> bool | None:
    """A selector's truth the way a BOOLEAN input would take it; None when it cannot be told."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    return None


def _looks_like_switch(class_type: str) -> bool:
    lowered = class_type.lower()
    return any(word in lowered for word in ("switch", "ifelse", "if else", "if/else", "conditional", "branch"))


def _present(node: Node, key: str) -> bool:
    return key in node.inputs and node.inputs[key] is not None


def _boolean_choice(node: Node, read: ValueReader) -> Choice | None:
    for on_true, on_false in _BRANCH_PAIRS:
        if on_true not in node.inputs and on_false not in node.inputs:
            continue
        control = next((key for key in _BOOL_KEYS if key in node.inputs and key not in (on_true, on_false)), None)
        if control is None:
            return None
        branches = tuple(key for key in (on_true, on_false) if _present(node, key))
        if len(branches) == 1:
            # One branch connected: old ComfyUI and soft switches pass it on whatever the switch says, and a
            # strict switch picking the missing side would have produced no image.
            return Choice((control,), branches, True, f"only '{branches[0]}' is connected")
        value, known = read(node.inputs[control])
        flag = truth(value) if known else None
        if flag is None:
            return Choice((control,), branches, False, f"the value of its '{control}' input could not be told")
        wanted, other = (on_true, on_false) if flag else (on_false, on_true)
        if _present(node, wanted):
            return Choice((control,), (wanted,), True, f"'{control}' is {flag}")
        # Older ComfyUI (and soft switches) pass the only connected branch through whatever the switch says.
        return Choice((control,), (other,) if _present(node, other) else (), True, f"only '{other}' is connected")
    return None


def _numbered(node: Node, exclude: str) -> dict[str, list[tuple[int, str]]]:
    groups: dict[str, list[tuple[int, str]]] = {}
    for key in node.inputs:
        if not isinstance(key, str) or key == exclude:
            continue
        match = _NUMBERED_RE.match(key)
        if match:
            groups.setdefault(match.group(1), []).append((int(match.group(2)), key))
    return groups


def _index_choice(node: Node, read: ValueReader) -> Choice | None:
    control = next((key for key in _INDEX_KEYS if key in node.inputs), None)
    if control is None:
        return None
    groups = _numbered(node, control)
    if not groups:
        return None
    _, slots = max(groups.items(), key=lambda item: len(item[1]))
    slots.sort()
    branches = tuple(key for _, key in slots if _present(node, key))
    value, known = read(node.inputs[control])
    index = as_int(value) if known else None
    if index is None:
        flag = truth(value) if known else None
        if flag is None:
            return Choice((control,), branches, False, f"the value of its '{control}' input could not be told")
        index = 1 if flag else 0
    if node.class_type.startswith("CR ") and len(slots) == 2 and index != slots[0][0]:
        index = slots[1][0]  # Comfyroll's two-way switches: 1 is the first input, anything else the second
    wanted = next((key for number, key in slots if number == index), None)
    if wanted is None or not _present(node, wanted):
        return Choice((control,), (), True, f"'{control}' is {index} and that input is not connected")
    return Choice((control,), (wanted,), True, f"'{control}' is {index}")


def _first_present(node: Node, prefix: str) -> Choice:
    keys = sorted((key for key in node.inputs if isinstance(key, str) and key.startswith(prefix)),
                  key=lambda key: (as_int(key[len(prefix):]) or 0, key))
    chosen = next((key for key in keys if _present(node, key)), None)
    return Choice((), (chosen,) if chosen else (), True, "the first connected input is passed on")


def choose(node: Node, read: ValueReader) -> Choice | None:
    """How a switch node routes its inputs; None when ``node`` is no switch."""
    prefix = _FIRST_PRESENT.get(node.class_type)
    if prefix is not None:
        return _first_present(node, prefix)
    if not _looks_like_switch(node.class_type) and not node.class_type.lower().endswith("indexswitch"):
        return None
    choice = _boolean_choice(node, read) or _index_choice(node, read)
    if choice is not None:
        return choice
    if node.class_type.lower().startswith("any switch"):
        return _first_present(node, "any_")
    branches = tuple(key for key, value in node.inputs.items() if isinstance(key, str) and isinstance(value, list))
    if len(branches) < 2:
        return None
    return Choice((), branches, False, f"{node.class_type} is a switch of a kind this reader does not know")
