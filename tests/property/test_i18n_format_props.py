"""Placeholder substitution never raises and never re-reads what it substituted."""
from __future__ import annotations

import functools
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from lora_manager.py.services.server_i18n import ServerI18nManager, format_template

NAMES = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True), st.sampled_from(["key", "self", "params"])
)
PIECES = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["{", "}", "{{", "}}", "{}", "{0}", "{ a }", "{a", "a}"]),
    NAMES.map(lambda name: "{" + name + "}"),
)
TEMPLATES = st.lists(PIECES, max_size=12).map("".join)
VALUES = st.one_of(st.text(max_size=10), st.integers(), st.floats(allow_nan=True), st.none(), st.lists(st.integers(), max_size=3))
PARAMS = st.dictionaries(NAMES, VALUES, max_size=5)

LOCALES = Path(__file__).resolve().parents[2] / "locales"


@settings(max_examples=200, deadline=None)
@given(template=TEMPLATES, params=PARAMS)
def test_format_never_raises(template: str, params: dict[str, object]) -> None:
    result = format_template(template, params)
    assert isinstance(result, str)


def reference(template: str, params: dict[str, object]) -> str:
    """A plain left-to-right scanner: the behaviour the formatter promises, written independently."""
    out, i = [], 0
    while i < len(template):
        if template.startswith("{{", i) or template.startswith("}}", i):
            out.append(template[i])
            i += 2
            continue
        if template[i] == "{":
            j = template.find("}", i + 1)
            name = template[i + 1 : j] if j != -1 else ""
            if name and (name[0].isascii() and (name[0].isalpha() or name[0] == "_")) and all(
                c.isascii() and (c.isalnum() or c == "_") for c in name
            ):
                out.append(str(params[name]) if name in params else template[i : j + 1])
                i = j + 1
                continue
        out.append(template[i])
        i += 1
    return "".join(out)


@settings(max_examples=200, deadline=None)
@given(template=TEMPLATES, params=PARAMS)
def test_format_matches_reference_scanner(template: str, params: dict[str, object]) -> None:
    assert format_template(template, params) == reference(template, params)


@settings(max_examples=150, deadline=None)
@given(name=NAMES, value=st.text(max_size=20), other=NAMES, other_value=st.text(max_size=5))
def test_values_are_not_reinterpreted(name: str, value: str, other: str, other_value: str) -> None:
    params = {name: value}
    if other != name:
        params[other] = other_value
    assert format_template("[{" + name + "}]", params) == f"[{value}]"


@settings(max_examples=100, deadline=None)
@given(key=st.text(max_size=20), lang=st.one_of(st.none(), st.text(max_size=12)), params=PARAMS)
def test_manager_lookups_never_raise(key: str, lang: str | None, params: dict[str, object]) -> None:
    manager = _manager()
    assert isinstance(manager.get_translation(key, lang, **params), str)
    assert isinstance(manager.translator(lang).t(key, **params), str)
    assert manager.resolve_locale(lang) in manager.available_locales()
    assert manager.locale_from_accept_language(lang) in manager.available_locales()


@functools.lru_cache(maxsize=1)
def _manager() -> ServerI18nManager:
    return ServerI18nManager(LOCALES)


def test_repo_locales_are_json() -> None:
    for path in LOCALES.glob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))
