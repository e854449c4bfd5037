// The Updates view of a model page: a "Check for updates" button that runs the server's update-check job (with its
// progress), then the models that have a newer version on Civitai, each with "Ignore this version" / "Ignore this
// model". Why a view of its own: the server already flags models (update_available) and keeps the user's ignore
// choices; without this view those routes were reachable only with curl.
import { ApiFailure, api, postJson } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { progressBar } from "./progress.js";
import { toast, toastError } from "./toast.js";

const CIVITAI_WEB = "https://civitai.com";
const ACTIVE = new Set(["queued", "running"]);
const POLL_MS = 400;
const STATUS_BATCH = 6; // status requests in flight at once
const MAX_ROWS = 2000; // list pages fetched at most (500 a page)

/** Mount the view into ``panel``; ``onChanged`` runs after an ignore (the grid's flags change). Returns {load}. */
export function mountUpdatesView(panel, { base, onOpen, onChanged }) {
  let checking = false;
  const checkButton = h("button", { type: "button", class: "btn btn-primary", id: "updates-check",
    text: t("manager.updates.check"), onclick: () => check() });
  const progress = h("div", { class: "updates-progress", id: "updates-progress", role: "status", "aria-live": "polite" });
  const body = h("div", { class: "updates-body", "aria-live": "polite" });
  panel.replaceChildren(h("div", { class: "updates-head" }, checkButton, progress), body);

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function showProgress(job) {
    const label = t("manager.updates.checking");
    const percent = job && job.total ? (job.processed / job.total) * 100 : (job && job.progress) || 0;
    const text = job && job.total ? t("manager.progress.count", { done: job.processed, total: job.total }) : label;
    progress.replaceChildren(h("span", { class: "muted", text }), progressBar(percent, label));
  }

  /** Start the check (or follow the one already running) and wait for it by polling the job list. */
  async function check() {
    if (checking) return;
    checking = true;
    checkButton.disabled = true;
    showProgress(null);
    try {
      let jobId;
      try {
        jobId = (await postJson(`${base}/updates/refresh`, {})).job_id;
      } catch (err) {
        if (!(err instanceof ApiFailure && err.status === 409 && err.body.job_id)) throw err;
        jobId = err.body.job_id; // a check is already running: show that one
      }
      let job = null;
      for (;;) {
        job = ((await api("/api/lm/jobs")).jobs || []).find((j) => j.id === jobId) || null;
        if (!job || !ACTIVE.has(job.status)) break;
        showProgress(job);
        await sleep(POLL_MS);
      }
      if (job && job.status !== "completed") {
        progress.replaceChildren(h("span", { class: "form-error", role: "alert",
          text: job.error || t(`jobs.${job.status}`) || job.status }));
      } else {
        progress.replaceChildren(h("span", { class: "muted", text: t("manager.updates.checked") }));
      }
      await load();
    } catch (err) {
      progress.replaceChildren(h("span", { class: "form-error", role: "alert", text: err.message }));
    } finally {
      checking = false;
      checkButton.disabled = false;
    }
  }

  async function flagged() {
    const items = [];
    for (let page = 1; items.length < MAX_ROWS; page += 1) {
      const answer = await api(`${base}/list`, { query: { update_available_only: "true", page_size: "500",
        page: String(page), sort_by: "name:asc" } });
      items.push(...(answer.items || []));
      if (page >= (answer.total_pages || 1)) break;
    }
    return items;
  }

  /** One row per Civitai model (several local files may hold versions of the same model). */
  async function rows(items) {
    const byModel = new Map();
    for (const item of items) {
      const modelId = item.civitai && item.civitai.modelId;
      if (modelId && !byModel.has(modelId)) byModel.set(modelId, item);
    }
    const entries = [...byModel.entries()];
    const out = [];
    for (let i = 0; i < entries.length; i += STATUS_BATCH) {
      const chunk = entries.slice(i, i + STATUS_BATCH);
      const statuses = await Promise.all(chunk.map(([modelId]) =>
        api(`${base}/updates/status/${encodeURIComponent(modelId)}`).catch(() => null)));
      chunk.forEach(([modelId, item], k) => {
        const status = statuses[k];
        if (status && status.update_available && (status.newer_versions || []).length) out.push({ modelId, item, status });
      });
    }
    return out;
  }

  function currentName(item, status) {
    const local = new Set(status.local_versions || []);
    const named = (status.versions || []).filter((v) => local.has(v.id)).map((v) => v.name);
    return named.length ? named.join(", ") : (item.civitai && item.civitai.name) || "?";
  }

  async function ignore(row, entry, versionId) {
    const bodyOut = { model_id: entry.modelId };
    if (versionId) bodyOut.version_id = versionId;
    for (const button of row.querySelectorAll("button")) button.disabled = true;
    let status;
    try {
      status = await postJson(`${base}/updates/ignore`, bodyOut);
    } catch (err) {
      toastError(err.message);
      for (const button of row.querySelectorAll("button")) button.disabled = false;
      return;
    }
    const name = entry.item.model_name || entry.item.file_name;
    toast(t(versionId ? "manager.updates.ignored_version" : "manager.updates.ignored_model", { name }), {
      kind: "success",
      action: { label: t("common.undo"), run: async () => {
        try { await postJson(`${base}/updates/ignore`, { ...bodyOut, ignore: false }); } catch (err) { toastError(err.message); }
        onChanged();
        load();
      } },
    });
    if (status.update_available && (status.newer_versions || []).length) {
      row.replaceWith(modelRow({ ...entry, status })); // an older newer version is still new
    } else {
      const list = row.parentElement;
      row.remove();
      if (list && !list.children.length) empty();
    }
    onChanged();
  }

  function modelRow(entry) {
    const { modelId, item, status } = entry;
    const newest = status.newer_versions[0];
    const name = item.model_name || item.file_name;
    const url = `${CIVITAI_WEB}/models/${encodeURIComponent(modelId)}?modelVersionId=${encodeURIComponent(newest.id)}`;
    const row = h("li", { class: "trash-batch updates-row", dataset: { modelId: String(modelId), versionId: String(newest.id) } });
    row.append(
      h("div", { class: "trash-info" },
        h("button", { type: "button", class: "link-button updates-name", text: name, onclick: () => onOpen(item) }),
        h("div", { class: "muted trash-facts updates-facts", text: t("manager.updates.facts", {
          current: currentName(item, status), newest: newest.name, count: status.newer_versions.length }) })),
      h("div", { class: "updates-actions" },
        h("a", { class: "btn updates-civitai", href: url, target: "_blank", rel: "noopener noreferrer",
          "aria-label": t("manager.updates.open_named", { name }), text: t("manager.updates.open") }),
        h("button", { type: "button", class: "btn updates-ignore-version", text: t("manager.updates.ignore_version"),
          "aria-label": t("manager.updates.ignore_version_named", { name, version: newest.name }),
          onclick: () => ignore(row, entry, newest.id) }),
        h("button", { type: "button", class: "btn updates-ignore-model", text: t("manager.updates.ignore_model"),
          "aria-label": t("manager.updates.ignore_model_named", { name }),
          onclick: () => ignore(row, entry, null) })));
    return row;
  }

  function empty() {
    body.replaceChildren(h("p", { class: "grid-empty-text muted", id: "updates-empty", text: t("manager.updates.none") }));
  }

  async function load() {
    checkButton.textContent = t("manager.updates.check"); // the language may have changed
    body.replaceChildren(h("p", { class: "muted", text: t("common.loading") }));
    let found;
    try {
      found = await rows(await flagged());
    } catch (err) {
      body.replaceChildren(h("p", { class: "form-error", role: "alert", text: err.message }));
      return;
    }
    if (!found.length) {
      empty();
      return;
    }
    body.replaceChildren(h("p", { class: "muted", text: t("manager.updates.hint") }),
      h("ul", { class: "trash-list updates-list", id: "updates-list" }, ...found.map(modelRow)));
  }

  return { load };
}
