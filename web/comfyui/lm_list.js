// A virtualised list over a paged source: fixed row height, only the visible rows (plus a few) in the DOM,
// pages fetched as they scroll into view and dropped again when far away, so 100k models stay cheap.

const OVERSCAN = 6;
const MAX_CACHED_PAGES = 12;

export class VirtualList {
  /**
   * @param {object} options
   * @param {HTMLElement} options.viewport   the scrolling element (its height is set by CSS)
   * @param {number} options.rowHeight       fixed row height in pixels
   * @param {number} options.pageSize        items per fetched page
   * @param {(page: number, signal: AbortSignal) => Promise<{items: any[], total: number}>} options.fetchPage
   * @param {(item: any, index: number) => HTMLElement} options.renderRow
   * @param {(index: number) => HTMLElement} options.renderPlaceholder
   * @param {(state: {total: number|null, error: Error|null, loading: boolean}) => void} [options.onState]
   */
  constructor({ viewport, rowHeight, pageSize, fetchPage, renderRow, renderPlaceholder, onState = () => {} }) {
    Object.assign(this, { viewport, rowHeight, pageSize, fetchPage, renderRow, renderPlaceholder, onState });
    this.spacer = document.createElement("div");
    this.spacer.className = "lm-list-spacer";
    this.viewport.replaceChildren(this.spacer);
    this.rows = new Map(); // index -> element
    this.pages = new Map(); // page number -> items
    this.loading = new Set();
    this.total = null;
    this.error = null;
    this.generation = 0;
    this.controller = new AbortController();
    this.frame = 0;
    this.viewport.addEventListener("scroll", () => this.schedule(), { passive: true });
    if (typeof ResizeObserver === "function") {
      this.resizeObserver = new ResizeObserver(() => this.schedule());
      this.resizeObserver.observe(this.viewport);
    }
  }

  /** Forget every page (a new search or filter) and start again from the top. */
  reset() {
    this.generation += 1;
    this.controller.abort();
    this.controller = new AbortController();
    this.pages.clear();
    this.loading.clear();
    this.total = null;
    this.error = null;
    for (const row of this.rows.values()) row.remove();
    this.rows.clear();
    this.viewport.scrollTop = 0;
    this.spacer.style.height = "0px";
    this.load(1);
  }

  /** The item at `index`, when its page is loaded. */
  itemAt(index) {
    const page = this.pages.get(Math.floor(index / this.pageSize) + 1);
    return page ? page[index % this.pageSize] : undefined;
  }

  /** Re-render the visible rows on the next animation frame (at most once per frame). */
  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  /** Re-draw the rows in view from already loaded data (after an item changed in place). */
  refresh() {
    for (const row of this.rows.values()) row.remove();
    this.rows.clear();
    this.render();
  }

  async load(page) {
    if (this.pages.has(page) || this.loading.has(page)) return;
    const generation = this.generation;
    this.loading.add(page);
    this.emit();
    try {
      const body = await this.fetchPage(page, this.controller.signal);
      if (generation !== this.generation) return;
      this.pages.set(page, body.items || []);
      this.total = Number(body.total) || 0;
      this.error = null;
      this.evict(page);
    } catch (error) {
      if (generation !== this.generation || error?.name === "AbortError") return;
      this.error = error;
    } finally {
      if (generation === this.generation) {
        this.loading.delete(page);
        this.spacer.style.height = `${(this.total || 0) * this.rowHeight}px`;
        this.emit();
        // rows that were placeholders for this page are redrawn with their items
        const first = (page - 1) * this.pageSize;
        for (const [index, row] of this.rows) {
          if (index >= first && index < first + this.pageSize) {
            row.remove();
            this.rows.delete(index);
          }
        }
        this.render();
      }
    }
  }

  /** Keep memory bounded while scrolling through a huge library: drop the pages farthest from `near`. */
  evict(near) {
    if (this.pages.size <= MAX_CACHED_PAGES) return;
    const byDistance = [...this.pages.keys()].sort((a, b) => Math.abs(b - near) - Math.abs(a - near));
    for (const page of byDistance.slice(0, this.pages.size - MAX_CACHED_PAGES)) this.pages.delete(page);
  }

  emit() {
    this.onState({ total: this.total, error: this.error, loading: this.loading.size > 0 });
  }

  /** The index range the viewport shows, with some rows of overscan either side. */
  visibleRange() {
    const height = this.viewport.clientHeight;
    const count = this.total || 0;
    if (!height || !count) return [0, -1];
    const first = Math.max(0, Math.floor(this.viewport.scrollTop / this.rowHeight) - OVERSCAN);
    const last = Math.min(count - 1, Math.ceil((this.viewport.scrollTop + height) / this.rowHeight) + OVERSCAN);
    return [first, last];
  }

  render() {
    const [first, last] = this.visibleRange();
    for (const [index, row] of this.rows) {
      if (index < first || index > last) {
        row.remove();
        this.rows.delete(index);
      }
    }
    if (this.error) return;
    for (let index = first; index <= last; index += 1) {
      if (this.rows.has(index)) continue;
      const item = this.itemAt(index);
      if (item === undefined) this.load(Math.floor(index / this.pageSize) + 1);
      const row = item === undefined ? this.renderPlaceholder(index) : this.renderRow(item, index);
      row.style.position = "absolute";
      row.style.top = `${index * this.rowHeight}px`;
      row.style.height = `${this.rowHeight}px`;
      row.dataset.index = String(index);
      this.rows.set(index, row);
      this.viewport.appendChild(row);
    }
  }

  destroy() {
    this.controller.abort();
    this.resizeObserver?.disconnect();
    if (this.frame) cancelAnimationFrame(this.frame);
  }
}
