"""Hypothesis: any JSON document given as settings is either valid or refused with SettingsError."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from lora_manager.py.settings import Settings, SettingsError, template_problem

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
KEYS = ["libraries", "active_library", "civitai_api_key", "civitai_base_url", "language", "download_path_templates",
        "watch_mode", "poll_interval_seconds", "hash_checkpoints_lazily", "download_concurrency", "recipes_dir",
        "trash_retention_days", "display_name", "version", "folder_paths"]


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), json_values, max_size=8))
def test_settings_validation_never_crashes(document):
    try:
        parsed = Settings.from_dict(document)
    except SettingsError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        return
    assert Settings.from_dict(parsed.to_dict()) == parsed


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_template_check_never_crashes(template):
    problem = template_problem(template)
    assert problem is None or isinstance(problem, str)
