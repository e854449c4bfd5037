"""Discover's query parser: any query string either becomes a bounded search or a DiscoverError (a 400)."""
from __future__ import annotations

from hypothesis import given, strategies as st
from multidict import MultiDict

from lora_manager.py.services.discover import MAX_CURSOR, MAX_QUERY, DiscoverError, parse_query

NAMES = st.sampled_from(["query", "types", "baseModels", "sort", "period", "nsfw", "limit", "cursor", "other"])
VALUES = st.one_of(st.text(max_size=250), st.sampled_from(["lora", "Checkpoint", "Newest", "Week", "x", "20", "0"]))


@given(st.lists(st.tuples(NAMES, VALUES), max_size=12))
def test_any_query_is_a_bounded_search_or_a_clear_error(pairs):
    try:
        q = parse_query(MultiDict(pairs))
    except DiscoverError as exc:
        assert exc.status == 400 and exc.message
        return
    assert 1 <= q.limit <= 100
    assert q.query is None or len(q.query) <= MAX_QUERY
    assert q.cursor is None or len(q.cursor) <= MAX_CURSOR
    assert len(q.base_models) <= 10
    params = q.civitai_params()
    assert ("limit", str(q.limit)) in params and ("nsfw", "false" if q.nsfw == "none" else "true") in params
