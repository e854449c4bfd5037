"""Hypothesis: sort orders hold, filters are exact, and paging never repeats or skips an item."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from lora_manager.py.library.index import ModelProjection
from lora_manager.py.library.query import ListQuery, parse_sort, run_query
from lora_manager.py.library.records import ModelRecord, natural_key

names = st.text(alphabet="abcXYZ019 _-漢", min_size=1, max_size=8)
records = st.lists(
    st.builds(
        lambda i, name, size, mtime, base, tags, fav, folder: ModelRecord(
            file_path=f"/lib/{folder}/{i}_{name}.safetensors", model_type="lora", root="/lib", folder=folder,
            file_name=f"{name}", extension=".safetensors", size=size, mtime_ns=mtime, base_model=base,
            tags=tags, favorite=fav),
        st.integers(0, 10**6), names, st.integers(0, 1000), st.integers(0, 1000),
        st.sampled_from(["SD 1.5", "SDXL 1.0", "Flux.1 D"]), st.lists(st.sampled_from(["a", "b", "c"]), max_size=2),
        st.booleans(), st.sampled_from(["", "x", "x/y", "z"])),
    max_size=40, unique_by=lambda r: r.file_path,
)
queries = st.builds(
    ListQuery, page_size=st.integers(1, 7), sort_by=st.sampled_from(["name", "date", "size", "random", "usage"]),
    descending=st.booleans(), random_seed=st.text(max_size=3),
    folder=st.sampled_from([None, "", "x", "x/y"]), recursive=st.booleans(),
    base_models=st.sampled_from([(), ("SD 1.5",), ("SDXL 1.0", "Flux.1 D")]),
    tag_include=st.sampled_from([(), ("a",), ("a", "b"), ("__no_tags__",)]),
    tag_logic=st.sampled_from(["any", "all"]), favorites_only=st.booleans(), search=st.sampled_from(["", "a", "x"]),
)


def all_pages(projection: ModelProjection, query: ListQuery) -> tuple[list[ModelRecord], int]:
    seen: list[ModelRecord] = []
    first = run_query(projection.ordered, projection.values, query)
    for page in range(1, first.total_pages + 1):
        result = run_query(projection.ordered, projection.values, ListQuery(**{**query.__dict__, "page": page}))
        assert result.total == first.total
        seen.extend(result.items)
    return seen, first.total


@settings(max_examples=150, deadline=None)
@given(records, queries)
def test_paging_never_repeats_or_skips(recs, query):
    projection = ModelProjection(recs)
    seen, total = all_pages(projection, query)
    paths = [r.file_path for r in seen]
    assert len(paths) == len(set(paths)) == total
    everything = run_query(projection.ordered, projection.values, ListQuery(**{**query.__dict__, "page": 1,
                                                                              "page_size": 500}))
    assert paths == [r.file_path for r in everything.items]


@settings(max_examples=150, deadline=None)
@given(records, st.sampled_from(["name", "date", "size"]), st.booleans())
def test_sort_orders_hold(recs, field, descending):
    projection = ModelProjection(recs)
    result = run_query(projection.ordered, projection.values,
                       ListQuery(page_size=500, sort_by=field, descending=descending))
    key = {"name": lambda r: r.name_key, "date": lambda r: r.mtime_ns, "size": lambda r: r.size}[field]
    keys = [key(r) for r in result.items]
    assert keys == sorted(keys, reverse=descending)
    assert result.total == len(recs)


@settings(max_examples=150, deadline=None)
@given(records, queries)
def test_filters_are_exact(recs, query):
    projection = ModelProjection(recs)
    result = run_query(projection.ordered, projection.values, ListQuery(**{**query.__dict__, "page_size": 500}))
    for record in result.items:
        if query.favorites_only:
            assert record.favorite
        if query.base_models:
            assert record.base_model in query.base_models
        if query.folder and not query.recursive:
            assert record.folder == query.folder
    expected = [r for r in recs if (not query.favorites_only or r.favorite)
                and (not query.base_models or r.base_model in query.base_models)]
    assert result.total <= len(expected)


@settings(max_examples=100, deadline=None)
@given(records, records)
def test_projection_updates_per_row_equal_a_rebuild(first, second):
    projection = ModelProjection(first)
    for record in second:
        projection.put(record)
    for record in first[::2]:
        projection.remove(record.file_path)
    rebuilt = ModelProjection(projection.values())
    for key in ("name", "date", "size"):
        assert [r.file_path for r in projection.ordered(key)] == [r.file_path for r in rebuilt.ordered(key)]


@given(st.text(max_size=20))
def test_parse_sort_never_crashes(text):
    field, _desc, _seed = parse_sort(text)
    assert field in ("name", "date", "size", "usage", "random")


@given(st.text(max_size=30))
def test_natural_key_is_total(text):
    assert natural_key(text) == natural_key(text)
    sorted([natural_key(text), natural_key("a1"), natural_key("1a")])


@settings(max_examples=100, deadline=None)
@given(records, queries, records)
def test_cached_pages_equal_fresh_results_and_follow_changes(recs, query, more):
    from lora_manager.py.library.query import QueryCache

    projection = ModelProjection(recs)
    cache = QueryCache(size=2)
    for _ in range(2):  # the second round is served from the cache
        cached = run_query(projection.ordered, projection.values, query, cache=cache, version=projection.version)
        fresh = run_query(projection.ordered, projection.values, query)
        assert [r.file_path for r in cached.items] == [r.file_path for r in fresh.items]
        assert cached.total == fresh.total
    for record in more:
        projection.put(record)
    after = run_query(projection.ordered, projection.values, query, cache=cache, version=projection.version)
    assert after.total == run_query(projection.ordered, projection.values, query).total
