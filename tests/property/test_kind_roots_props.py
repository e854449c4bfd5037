"""Hypothesis: roots of every served kind, beside ComfyUI-Lora-Manager's folder lists and unknown keys, survive a
save and a reload of the settings file, and an edit of those lists by hand never drops the other kinds' roots."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from lora_manager.py.library.kinds import EXTRA_KINDS, SERVED_KINDS
from lora_manager.py.settings import Settings

folder = st.text("abcxyz_-", min_size=1, max_size=6).map(lambda name: f"/models/{name}")
roots = st.dictionaries(st.sampled_from(SERVED_KINDS), st.lists(folder, min_size=1, max_size=3, unique=True),
                        max_size=6)
unknown = st.dictionaries(st.text("klmnop", min_size=3, max_size=6), st.integers() | st.text(max_size=4), max_size=3)


@settings(max_examples=150, deadline=None)
@given(roots, unknown)
def test_kind_roots_and_unknown_keys_survive_a_reload(given_roots, extra):
    doc = {"version": 1, "libraries": {"default": {"roots": given_roots, **{f"lib_{k}": v for k, v in extra.items()}}},
           **{f"top_{k}": v for k, v in extra.items()}}
    first, _ = Settings.from_document(doc)
    again, warnings = Settings.from_document(first.to_document())
    assert again.library.roots == first.library.roots
    for kind in SERVED_KINDS:
        assert again.library.roots.get(kind, []) == given_roots.get(kind, [])
    saved = again.to_document()
    assert all(saved[f"top_{k}"] == v for k, v in extra.items())
    assert all(saved["libraries"]["default"][f"lib_{k}"] == v for k, v in extra.items())


@settings(max_examples=100, deadline=None)
@given(roots, st.lists(folder, min_size=1, max_size=2, unique=True))
def test_a_hand_edit_of_the_folder_lists_keeps_the_other_kinds(given_roots, new_loras):
    written = Settings.from_document({"version": 1, "libraries": {"default": {"roots": given_roots}}})[0].to_document()
    written["libraries"]["default"]["folder_paths"]["loras"] = new_loras  # ComfyUI-Lora-Manager rewrote its list
    reread, _ = Settings.from_document(written)
    assert reread.library.roots["lora"] == new_loras
    for kind in EXTRA_KINDS:
        assert reread.library.roots.get(kind, []) == given_roots.get(kind, [])
