"""What ComfyUI-Lora-Manager's node types do with their saved values, without a library."""
from __future__ import annotations

import json

import pytest

from lora_manager.py.nodes.anchor_inputs import (FlexibleInputs, NumberedInputs, anchor_trigger_text, lora_entries,
                                                 requests_from_entries)
from lora_manager.py.nodes.anchor_loras import LoraStackCombinerAnchor
from lora_manager.py.nodes.prompt_nodes import PromptAnchor, TextAnchor, trigger_inputs
from lora_manager.py.nodes.resolve import NodeInputError
from lora_manager.py.nodes.utility_nodes import MetadataOverwriteAnchor, TriggerWordToggleAnchor
from lora_manager.py.nodes.wildcards import WildcardSet
from support.comfy_stubs import FakeModel


def toggle(**kwargs):
    kwargs.setdefault("group_mode", True)
    kwargs.setdefault("default_active", True)
    return TriggerWordToggleAnchor().process_trigger_words(id="4", **kwargs)[0]


def test_flexible_inputs_accept_any_name_and_list_only_the_declared_ones():
    inputs = FlexibleInputs({"clip": ("CLIP",)})
    assert "anything" in inputs and inputs["anything"] == ("*",) and inputs["clip"] == ("CLIP",)
    assert json.loads(json.dumps(inputs)) == {"clip": ["CLIP"]}
    assert not inputs["anything"][0] != "LORA_STACK" and not inputs["anything"][0] != "MODEL"  # ComfyUI's type check


def test_numbered_inputs_accept_the_frontend_s_new_slots():
    inputs = NumberedInputs({"lora_stack1": ("LORA_STACK",)}, r"lora_stack(?:_[ab]|\d+)", ("LORA_STACK",))
    assert "lora_stack7" in inputs and "lora_stack_a" in inputs and "other" not in inputs
    with pytest.raises(KeyError):
        inputs["other"]


@pytest.mark.parametrize("value", [
    [{"name": "a", "strength": 0.6, "clipStrength": 0.3, "active": True}],
    {"__value__": [{"name": "a", "strength": "0.6", "clipStrength": 0.3, "active": True}]},
    json.dumps([{"name": "a", "strength": 0.6, "clipStrength": 0.3, "active": True}]),
])
def test_lora_rows_are_read_in_every_shape_the_frontend_sends(value):
    (entry,) = lora_entries(value)
    assert (entry.name, entry.strength, entry.clip_strength, entry.active) == ("a", 0.6, 0.3, True)


def test_lora_rows_switched_off_or_empty_are_not_applied_and_bad_strengths_name_the_lora():
    rows = [{"name": "on", "strength": 1, "active": True}, {"name": "off", "strength": 1, "active": False},
            {"name": "", "strength": 1, "active": True}, {"name": "no_clip", "strength": 0.5, "active": True}]
    assert [(r.name, r.clip_strength) for r in requests_from_entries(lora_entries(rows))] == [("on", 1.0),
                                                                                             ("no_clip", 0.5)]
    with pytest.raises(NodeInputError, match="'bad'.*strength"):
        lora_entries([{"name": "bad", "strength": "strong", "active": True}])
    with pytest.raises(NodeInputError, match="outside"):
        lora_entries([{"name": "huge", "strength": 1e9, "active": True}])


def test_trigger_words_are_one_group_per_trained_word_without_repeats():
    assert anchor_trigger_text([["detailed", "sharp focus"], ["Detailed", "anime"], []]) == \
        "detailed,, sharp focus,, anime"


def test_toggle_passes_on_the_switched_on_words():
    rows = [{"text": "detailed", "active": True}, {"text": "sharp focus", "active": False},
            {"text": "anime", "active": True}]
    message = "detailed,, sharp focus,, anime"
    assert toggle(trigger_words=message, orinalMessage=message, toggle_trigger_words={"__value__": rows}) == \
        "detailed, anime"


def test_toggle_groups_with_items_and_strengths():
    rows = [{"text": "(masterpiece, best quality:1.20)", "active": True, "strength": 1.2,
             "items": [{"text": "masterpiece", "active": True}, {"text": "best quality", "active": False}]},
            {"text": "night", "active": True, "strength": 0.8}]
    message = "masterpiece, best quality,, night"
    assert toggle(orinalMessage=message, toggle_trigger_words=rows, allow_strength_adjustment=True) == \
        "(masterpiece:1.20), (night:0.80)"
    assert toggle(orinalMessage=message, toggle_trigger_words=rows) == "masterpiece, night"
    assert toggle(orinalMessage=message, toggle_trigger_words=rows, group_mode=False) == \
        "masterpiece, best quality, night"


def test_toggle_with_new_words_keeps_what_was_switched_off():
    rows = [{"text": "detailed", "active": False}, {"text": "anime", "active": True}]
    assert toggle(trigger_words="detailed,, anime,, new word", orinalMessage="detailed,, anime",
                  toggle_trigger_words=rows) == "anime, new word"
    assert toggle(trigger_words="a,, b", orinalMessage="detailed,, anime", toggle_trigger_words=rows,
                  default_active=False) == ""


def test_toggle_without_rows_passes_the_message_on():
    assert toggle(orinalMessage="detailed, sharp focus,, anime") == "detailed, sharp focus, anime"


def test_toggle_reads_the_corrupt_default_active_some_saved_workflows_hold():
    # A saved layout seen in that project's own example workflows: default_active holds the rows.
    assert toggle(default_active=[{"text": "x", "active": True}], trigger_words="x,, y", orinalMessage="x",
                  toggle_trigger_words=[{"text": "x", "active": False}]) == "y"


def test_combiner_joins_stacks_in_slot_order_old_slots_included():
    node = LoraStackCombinerAnchor()
    assert node.combine_stacks(lora_stack2=[("b", 1, 1)], lora_stack10=[("d", 1, 1)], lora_stack1=[("a", 1, 1)],
                               lora_stack3=None)[0] == [("a", 1, 1), ("b", 1, 1), ("d", 1, 1)]
    assert node.combine_stacks(lora_stack_b=[("b", 1, 1)], lora_stack_a=[("a", 1, 1)])[0] == [("a", 1, 1),
                                                                                            ("b", 1, 1)]
    with pytest.raises(NodeInputError):
        node.combine_stacks(lora_stack1="not a stack")


def test_prompt_prepends_trigger_inputs_in_slot_order_and_encodes(tmp_path):
    assert trigger_inputs({"trigger_words2": "b", "trigger_words": "old", "trigger_words1": "a", "seed": 1,
                           "trigger_words3": " "}) == ["old", "a", "b"]
    conditioning, text = PromptAnchor().encode(text="a castle", clip=FakeModel("clip"), trigger_words2="sunset",
                                               trigger_words1="detailed")
    assert text == "detailed, sunset, a castle"
    assert conditioning == [[("cond", "clip", (), text), {}]]
    with pytest.raises(NodeInputError, match="CLIP"):
        PromptAnchor().encode(text="x", clip=None)


def test_wildcards_expand_files_options_and_globs_repeatably(tmp_path):
    folder = tmp_path / "wildcards"
    (folder / "style").mkdir(parents=True)
    (folder / "color.txt").write_text("# colours\nred\nblue\n", encoding="utf-8")
    (folder / "style" / "paint.txt").write_text("oil\n", encoding="utf-8")
    (folder / "style" / "ink.txt").write_text("ink\n", encoding="utf-8")
    (folder / "more.json").write_text(json.dumps({"animal": {"big": ["whale"]}}), encoding="utf-8")
    wildcards = WildcardSet([folder])
    text = "a __Color__ __animal/big__ in __style/*__, {day|night}, __unknown__"
    first = wildcards.expand(text, seed=5)
    assert first == wildcards.expand(text, seed=5)
    color, rest = first[2:].split(" ", 1)
    assert color in ("red", "blue") and rest.startswith("whale in ")
    assert first.split(" in ")[1].split(",")[0] in ("oil", "ink")
    assert first.endswith("__unknown__") and ("day" in first or "night" in first)
    assert wildcards.expand("{1::a|0::b}", seed=1) == "a"
    assert wildcards.expand("plain text") == "plain text"
    assert PromptAnchor.IS_CHANGED(text="{a|b}") != PromptAnchor.IS_CHANGED(text="{a|b}")  # NaN: runs every time
    assert TextAnchor.IS_CHANGED(text="{a|b}", seed=3) is False


def test_metadata_overwrite_keeps_only_the_values_set():
    values = {"prompt": "", "negative_prompt": "ugly", "seed": 0, "steps": 30, "cfg_scale": 0.0, "sampler": "",
              "scheduler": "", "model": "", "loras": "", "size": "640x960", "clip_skip": -25, "additional_data": ""}
    assert MetadataOverwriteAnchor().collect_metadata(**values)[0] == {"negative_prompt": "ugly", "steps": 30,
                                                                        "size": "640x960"}
    assert MetadataOverwriteAnchor().collect_metadata(clip_skip=0)[0] == {"clip_skip": 0}
