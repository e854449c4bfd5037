// Pages of a model listing, fetched on demand and cached: the grid asks for indices, not for pages.
import { api } from "./api.js";

export const PAGE_SIZE = 100;
const MAX_CACHED_PAGES = 40;

export class ModelSource {
  /** ``url`` is the list endpoint (default ``/api/lm/{pageType}/list``; the recipes page passes its own). */
  constructor(pageType, { url } = {}) {
    this.pageType = pageType;
    this.url = url || `/api/lm/${pageType}/list`;
    this.params = new URLSearchParams();
    this.total = null;
    this.pages = new Map(); // page number (0-based) -> items
    this.pending = new Map(); // page number -> promise
    this.generation = 0;
    this.error = null;
    this.listeners = new Set();
  }

  onChange(fn) {
    this.listeners.add(fn);
  }

  emit() {
    for (const fn of this.listeners) fn();
  }

  /** New query parameters: forget every page and learn the new total from page 0. */
  reset(params = this.params) {
    this.params = new URLSearchParams(params);
    this.generation += 1;
    this.pages.clear();
    this.pending.clear();
    this.total = null;
    this.error = null;
    return this.load(0);
  }

  /** Re-read the pages in view without dropping what is shown (after models_changed). */
  refresh(keep = []) {
    this.generation += 1;
    const keepPages = new Set(keep);
    const old = this.pages;
    this.pages = new Map([...old].filter(([page]) => keepPages.has(page)));
    this.pending.clear();
    return Promise.all([0, ...keepPages].map((page) => this.load(page, true)));
  }

  item(index) {
    const page = this.pages.get(Math.floor(index / PAGE_SIZE));
    return page ? page[index % PAGE_SIZE] : undefined;
  }

  /** Ask for the pages covering [start, end); resolves when they are loaded. */
  ensure(start, end) {
    const jobs = [];
    const last = this.total === null ? start : Math.min(end, this.total) - 1;
    for (let page = Math.floor(start / PAGE_SIZE); page <= Math.floor(Math.max(last, start) / PAGE_SIZE); page += 1) {
      if (!this.pages.has(page)) jobs.push(this.load(page));
    }
    this.evict(Math.floor(start / PAGE_SIZE));
    return Promise.all(jobs);
  }

  evict(center) {
    if (this.pages.size <= MAX_CACHED_PAGES) return;
    const far = [...this.pages.keys()].sort((a, b) => Math.abs(b - center) - Math.abs(a - center));
    for (const page of far.slice(0, this.pages.size - MAX_CACHED_PAGES)) this.pages.delete(page);
  }

  load(page, force = false) {
    if (!force && this.pending.has(page)) return this.pending.get(page);
    const generation = this.generation;
    const query = new URLSearchParams(this.params);
    query.set("page", String(page + 1));
    query.set("page_size", String(PAGE_SIZE));
    const promise = api(this.url, { query })
      .then((body) => {
        if (generation !== this.generation) return;
        this.total = Number(body.total) || 0;
        this.scanning = Boolean(body.scan_in_progress);
        this.pages.set(page, body.items || []);
        this.error = null;
      })
      .catch((err) => {
        if (generation !== this.generation) return;
        this.error = err;
        if (this.total === null) this.total = 0;
      })
      .finally(() => {
        if (this.pending.get(page) === promise) this.pending.delete(page);
        if (generation === this.generation) this.emit();
      });
    this.pending.set(page, promise);
    return promise;
  }
}
