"""File selection (API-COMPAT §2.3 / §4.5), file_params parsing and retry delays over arbitrary input."""
from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lora_manager.py.services.metadata.civitai_client import (
    FileSelection,
    is_civitai_host,
    primary_file,
    resolve_civitai_base_url,
    select_file,
)
from lora_manager.py.services.remote.errors import ErrorKind, RemoteError, parse_retry_after
from lora_manager.py.services.remote.resilience import RetryPolicy

TYPES = ["Model", "Training Data", "Pruned Model", "Config"]
FORMATS = ["SafeTensor", "PickleTensor", "GGUF", "Other"]
SIZES = ["pruned", "full"]
FPS = ["fp16", "fp32", "bf16", "fp8"]

file_strategy = st.fixed_dictionaries(
    {
        "id": st.integers(min_value=1, max_value=50),
        "type": st.sampled_from(TYPES),
        "metadata": st.fixed_dictionaries(
            {"format": st.sampled_from(FORMATS), "size": st.sampled_from(SIZES), "fp": st.sampled_from(FPS)}
        ),
    },
    optional={"primary": st.booleans(), "name": st.text(max_size=8)},
)
junk = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.booleans(), st.lists(st.integers(), max_size=2))
files_strategy = st.lists(st.one_of(file_strategy, junk), max_size=8)
criterion = lambda values: st.one_of(st.none(), st.just(""), st.sampled_from(values), st.sampled_from([v.upper() for v in values]))  # noqa: E731
id_strategy = st.one_of(st.none(), st.integers(min_value=-5, max_value=60), st.integers(1, 60).map(str), st.text(max_size=4), st.booleans())


def real_files(files):
    return [f for f in files if isinstance(f, dict)]


@settings(max_examples=200, deadline=None)
@given(
    files=files_strategy,
    file_id=id_strategy,
    type_=criterion(TYPES),
    format_=criterion(FORMATS),
    size=criterion(SIZES),
    fp=criterion(FPS),
    is_primary=st.one_of(st.none(), st.booleans()),
)
def test_selection_is_always_one_of_the_files(files, file_id, type_, format_, size, fp, is_primary):
    version = {"files": files}
    chosen = select_file(version, file_id=file_id, type=type_, format=format_, size=size, fp=fp, is_primary=is_primary)
    candidates = real_files(files)
    if not candidates:
        assert chosen is None
        return
    assert any(chosen is f for f in candidates)

    # the rule, step by step
    wanted = file_id if isinstance(file_id, int) and not isinstance(file_id, bool) else (
        int(file_id) if isinstance(file_id, str) and file_id.strip().isascii() and file_id.strip().isdigit()
        else None)
    by_id = [f for f in candidates if f["id"] == wanted]
    primary = primary_file(version)
    if by_id:
        assert chosen is by_id[0]
    elif is_primary and primary is not None:
        assert chosen is primary
    else:
        given_criteria = {k: v.lower() for k, v in (("type", type_), ("format", format_), ("size", size), ("fp", fp)) if v}
        def matches(f):
            values = {"type": f["type"], **f["metadata"]}
            return all(values[k].lower() == v for k, v in given_criteria.items())
        matching = [f for f in candidates if matches(f)] if given_criteria else []
        if matching:
            assert chosen is matching[0]
        elif primary is not None:
            assert chosen is primary
        else:
            assert chosen is candidates[0]


@settings(max_examples=100, deadline=None)
@given(files=files_strategy)
def test_primary_file_is_marked_primary(files):
    chosen = primary_file({"files": files})
    primaries = [f for f in real_files(files) if f.get("primary") is True]
    if not primaries:
        assert chosen is None
    else:
        assert chosen.get("primary") is True
        model_primaries = [f for f in primaries if f["type"] == "Model"]
        assert chosen is (model_primaries[0] if model_primaries else primaries[0])


@pytest.mark.parametrize("version", [None, {}, {"files": None}, {"files": "x"}, {"files": []}])
def test_no_files_means_none(version):
    assert select_file(version) is None and primary_file(version) is None


def test_documented_examples():
    files = [
        {"id": 1, "type": "Model", "metadata": {"format": "SafeTensor", "size": "full", "fp": "fp32"}},
        {"id": 2, "type": "Model", "primary": True, "metadata": {"format": "SafeTensor", "size": "pruned", "fp": "fp16"}},
        {"id": 3, "type": "Training Data", "metadata": {"format": "Other"}},
    ]
    version = {"files": files}
    assert select_file(version)["id"] == 2
    assert select_file(version, file_id="3")["id"] == 3
    assert select_file(version, file_id=99)["id"] == 2  # unknown id: the ordinary rule
    assert select_file(version, fp="fp32")["id"] == 1
    assert select_file(version, fp="fp32", is_primary=True)["id"] == 2
    assert select_file(version, type="Model", fp="bf16")["id"] == 2
    assert select_file({"files": [files[0], files[2]]}, fp="bf16")["id"] == 1
    assert select_file({"files": [{"fileId": "7"}, {"fileId": 8}]}, file_id=8) == {"fileId": 8}


# -- file_params --------------------------------------------------------------------------------------
def test_file_params_forms():
    expected = FileSelection(file_id=12, type="Model", format="SafeTensor", size=None, fp="fp16", is_primary=False)
    params = {"type": "Model", "format": "SafeTensor", "size": "", "fp": "fp16", "isPrimary": False, "fileId": 12}
    assert FileSelection.from_params(params) == expected
    assert FileSelection.from_params(json.dumps(params)) == expected
    assert FileSelection.from_params(json.dumps(json.dumps(params))) == expected  # re-stringified on retry
    assert FileSelection.from_params({**params, "fileId": None, "id": "12"}) == expected
    assert FileSelection.from_params({"id": 5, "fileId": 6}).file_id == 5  # the reference's key wins
    assert FileSelection.from_params({"isPrimary": "true"}).is_primary is True
    assert FileSelection.from_params(None) == FileSelection() == FileSelection.from_params("  ")
    for bad in ("{nope", "[1, 2]", '"just text"', {"fileId": "abc"}, 42):
        with pytest.raises(ValueError):
            FileSelection.from_params(bad)


def test_file_selection_selects():
    version = {"files": [{"id": 1, "type": "Model"}, {"id": 2, "type": "Model", "primary": True}]}
    assert FileSelection.from_params('{"fileId": 1}').select(version)["id"] == 1
    assert FileSelection().select(version)["id"] == 2


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=30), st.dictionaries(st.text(max_size=8), junk, max_size=5), st.integers()))
def test_file_params_never_crash_with_anything_but_value_error(value):
    try:
        selection = FileSelection.from_params(value)
    except ValueError:
        return
    assert selection.file_id is None or isinstance(selection.file_id, int)
    assert selection.is_primary in (None, True, False)


# -- base URL and hosts -------------------------------------------------------------------------------
@settings(max_examples=100, deadline=None)
@given(env=st.one_of(st.none(), st.text(max_size=20)), setting=st.one_of(st.none(), st.text(max_size=20)))
def test_base_url_is_never_empty_and_has_no_trailing_slash(env, setting):
    environ = {} if env is None else {"LORA_MANAGER_CIVITAI_BASE_URL": env}
    url = resolve_civitai_base_url(setting, environ)
    assert url and not url.endswith("/") and "://" in url
    env_url = resolve_civitai_base_url(env, {}) if env and env.strip() else None
    if env_url and env_url != "https://civitai.com":
        assert url == env_url  # a usable environment value wins over the setting
    elif not (setting and setting.strip()):
        assert url == "https://civitai.com"


@settings(max_examples=100, deadline=None)
@given(label=st.from_regex(r"[a-z0-9-]{1,10}", fullmatch=True), root=st.sampled_from(["civitai.com", "civitai.green", "civitai.red"]))
def test_subdomains_are_civitai_but_lookalikes_are_not(label, root):
    assert is_civitai_host(f"{label}.{root}")
    assert not is_civitai_host(f"{root}.{label}x.net")
    assert not is_civitai_host(f"{label}{root}")


# -- delays -------------------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    attempt=st.integers(min_value=-3, max_value=200),
    retry_after=st.one_of(st.none(), st.floats(min_value=0, max_value=1e9, allow_nan=False)),
    jitter=st.floats(min_value=0, max_value=1),
    seed=st.integers(0, 10_000),
)
def test_delay_is_bounded(attempt, retry_after, jitter, seed):
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0, jitter=jitter, max_retry_after=300.0)
    delay = policy.delay_for(attempt, RemoteError(ErrorKind.SERVER, "x", retry_after=retry_after), random.Random(seed))
    assert 0.0 <= delay <= (300.0 if retry_after is not None else 30.0)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=40)))
def test_retry_after_parses_anything_safely(value):
    result = parse_retry_after(value)
    assert result is None or result >= 0.0
