// The set of selected models (by file path), shared by the grid and the bulk bar.

export class Selection {
  constructor() {
    this.items = new Map(); // file_path -> list item
    this.anchor = null; // index of the last plain toggle, for Shift ranges
    this.listeners = new Set();
  }

  onChange(fn) {
    this.listeners.add(fn);
  }

  emit() {
    for (const fn of this.listeners) fn(this);
  }

  get size() {
    return this.items.size;
  }

  has(path) {
    return this.items.has(path);
  }

  toggle(item, index) {
    if (this.items.has(item.file_path)) this.items.delete(item.file_path);
    else this.items.set(item.file_path, item);
    this.anchor = index;
    this.emit();
  }

  /** Add every loaded item between the anchor and ``index`` (inclusive). Returns the range {low, high} when
   * some of it is not loaded (the page may fetch the rest), else null. */
  extendTo(index, itemAt) {
    const from = this.anchor ?? index;
    const [low, high] = from <= index ? [from, index] : [index, from];
    let missing = 0;
    for (let i = low; i <= high; i += 1) {
      const item = itemAt(i);
      if (item) this.items.set(item.file_path, item);
      else missing += 1;
    }
    this.emit();
    return missing ? { low, high } : null;
  }

  addAll(items) {
    for (const item of items) this.items.set(item.file_path, item);
    this.emit();
  }

  clear() {
    if (!this.items.size) return;
    this.items.clear();
    this.anchor = null;
    this.emit();
  }

  paths() {
    return [...this.items.keys()];
  }
}
