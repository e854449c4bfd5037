"""Properties of the node inputs: any text parses without crashing, normalised syntax round-trips, filename
patterns never leave the output folder, trigger-word filtering never invents words."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lora_manager.py.library.records import ModelRecord
from lora_manager.py.nodes.filename_pattern import PatternValues, output_target, render_pattern, sanitize_segment
from lora_manager.py.nodes.lora_loader import plan_loras
from lora_manager.py.nodes.resolve import LibraryView, NodeInputError
from lora_manager.py.nodes.stacker import requests_from_stack, requests_from_text
from lora_manager.py.nodes.trigger_words import filter_trigger_words, join_trigger_groups, split_trigger_words

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

ROOT = "/lib/loras"
name_chars = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_- .", min_size=1, max_size=12).map(str.strip) \
    .filter(lambda s: s and not s.startswith(".") and not s.endswith("."))


def record(folder: str, stem: str, model_name: str = "") -> ModelRecord:
    rel = f"{folder}/{stem}" if folder else stem
    return ModelRecord(file_path=f"{ROOT}/{rel}.safetensors", model_type="lora", root=ROOT, folder=folder,
                       file_name=stem, extension=".safetensors", size=1, mtime_ns=1, model_name=model_name)


@st.composite
def libraries(draw):
    files = draw(st.lists(st.tuples(st.sampled_from(["", "a", "b/c"]), name_chars, st.one_of(st.just(""), name_chars)),
                          min_size=1, max_size=8, unique_by=lambda t: (t[0], t[1])))
    return LibraryView("lora", [record(folder, stem, model) for folder, stem, model in files])


strengths = st.floats(min_value=-100, max_value=100, allow_nan=False).map(lambda x: round(x, 3))


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_never_crashes(text):
    try:
        requests = requests_from_text(text)
    except NodeInputError:
        return  # a strength outside -100..100 is a clear input error
    for request in requests:
        assert request.name and -100 <= request.model_strength <= 100


@SETTINGS
@given(st.one_of(st.none(), st.text(max_size=20), st.lists(st.one_of(
    st.tuples(st.text(max_size=10), st.floats(), st.floats()), st.integers(), st.tuples(st.text(max_size=5))),
    max_size=4)))
def test_any_stack_value_parses_or_gives_a_clear_error(stack):
    try:
        requests_from_stack(stack)
    except NodeInputError as exc:
        assert str(exc)


@SETTINGS
@given(libraries(), st.data())
def test_normalised_syntax_round_trips(view, data):
    picks = data.draw(st.lists(st.tuples(st.sampled_from(view.records), strengths, strengths), min_size=1, max_size=5))
    names = []
    for rec, model, clip in picks:
        names.append(f"<lora:{data.draw(st.sampled_from([rec.file_name, f'{rec.folder}/{rec.file_name}' if rec.folder else rec.file_name]))}:{model}:{clip}>")
    try:
        first = plan_loras(requests_from_text(" ".join(names)), view)
    except NodeInputError as exc:
        assert "ambiguous" in str(exc) or "not found" in str(exc)
        return
    again = plan_loras(requests_from_text(first.syntax), view)
    assert again.syntax == first.syntax
    assert [(p.record.file_path, p.model_strength, p.clip_strength) for p in again.loras] == [
        (p.record.file_path, p.model_strength, p.clip_strength) for p in first.loras]


values = st.builds(PatternValues, seed=st.one_of(st.none(), st.integers(), st.text(max_size=30)),
                   width=st.one_of(st.none(), st.integers(0, 9999)), height=st.integers(0, 9999),
                   model=st.text(max_size=40), positive=st.text(max_size=60), negative=st.text(max_size=60))
pattern_text = st.lists(st.sampled_from(list("ab%:/\\. <>|?*\x00~$") + ["%seed%", "%pprompt:5%", "%model%",
                                                                                "%date:yyyy/MM%", "..", "/.."]),
                        max_size=30).map("".join)


@SETTINGS
@given(pattern_text, values)
def test_filename_patterns_never_escape_the_output_folder(pattern, vals):
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "output"
        base.mkdir()
        folder, prefix, subfolder = output_target(base, render_pattern(pattern, vals))
        real = os.path.realpath(folder)
        assert os.path.commonpath([os.path.realpath(base), real]) == os.path.realpath(base)
        assert prefix and "/" not in prefix and "\\" not in prefix and prefix not in (".", "..")
        assert ".." not in subfolder.split("/")
        assert sanitize_segment(prefix) == prefix


words = st.text(alphabet="abc xyz", min_size=1, max_size=8)


@SETTINGS
@given(st.lists(st.lists(words, max_size=4), max_size=4), st.booleans(), st.booleans(),
       st.lists(st.tuples(words, st.booleans()), max_size=5))
def test_trigger_word_filter_only_keeps_given_words(groups, group_mode, default_active, state):
    text = join_trigger_groups(groups)
    items = split_trigger_words(text, group_mode=group_mode)
    result = filter_trigger_words(text, [{"text": t, "active": a} for t, a in state], group_mode=group_mode,
                                  default_active=default_active)
    kept = [part.strip() for part in result.split(",") if part.strip()]
    all_words = {w.strip() for item in items for w in item.split(",")}
    assert set(kept) <= all_words
