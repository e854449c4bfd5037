// The sidebar panel: type switch, search-as-you-type, filters, the virtualised model list and its actions.
// It is built once and moved into whatever element the sidebar hands it, so search and scroll survive
// closing and reopening the tab.
import { MODEL_TYPES } from "./lm_api.js";
import { VirtualList } from "./lm_list.js";
import { applyToNode, findTarget, nodeTitle } from "./lm_graph.js";
import { blurConfig, isBlurred } from "./lm_nsfw.js";
import { loraSyntax, triggerWords } from "./lm_syntax.js";

export const ROW_HEIGHT = 56;
export const PAGE_SIZE = 100;
export const DRAG_MIME = "application/x-lora-manager-model";
const SEARCH_DELAY_MS = 180;
const VIDEO = /\.(mp4|webm|mov)(\?|&|$)/i;

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "muted") node.muted = true; // the property, so autoplay is allowed
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children.filter(Boolean));
  return node;
}

/** Copy text to the clipboard; falls back to a hidden textarea where the async API is unavailable. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = el("textarea", { style: "position:fixed;left:-9999px;top:0", readonly: "" });
    area.value = text;
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

export class SidebarPanel {
  /**
   * @param {object} deps
   * @param {import("./lm_api.js").LibraryClient} deps.client
   * @param {(key: string, params?: object) => string} deps.t
   * @param {object} deps.app              ComfyUI's app (graph, canvas, extensionManager)
   * @param {(path: string) => string} deps.url   absolute URL of a server path (knows the API base)
   */
  constructor({ client, t, app, url }) {
    Object.assign(this, { client, t, app, url });
    this.state = { type: "loras", search: "", baseModel: "", folder: "", tag: "", favorites: false };
    this.searchTimer = 0;
    this.mounted = false;
    this.nsfw = blurConfig();
    this.revealed = new Set(); // preview URLs the user chose to see
    this.build();
  }

  build() {
    const t = this.t;
    this.typeButtons = MODEL_TYPES.map((type) => el("button", {
      type: "button", class: "lm-type", dataset: { type }, text: t(`nav.${type}`), title: t(`nav.${type}`),
      "aria-pressed": String(type === this.state.type), onclick: () => this.setType(type),
    }));
    this.searchInput = el("input", {
      type: "search", class: "lm-search", placeholder: t("sidebar.search_placeholder"),
      "aria-label": t("common.search"), oninput: () => this.onSearch(),
    });
    this.baseSelect = el("select", { class: "lm-filter-base", "aria-label": t("library.base_model"),
      onchange: (e) => this.setFilter("baseModel", e.target.value) });
    this.folderSelect = el("select", { class: "lm-filter-folder", "aria-label": t("library.folder"),
      onchange: (e) => this.setFilter("folder", e.target.value) });
    this.tagSelect = el("select", { class: "lm-filter-tag", "aria-label": t("library.tags"),
      onchange: (e) => this.setFilter("tag", e.target.value) });
    this.favButton = el("button", {
      type: "button", class: "lm-icon-button lm-filter-fav", title: t("sidebar.favorites_only"),
      "aria-label": t("sidebar.favorites_only"), "aria-pressed": "false", onclick: () => this.toggleFavorites(),
    }, [el("span", { class: "mdi mdi-star-outline", "aria-hidden": "true" })]);
    this.status = el("div", { class: "lm-status", role: "status", "aria-live": "polite" });
    this.message = el("div", { class: "lm-message", role: "status", "aria-live": "polite" });
    this.viewport = el("div", { class: "lm-list", role: "listbox", "aria-label": t("sidebar.title"), tabindex: "0" });
    this.root = el("div", { class: "lm-sidebar" }, [
      el("div", { class: "lm-header" }, [
        el("span", { class: "lm-title", text: t("sidebar.title") }),
        el("button", { type: "button", class: "lm-icon-button lm-refresh", title: t("sidebar.refresh"),
          "aria-label": t("sidebar.refresh"), onclick: () => this.reload() },
        [el("span", { class: "mdi mdi-refresh", "aria-hidden": "true" })]),
        el("button", { type: "button", class: "lm-icon-button lm-open-discover", title: t("manager.discover.sidebar_link"),
          "aria-label": t("manager.discover.sidebar_link"), onclick: () => this.openDiscover() },
        [el("span", { class: "mdi mdi-compass-outline", "aria-hidden": "true" })]),
        el("button", { type: "button", class: "lm-icon-button lm-open-manager", title: t("sidebar.open_manager"),
          "aria-label": t("sidebar.open_manager"), onclick: () => this.openManager() },
        [el("span", { class: "mdi mdi-open-in-new", "aria-hidden": "true" })]),
      ]),
      el("div", { class: "lm-types", role: "group" }, this.typeButtons),
      el("div", { class: "lm-search-row" }, [this.searchInput, this.favButton]),
      el("div", { class: "lm-filters" }, [this.baseSelect, this.folderSelect, this.tagSelect]),
      this.status,
      this.queueLine = el("div", { class: "lm-queue-progress", role: "status", hidden: true }),
      this.viewport,
      el("div", { class: "lm-hint", text: t("sidebar.hint") }),
      this.message,
    ]);
    this.hover = el("div", { class: "lm-sidebar lm-hover-preview", "aria-hidden": "true" });
    this.list = new VirtualList({
      viewport: this.viewport, rowHeight: ROW_HEIGHT, pageSize: PAGE_SIZE,
      fetchPage: (page, signal) => this.client.list(this.state.type, { ...this.state, page, pageSize: PAGE_SIZE }, signal),
      renderRow: (item, index) => this.renderRow(item, index),
      renderPlaceholder: () => el("div", { class: "lm-row lm-placeholder" }, [el("div", { class: "lm-thumb" }),
        el("div", { class: "lm-text" }, [el("div", { class: "lm-name", text: this.t("common.loading") })])]),
      onState: (state) => this.showState(state),
    });
    this.viewport.addEventListener("click", (e) => this.onRowEvent(e, "click"));
    this.viewport.addEventListener("keydown", (e) => e.key === "Enter" && this.onRowEvent(e, "click"));
    this.viewport.addEventListener("dragstart", (e) => this.onDragStart(e));
    this.viewport.addEventListener("mouseover", (e) => this.onHover(e));
    this.viewport.addEventListener("mouseleave", () => this.hideHover());
    this.viewport.addEventListener("scroll", () => this.hideHover(), { passive: true });
  }

  /** Show the panel inside `container` (the sidebar's element); the first time, load the library. */
  mount(container) {
    if (this.root.parentElement !== container) container.replaceChildren(this.root);
    container.style.height = "100%"; // the sidebar hands an unstyled block: let the list fill the panel
    if (!this.hover.isConnected) document.body.appendChild(this.hover);
    if (!this.mounted) {
      this.mounted = true;
      this.pollQueue();
      this.reload();
      this.client.settings().then((settings) => {
        this.nsfw = blurConfig(settings);
        this.list.refresh();
      });
    } else {
      this.list.schedule();
    }
  }

  unmount() {
    this.hideHover();
  }

  reload() {
    this.loadFilters();
    this.list.reset();
  }

  async loadFilters() {
    const type = this.state.type;
    const { baseModels, folders, tags } = await this.client.filters(type);
    if (type !== this.state.type) return;
    const fill = (select, allKey, values, current) => {
      select.replaceChildren(el("option", { value: "", text: this.t(allKey) }),
        ...values.map((v) => el("option", { value: v, text: v })));
      select.value = values.includes(current) ? current : "";
    };
    fill(this.baseSelect, "sidebar.all_base_models", baseModels, this.state.baseModel);
    fill(this.folderSelect, "sidebar.all_folders", folders, this.state.folder);
    fill(this.tagSelect, "sidebar.all_tags", tags, this.state.tag);
  }

  setType(type) {
    if (type === this.state.type) return;
    Object.assign(this.state, { type, baseModel: "", folder: "", tag: "" });
    for (const button of this.typeButtons) button.setAttribute("aria-pressed", String(button.dataset.type === type));
    this.reload();
  }

  setFilter(key, value) {
    this.state[key] = value;
    this.list.reset();
  }

  toggleFavorites() {
    this.state.favorites = !this.state.favorites;
    this.favButton.setAttribute("aria-pressed", String(this.state.favorites));
    this.favButton.firstChild.className = `mdi ${this.state.favorites ? "mdi-star" : "mdi-star-outline"}`;
    this.list.reset();
  }

  onSearch() {
    clearTimeout(this.searchTimer);
    this.searchTimer = setTimeout(() => {
      const value = this.searchInput.value;
      if (value === this.state.search) return;
      this.state.search = value;
      this.list.reset();
    }, SEARCH_DELAY_MS);
  }

  showState({ total, error, loading }) {
    this.root.dataset.loading = String(loading);
    if (error) {
      this.status.replaceChildren(el("span", { class: "lm-error", text: this.t("sidebar.load_failed", { error: error.message }) }),
        el("button", { type: "button", class: "lm-retry", text: this.t("common.retry"), onclick: () => this.reload() }));
      return;
    }
    if (total === null) {
      this.status.textContent = this.t("common.loading");
    } else {
      this.status.textContent = total === 1 ? this.t("sidebar.one_model")
        : total ? this.t("library.models_count", { count: total }) : this.t("library.no_models");
    }
    this.root.dataset.total = String(total ?? "");
  }

  previewSrc(item) {
    return item.preview_url ? this.url(item.preview_url) : "";
  }

  /** A preview that stays blurred: rated at or above the level and not revealed. */
  blurred(item, src) {
    return Boolean(src) && isBlurred(this.nsfw, item.preview_nsfw_level) && !this.revealed.has(src);
  }

  renderRow(item, index) {
    const src = this.previewSrc(item);
    const blur = this.blurred(item, src);
    const thumb = !src ? el("span", { class: "mdi mdi-image-off-outline lm-no-preview", "aria-hidden": "true" })
      : VIDEO.test(src) ? el("video", { src, muted: "", preload: "metadata", playsinline: "" })
        : el("img", { src, alt: "", loading: "lazy", decoding: "async", draggable: "false" });
    const words = triggerWords(item);
    const meta = [item.base_model ? el("span", { class: "lm-base", text: item.base_model }) : null,
      words.length ? el("span", { class: "lm-triggers", title: `${this.t("library.trigger_words")}: ${words.join(", ")}`,
        text: words.join(", ") }) : null];
    return el("div", {
      class: "lm-row", role: "option", tabindex: "-1", draggable: "true",
      title: item.folder ? `${item.folder}/${item.file_name}` : item.file_name,
      dataset: { fileName: item.file_name, index: String(index) },
    }, [
      blur ? el("div", { class: "lm-thumb lm-nsfw", dataset: { action: "reveal" }, title: this.t("manager.nsfw.reveal_label") },
        [thumb, el("span", { class: "mdi mdi-eye-off lm-nsfw-icon", "aria-hidden": "true" })])
        : el("div", { class: "lm-thumb" }, [thumb]),
      el("div", { class: "lm-text" }, [
        el("div", { class: "lm-name", text: item.model_name || item.file_name }),
        el("div", { class: "lm-meta" }, meta),
      ]),
      item.favorite ? el("span", { class: "mdi mdi-star lm-fav", "aria-hidden": "true" }) : null,
      words.length ? el("button", { type: "button", class: "lm-icon-button lm-copy-triggers",
        title: this.t("sidebar.copy_triggers"), "aria-label": this.t("sidebar.copy_triggers"), dataset: { action: "triggers" } },
      [el("span", { class: "mdi mdi-tag-text-outline", "aria-hidden": "true" })]) : null,
    ]);
  }

  itemFromEvent(event) {
    const row = event.target.closest?.(".lm-row:not(.lm-placeholder)");
    if (!row) return null;
    const item = this.list.itemAt(Number(row.dataset.index));
    return item ? { row, item } : null;
  }

  async onRowEvent(event) {
    const hit = this.itemFromEvent(event);
    if (!hit) return;
    event.preventDefault();
    const reveal = event.type === "click" && event.target.closest("[data-action='reveal']");
    if (reveal) { // a click on a blurred thumbnail shows it; it does not add the model
      this.revealed.add(this.previewSrc(hit.item));
      reveal.classList.remove("lm-nsfw");
      reveal.removeAttribute("data-action");
      reveal.querySelector(".lm-nsfw-icon")?.remove();
      this.hover.dataset.src = "";
      return;
    }
    if (event.target.closest("[data-action='triggers']")) {
      const words = triggerWords(hit.item).join(", ");
      this.notify(await copyText(words) ? this.t("sidebar.copied", { text: words }) : this.t("sidebar.copy_failed"));
      return;
    }
    await this.activate(hit.item);
  }

  /** One click: into the selected loader node when there is one, else the syntax to the clipboard. */
  async activate(item) {
    const type = this.state.type;
    const target = findTarget(this.app, type);
    const name = item.model_name || item.file_name;
    if (target) {
      const result = applyToNode(target, item);
      const node = nodeTitle(result.node);
      const key = { added: "sidebar.added_to_node", exists: "sidebar.already_in_node", set: "sidebar.set_on_node",
        missing: "sidebar.not_in_node_list" }[result.status];
      this.notify(this.t(key, { name, node }), result.status === "missing" ? "warn" : "success");
      return result;
    }
    const text = type === "loras" ? loraSyntax(item) : type === "embeddings" ? `embedding:${item.file_name}`
      : item.file_name;
    const copied = await copyText(text);
    this.notify(copied ? this.t("sidebar.copied", { text }) : this.t("sidebar.copy_failed"), copied ? "success" : "error");
    return { status: copied ? "copied" : "copy_failed", text };
  }

  notify(text, severity = "success") {
    this.message.textContent = text;
    this.message.dataset.severity = severity;
    this.app?.extensionManager?.toast?.add?.({ severity, summary: this.t("sidebar.title"), detail: text, life: 2500 });
  }

  onDragStart(event) {
    const hit = this.itemFromEvent(event);
    if (!hit || this.state.type !== "loras") {
      if (hit) event.dataTransfer.setData("text/plain", hit.item.file_name);
      return;
    }
    this.hideHover();
    event.dataTransfer.effectAllowed = "copy";
    event.dataTransfer.setData(DRAG_MIME, JSON.stringify(hit.item));
    event.dataTransfer.setData("text/plain", loraSyntax(hit.item));
  }

  onHover(event) {
    const hit = this.itemFromEvent(event);
    const src = hit && this.previewSrc(hit.item);
    if (!src) {
      this.hideHover();
      return;
    }
    if (this.hover.dataset.src !== src) {
      this.hover.dataset.src = src;
      const media = VIDEO.test(src) ? el("video", { src, muted: "", autoplay: "", loop: "", playsinline: "" })
        : el("img", { src, alt: "" });
      if (this.blurred(hit.item, src)) media.classList.add("lm-nsfw");
      const words = triggerWords(hit.item);
      this.hover.replaceChildren(media, el("div", { class: "lm-hover-name", text: hit.item.model_name || hit.item.file_name }),
        words.length ? el("div", { class: "lm-hover-triggers", text: words.join(", ") }) : "");
    }
    const rect = hit.row.getBoundingClientRect();
    const width = 260;
    const left = rect.right + 8 + width < window.innerWidth ? rect.right + 8 : Math.max(8, rect.left - width - 8);
    const top = Math.min(Math.max(8, rect.top - 40), window.innerHeight - 340);
    Object.assign(this.hover.style, { left: `${left}px`, top: `${Math.max(8, top)}px`, width: `${width}px` });
    this.hover.classList.add("lm-visible");
  }

  hideHover() {
    this.hover.classList.remove("lm-visible");
  }

  openDiscover() {
    window.open(this.url("/discover"), "_blank", "noopener");
  }

  /** The whole download queue's progress ("Downloads 42% (2)"), polled every few seconds while ComfyUI runs. */
  async pollQueue() {
    try {
      const body = await this.client.json("/lm/downloads/queue");
      const active = (body.queue || []).filter((row) => ["downloading", "queued", "waiting", "paused"].includes(row.status));
      if (active.length) {
        const percent = Math.round(active.reduce((sum, row) => sum + (Number(row.progress) || 0), 0) / active.length);
        this.queueLine.textContent = `${this.t("nav.downloads")} ${percent}% (${active.length})`;
      }
      this.queueLine.hidden = !active.length;
    } catch { /* the sidebar works without the queue line */ }
    setTimeout(() => this.pollQueue(), 4000);
  }

  openManager() {
    window.open(this.url(`/${this.state.type}`), "_blank", "noopener");
  }
}
