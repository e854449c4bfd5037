"""Server-side translations: one JSON tree per language in ``locales/``, shared with the web UI.

Why: error messages and page text must follow the user's language without ever failing a request. Every
lookup falls back to English, then to the key itself, and placeholder substitution never raises, whatever
the template or the parameters are.
"""
from __future__ import annotations

import copy
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

logger = logging.getLogger(__name__)

FALLBACK_LOCALE = "en"

# ``{{`` and ``}}`` are literal braces; ``{name}`` is a placeholder; any other brace is plain text.
_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TRADITIONAL_TAGS = frozenset({"tw", "hk", "mo", "hant"})


def placeholders(template: str) -> set[str]:
    """The ``{name}`` placeholders a template uses (escaped ``{{name}}`` excluded)."""
    return {match.group(1) for match in _TOKEN.finditer(template) if match.group(1)}


def format_template(template: str, params: Mapping[str, Any], /) -> str:
    """Replace ``{name}`` by ``str(params[name])`` in one pass, so values are never re-interpreted.

    A placeholder without a parameter stays as written; ``{{``/``}}`` become single braces.
    """

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)[0]
        if name not in params:
            return match.group(0)
        return _to_text(params[name], match.group(0))

    try:
        return _TOKEN.sub(substitute, template)
    except Exception:  # pragma: no cover - re.sub on a str with a total function does not fail
        logger.exception("could not format template %r", template)
        return template


def _to_text(value: Any, fallback: str) -> str:
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except Exception:
        logger.warning("placeholder value of type %s has no printable form", type(value).__name__)
        return fallback


def _clean_tree(node: Mapping[str, Any], source: str, prefix: str = "") -> dict[str, Any]:
    """Keep only nested objects and strings; anything else is logged and left out."""
    cleaned: dict[str, Any] = {}
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, str):
            cleaned[key] = value
        elif isinstance(value, Mapping):
            cleaned[key] = _clean_tree(value, source, path + ".")
        else:
            logger.warning("%s: ignoring non-text value at %s", source, path)
    return cleaned


def _flatten(node: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, str):
            flat[path] = value
        else:
            flat.update(_flatten(value, path + "."))
    return flat


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``; a subtree only replaces a subtree, a string only a string."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = _merge(current, value)
        elif current is None or isinstance(value, str) == isinstance(current, str):
            merged[key] = copy.deepcopy(value)
    return merged


def parse_accept_language(header: str | None) -> list[str]:
    """Language tags of an ``Accept-Language`` header, best first (``q=0`` and malformed entries dropped)."""
    if not header or not isinstance(header, str):
        return []
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        pieces = [piece.strip() for piece in part.split(";")]
        tag = pieces[0]
        if not tag:
            continue
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = -1.0
        if not 0.0 < quality <= 1.0:
            continue
        ranked.append((-quality, position, tag))
    ranked.sort()
    return [tag for _, _, tag in ranked]


@dataclass(frozen=True)
class Translator:
    """Translations bound to one locale, e.g. for one request."""

    manager: "ServerI18nManager"
    locale: str

    def t(self, key: str, /, **params: Any) -> str:
        return self.manager.get_translation(key, self.locale, **params)

    __call__ = t


class ServerI18nManager:
    """All locales loaded once; lookups are dictionary reads, safe from any thread."""

    def __init__(self, locales_dir: Path, default_locale: str = FALLBACK_LOCALE):
        self._trees: dict[str, dict[str, Any]] = {}
        self._flat: dict[str, dict[str, str]] = {}
        self._load(Path(locales_dir))
        self._by_lower = {name.lower(): name for name in self._trees}
        self._locale = self.resolve_locale(default_locale)

    def _load(self, directory: Path) -> None:
        try:
            files = sorted(directory.glob("*.json"))
        except OSError as exc:  # pragma: no cover - glob swallows most errors itself
            logger.error("cannot list locales in %s: %s", directory, exc)
            return
        if not files:
            logger.warning("no locale files found in %s", directory)
        for path in files:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                logger.error("skipping unreadable locale file %s: %s", path, exc)
                continue
            if not isinstance(data, dict):
                logger.error("skipping locale file %s: top level is not an object", path)
                continue
            tree = _clean_tree(data, path.name)
            self._trees[path.stem] = tree
            self._flat[path.stem] = _flatten(tree)

    # -- locale names -------------------------------------------------------------------------------

    @property
    def locale(self) -> str:
        """This manager's current default locale."""
        return self._locale

    def available_locales(self) -> list[str]:
        return sorted(self._trees)

    def resolve_locale(self, lang: str | None) -> str:
        """The best available locale for a language tag; English when nothing fits."""
        return self._match(lang) or FALLBACK_LOCALE

    def locale_from_accept_language(self, header: str | None) -> str:
        for tag in parse_accept_language(header):
            if tag == "*":
                break
            match = self._match(tag)
            if match:
                return match
        return FALLBACK_LOCALE

    def set_locale(self, lang: str | None) -> str:
        self._locale = self.resolve_locale(lang)
        return self._locale

    def _match(self, lang: str | None) -> str | None:
        if not isinstance(lang, str):
            return None
        tag = lang.strip().split(".", 1)[0].split("@", 1)[0].replace("_", "-").lower()
        if not tag:
            return None
        exact = self._by_lower.get(tag)
        if exact:
            return exact
        parts = [part for part in tag.split("-") if part]
        if not parts:
            return None
        language = parts[0]
        if language == "zh":
            if _TRADITIONAL_TAGS.intersection(parts[1:]) and "zh-tw" in self._by_lower:
                return self._by_lower["zh-tw"]
            return self._by_lower.get("zh-cn") or self._by_lower.get("zh")
        if language in self._by_lower:
            return self._by_lower[language]
        regional = sorted(name for lower, name in self._by_lower.items() if lower.split("-")[0] == language)
        return regional[0] if regional else None

    # -- lookups ------------------------------------------------------------------------------------

    def translator(self, locale: str | None = None) -> Translator:
        resolved = self._locale if locale is None else self.resolve_locale(locale)
        return Translator(self, resolved)

    def get_translation(self, key: str, /, locale: str | None = None, **params: Any) -> str:
        """The text for a dotted key in ``locale`` (default: this manager's), English, or the key itself."""
        name = self._locale if locale is None else self.resolve_locale(locale)
        key_text = key if isinstance(key, str) else _to_text(key, "")
        template = self._flat.get(name, {}).get(key_text)
        if template is None:
            template = self._flat.get(FALLBACK_LOCALE, {}).get(key_text, key_text)
        return format_template(template, params)

    def locale_data(self, locale: str | None = None) -> dict[str, Any]:
        """The whole tree of a locale with English filling its gaps (a fresh copy the caller may change)."""
        name = self._locale if locale is None else self.resolve_locale(locale)
        base = self._trees.get(FALLBACK_LOCALE, {})
        if name == FALLBACK_LOCALE:
            return copy.deepcopy(base)
        return _merge(base, self._trees.get(name, {}))
