"""Every key the manager's scripts and page name literally (``t("...")``, ``data-i18n``) exists in en.json.

Why: a key missing from en.json shows its raw name to users of every locale; the parity test
(test_locale_files.py) then carries the check to every shipped locale.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web" / "app"
T_CALL = re.compile(r"""(?<![\w.$])t\(\s*["']([a-z0-9_]+(?:\.[a-z0-9_A-Z-]+)+)["']""")
KEY = r"[a-z0-9_]+(?:\.[\w-]+)+"  # a dotted key; a bare word in a comment is not one
DATA_I18N = re.compile(rf"""data-i18n=["']({KEY})["']|i18n:\s*["']({KEY})["']""")
ATTR_I18N = re.compile(r"""data-i18n-attr=["']([^"']+)["']""")


def _flat(tree: dict, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in tree.items():
        name = f"{prefix}{key}"
        keys |= _flat(value, f"{name}.") if isinstance(value, dict) else {name}
    return keys


def used_keys() -> dict[str, set[str]]:
    """Literal keys per source file (keys built at run time, e.g. ``t(`nav.${page}`)``, are not seen)."""
    found: dict[str, set[str]] = {}
    for path in [*WEB.rglob("*.js"), WEB / "index.html"]:
        if "vendor" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        keys = set(T_CALL.findall(text))
        keys |= {a or b for a, b in DATA_I18N.findall(text)}
        for spec in ATTR_I18N.findall(text):
            keys |= {key for part in spec.split(";") if re.fullmatch(KEY, key := part.partition(":")[2].strip())}
        if keys:
            found[str(path.relative_to(ROOT))] = keys
    return found


def test_the_key_finder_sees_calls_and_attributes() -> None:
    sample = 'x = t("manager.a.b"); y = ct("no.key"); h("p", { dataset: { i18n: "nav.loras" } })'
    assert set(T_CALL.findall(sample)) == {"manager.a.b"}
    assert {a or b for a, b in DATA_I18N.findall(sample)} == {"nav.loras"}


def test_every_literal_key_is_in_english() -> None:
    english = _flat(json.loads((ROOT / "locales" / "en.json").read_text(encoding="utf-8")))
    missing = {path: sorted(keys - english) for path, keys in used_keys().items() if keys - english}
    assert missing == {}, f"keys used in web/app but missing from locales/en.json: {missing}"
