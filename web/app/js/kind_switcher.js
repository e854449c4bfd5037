// The kind switcher: links to every kind of model the library holds files of (from /api/lm/kinds), above a model
// page. LoRAs, checkpoints and embeddings keep their pages (/loras...); the other kinds open /kinds/<kind>.
// Hidden while the library holds no kind beyond those three, so their pages look as they always did.
import { api } from "./api.js";
import { h } from "./dom.js";
import { addFallbackStrings, t } from "./i18n.js";

const CORE_PAGES = { lora: "/loras", checkpoint: "/checkpoints", embedding: "/embeddings" };

/** Where the page of a kind lives, or null for a kind served inside another one's page (diffusion models). */
export function kindHref(kind) {
  if (kind.served_by !== kind.name) return null;
  return CORE_PAGES[kind.name] || `/kinds/${encodeURIComponent(kind.name)}`;
}

/** The kind a /kinds/<kind> address names, or null. */
export function kindOfPath(pathname) {
  const match = /^\/kinds\/([a-z_]+)\/?$/.exec(pathname);
  return match ? match[1] : null;
}

/** Fetch the kinds, teach i18n their labels (``nav.<kind>``) and render the links of the non-empty ones into
 * ``container``; ``current`` is the page's href. Resolves to the kinds (empty when the API fails). */
export async function mountKindSwitcher(container, current) {
  let kinds = [];
  try {
    kinds = (await api("/api/lm/kinds")).kinds || [];
  } catch {
    container.hidden = true;
    return [];
  }
  // a kind no locale names yet shows the server's label; the model page of a kind is titled nav.<kind>
  addFallbackStrings({ manager: { kinds: Object.fromEntries(kinds.map((k) => [k.name, k.label])) } });
  addFallbackStrings({ nav: Object.fromEntries(kinds.filter((k) => !CORE_PAGES[k.name])
    .map((k) => [k.name, t(`manager.kinds.${k.name}`)])) });
  const shown = kinds.filter((k) => k.count > 0 && kindHref(k));
  container.hidden = !shown.some((k) => !CORE_PAGES[k.name]);
  container.setAttribute("aria-label", t("manager.kinds.label"));
  container.replaceChildren(...shown.map((kind) => {
    const href = kindHref(kind);
    const key = CORE_PAGES[kind.name] ? `nav${CORE_PAGES[kind.name].replace("/", ".")}` : `manager.kinds.${kind.name}`;
    const link = h("a", { href, dataset: { kind: kind.name } }, t(key), " ",
      h("span", { class: "kind-count", text: String(kind.count) }));
    if (href === current) link.setAttribute("aria-current", "page");
    return link;
  }));
  return kinds;
}
