"""Any bulk tag edit over any tag list: tags stay unique (case-insensitively), removed tags are gone, renamed
tags carry their new name, added tags are present, and tags the edit does not name keep their order."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from lora_manager.py.library.edits import InvalidEdit
from lora_manager.py.library.tag_edits import tag_edit

WORDS = st.sampled_from(["style", "Style", "SDXL", "sdxl", "anime", "photo", " portrait ", "x", "é", "ß", "SS"])
tag_lists = st.lists(WORDS, max_size=8)


@settings(deadline=None)  # a loaded CI machine is slow, the property is not
@given(tags=tag_lists, add=tag_lists, remove=tag_lists, replace=st.dictionaries(WORDS, WORDS, max_size=3))
def test_tag_edit_invariants(tags, add, remove, replace):
    try:
        edit = tag_edit({"add": add, "remove": remove, "replace": replace})
    except InvalidEdit as exc:
        assert "Nothing to change" in str(exc) or "blank" in str(exc)
        return
    out = edit.apply(tags)
    folded = [t.casefold() for t in out]
    assert len(folded) == len(set(folded)) and all(t == t.strip() and t for t in out)
    added = {a.strip().casefold() for a in add if a.strip()}
    assert added <= set(folded)
    for gone in {r.strip().casefold() for r in remove} - added:
        assert gone not in folded
    effective = {old.strip().casefold(): new for old, new in replace.items()}  # the last spelling of a key wins
    for old, new in effective.items():
        if old in {t.strip().casefold() for t in tags} and new.strip().casefold() not in \
                {r.strip().casefold() for r in remove} - added and old != new.strip().casefold():
            assert new.strip().casefold() in folded
    if not replace:
        assert edit.apply(out) == out  # applying again changes nothing (a rename may chain: a -> b, b -> c)


@settings(deadline=None)  # a loaded CI machine is slow, the property is not
@given(tags=tag_lists)
def test_untouched_tags_keep_their_order(tags):
    edit = tag_edit({"remove": ["never-present-tag"]})
    expected, seen = [], set()
    for tag in tags:
        if tag.strip() and tag.strip().casefold() not in seen:
            expected.append(tag.strip())
            seen.add(tag.strip().casefold())
    assert edit.apply(tags) == expected


@settings(deadline=None)  # a loaded CI machine is slow, the property is not
@given(body=st.dictionaries(st.sampled_from(["add", "remove", "replace"]),
                            st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2),
                                      st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))))
def test_malformed_bodies_are_refused_with_a_message(body):
    try:
        tag_edit(body)
    except InvalidEdit as exc:
        assert str(exc)
