"""Trigger words: group format, the toggle's filtering and state, and which toggles a loader feeds."""
from __future__ import annotations

import pytest

from lora_manager.py.nodes.resolve import NodeInputError
from lora_manager.py.nodes.trigger_words import (
    TriggerWordPusher, TriggerWordToggleLM, filter_trigger_words, join_trigger_groups, split_trigger_words,
    toggles_fed_by)


def test_join_and_split():
    text = join_trigger_groups([["a", " b ", ""], [], ["B", "c"], [None, 3]])
    assert text == "a, b,, c"
    assert split_trigger_words(text, group_mode=True) == ["a, b", "c"]
    assert split_trigger_words(text, group_mode=False) == ["a", "b", "c"]
    assert split_trigger_words(None, group_mode=True) == []


@pytest.mark.parametrize("state, group_mode, default_active, expected", [
    ("[]", True, True, "a, b, c"),
    ("", True, False, ""),
    ('[{"text": "a, b", "active": false}]', True, True, "c"),
    ('[{"text": "C", "active": true}]', False, False, "c"),
    ({"__value__": [{"text": "b", "active": False}]}, False, True, "a, c"),
    ([{"text": "a"}, "junk", {"text": 3}], False, False, "a"),
])
def test_filter(state, group_mode, default_active, expected):
    assert filter_trigger_words("a, b,, c", state, group_mode=group_mode, default_active=default_active) == expected


@pytest.mark.parametrize("state, message", [("{not json", "not valid JSON"), ('{"a": 1}', "must be a list")])
def test_bad_state_is_a_clear_error(state, message):
    with pytest.raises(NodeInputError, match=message):
        TriggerWordToggleLM().filter("a", toggle_state=state)


def test_toggles_fed_by_and_push_without_comfyui(monkeypatch):
    prompt = {"1": {"class_type": "TriggerWordToggleLM", "inputs": {"trigger_words": ["5", 2]}},
              "2": {"class_type": "TriggerWordToggleLM", "inputs": {"trigger_words": ["5", 3]}},
              "3": {"class_type": "Other", "inputs": {"trigger_words": ["5", 2]}}, "4": "junk"}
    assert toggles_fed_by(prompt, 5) == ["1"]
    assert toggles_fed_by(None, 5) == [] and toggles_fed_by(prompt, None) == []
    import sys
    monkeypatch.setitem(sys.modules, "server", None)  # ComfyUI's server absent: nothing sent, nothing raised
    assert TriggerWordPusher().push(prompt, "5", "a") == []
