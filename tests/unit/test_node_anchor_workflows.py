"""Workflows saved with ComfyUI-Lora-Manager resolve here: every node type, every saved widget value.

The fixtures are built in that project's formats (``support.anchor_workflows``): UI format with
``widgets_values`` in its layouts, API format as its frontend queues it. Given our ``object_info``, the
frontend stand-in must put every saved value into the input of the same name, so the UI format queues the
same API prompt the anchor's frontend would.
"""
from __future__ import annotations

import json

import pytest

from lora_manager.py.nodes import ANCHOR_NODE_TYPES, NODE_CLASS_MAPPINGS
from support.anchor_workflows import (ANCHOR_NODES, META, META_VALUE, WIDGET_IDS, basic_workflow, frontend_widgets,
                                      suite_workflow, ui_to_api)

WORKFLOWS = {"basic": basic_workflow, "suite": suite_workflow}


def definitions() -> dict[str, dict]:
    return {name: json.loads(json.dumps(cls.INPUT_TYPES())) for name, cls in NODE_CLASS_MAPPINGS.items()}


def test_the_fixtures_use_every_node_type():
    used = {n["type"] for build in WORKFLOWS.values() for n in build().ui()["nodes"]}
    assert set(ANCHOR_NODE_TYPES) <= used


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_ui_format_queues_the_api_format(name):
    workflow = WORKFLOWS[name]()
    ui = json.loads(json.dumps(workflow.ui()))  # as read from a saved .json file
    assert ui_to_api(ui, definitions()) == workflow.api()


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_every_saved_widget_value_reaches_its_input(name):
    workflow = WORKFLOWS[name]()
    defs = definitions()
    for node in workflow.ui()["nodes"]:
        if node["type"] not in ANCHOR_NODES:
            continue
        names = frontend_widgets(node["type"], defs[node["type"]])
        assert len(names) == len(node["widgets_values"]), node["type"]
        for widget, value in zip(names, node["widgets_values"]):
            assert workflow.nodes[node["id"]].values[widget] == value, (node["type"], widget)
        if META in names:
            assert node["properties"][WIDGET_IDS] == names
            assert node["widgets_values"][names.index(META)] == META_VALUE


def test_lora_loader_saves_its_layout():
    """The layout of the issue: ``[{"version":1,"textWidgetName":"text"}, "<lora:a:0.6> ...", [rows]]``."""
    node = next(n for n in basic_workflow().ui()["nodes"] if n["type"] == "Lora Loader (LoraManager)")
    meta, text, rows = node["widgets_values"]
    assert meta == {"version": 1, "textWidgetName": "text"}
    assert text.startswith("<lora:detail_tweaker:0.8>")
    assert {"name", "strength", "clipStrength", "active"} <= set(rows[0])


def test_api_format_wraps_lists_and_leaves_out_control_widgets():
    prompt = basic_workflow().api()
    assert prompt["3"]["inputs"]["loras"] == {"__value__": basic_workflow().nodes[3].values["loras"]}
    assert "control_after_generate" not in prompt["1"]["inputs"] and "control_after_generate" not in prompt["8"]["inputs"]
    assert prompt["3"]["inputs"]["model"] == ["1", 0]
