"""An index of a ComfyUI API-format prompt: nodes, their input links and who consumes each output.

Why its own module: the value reader, the flow analysis (which nodes fed the image) and the LoRA and sampler
readers all walk the same untrusted dict; one index with bounded, type-checked lookups keeps them honest.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

__all__ = ["Node", "PromptGraph", "is_link"]


@dataclass(frozen=True)
class Node:
    id: str
    class_type: str
    inputs: dict[str, Any]


def is_link(value: Any) -> bool:
    """``[node_id, output_slot]``: how the API format writes a connection."""
    return (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and isinstance(value[0], (str, int))
        and not isinstance(value[0], bool)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


class PromptGraph:
    """The prompt's nodes by id, and for every node the (consumer, input key) pairs fed by it."""

    def __init__(self, prompt: Any) -> None:
        self.nodes: dict[str, Node] = {}
        if isinstance(prompt, dict):
            for key, value in prompt.items():
                if not isinstance(value, dict) or not isinstance(key, (str, int)) or isinstance(key, bool):
                    continue
                class_type = value.get("class_type")
                if not isinstance(class_type, str):
                    continue
                inputs = value.get("inputs")
                self.nodes[str(key)] = Node(str(key), class_type, inputs if isinstance(inputs, dict) else {})
        self.consumers: dict[str, list[tuple[str, str, int]]] = {}
        for node in self.nodes.values():
            for key, source in self.links(node):
                self.consumers.setdefault(source[0].id, []).append((node.id, key, source[1]))

    def source(self, value: Any) -> tuple[Node, int] | None:
        """The node and output slot a link points at; None for literals and dangling links."""
        if not is_link(value):
            return None
        node = self.nodes.get(str(value[0]))
        return (node, value[1]) if node is not None else None

    def links(self, node: Node) -> Iterator[tuple[str, tuple[Node, int]]]:
        """``(input key, (source node, slot))`` for every input of ``node`` that is a live link."""
        for key, value in node.inputs.items():
            if not isinstance(key, str):
                continue
            source = self.source(value)
            if source is not None:
                yield key, source

    def is_sink(self, node: Node) -> bool:
        return not self.consumers.get(node.id)
