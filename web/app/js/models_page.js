// The model page (/loras, /checkpoints, /embeddings): filters, letter bar, virtual grid, selection and bulk actions.
import { api, postJson } from "./api.js";
import { TAG_EDITS, bulkTagEdit } from "./bulk_tags.js";
import { confirmDialog } from "./dialog.js";
import { debounce, h } from "./dom.js";
import { VirtualGrid } from "./grid.js";
import { applyTranslations, currentLocale, onLocaleChange, t } from "./i18n.js";
import { openDetails } from "./details.js";
import { mountDuplicatesView } from "./duplicates_view.js";
import { mountUpdatesView } from "./updates_view.js";
import { closeModelMenu, moveDialog, openModelMenu, textDialog, undoDelete as undoBatch } from "./model_actions.js";
import { ModelSource } from "./model_source.js";
import { selectAllMatching, selectRange } from "./select_matching.js";
import { Selection } from "./selection.js";
import { toast, toastError } from "./toast.js";

const SORTS = [
  ["name:asc", "manager.sort.name_asc"], ["name:desc", "manager.sort.name_desc"],
  ["date:desc", "manager.sort.date_desc"], ["date:asc", "manager.sort.date_asc"],
  ["size:desc", "manager.sort.size_desc"], ["size:asc", "manager.sort.size_asc"],
  ["usage:desc", "manager.sort.usage_desc"], ["usage:asc", "manager.sort.usage_asc"],
];
const MODEL_TYPE = { loras: "lora", checkpoints: "checkpoint", embeddings: "embedding" };

export function mountModelsPage(root, pageType) {
  if (!(pageType in MODEL_TYPE)) MODEL_TYPE[pageType] = pageType; // /kinds/vae...: the page is the kind
  const base = `/api/lm/${pageType}`;
  const state = { search: "", sort: "name:asc", folder: "", baseModels: new Set(), tags: new Set(), favorites: false, letter: "" };
  const source = new ModelSource(pageType);
  const VIEWS = ["library", "excluded", "duplicates", "updates", "trash"];
  let view = VIEWS.includes(new URLSearchParams(location.search).get("view")) ? new URLSearchParams(location.search).get("view") : "library";
  const selection = new Selection();

  // -- layout ----------------------------------------------------------------------------------
  const searchInput = h("input", { type: "search", id: "search", class: "search-input", autocomplete: "off",
    "data-i18n-attr": "placeholder:manager.toolbar.search_placeholder;aria-label:common.search" });
  const sortSelect = h("select", { id: "sort", class: "select", "data-i18n-attr": "aria-label:manager.toolbar.sort" });
  const count = h("span", { id: "count", class: "total-count", "aria-live": "polite" });
  const selectVisible = h("button", { type: "button", class: "btn", id: "select-visible", "data-i18n": "manager.toolbar.select_visible" });
  const selectAll = h("button", { type: "button", class: "btn", id: "select-all" });
  const rescan = h("button", { type: "button", class: "btn", id: "rescan", "data-i18n": "manager.toolbar.rescan" });
  const fetchAll = h("button", { type: "button", class: "btn", id: "fetch-all", "data-i18n": "manager.toolbar.fetch_all" });
  const fetchExamples = h("button", { type: "button", class: "btn", id: "download-examples",
    "data-i18n": "manager.toolbar.download_examples" });
  const viewButtons = VIEWS.map((id) => h("button", { type: "button", class: "view-tab", id: `view-${id}`,
    "aria-pressed": String(view === id), dataset: { view: id }, "data-i18n": `manager.views.${id}`,
    onclick: () => setView(id) }));
  const viewSwitch = h("div", { class: "view-switch", role: "group", "data-i18n-attr": "aria-label:manager.views.label" },
    ...viewButtons);
  const searchWrap = h("div", { class: "search-wrap" }, searchInput);
  const toolbar = h("div", { class: "toolbar", role: "search" },
    viewSwitch, searchWrap, sortSelect, count,
    h("div", { class: "toolbar-spacer" }),
    h("div", { class: "toolbar-actions" }, selectVisible, selectAll, rescan, fetchAll, fetchExamples));
  const letterBar = h("nav", { class: "letter-bar", "data-i18n-attr": "aria-label:manager.filters.letters" });
  const bulkCount = h("span", { class: "bulk-count", "aria-live": "polite" });
  const bulkExcludeButton = h("button", { type: "button", class: "btn", id: "bulk-exclude", "data-i18n": "manager.bulk.exclude",
    onclick: () => bulkExclude() });
  const bulkBar = h("div", { class: "bulk-bar", hidden: true, role: "toolbar", "data-i18n-attr": "aria-label:manager.bulk.label" },
    bulkCount,
    h("button", { type: "button", class: "btn", id: "bulk-move", "data-i18n": "manager.bulk.move", onclick: () => bulkMove() }),
    bulkExcludeButton,
    h("button", { type: "button", class: "btn", id: "bulk-refresh", "data-i18n": "manager.bulk.refresh", onclick: () => bulkRefresh() }),
    h("button", { type: "button", class: "btn", id: "bulk-tags", "data-i18n": "manager.bulk.add_tags", onclick: () => bulkAddTags() }),
    h("button", { type: "button", class: "btn", id: "bulk-replace-tag", "data-i18n": "manager.bulk.replace_tag", onclick: () => bulkEditTags("replace") }),
    h("button", { type: "button", class: "btn", id: "bulk-remove-tags", "data-i18n": "manager.bulk.remove_tags", onclick: () => bulkEditTags("remove") }),
    h("button", { type: "button", class: "btn", id: "bulk-base-model", "data-i18n": "manager.bulk.base_model", onclick: () => bulkBaseModel() }),
    h("button", { type: "button", class: "btn btn-danger", id: "bulk-delete", "data-i18n": "manager.bulk.delete", onclick: () => bulkDelete() }),
    h("button", { type: "button", class: "btn btn-ghost", id: "bulk-clear", "data-i18n": "manager.bulk.clear", onclick: () => selection.clear() }));
  const scroller = h("div", { class: "grid-scroller" });
  const trashPanel = h("section", { class: "trash-view", id: "trash-view", hidden: true, "aria-live": "polite" });
  const dupesPanel = h("section", { class: "trash-view dupes-view", id: "dupes-view", hidden: true });
  const updatesPanel = h("section", { class: "trash-view updates-view", id: "updates-view", hidden: true });
  const folderTree = h("div", { class: "folder-tree" });
  const baseList = h("div", { class: "filter-list", id: "base-model-filters" });
  const tagList = h("div", { class: "chip-list", id: "tag-filters" });
  const favorites = h("input", { type: "checkbox", id: "favorites-only" });
  const sidebar = h("aside", { class: "sidebar", "data-i18n-attr": "aria-label:manager.filters.label" },
    h("section", { class: "filter-section" }, h("h2", { class: "filter-title", "data-i18n": "library.folder" }), folderTree),
    h("section", { class: "filter-section" }, h("label", { class: "check-row" }, favorites,
      h("span", { "data-i18n": "manager.filters.favorites_only" }))),
    h("section", { class: "filter-section" }, h("h2", { class: "filter-title", "data-i18n": "library.base_model" }), baseList),
    h("section", { class: "filter-section" }, h("h2", { class: "filter-title", "data-i18n": "library.tags" }), tagList),
    h("button", { type: "button", class: "btn btn-ghost", id: "clear-filters", "data-i18n": "manager.filters.clear",
      onclick: () => clearFilters() }));
  const content = h("section", { class: "content" }, toolbar, letterBar, bulkBar, scroller, trashPanel, dupesPanel, updatesPanel);
  root.replaceChildren(h("div", { class: "models-page" }, sidebar, content));
  applyTranslations(root);
  const dupes = mountDuplicatesView(dupesPanel, { base, onOpen: (item) => open(item), onChanged: () => refreshInPlace() });
  const updates = mountUpdatesView(updatesPanel, { base, onOpen: (item) => open(item), onChanged: () => refreshInPlace() });

  const grid = new VirtualGrid({ scroller, source, selection, label: t(`nav.${pageType}`), onOpen: (item) => open(item),
    onSelectAll: () => (selectAll.hidden ? selection.addAll(grid.visibleItems()) : selectAll.click()),
    onRangeGap: (range) => view === "library" && selectRange(`${base}/file-paths`, params(), range, selection, source)
      .catch((err) => toastError(err.message)),
    onMenu: (item, index, { x, y, card }) => openModelMenu({ pageType, item, x, y, returnTo: card,
      onOpen: (it) => open(it), onChanged: () => refreshInPlace() }) });

  // -- data --------------------------------------------------------------------------------------
  function params() {
    const p = new URLSearchParams();
    if (state.search) { p.set("search", state.search); p.set("fuzzy", "true"); }
    p.set("sort_by", state.sort);
    if (state.folder) { p.set("folder", state.folder); p.set("recursive", "true"); }
    for (const name of state.baseModels) p.append("base_model", name);
    for (const tag of state.tags) p.append("tag_include", tag);
    if (state.favorites) p.set("favorites_only", "true");
    if (state.letter) p.set("first_letter", state.letter);
    return p;
  }

  function reload() {
    grid.resetScroll();
    source.reset(params());
    grid.schedule();
  }

  function refreshInPlace() {
    source.refresh(grid.pagesInView());
    loadFacets();
  }

  source.onChange(() => {
    count.textContent = source.total === null ? t("common.loading") : t("library.models_count", { count: source.total });
    selectAll.textContent = t("manager.toolbar.select_all", { count: source.total ?? 0 });
  });

  async function loadFacets() {
    const [bases, tags, tree, letters] = await Promise.allSettled([
      api(`${base}/base-models`, { query: { limit: 0 } }),
      api(`${base}/top-tags`, { query: { limit: 30 } }),
      api(`${base}/folder-tree`),
      api(`${base}/letter-counts`),
    ]);
    if (bases.status === "fulfilled") renderBaseModels(bases.value.base_models || []);
    if (tags.status === "fulfilled") renderTags(tags.value.tags || []);
    if (tree.status === "fulfilled") renderTree(tree.value.tree || {});
    if (letters.status === "fulfilled") renderLetters(letters.value.letter_counts || {});
  }

  // -- filters -----------------------------------------------------------------------------------
  function renderSorts() {
    sortSelect.replaceChildren(...SORTS.map(([value, key]) => h("option", { value, text: t(key), selected: value === state.sort })));
  }

  function renderBaseModels(list) {
    baseList.replaceChildren(...(list.length ? list.map(({ name, count: n }) => {
      const box = h("input", { type: "checkbox", value: name, checked: state.baseModels.has(name),
        onchange: () => { if (box.checked) state.baseModels.add(name); else state.baseModels.delete(name); reload(); } });
      return h("label", { class: "check-row" }, box, h("span", { class: "grow", text: name || t("manager.card.unknown_base") }),
        h("span", { class: "muted", text: String(n) }));
    }) : [h("p", { class: "muted", "data-i18n": "manager.filters.none", text: t("manager.filters.none") })]));
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

  function renderTree(tree) {
    const button = (folder, label, depth) => h("button", {
      type: "button", class: "folder-node", style: `padding-inline-start: ${0.5 + depth * 0.9}rem`,
      "aria-pressed": String(state.folder === folder), dataset: { folder }, text: label,
      onclick: () => {
        state.folder = folder;
        for (const el of folderTree.querySelectorAll(".folder-node")) el.setAttribute("aria-pressed", String(el.dataset.folder === folder));
        reload();
      },
    });
    const nodes = [button("", t("manager.filters.all_folders"), 0)];
    const walk = (node, prefix, depth) => {
      for (const name of Object.keys(node).sort((a, b) => a.localeCompare(b))) {
        const path = prefix ? `${prefix}/${name}` : name;
        nodes.push(button(path, name, depth));
        walk(node[name], path, depth + 1);
      }
    };
    walk(tree, "", 1);
    folderTree.replaceChildren(...nodes);
  }

  function renderLetters(counts) {
    const entries = Object.entries(counts);
    const make = (letter, label, title) => h("button", {
      type: "button", class: "letter", "aria-pressed": String(state.letter === letter), title, text: label,
      dataset: { letter },
      onclick: () => {
        state.letter = state.letter === letter ? "" : letter;
        for (const el of letterBar.querySelectorAll(".letter")) el.setAttribute("aria-pressed", String(el.dataset.letter === state.letter));
        reload();
      },
    });
    letterBar.replaceChildren(make("", t("manager.filters.all"), ""), ...entries.map(([letter, n]) => make(letter, letter, String(n))));
  }

  function clearFilters() {
    Object.assign(state, { search: "", folder: "", favorites: false, letter: "" });
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
  selectVisible.addEventListener("click", () => selection.addAll(grid.visibleItems()));
  selectAll.addEventListener("click", async () => {
    selectAll.disabled = true;
    try { await selectAllMatching(`${base}/file-paths`, params(), selection, source); } catch (err) { toastError(err.message); }
    selectAll.disabled = false;
  });
  rescan.addEventListener("click", async () => {
    rescan.disabled = true;
    try {
      const body = await api(`${base}/scan`);
      toast(body.message || t("manager.toolbar.rescan_done"), { kind: "success" });
      refreshInPlace();
    } catch (err) {
      toastError(err.message);
    } finally {
      rescan.disabled = false;
    }
  });
  fetchAll.addEventListener("click", async () => {
    try {
      const body = await postJson(`${base}/fetch-all-civitai`, {});
      toast(body.message || t("manager.toolbar.fetch_started"), { kind: "success" });
    } catch (err) {
      toastError(err.message);
    }
  });

  // -- example images: the selection when there is one, else every model of this page's type --------
  let examplesJob = null; // id of the run this page started, to report its end
  const endedRuns = new Map(); // job id -> final frame; the frame may arrive before the POST's answer
  function examplesTitle() {
    const text = selection.size ? t("manager.toolbar.download_examples_selected", { count: selection.size })
      : t("manager.toolbar.download_examples_all", { type: t(`nav.${pageType}`) });
    fetchExamples.title = text;
  }
  fetchExamples.addEventListener("click", async () => {
    const paths = selection.paths();
    const request = paths.length ? { file_paths: paths } : { model_types: [MODEL_TYPE[pageType]] };
    fetchExamples.disabled = true;
    try {
      const body = await postJson("/api/lm/download-example-images", request);
      examplesJob = body.job_id || null;
      toast(body.message || t("manager.examples.started"), { kind: "success" });
      if (examplesJob && endedRuns.has(examplesJob)) reportExamplesEnd(endedRuns.get(examplesJob));
    } catch (err) {
      toastError(err.message);
    } finally {
      fetchExamples.disabled = false;
    }
  });

  /** ``example_images_progress`` frames: the job row (with cancel) comes from the job frames. When any run
   * ends, open details re-list their files; the end of a run this page started is also told in a toast. */
  function onExamplesFrame(frame) {
    if (!["completed", "cancelled", "error"].includes(frame.status)) return;
    document.dispatchEvent(new CustomEvent("lm:example-images-changed"));
    if (examplesJob && frame.job_id === examplesJob) {
      reportExamplesEnd(frame);
      return;
    }
    endedRuns.set(frame.job_id, frame);
    for (const key of [...endedRuns.keys()].slice(0, -5)) endedRuns.delete(key);
  }

  function reportExamplesEnd(frame) {
    examplesJob = null;
    const message = frame.message || t(`jobs.${frame.status === "error" ? "failed" : frame.status}`);
    if (frame.status === "error" || frame.failures) toastError(message);
    else toast(message, { kind: "success" });
  }

  // -- selection and bulk actions ----------------------------------------------------------------
  selection.onChange(() => {
    bulkBar.hidden = selection.size === 0;
    bulkCount.textContent = t("manager.bulk.selected", { count: selection.size });
    examplesTitle();
    if (view === "trash") loadTrash();
  });

  async function bulkDelete() {
    const paths = selection.paths();
    if (!paths.length) return;
    if (!(await confirmDialog(t("manager.bulk.confirm_delete", { count: paths.length }), { okLabel: t("common.delete") }))) return;
    try {
      const body = await postJson(`${base}/bulk-delete`, { file_paths: paths });
      selection.clear();
      refreshInPlace();
      const failed = body.failed || [];
      const message = t("manager.bulk.deleted", { count: body.total_deleted ?? paths.length - failed.length });
      toast(failed.length ? `${message} — ${failed[0].error}` : message, {
        kind: failed.length ? "error" : "success",
        action: body.batch_id ? { label: t("common.undo"), run: () => undoDelete(body.batch_id) } : null,
      });
    } catch (err) {
      toastError(err.message);
    }
  }

  const undoDelete = (batchId) => undoBatch(batchId, () => refreshInPlace());

  async function eachSelected(action) {
    const items = [...selection.items.values()];
    let ok = 0;
    const errors = [];
    const queue = [...items];
    const worker = async () => {
      while (queue.length) {
        const item = queue.shift();
        try { await action(item); ok += 1; } catch (err) { errors.push(`${item.model_name || item.file_name}: ${err.message}`); }
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    return { ok, errors };
  }

  function report(doneKey, { ok, errors }) {
    const message = t(doneKey, { count: ok });
    if (errors.length) toastError(`${message} — ${t("manager.bulk.failed", { count: errors.length })}: ${errors[0]}`);
    else toast(message, { kind: "success" });
  }

  async function bulkExclude() {
    const include = view === "excluded";
    const result = await eachSelected((item) => postJson(`${base}/${include ? "unexclude" : "exclude"}`, { file_path: item.file_path }));
    selection.clear();
    refreshInPlace();
    report(include ? "manager.bulk.included" : "manager.bulk.excluded", result);
  }

  // -- views: the library, its excluded models, the trash of undoable deletes -----------------------
  function setView(id) {
    if (!VIEWS.includes(id)) return;
    view = id;
    for (const button of viewButtons) button.setAttribute("aria-pressed", String(button.dataset.view === id));
    const url = new URL(location.href);
    if (id === "library") url.searchParams.delete("view"); else url.searchParams.set("view", id);
    history.replaceState(null, "", url);
    selection.clear();
    const trash = id === "trash";
    const library = id === "library";
    const panel = trash || id === "duplicates" || id === "updates"; // a list of its own instead of the grid
    sidebar.hidden = !library;
    letterBar.hidden = !library;
    scroller.hidden = panel;
    trashPanel.hidden = !trash;
    dupesPanel.hidden = id !== "duplicates";
    updatesPanel.hidden = id !== "updates";
    for (const el of [searchWrap, sortSelect, count, selectVisible]) el.hidden = panel;
    selectAll.hidden = !library; // the filter it answers is the library's
    bulkExcludeButton.textContent = t(id === "excluded" ? "manager.actions.include" : "manager.bulk.exclude");
    bulkExcludeButton.dataset.i18n = id === "excluded" ? "manager.actions.include" : "manager.bulk.exclude";
    if (trash) {
      loadTrash();
      return;
    }
    if (panel) {
      (id === "updates" ? updates : dupes).load();
      return;
    }
    source.url = id === "excluded" ? `${base}/excluded` : `${base}/list`;
    grid.emptyText = () => t(id === "excluded" ? "manager.views.no_excluded" : "library.no_models");
    reload();
  }

  const formatDate = (seconds) => {
    try {
      return new Intl.DateTimeFormat(currentLocale(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(seconds * 1000));
    } catch {
      return new Date(seconds * 1000).toLocaleString();
    }
  };

  async function loadTrash() {
    trashPanel.replaceChildren(h("p", { class: "muted", text: t("common.loading") }));
    let batches = [];
    try {
      batches = (await api("/api/lm/trash")).batches || [];
    } catch (err) {
      trashPanel.replaceChildren(h("p", { class: "form-error", role: "alert", text: err.message }));
      return;
    }
    batches.sort((a, b) => b.created_at - a.created_at);
    if (!batches.length) {
      trashPanel.replaceChildren(h("p", { class: "grid-empty-text muted", id: "trash-empty", text: t("manager.trash.empty") }));
      return;
    }
    trashPanel.replaceChildren(h("p", { class: "muted", text: t("manager.trash.hint") }),
      h("ul", { class: "trash-list", id: "trash-list" }, ...batches.map((batch) => {
        const names = (batch.models || []).map((path) => String(path).split("/").pop());
        const types = (batch.model_types || []).map((type) => t(`manager.trash.type_${type}`)).join(", ");
        const restore = h("button", { type: "button", class: "btn btn-primary trash-restore",
          "aria-label": t("manager.trash.restore_named", { name: names.slice(0, 3).join(", ") }), text: t("manager.trash.restore"),
          onclick: async () => {
            restore.disabled = true;
            if (await undoBatch(batch.batch_id, () => refreshInPlace())) loadTrash();
            else restore.disabled = false;
          } });
        return h("li", { class: "trash-batch", dataset: { batchId: batch.batch_id } },
          h("div", { class: "trash-info" },
            h("div", { class: "trash-models", text: names.join(", ") }),
            h("div", { class: "muted trash-facts", text: t("manager.trash.facts", {
              types, count: batch.file_count, deleted: formatDate(batch.created_at), expires: formatDate(batch.expires_at) }) })),
          restore);
      })));
  }

  async function bulkRefresh() {
    const closeInfo = toast(t("manager.bulk.refreshing", { count: selection.size }), { timeout: 0 });
    const result = await eachSelected((item) => postJson(`${base}/fetch-civitai`, { file_path: item.file_path }));
    closeInfo();
    refreshInPlace();
    report("manager.bulk.refreshed", result);
  }

  async function bulkAddTags() {
    const text = await textDialog({ title: t("manager.bulk.add_tags"), label: t("manager.bulk.tags_label"), id: "bulk-tags-input",
      submitLabel: t("common.save") });
    const tags = (text || "").split(",").map((tag) => tag.trim()).filter(Boolean);
    if (!tags.length) return;
    const result = await eachSelected((item) => postJson(`${base}/add-tags`, { file_path: item.file_path, tags }));
    refreshInPlace();
    report("manager.bulk.tagged", result);
  }

  async function bulkEditTags(kind) {
    const items = [...selection.items.values()];
    const edit = items.length && await TAG_EDITS[kind].ask(items);
    if (!edit) return;
    const result = await bulkTagEdit(base, items.map((i) => i.file_path), edit, selection.items);
    refreshInPlace();
    report(TAG_EDITS[kind].done, result);
  }

  async function bulkBaseModel() {
    const value = await textDialog({ title: t("manager.bulk.base_model"), label: t("manager.bulk.base_model_label"),
      id: "bulk-base-input", submitLabel: t("common.save") });
    if (!value) return;
    const result = await eachSelected((item) => postJson(`${base}/save-metadata`, { file_path: item.file_path, base_model: value }));
    refreshInPlace();
    report("manager.bulk.based", result);
  }

  function bulkMove() {
    const items = [...selection.items.values()];
    if (!items.length) return;
    moveDialog(pageType, items, () => { selection.clear(); refreshInPlace(); });
  }

  function open(item) {
    closeModelMenu();
    openDetails(pageType, item, { onSaved: () => refreshInPlace() });
  }

  // -- lifetime ----------------------------------------------------------------------------------
  renderSorts();
  onLocaleChange(() => {
    renderSorts();
    grid.grid.setAttribute("aria-label", t(`nav.${pageType}`));
    grid.cards = new Map();
    grid.schedule();
    loadFacets();
    source.emit();
    bulkCount.textContent = t("manager.bulk.selected", { count: selection.size });
    examplesTitle();
    if (view === "trash") loadTrash();
    if (view === "duplicates") dupes.load();
    if (view === "updates") updates.load();
  });
  examplesTitle();
  loadFacets();
  if (view === "library") reload(); else setView(view);
  const changed = debounce(() => refreshInPlace(), 300);
  const trashChanged = debounce(() => loadTrash(), 300);
  const dupesChanged = debounce(() => dupes.load(), 300);
  return {
    modelType: MODEL_TYPE[pageType],
    onModelsChanged: (frame) => {
      if (!frame.model_type || frame.model_type === MODEL_TYPE[pageType]) changed();
      if (view === "trash") trashChanged();
      if (view === "duplicates") dupesChanged();
    },
    onFrame: (frame) => {
      if (frame.type === "example_images_progress") onExamplesFrame(frame);
    },
    grid,
    source,
  };
}
