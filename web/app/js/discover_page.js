// The Discover page (/discover): search Civitai's catalog through GET /api/lm/discover/models, each card badged
// installed / outdated / new, with "load more" cursor paging and one-click download into the existing queue.
import { api, postJson } from "./api.js";
import { debounce, h } from "./dom.js";
import { t } from "./i18n.js";
import { applyBlur } from "./nsfw.js";
import { toastError } from "./toast.js";

const TYPES = ["lora", "locon", "dora", "checkpoint", "textualinversion"];
const SORTS = ["Most Downloaded", "Highest Rated", "Newest"];
const PERIODS = ["AllTime", "Year", "Month", "Week", "Day"];
const NSFW = ["none", "soft", "mature", "x"];
const MODEL_TYPE = { lora: "lora", locon: "lora", dora: "lora", checkpoint: "checkpoint", textualinversion: "embedding" };

function select(id, values, label) {
  return h("label", { class: "field" }, h("span", { text: label }),
    h("select", { id }, ...values.map((v) => h("option", { value: v, text: t(`manager.discover.option.${v}`) }))));
}

function newDownloadId() {
  return `dl-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

export function mountDiscoverPage(main) {
  const search = h("input", { id: "discover-query", type: "search", maxlength: "200",
    "aria-label": t("manager.discover.search"), placeholder: t("manager.discover.search") });
  const base = h("input", { id: "discover-base", type: "text", maxlength: "60", placeholder: t("manager.discover.base_model") });
  const folder = h("input", { id: "discover-folder", type: "text", maxlength: "200", placeholder: t("manager.discover.folder") });
  const results = h("div", { class: "discover-results", id: "discover-results", role: "list" });
  const more = h("button", { type: "button", class: "btn", id: "discover-more", hidden: true, text: t("manager.discover.load_more") });
  const status = h("p", { class: "muted", id: "discover-status", role: "status" });
  const form = h("form", { class: "discover-filters row", role: "search" },
    search, select("discover-type", TYPES, t("manager.discover.type")),
    h("label", { class: "field" }, h("span", { text: t("manager.discover.base_model") }), base),
    select("discover-sort", SORTS, t("manager.discover.sort")),
    select("discover-period", PERIODS, t("manager.discover.period")),
    select("discover-nsfw", NSFW, t("manager.discover.nsfw")),
    h("label", { class: "field" }, h("span", { text: t("manager.discover.folder") }), folder),
    h("button", { type: "submit", class: "btn primary", id: "discover-go", text: t("manager.discover.go") }));
  main.replaceChildren(h("h1", { text: t("nav.discover") }), form, status, results, more);
  let cursor = null;
  let seq = 0;

  function params() {
    const out = { types: form.querySelector("#discover-type").value, sort: form.querySelector("#discover-sort").value,
      period: form.querySelector("#discover-period").value, nsfw: form.querySelector("#discover-nsfw").value, limit: "20" };
    if (search.value.trim()) out.query = search.value.trim();
    if (base.value.trim()) out.baseModels = base.value.trim();
    return out;
  }

  async function download(model, version, button) {
    button.disabled = true;
    const request = { download_id: newDownloadId(), model_id: model.id, model_version_id: version.id,
      use_default_paths: !folder.value.trim() };
    if (folder.value.trim()) request.relative_path = folder.value.trim().replace(/^\/+|\/+$/g, "");
    try {
      await postJson("/api/lm/download-model", request);
      button.textContent = t("manager.discover.queued");
    } catch (err) {
      button.disabled = false;
      toastError(err.message);
    }
  }

  function card(model) {
    const version = model.versions[0];
    const media = h("div", { class: "discover-media" });
    if (version && version.previewUrl) {
      media.append(h("img", { src: version.previewUrl, alt: "", loading: "lazy" }));
      applyBlur(media, version.previewNsfwLevel, version.previewUrl);
    }
    const badge = h("span", { class: `badge badge-${model.libraryStatus}`, dataset: { status: model.libraryStatus },
      text: t(`manager.discover.status.${model.libraryStatus}`) });
    const button = h("button", { type: "button", class: "btn discover-download", text: t("manager.discover.download") });
    if (!version || model.libraryStatus === "installed" || !MODEL_TYPE[String(model.type).toLowerCase()]) button.disabled = true;
    button.addEventListener("click", () => download(model, version, button));
    return h("article", { class: "discover-card", role: "listitem", dataset: { modelId: String(model.id) } },
      media, h("h2", { text: model.name }), badge,
      h("p", { class: "muted", text: [model.type, version && version.baseModel, model.creator].filter(Boolean).join(" · ") }),
      button);
  }

  async function load(append) {
    const mine = ++seq;
    const query = params();
    if (append && cursor) query.cursor = cursor;
    status.textContent = t("manager.discover.loading");
    try {
      const body = await api("/api/lm/discover/models", { query });
      if (mine !== seq) return;
      if (!append) results.replaceChildren();
      results.append(...body.models.map(card));
      cursor = body.nextCursor;
      more.hidden = !cursor;
      status.textContent = results.children.length ? "" : t("manager.discover.empty");
    } catch (err) {
      if (mine !== seq) return;
      status.textContent = err.message;
    }
  }

  const refresh = debounce(() => load(false), 300);
  form.addEventListener("submit", (event) => { event.preventDefault(); refresh.cancel(); load(false); });
  form.addEventListener("change", (event) => { if (event.target !== folder) refresh(); });
  more.addEventListener("click", () => load(true));
  load(false);
  return {};
}
