// The library API the sidebar reads (/api/lm/{type}/...), over a fetch function that knows ComfyUI's API base.

export const MODEL_TYPES = ["loras", "checkpoints", "embeddings"];

/** The query string of one list page; empty filters are left out. */
export function listQuery({ search = "", page = 1, pageSize = 100, baseModel = "", folder = "", tag = "",
  favorites = false } = {}) {
  const params = new URLSearchParams({ page: String(page), page_size: String(pageSize), sort_by: "name" });
  if (search.trim()) {
    params.set("search", search.trim());
    params.set("fuzzy", "true");
  }
  if (baseModel) params.set("base_model", baseModel);
  if (folder) {
    params.set("folder", folder);
    params.set("recursive", "true");
  }
  if (tag) params.set("tag_include", tag);
  if (favorites) params.set("favorites_only", "true");
  return params.toString();
}

export class LibraryClient {
  /** `fetchApi(route, options)` prefixes `/api` the way ComfyUI's `api.fetchApi` does. */
  constructor(fetchApi) {
    this.fetchApi = fetchApi;
  }

  /** The JSON body of a GET; a non-2xx answer or `success: false` becomes an Error with the server's message. */
  async json(route, { signal } = {}) {
    const response = await this.fetchApi(route, { signal, headers: { Accept: "application/json" } });
    let body;
    try {
      body = await response.json();
    } catch {
      throw new Error(`HTTP ${response.status} ${response.statusText || ""}`.trim());
    }
    if (!response.ok || body?.success === false) {
      throw new Error(body?.error || `HTTP ${response.status}`);
    }
    return body;
  }

  /** One page of models: `{items, total, page, total_pages}`. */
  list(type, filters, signal) {
    return this.json(`/lm/${type}/list?${listQuery(filters)}`, { signal });
  }

  /** The manager's settings (for the NSFW blur); none when they cannot be read. */
  settings() {
    return this.json("/lm/settings").then((body) => body.settings || {}, () => ({}));
  }

  /** Base models, folders and top tags for the filter menus; a list that cannot be loaded is empty. */
  async filters(type) {
    const safe = (promise, pick) => promise.then(pick, () => []);
    const [baseModels, folders, tags] = await Promise.all([
      safe(this.json(`/lm/${type}/base-models?limit=100`), (b) => (b.base_models || []).map((m) => m.name)),
      safe(this.json(`/lm/${type}/folders`), (b) => (b.folders || []).filter(Boolean)),
      safe(this.json(`/lm/${type}/top-tags?limit=100`), (b) => (b.tags || []).map((t) => t.tag)),
    ]);
    return { baseModels, folders, tags };
  }
}
