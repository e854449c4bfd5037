"""Each node's ComfyUI definition (inputs, outputs, category) is pinned: workflows saved by users depend on it."""
from __future__ import annotations

import pytest

from lora_manager.py.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS


def definition(cls: type) -> dict:
    return {
        "INPUT_TYPES": cls.INPUT_TYPES(),
        "RETURN_TYPES": list(cls.RETURN_TYPES),
        "RETURN_NAMES": list(getattr(cls, "RETURN_NAMES", ())),
        "FUNCTION": cls.FUNCTION,
        "CATEGORY": cls.CATEGORY,
        "OUTPUT_NODE": getattr(cls, "OUTPUT_NODE", False),
    }


@pytest.mark.parametrize("name", sorted(NODE_CLASS_MAPPINGS))
def test_node_definition(name, snapshot):
    cls = NODE_CLASS_MAPPINGS[name]
    assert definition(cls) == snapshot
    assert callable(getattr(cls(), cls.FUNCTION))
    assert NODE_DISPLAY_NAME_MAPPINGS[name].endswith("(LoRA Manager)")
    assert cls.CATEGORY == "LoRA Manager"
