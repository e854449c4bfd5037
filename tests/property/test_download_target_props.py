"""Download targets: any template value from Civitai becomes a harmless folder name inside the roots."""
from __future__ import annotations


from hypothesis import given, settings, strategies as st

from lora_manager.py.library.paths import is_within, real
from lora_manager.py.services.downloads.targets import (expand_template, safe_file_name, sanitize_segment,
                                                          target_folder)

TEMPLATE = "{base_model}/{first_tag}/{author}/{model_name}/{version_name}"
values = st.text(min_size=0, max_size=40)


@settings(max_examples=150, deadline=None)
@given(values)
def test_a_segment_never_leaves_its_folder(value):
    clean = sanitize_segment(value)
    assert "/" not in clean and "\\" not in clean and "\x00" not in clean
    assert clean not in (".", "..")
    assert not clean.endswith((".", " "))
    assert len(clean) <= 120


@settings(max_examples=150, deadline=None)
@given(st.fixed_dictionaries({k: values for k in ("base_model", "first_tag", "author", "model_name",
                                                   "version_name")}))
def test_template_values_cannot_add_levels(fields):
    segments = expand_template(TEMPLATE, fields)
    assert len(segments) <= 5
    assert all(s and s not in (".", "..") and "/" not in s for s in segments)


@settings(max_examples=100, deadline=None)
@given(st.fixed_dictionaries({k: values for k in ("base_model", "first_tag", "author", "model_name",
                                                   "version_name")}), values)
def test_target_is_always_inside_the_root(tmp_path_factory, fields, name):
    root = tmp_path_factory.getbasetemp() / "root"
    root.mkdir(exist_ok=True)
    folder = target_folder([root], template=TEMPLATE, fields=fields)
    assert is_within(folder.path, real(root))
    file_name = safe_file_name(name)
    assert (folder.path / file_name).parent == folder.path
