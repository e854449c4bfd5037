// The manager shell: navigation, language, theme, progress area; then the page for the current path.
import { api, postJson } from "./js/api.js";
import { h } from "./js/dom.js";
import { LANGUAGES, currentLocale, loadLocale, onLocaleChange, t } from "./js/i18n.js";
import { mountDiscoverPage } from "./js/discover_page.js";
import { mountDownloadsPage } from "./js/downloads_page.js";
import { kindOfPath, mountKindSwitcher } from "./js/kind_switcher.js";
import { mountModelsPage } from "./js/models_page.js";
import { mountProgress } from "./js/progress.js";
import { setNsfwSettings } from "./js/nsfw.js";
import { mountRecipesPage } from "./js/recipes_page.js";
import { mountSettingsPage } from "./js/settings_page.js";
import { mountStatsPage } from "./js/stats_page.js";
import { applyTheme, effectiveTheme, toggleTheme } from "./js/theme.js";
import { toastError } from "./js/toast.js";

const MODEL_PAGES = new Set(["loras", "checkpoints", "embeddings"]);
const kindPage = kindOfPath(location.pathname); // /kinds/vae...: the model page of a kind beyond the three
const pageType = kindPage || location.pathname.split("/")[1] || "loras";
const main = document.getElementById("main");
const languageSelect = document.getElementById("language-select");
const themeButton = document.getElementById("theme-toggle");

function renderThemeButton() {
  const dark = effectiveTheme() === "dark";
  themeButton.textContent = dark ? "☀" : "☾";
  const label = t(dark ? "manager.header.theme_light" : "manager.header.theme_dark");
  themeButton.setAttribute("aria-label", label);
  themeButton.title = label;
}

function markCurrentPage() {
  for (const link of document.querySelectorAll("#main-nav a")) {
    if (link.dataset.page === pageType) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function setLanguageSelect(lang) {
  languageSelect.value = LANGUAGES.some(([code]) => code === lang) ? lang : "en";
}

function updateTitle() {
  document.title = `${t(`nav.${pageType}`)} · LoRA Manager`;
}

async function start() {
  applyTheme();
  languageSelect.replaceChildren(...LANGUAGES.map(([code, name]) => h("option", { value: code, text: name })));
  let language = "en";
  try {
    const settings = (await api("/api/lm/settings")).settings || {};
    language = settings.language || "en";
    setNsfwSettings(settings);
  } catch { /* the page still works in English */ }
  await loadLocale(language);
  setLanguageSelect(currentLocale());
  renderThemeButton();
  markCurrentPage();
  updateTitle();
  onLocaleChange(() => { renderThemeButton(); updateTitle(); });

  themeButton.addEventListener("click", () => { toggleTheme(); renderThemeButton(); });
  languageSelect.addEventListener("change", async () => {
    const lang = languageSelect.value;
    await loadLocale(lang);
    try {
      await postJson("/api/lm/settings", { language: lang });
    } catch (err) {
      toastError(err.message);
    }
  });

  let page = null;
  mountProgress(document.getElementById("status-area"), {
    onModelsChanged: (frame) => { if (page && page.onModelsChanged) page.onModelsChanged(frame); },
    onFrame: (frame) => { if (page && page.onFrame) page.onFrame(frame); },
  });
  if (MODEL_PAGES.has(pageType) || kindPage) {
    const switcher = h("nav", { id: "kind-switcher", class: "main-nav kind-switcher", hidden: true });
    main.before(switcher);
    const kinds = mountKindSwitcher(switcher, location.pathname.replace(/\/$/, ""));
    if (kindPage) await kinds.then(updateTitle); // its label comes from /api/lm/kinds
    page = mountModelsPage(main, pageType);
  } else if (pageType === "settings") {
    mountSettingsPage(main, { onLanguage: setLanguageSelect });
  } else if (pageType === "stats") {
    page = mountStatsPage(main);
  } else if (pageType === "downloads") {
    page = mountDownloadsPage(main);
  } else if (pageType === "discover") {
    page = mountDiscoverPage(main);
  } else {
    page = mountRecipesPage(main);
  }
  document.documentElement.dataset.ready = "true";
}

start();
