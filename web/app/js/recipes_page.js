// The recipes page (/recipes): filters, virtual grid of recipe cards, details, import, delete with undo.
import { api, postJson } from "./api.js";
import { confirmDialog } from "./dialog.js";
import { debounce, h, isVideoUrl } from "./dom.js";
import { VirtualGrid } from "./grid.js";
import { applyTranslations, onLocaleChange, t } from "./i18n.js";
import { ModelSource } from "./model_source.js";
import { applyBlur } from "./nsfw.js";
import { openRecipeDetails } from "./recipe_details.js";
import { openRecipeImport } from "./recipe_import.js";
import { missingCount } from "./recipe_view.js";
import { Selection } from "./selection.js";
import { toast, toastError } from "./toast.js";

const SORTS = [
  ["date:desc", "manager.sort.date_desc"], ["date:asc", "manager.sort.date_asc"],
  ["name:asc", "manager.sort.name_asc"], ["name:desc", "manager.sort.name_desc"],
  ["loras_count:desc", "manager.recipes.sort_loras"],
];

function recipeCard(item, index) {
  const name = item.title || t("manager.recipes.untitled");
  const media = h("div", { class: "card-media" });
  if (item.file_url && isVideoUrl(item.file_url)) {
    media.append(h("video", { src: item.file_url, muted: true, loop: true, playsInline: true, autoplay: true,
      preload: "metadata", "aria-hidden": "true" }));
  } else if (item.file_url) {
    media.append(h("img", { src: item.file_url, alt: "", loading: "lazy", decoding: "async", draggable: "false" }));
  } else {
    media.append(h("div", { class: "no-preview", "aria-hidden": "true", text: name.slice(0, 1).toUpperCase() }));
  }
  if (item.file_url) applyBlur(media, item.preview_nsfw_level, item.file_url, { focusable: false });
  const badges = h("div", { class: "card-badges" });
  if (item.favorite) badges.append(h("span", { class: "badge badge-favorite", title: t("manager.card.favorite"), text: "★" }));
  const missing = missingCount(item);
  if (missing) badges.append(h("span", { class: "badge badge-missing", text: t("manager.recipes.missing_count", { count: missing }) }));
  const loras = (item.loras || []).length;
  return h("div", {
    class: "model-card recipe-card", role: "option", tabindex: "-1", "aria-selected": "false", "aria-label": name,
    dataset: { index: String(index), recipeId: item.id },
  }, media, badges,
  h("button", { type: "button", class: "card-select", tabindex: "-1", "aria-label": t("manager.card.select"),
    dataset: { action: "select" }, text: "✓" }),
  h("div", { class: "card-meta" },
    h("div", { class: "card-name", title: name, text: name }),
    h("div", { class: "card-base", text: [item.base_model || t("manager.card.unknown_base"),
      t("manager.recipes.loras_count", { count: loras })].join(" · ") })));
}

export function mountRecipesPage(root) {
  const state = { search: "", sort: "date:desc", baseModels: new Set(), tags: new Set(), favorites: false };
  const source = new ModelSource("recipes", { url: "/api/lm/recipes" });
  const selection = new Selection();

  const searchInput = h("input", { type: "search", id: "search", class: "search-input", autocomplete: "off",
    "data-i18n-attr": "placeholder:manager.recipes.search_placeholder;aria-label:common.search" });
  const sortSelect = h("select", { id: "sort", class: "select", "data-i18n-attr": "aria-label:manager.toolbar.sort" });
  const count = h("span", { id: "count", class: "total-count", "aria-live": "polite" });
  const importBtn = h("button", { type: "button", class: "btn btn-primary", id: "import-recipe", "data-i18n": "manager.recipes.import",
    onclick: () => openRecipeImport({ onSaved: () => refresh() }) });
  const toolbar = h("div", { class: "toolbar", role: "search" },
    h("div", { class: "search-wrap" }, searchInput), sortSelect, count, h("div", { class: "toolbar-spacer" }), importBtn);
  const bulkCount = h("span", { class: "bulk-count", "aria-live": "polite" });
  const bulkBar = h("div", { class: "bulk-bar", hidden: true, role: "toolbar", "data-i18n-attr": "aria-label:manager.bulk.label" },
    bulkCount,
    h("button", { type: "button", class: "btn btn-danger", id: "bulk-delete", "data-i18n": "manager.bulk.delete", onclick: () => bulkDelete() }),
    h("button", { type: "button", class: "btn btn-ghost", id: "bulk-clear", "data-i18n": "manager.bulk.clear", onclick: () => selection.clear() }));
  const scroller = h("div", { class: "grid-scroller" });
  const baseList = h("div", { class: "filter-list", id: "base-model-filters" });
  const tagList = h("div", { class: "chip-list", id: "tag-filters" });
  const favorites = h("input", { type: "checkbox", id: "favorites-only" });
  const sidebar = h("aside", { class: "sidebar", "data-i18n-attr": "aria-label:manager.filters.label" },
    h("section", { class: "filter-section" }, h("label", { class: "check-row" }, favorites,
      h("span", { "data-i18n": "manager.filters.favorites_only" }))),
    h("section", { class: "filter-section" }, h("h2", { class: "filter-title", "data-i18n": "library.base_model" }), baseList),
    h("section", { class: "filter-section" }, h("h2", { class: "filter-title", "data-i18n": "library.tags" }), tagList),
    h("button", { type: "button", class: "btn btn-ghost", id: "clear-filters", "data-i18n": "manager.filters.clear",
      onclick: () => clearFilters() }));
  root.replaceChildren(h("div", { class: "models-page recipes-page" }, sidebar,
    h("section", { class: "content" }, toolbar, bulkBar, scroller)));
  applyTranslations(root);

  const grid = new VirtualGrid({
    scroller, source, selection, label: t("nav.recipes"), onOpen: (item) => open(item), renderCard: recipeCard,
    itemKey: (item) => `${item.id}|${item.modified}|${item.title}|${item.favorite}|${item.file_url}|${missingCount(item)}`,
    emptyText: () => (state.search || state.baseModels.size || state.tags.size || state.favorites
      ? t("manager.recipes.no_match") : t("manager.recipes.empty")),
  });

  function params() {
    const p = new URLSearchParams();
    if (state.search) p.set("search", state.search);
    p.set("sort_by", state.sort);
    if (state.baseModels.size) p.set("base_models", [...state.baseModels].join(","));
    for (const tag of state.tags) p.append("tag_include", tag);
    if (state.favorites) p.set("favorite", "true");
    return p;
  }

  function reload() {
    grid.resetScroll();
    source.reset(params());
    grid.schedule();
  }

  function refresh() {
    source.refresh(grid.pagesInView());
    loadFacets();
  }

  source.onChange(() => {
    count.textContent = source.total === null ? t("common.loading") : t("manager.recipes.count", { count: source.total });
  });

  async function loadFacets() {
    const [bases, tags] = await Promise.allSettled([
      api("/api/lm/recipes/base-models", { query: { limit: 0 } }),
      api("/api/lm/recipes/top-tags", { query: { limit: 30 } }),
    ]);
    if (bases.status === "fulfilled") renderBaseModels(bases.value.base_models || []);
    if (tags.status === "fulfilled") renderTags(tags.value.tags || []);
  }

  function renderSorts() {
    sortSelect.replaceChildren(...SORTS.map(([value, key]) => h("option", { value, text: t(key), selected: value === state.sort })));
  }

  function renderBaseModels(list) {
    baseList.replaceChildren(...(list.length ? list.map(({ name, count: n }) => {
      const box = h("input", { type: "checkbox", value: name, checked: state.baseModels.has(name),
        onchange: () => { if (box.checked) state.baseModels.add(name); else state.baseModels.delete(name); reload(); } });
      return h("label", { class: "check-row" }, box, h("span", { class: "grow", text: name || t("manager.card.unknown_base") }),
        h("span", { class: "muted", text: String(n) }));
    }) : [h("p", { class: "muted", text: t("manager.filters.none") })]));
  }

  function renderTags(list) {
    tagList.replaceChildren(...(list.length ? list.map(({ tag, count: n }) => h("button", {
      type: "button", class: "chip", "aria-pressed": String(state.tags.has(tag)), title: String(n), text: tag,
      onclick: (event) => {
        if (state.tags.has(tag)) state.tags.delete(tag); else state.tags.add(tag);
        event.currentTarget.setAttribute("aria-pressed", String(state.tags.has(tag)));
        reload();
      },
    })) : [h("p", { class: "muted", text: t("manager.filters.none") })]));
  }

  function clearFilters() {
    Object.assign(state, { search: "", favorites: false });
    state.baseModels.clear();
    state.tags.clear();
    searchInput.value = "";
    favorites.checked = false;
    loadFacets();
    reload();
  }

  const onSearch = debounce(() => { state.search = searchInput.value.trim(); reload(); }, 250);
  searchInput.addEventListener("input", onSearch);
  searchInput.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") { event.preventDefault(); grid.focusAt(0); }
  });
  sortSelect.addEventListener("change", () => { state.sort = sortSelect.value; reload(); });
  favorites.addEventListener("change", () => { state.favorites = favorites.checked; reload(); });

  selection.onChange(() => {
    bulkBar.hidden = selection.size === 0;
    bulkCount.textContent = t("manager.bulk.selected", { count: selection.size });
  });

  function undoToast(message, batchId) {
    toast(message, { kind: "success", action: batchId ? { label: t("common.undo"), run: () => undoDelete(batchId) } : null });
  }

  async function undoDelete(batchId) {
    try {
      await postJson("/api/lm/recipes/undo-delete", { batch_id: batchId });
      toast(t("manager.recipes.restored"), { kind: "success" });
    } catch (err) {
      toastError(err.message);
    }
    refresh();
  }

  async function bulkDelete() {
    const items = [...selection.items.values()];
    if (!items.length) return;
    if (!(await confirmDialog(t("manager.recipes.confirm_delete", { count: items.length }), { okLabel: t("common.delete") }))) return;
    try {
      const body = await postJson("/api/lm/recipes/bulk-delete", { recipe_ids: items.map((item) => item.id) });
      selection.clear();
      refresh();
      undoToast(t("manager.recipes.deleted_many", { count: (body.deleted || items).length }), body.batch_id);
    } catch (err) {
      toastError(err.message);
    }
  }

  function open(item) {
    openRecipeDetails(item, {
      onChanged: () => refresh(),
      onDeleted: (recipe, batchId) => {
        refresh();
        undoToast(t("manager.recipes.deleted", { name: recipe.title || t("manager.recipes.untitled") }), batchId);
      },
    });
  }

  renderSorts();
  onLocaleChange(() => {
    renderSorts();
    grid.grid.setAttribute("aria-label", t("nav.recipes"));
    grid.cards = new Map();
    grid.schedule();
    loadFacets();
    source.emit();
    bulkCount.textContent = t("manager.bulk.selected", { count: selection.size });
  });
  loadFacets();
  reload();
  const changed = debounce(() => refresh(), 300);
  return {
    onFrame: (frame) => { if (frame.type === "recipes_changed") changed(); },
    onModelsChanged: () => changed(), // LoRAs added or removed change the in-library status
    grid,
    source,
  };
}
