// Virtual model grid: fixed-size cards in fixed-height rows; only the rows in view (±1 screen) are in the DOM.
import { h, isVideoUrl } from "./dom.js";
import { t } from "./i18n.js";
import { applyBlur } from "./nsfw.js";

export const CARD_WIDTH = 200;
export const CARD_HEIGHT = 290;
export const GAP = 12;
export const ROW_HEIGHT = CARD_HEIGHT + GAP;
const PADDING = 16;

export class VirtualGrid {
  /** ``source`` is a ModelSource; ``onOpen(item, index)`` opens details. ``renderCard(item, index)`` and
   * ``itemKey(item)`` let another page (recipes) draw its own cards in the same grid; ``emptyText`` is shown
   * when the listing is empty. */
  constructor({ scroller, source, selection, onOpen, onMenu, onSelectAll, onRangeGap, label, renderCard, itemKey, emptyText }) {
    this.scroller = scroller;
    this.renderCard = renderCard || ((item, index) => this.card(item, index));
    this.itemKey = itemKey || ((item) => `${item.file_path}|${item.modified}|${item.model_name}|${item.favorite}|${item.preview_url}|${item.preview_nsfw_level}|${item.exclude}`);
    this.emptyText = emptyText || (() => t("library.no_models"));
    this.source = source;
    this.selection = selection;
    this.onOpen = onOpen;
    this.onMenu = onMenu || null; // (item, index, {x, y, card}): the card's context menu
    this.onSelectAll = onSelectAll || null; // Ctrl+A: the page may select its whole filter, not only the loaded cards
    this.onRangeGap = onRangeGap || null; // ({low, high}): a Shift range ran over cards that are not loaded
    this.spacer = h("div", { class: "grid-spacer" });
    this.grid = h("div", {
      class: "models-grid", role: "listbox", "aria-multiselectable": "true", "aria-label": label || "",
    });
    this.empty = h("div", { class: "grid-empty", hidden: true });
    this.spacer.append(this.grid);
    scroller.append(this.spacer, this.empty);
    this.cols = 1;
    this.cards = new Map(); // index -> {el, key}
    this.focusIndex = 0;
    this.frame = 0;
    this.range = [0, 0];
    scroller.addEventListener("scroll", () => this.schedule(), { passive: true });
    new ResizeObserver(() => this.schedule()).observe(scroller);
    source.onChange(() => this.schedule());
    selection.onChange(() => this.refreshSelection());
    this.grid.addEventListener("click", (event) => this.onClick(event));
    this.grid.addEventListener("keydown", (event) => this.onKey(event));
    this.grid.addEventListener("contextmenu", (event) => this.onContextMenu(event));
    this.grid.addEventListener("focusin", (event) => {
      const card = event.target.closest(".model-card");
      if (card) this.focusIndex = Number(card.dataset.index);
    });
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  /** Draw the rows in view now (also used before moving focus to a card that was not drawn yet). */
  render() {
    const total = this.source.total ?? 0;
    const width = this.scroller.clientWidth - PADDING * 2;
    this.cols = Math.max(1, Math.floor((width + GAP) / (CARD_WIDTH + GAP)));
    const rows = Math.ceil(total / this.cols);
    this.spacer.style.height = `${rows * ROW_HEIGHT + PADDING * 2}px`;
    this.grid.style.gridTemplateColumns = `repeat(${this.cols}, ${CARD_WIDTH}px)`;
    const view = this.scroller.clientHeight || 600;
    const top = Math.max(0, this.scroller.scrollTop - PADDING);
    const screenRows = Math.ceil(view / ROW_HEIGHT);
    const firstRow = Math.max(0, Math.floor(top / ROW_HEIGHT) - screenRows);
    const lastRow = Math.min(rows - 1, Math.floor((top + view) / ROW_HEIGHT) + screenRows);
    const start = firstRow * this.cols;
    const end = Math.min(total, (lastRow + 1) * this.cols);
    this.range = [start, end];
    this.grid.style.transform = `translateY(${firstRow * ROW_HEIGHT}px)`;
    if (this.source.total === null) {
      this.drawSkeletons(Math.max(1, this.cols * Math.max(2, screenRows)));
      return;
    }
    if (end > start) this.source.ensure(start, end);
    const keep = new Map();
    const children = [];
    for (let index = start; index < end; index += 1) {
      const item = this.source.item(index);
      const key = item ? this.itemKey(item) : "skeleton";
      let entry = this.cards.get(index);
      if (!entry || entry.key !== key) entry = { el: item ? this.renderCard(item, index) : skeleton(index), key };
      keep.set(index, entry);
      children.push(entry.el);
    }
    this.cards = keep;
    patchChildren(this.grid, children);
    this.refreshSelection();
    const showEmpty = total === 0 && !this.source.error;
    this.empty.hidden = !showEmpty && !this.source.error;
    this.empty.textContent = this.source.error ? this.source.error.message : this.emptyText();
    this.empty.classList.toggle("grid-error", Boolean(this.source.error));
  }

  drawSkeletons(count) {
    this.spacer.style.height = `${Math.ceil(count / this.cols) * ROW_HEIGHT + PADDING * 2}px`;
    this.cards = new Map();
    this.grid.replaceChildren(...Array.from({ length: count }, (_, i) => skeleton(i)));
    this.empty.hidden = true;
  }

  card(item, index) {
    const name = item.model_name || item.file_name;
    const media = h("div", { class: "card-media" });
    if (item.preview_url && isVideoUrl(item.preview_url)) {
      media.append(h("video", { src: item.preview_url, muted: true, loop: true, playsInline: true, autoplay: true,
        preload: "metadata", "aria-hidden": "true" }));
    } else if (item.preview_url) {
      media.append(h("img", { src: item.preview_url, alt: "", loading: "lazy", decoding: "async", draggable: "false" }));
    } else {
      media.append(h("div", { class: "no-preview", "aria-hidden": "true", text: (name || "?").slice(0, 1).toUpperCase() }));
    }
    if (item.preview_url) applyBlur(media, item.preview_nsfw_level, item.preview_url, { focusable: false });
    const badges = h("div", { class: "card-badges" });
    if (item.favorite) badges.append(h("span", { class: "badge badge-favorite", title: t("manager.card.favorite"), text: "★" }));
    if (item.status && item.status !== "ok") {
      badges.append(h("span", { class: "badge badge-invalid", title: item.status_reason || t("manager.card.invalid"),
        text: t("manager.card.invalid") }));
    }
    if (item.hash_status === "pending") badges.append(h("span", { class: "badge badge-pending", text: t("manager.card.hash_pending") }));
    if (item.update_available) badges.append(h("span", { class: "badge badge-update", text: t("manager.card.update") }));
    const check = h("button", { type: "button", class: "card-select", tabindex: "-1", "aria-label": t("manager.card.select"),
      dataset: { action: "select" }, text: "✓" });
    const more = this.onMenu ? h("button", { type: "button", class: "card-menu", tabindex: "-1", "aria-haspopup": "menu",
      "aria-label": t("manager.actions.more"), title: t("manager.actions.more"), dataset: { action: "menu" }, text: "⋯" }) : null;
    const el = h("div", {
      class: "model-card", role: "option", tabindex: "-1", "aria-selected": "false", "aria-label": name,
      dataset: { index: String(index), filePath: item.file_path },
    }, media, badges, check, more, h("div", { class: "card-meta" },
      h("div", { class: "card-name", title: name, text: name }),
      h("div", { class: "card-base", text: item.base_model || t("manager.card.unknown_base") })));
    return el;
  }

  refreshSelection() {
    for (const [index, { el }] of this.cards) {
      const item = this.source.item(index);
      const selected = Boolean(item && this.selection.has(item.file_path));
      el.setAttribute("aria-selected", String(selected));
      el.classList.toggle("selected", selected);
      el.tabIndex = index === this.focusIndex ? 0 : -1;
    }
    if (![...this.cards.keys()].includes(this.focusIndex)) {
      const first = this.cards.get(this.range[0]);
      if (first) first.el.tabIndex = 0;
    }
  }

  /** Items drawn right now (for "select all visible"). */
  visibleItems() {
    const top = this.scroller.scrollTop;
    const bottom = top + this.scroller.clientHeight;
    const items = [];
    for (const [index] of this.cards) {
      const rowTop = PADDING + Math.floor(index / this.cols) * ROW_HEIGHT;
      const item = this.source.item(index);
      if (item && rowTop + CARD_HEIGHT > top && rowTop < bottom) items.push(item);
    }
    return items;
  }

  onClick(event) {
    const card = event.target.closest(".model-card");
    if (!card || card.classList.contains("skeleton")) return;
    const index = Number(card.dataset.index);
    const item = this.source.item(index);
    if (!item) return;
    this.focusIndex = index;
    if (this.onMenu && event.target.closest("[data-action='menu']")) {
      const box = event.target.closest("[data-action='menu']").getBoundingClientRect();
      this.onMenu(item, index, { x: box.left, y: box.bottom + 2, card });
      return;
    }
    if (event.shiftKey) {
      this.extendSelection(index);
    } else if (event.ctrlKey || event.metaKey || event.target.closest("[data-action='select']") || this.selection.size) {
      this.selection.toggle(item, index);
    } else {
      this.selection.anchor = index;
      this.onOpen(item, index);
    }
  }

  extendSelection(index) {
    const gap = this.selection.extendTo(index, (i) => this.source.item(i));
    if (gap && this.onRangeGap) this.onRangeGap(gap);
  }

  onContextMenu(event) {
    if (!this.onMenu) return;
    const card = event.target.closest(".model-card");
    if (!card || card.classList.contains("skeleton")) return;
    const index = Number(card.dataset.index);
    const item = this.source.item(index);
    if (!item) return;
    event.preventDefault();
    this.focusIndex = index;
    let { clientX: x, clientY: y } = event;
    if (!x && !y) { // from the keyboard: under the card's top-left corner
      const box = card.getBoundingClientRect();
      x = box.left + 12;
      y = box.top + 40;
    }
    this.onMenu(item, index, { x, y, card });
  }

  onKey(event) {
    const card = event.target.closest(".model-card");
    if (!card) return;
    const index = Number(card.dataset.index);
    if (this.onMenu && (event.key === "ContextMenu" || (event.key === "F10" && event.shiftKey))) {
      event.preventDefault();
      const item = this.source.item(index);
      if (!item) return;
      const box = card.getBoundingClientRect();
      this.onMenu(item, index, { x: box.left + 12, y: box.top + 40, card });
      return;
    }
    const total = this.source.total ?? 0;
    const pageRows = Math.max(1, Math.floor(this.scroller.clientHeight / ROW_HEIGHT));
    const moves = {
      ArrowRight: 1, ArrowLeft: -1, ArrowDown: this.cols, ArrowUp: -this.cols,
      PageDown: this.cols * pageRows, PageUp: -this.cols * pageRows,
    };
    let target = null;
    if (event.key in moves) target = index + moves[event.key];
    else if (event.key === "Home") target = 0;
    else if (event.key === "End") target = total - 1;
    else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      const item = this.source.item(index);
      if (!item) return;
      if (event.ctrlKey || event.metaKey) this.selection.toggle(item, index);
      else if (event.shiftKey) this.extendSelection(index);
      else this.onOpen(item, index);
      return;
    } else if (event.key === "a" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      if (this.onSelectAll) this.onSelectAll();
      else this.selection.addAll(this.visibleItems());
      return;
    } else if (event.key === "Escape" && this.selection.size) {
      this.selection.clear();
      return;
    }
    if (target === null) return;
    event.preventDefault();
    this.focusAt(Math.max(0, Math.min(total - 1, target)));
  }

  /** Scroll the card at ``index`` into view, draw it and focus it. */
  focusAt(index) {
    if (index < 0) return;
    const row = Math.floor(index / this.cols);
    const rowTop = PADDING + row * ROW_HEIGHT;
    const view = this.scroller.clientHeight;
    if (rowTop < this.scroller.scrollTop) this.scroller.scrollTop = rowTop - PADDING;
    else if (rowTop + CARD_HEIGHT > this.scroller.scrollTop + view) this.scroller.scrollTop = rowTop + CARD_HEIGHT - view + PADDING;
    this.focusIndex = index;
    this.render();
    const entry = this.cards.get(index);
    if (entry) {
      entry.el.tabIndex = 0;
      entry.el.focus({ preventScroll: true });
    }
  }

  /** Back to the top (after a new search or filter). */
  resetScroll() {
    this.scroller.scrollTop = 0;
    this.focusIndex = 0;
    this.cards = new Map();
  }

  /** The 0-based page numbers drawn now, to refresh them in place. */
  pagesInView() {
    const [start, end] = this.range;
    const pages = new Set();
    for (let i = start; i < end; i += 100) pages.add(Math.floor(i / 100));
    if (end > start) pages.add(Math.floor((end - 1) / 100));
    return [...pages];
  }
}

/** Make ``parent``'s children equal ``wanted`` without moving the nodes that stay (a moved node loses focus). */
function patchChildren(parent, wanted) {
  const keep = new Set(wanted);
  for (const child of [...parent.children]) if (!keep.has(child)) child.remove();
  let cursor = parent.firstElementChild;
  for (const node of wanted) {
    if (node === cursor) cursor = cursor.nextElementSibling;
    else parent.insertBefore(node, cursor);
  }
}

function skeleton(index) {
  return h("div", { class: "model-card skeleton", role: "option", "aria-busy": "true", "aria-selected": "false",
    "aria-label": t("common.loading"), tabindex: "-1", dataset: { index: String(index) } },
  h("div", { class: "card-media" }), h("div", { class: "card-meta" },
    h("div", { class: "skeleton-line" }), h("div", { class: "skeleton-line short" })));
}
