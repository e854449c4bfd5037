"""Each node's ComfyUI definition is pinned: workflows saved by users depend on it.

ComfyUI-Lora-Manager's types must have exactly that project's sockets, outputs and ``widgets_values`` layout
(``support.anchor_workflows.ANCHOR_NODES``, read from its sources); this project's own ``...LM`` types are
pinned by snapshot.
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from lora_manager.py.nodes import (ANCHOR_NODE_TYPES, NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS,
                                   OWN_NODE_TYPES)
from support.anchor_workflows import ANCHOR_NODES, frontend_sockets, frontend_widgets

SURFACE = Path(__file__).resolve().parents[3] / "shared" / "ANCHOR-SURFACE.md"


def definition(cls: type) -> dict:
    return {
        "INPUT_TYPES": cls.INPUT_TYPES(),
        "RETURN_TYPES": list(cls.RETURN_TYPES),
        "RETURN_NAMES": list(getattr(cls, "RETURN_NAMES", ())),
        "FUNCTION": cls.FUNCTION,
        "CATEGORY": cls.CATEGORY,
        "OUTPUT_NODE": getattr(cls, "OUTPUT_NODE", False),
    }


def object_info(cls: type) -> dict:
    """The definition as ComfyUI serves it in ``/object_info`` (JSON: dict subclasses become plain dicts)."""
    return json.loads(json.dumps(cls.INPUT_TYPES()))


def surface_node_types() -> list[str]:
    """The node types listed in ANCHOR-SURFACE.md's "ComfyUI nodes" section."""
    text = SURFACE.read_text(encoding="utf-8")
    section = text.split("## ComfyUI nodes", 1)[1].split("\n## ", 1)[0]
    return [line.strip()[3:-1] for line in section.splitlines() if line.strip().startswith("- `")]


@pytest.mark.shared
@pytest.mark.skipif(not SURFACE.is_file(), reason="../shared/ANCHOR-SURFACE.md is absent")
def test_every_anchor_node_type_is_registered_under_its_name():
    listed = surface_node_types()
    assert len(listed) == 22
    assert sorted(listed) == sorted(ANCHOR_NODES) == sorted(ANCHOR_NODE_TYPES)
    for name in listed:
        assert NODE_CLASS_MAPPINGS[name] is ANCHOR_NODE_TYPES[name]
        assert NODE_DISPLAY_NAME_MAPPINGS[name] == name  # that project shows the type name itself


@pytest.mark.parametrize("name", sorted(ANCHOR_NODES))
def test_anchor_node_interface(name):
    cls, expected = NODE_CLASS_MAPPINGS[name], ANCHOR_NODES[name]
    info = object_info(cls)
    assert [(n, t.upper()) for n, t in frontend_sockets(info)] == [(n, t.upper()) for n, t in expected.sockets]
    assert list(zip(cls.RETURN_TYPES, getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES))) == list(expected.outputs)
    assert frontend_widgets(name, info) == list(expected.widgets)
    assert bool(getattr(cls, "OUTPUT_NODE", False)) == expected.output_node
    assert cls.CATEGORY.startswith("Lora Manager")
    assert callable(getattr(cls(), cls.FUNCTION))


@pytest.mark.parametrize("name", sorted(NODE_CLASS_MAPPINGS))
def test_node_accepts_every_input_it_declares(name):
    """The node function, and ``IS_CHANGED`` (ComfyUI calls it with the same inputs, hidden ones included),
    take every input name the node declares."""
    cls = NODE_CLASS_MAPPINGS[name]
    spec = cls.INPUT_TYPES()
    names = [*(spec.get("required") or {}), *(spec.get("optional") or {}), *(spec.get("hidden") or {})]
    functions = [getattr(cls(), cls.FUNCTION)] + ([cls.IS_CHANGED] if hasattr(cls, "IS_CHANGED") else [])
    for function in functions:
        parameters = inspect.signature(function).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        for input_name in names:
            assert takes_any or input_name in parameters, (function.__name__, input_name)


@pytest.mark.parametrize("name", sorted(OWN_NODE_TYPES))
def test_own_node_definition(name, snapshot):
    cls = NODE_CLASS_MAPPINGS[name]
    assert definition(cls) == snapshot
    assert callable(getattr(cls(), cls.FUNCTION))
    assert NODE_DISPLAY_NAME_MAPPINGS[name].endswith("(LoRA Manager)")
    assert cls.CATEGORY == "LoRA Manager"
