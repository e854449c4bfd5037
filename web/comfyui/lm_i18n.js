// Translations for the sidebar, loaded from the server's locale files (/api/lm/locales/{lang}).

/** A translator over a nested translations object; `{name}` placeholders are filled from `params`. */
export function makeTranslator(translations) {
  const lookup = (key) => key.split(".").reduce((node, part) => (node && typeof node === "object" ? node[part] : undefined),
    translations);
  return (key, params = {}) => {
    const template = lookup(key);
    if (typeof template !== "string") return key;
    return template.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  };
}

/** Load the translations of `lang` through `fetchJson`; an unreachable server gives a translator of keys. */
export async function loadTranslator(fetchJson, lang) {
  try {
    const body = await fetchJson(`/lm/locales/${encodeURIComponent(lang || "en")}`);
    return makeTranslator(body?.translations || {});
  } catch (error) {
    console.warn("LoRA Manager: translations could not be loaded", error);
    return makeTranslator({});
  }
}
