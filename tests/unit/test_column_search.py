"""Search over the column texts: the joined-text path and the text-by-text path find the same slots."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from lora_manager.py.library.columns import ColumnIndex, _estimated_count
from lora_manager.py.library.records import ModelRecord


def _columns(names: list[str]) -> ColumnIndex:
    columns = ColumnIndex()
    columns.load(ModelRecord(file_path=f"/lib/{i}.safetensors", model_type="lora", root="/lib", folder="",
                             file_name=name, extension=".safetensors", size=1, mtime_ns=i)
                 for i, name in enumerate(names))
    return columns


def _expected(names: list[str], needle: str) -> set[int]:
    return {i for i, name in enumerate(names) if needle in name.casefold()}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab_x\x00", max_size=6), max_size=60), st.text(alphabet="ab_x\x00", min_size=1,
                                                                                 max_size=3))
def test_every_path_finds_exactly_the_texts_that_hold_the_needle(names, needle):
    columns = _columns(names)
    found = set(columns.search_slots(needle, ("file",), None).tolist())
    assert found == _expected(names, needle)
    candidates = np.flatnonzero(columns.mask_of_slots(range(len(names))))
    assert set(columns.search_slots(needle, ("file",), candidates).tolist()) == _expected(names, needle)


def test_a_large_library_takes_the_joined_path_for_rare_words_and_follows_edits():
    names = [f"common_model_{i}" for i in range(20_000)] + ["rare_unicorn"]
    columns = _columns(names)
    assert columns.search_slots("unicorn", ("file",), None).tolist() == [20_000]
    assert len(set(columns.search_slots("common", ("file",), None).tolist())) == 20_000
    record = columns.records[5]
    columns.put(ModelRecord(file_path=record.file_path, model_type="lora", root="/lib", folder="",
                            file_name="second_unicorn", extension=".safetensors", size=1, mtime_ns=5))
    assert sorted(columns.search_slots("unicorn", ("file",), None).tolist()) == [5, 20_000]
    columns.remove("/lib/20000.safetensors")
    assert columns.search_slots("unicorn", ("file",), None).tolist() == [5]


def test_the_estimate_is_close_on_an_even_spread():
    haystack = ("abc\x00" * 50_000) + ("zzz\x00" * 50_000)
    assert abs(_estimated_count(haystack, "abc") - 50_000) < 5_000
    assert _estimated_count("short abc abc", "abc") == 2
