"""The widget values a subgraph instance holds for its inner nodes (promoted widgets).

Why: a user switches a LoRA in or out on the subgraph's face (a promoted boolean), not inside it; the value that
ran is the instance's, not the stale one saved on the inner node. ComfyUI's frontend has saved it two ways:
- canonical: ``widgets_values`` holds one value per instance input that carries a widget (an input the subgraph
  wires to an inner widget), in input order; a legacy save may add a slot for each ``control_after_generate``;
- legacy: ``properties.proxyWidgets`` lists ``[inner node id, widget name]`` pairs ("-1" for an input-backed one)
  and ``widgets_values``, when present, follows that list.
A value linked into the instance from outside wins over both, and the inner node's own value is the fallback.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HostValues", "host_values"]

_CONTROL = "control_after_generate"
_CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}


@dataclass
class HostValues:
    """``inputs``: subgraph input name -> value; ``widgets``: inner node id -> {widget name: value}."""

    inputs: dict[str, Any] = field(default_factory=dict)
    widgets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def merge_outer(self, outer: dict[str, Any]) -> None:
        """Values an enclosing instance promotes onto this one (by input name) win over its own."""
        for name, value in outer.items():
            if isinstance(name, str) and name != _CONTROL:
                self.inputs[name] = value


def _proxy_entries(properties: Any) -> list[tuple[str, str]]:
    raw = properties.get("proxyWidgets") if isinstance(properties, dict) else None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return []
    entries: list[tuple[str, str]] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, (list, tuple)) and len(item) >= 2 and isinstance(item[1], str):
            node_id = item[0]
            if isinstance(node_id, (str, int)) and not isinstance(node_id, bool):
                entries.append((str(node_id), item[1]))
    return entries


def _is_control(value: Any) -> bool:
    return isinstance(value, str) and value in _CONTROL_VALUES


def _fits(names: list[str], values: list[Any]) -> bool:
    """The values are one per name, or one per name plus control_after_generate companions."""
    if not names:
        return False
    controls = sum(1 for value in values if _is_control(value))
    return len(values) == len(names) or len(names) <= len(values) <= len(names) + controls


def host_values(inputs: list[dict[str, Any]], widgets: Any, properties: Any,
                declared: list[str] | None = None) -> HostValues:
    """What one instance node says about its inner widgets; unusable shapes give no values.

    ``declared``: the subgraph definition's inputs wired to inner widgets, in order. An instance saved by an
    older frontend may list fewer inputs than its definition while its ``widgets_values`` follow the definition.
    """
    result = HostValues()
    values = widgets if isinstance(widgets, list) else []
    if not values:
        return result
    promoted = [slot.get("name") for slot in inputs
                if isinstance(slot.get("widget"), dict) and isinstance(slot.get("name"), str)]
    if declared and not _fits(promoted, values) and _fits(declared, values):
        promoted = list(declared)
    proxies = [entry for entry in _proxy_entries(properties) if not entry[1].startswith("$$")]
    if proxies and len(values) == len(proxies) and len(values) != len(promoted):
        for (node_id, name), value in zip(proxies, values):
            if value is None or name == _CONTROL:
                continue
            if node_id == "-1":
                result.inputs[name] = value
            else:
                result.widgets.setdefault(node_id, {})[name] = value
        return result
    extra = len(values) > len(promoted)
    index = 0
    for name in promoted:
        if index >= len(values):
            break
        value = values[index]
        index += 1
        if value is not None:
            result.inputs[name] = value
        if extra and index < len(values) and _is_control(values[index]):
            index += 1
    return result
