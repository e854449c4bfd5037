// Translations from /api/lm/locales/{lang}; English is kept as the fallback for keys a locale lacks.

const state = { locale: "en", strings: {}, fallback: {}, extra: {}, listeners: new Set() };

export const LANGUAGES = [
  ["en", "English"], ["de", "Deutsch"], ["es", "Español"], ["fr", "Français"], ["ja", "日本語"],
  ["ko", "한국어"], ["ru", "Русский"], ["zh-CN", "简体中文"], ["zh-TW", "繁體中文"],
];

function lookup(table, key) {
  let node = table;
  for (const part of key.split(".")) {
    if (node === null || typeof node !== "object" || !(part in node)) return undefined;
    node = node[part];
  }
  return typeof node === "string" ? node : undefined;
}

/** The text of ``key`` with ``{placeholders}`` filled from ``params``. */
export function t(key, params = {}) {
  const template = lookup(state.strings, key) ?? lookup(state.fallback, key) ?? lookup(state.extra, key) ?? key;
  return template.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

/** Texts the server names (labels of model kinds), used when no locale has the key. */
export function addFallbackStrings(table) {
  for (const [group, entries] of Object.entries(table)) state.extra[group] = { ...state.extra[group], ...entries };
}

export function currentLocale() {
  return state.locale;
}

async function fetchLocale(lang) {
  const response = await fetch(`/api/lm/locales/${encodeURIComponent(lang)}`);
  if (!response.ok) throw new Error(`locale ${lang}: ${response.status}`);
  return response.json();
}

/** Load a locale (and English once), apply it to the page and tell every listener. */
export async function loadLocale(lang) {
  if (!Object.keys(state.fallback).length) {
    try {
      state.fallback = (await fetchLocale("en")).translations || {};
    } catch {
      state.fallback = {};
    }
  }
  let body;
  try {
    body = lang === "en" && Object.keys(state.fallback).length ? { locale: "en", translations: state.fallback }
      : await fetchLocale(lang);
  } catch {
    body = { locale: "en", translations: state.fallback };
  }
  state.locale = body.locale || lang;
  state.strings = body.translations || {};
  document.documentElement.lang = state.locale;
  applyTranslations(document);
  for (const fn of state.listeners) fn(state.locale);
  return state.locale;
}

/** Fill ``data-i18n`` (text) and ``data-i18n-attr="attr:key;attr:key"`` (attributes) under ``root``. */
export function applyTranslations(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":");
      if (attr && key) el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}

export function onLocaleChange(fn) {
  state.listeners.add(fn);
  return () => state.listeners.delete(fn);
}
