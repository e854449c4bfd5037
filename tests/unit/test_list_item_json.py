"""The list page's JSON text is the same text ``json.dumps`` writes, and an edited record is never served stale."""
from __future__ import annotations

import json

from hypothesis import given, settings, strategies as st

from lora_manager.py.library.list_json import ListItemJson
from lora_manager.py.library.records import ModelRecord


def record(i: int, name: str = "", notes: str = "") -> ModelRecord:
    return ModelRecord(file_path=f"/lib/{i}.safetensors", model_type="lora", root="/lib", folder="",
                       file_name=name or f"model_{i}", extension=".safetensors", size=i, mtime_ns=i, notes=notes)


@settings(max_examples=60, deadline=None)
@given(names=st.lists(st.text(min_size=1, max_size=12).filter(str.strip), max_size=6),
       rest=st.dictionaries(st.sampled_from(["total", "page", "page_size", "scan_in_progress"]),
                            st.one_of(st.integers(0, 10**6), st.booleans())),
       usage=st.booleans())
def test_the_page_text_is_what_dumps_writes(names, rest, usage):
    records = [record(i, name) for i, name in enumerate(names)]
    cache = ListItemJson()
    cache.page(records, rest, include_usage=usage)  # the second call answers from the cache
    text = cache.page(records, rest, include_usage=usage)
    expected = json.dumps({"items": [r.to_list_item(include_usage=usage) for r in records], **rest},
                          ensure_ascii=False)
    assert text == expected


def test_an_edit_is_a_new_record_and_gets_a_new_text():
    cache = ListItemJson()
    first = record(1, notes="before")
    assert json.loads(cache.texts([first])[0])["notes"] == "before"
    edited = first.evolve(notes="after")
    assert json.loads(cache.texts([edited])[0])["notes"] == "after"
    assert json.loads(cache.texts([first])[0])["notes"] == "before"


def test_the_cache_is_bounded():
    cache = ListItemJson(entries=10)
    records = [record(i) for i in range(50)]
    texts = cache.texts(records)
    assert len(cache._items) == 10
    assert [json.loads(t)["file_name"] for t in texts] == [f"model_{i}" for i in range(50)]


def test_usage_counts_are_shown_only_when_asked_for_and_kept_apart():
    """Sorting by usage shows the counts; other listings do not, and one cache serves both without mixing."""
    cache = ListItemJson()
    used = record(1).evolve(usage_count=7)
    rest = {"total": 1}
    assert json.loads(cache.page([used], rest, include_usage=True))["items"][0]["usage_count"] == 7
    assert json.loads(cache.page([used], rest))["items"][0]["usage_count"] == 0
    assert json.loads(cache.texts([used], include_usage=True)[0])["usage_count"] == 7
    assert json.loads(cache.texts([used])[0])["usage_count"] == 0
