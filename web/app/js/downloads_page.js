// The downloads page (/downloads): look a Civitai model up, pick version/file/folder, start; live progress with
// pause/resume/cancel; the persistent queue and the history (retry, clear).
import { api, postJson } from "./api.js";
import { confirmDialog } from "./dialog.js";
import { formatBytes, formatDuration, h } from "./dom.js";
import { onLocaleChange, t } from "./i18n.js";
import { progressBar, reconnectingSocket } from "./progress.js";
import { toast, toastError } from "./toast.js";

const SINGULAR = { loras: "lora", checkpoints: "checkpoint", embeddings: "embedding" };
const TYPE_PAGES = { lora: "loras", locon: "loras", dora: "loras", checkpoint: "checkpoints",
  textualinversion: "embeddings", embedding: "embeddings" };
const ACTIVE = new Set(["starting", "waiting", "queued", "downloading", "paused"]);
const TERMINAL = new Set(["completed", "failed", "cancelled", "skipped"]);
const POLL_MS = 2000;
const HISTORY_LIMIT = 50;

/** ``{modelId, versionId}`` from a Civitai model URL, a download URL or a bare version id; null if neither. */
export function parseCivitaiInput(text) {
  const value = String(text || "").trim();
  if (/^\d+$/.test(value)) return { modelId: null, versionId: Number(value) };
  let url;
  try { url = new URL(value); } catch { return null; }
  const model = url.pathname.match(/\/models\/(\d+)/);
  const download = url.pathname.match(/\/api\/download\/models\/(\d+)/);
  const version = url.searchParams.get("modelVersionId");
  const versionId = download ? Number(download[1]) : (version && /^\d+$/.test(version) ? Number(version) : null);
  const modelId = model && !download ? Number(model[1]) : null;
  if (modelId === null && versionId === null) return null;
  return { modelId, versionId };
}

/** ``{url, repo, path}`` for a Hugging Face file address (``…/resolve/<rev>/<path>``, ``…/blob/<rev>/<path>`` or
 * ``hf://owner/repo[@rev]/path``); null for anything else. The server checks it again. */
export function parseHfInput(text) {
  const value = String(text || "").trim();
  const short = value.match(/^hf:\/\/([^/@\s]+\/[^/@\s]+)(?:@[^/\s]+)?\/(\S+)$/);
  if (short) return { url: value, repo: short[1], path: short[2] };
  let url;
  try { url = new URL(value); } catch { return null; }
  if (!/^https?:$/.test(url.protocol) || !/(^|\.)huggingface\.co$/i.test(url.hostname)) return null;
  const match = url.pathname.match(/^\/([^/]+\/[^/]+)\/(?:resolve|blob)\/[^/]+\/(.+)$/);
  return match ? { url: value, repo: match[1], path: decodeURIComponent(match[2]) } : null;
}

/** The page a Hugging Face file most likely belongs to, from the folder names in its path. */
function hfTypePage(path) {
  const folders = path.toLowerCase();
  if (/checkpoint|diffusion|unet/.test(folders)) return "checkpoints";
  if (/embedding|textual/.test(folders)) return "embeddings";
  return "loras";
}

/** A client-made download id: milliseconds plus random digits (what the browser extension uses too). */
export function newDownloadId() {
  return `${Date.now()}${Math.floor(Math.random() * 1000)}`;
}

/** The state a progress frame puts a download in. */
function statusOf(frame) {
  if (frame.status === "progress") return Number(frame.progress) >= 100 ? "completed" : "downloading";
  return frame.status || "downloading";
}

export function mountDownloadsPage(root) {
  const entries = new Map(); // download_id -> entry shown in the active list
  const sockets = new Map(); // download_id -> reconnecting socket (downloads started from this page)
  let history = [];
  let historyTotal = 0;
  let lookup = null; // {modelId, versionId, modelName, modelType, versions}
  let timer = null;

  // -- layout ----------------------------------------------------------------------------------
  const urlInput = h("input", { type: "text", id: "download-url", class: "text-input", autocomplete: "off", spellcheck: "false" });
  const lookupBtn = h("button", { type: "submit", class: "btn btn-primary", id: "download-lookup" });
  const lookupError = h("p", { class: "form-error", id: "download-error", role: "alert", hidden: true });
  const chooser = h("div", { class: "download-chooser", id: "download-chooser", hidden: true });
  const newForm = h("form", { class: "form", onsubmit: (event) => { event.preventDefault(); doLookup(); } },
    h("label", { class: "field" }, h("span", { dataset: { i18n: "manager.downloads.url_label" } }),
      h("div", { class: "row" }, urlInput, lookupBtn)),
    h("small", { class: "muted", dataset: { i18n: "manager.downloads.url_hint" } }), lookupError);
  const activeList = h("ul", { class: "download-list", id: "active-downloads", "aria-live": "polite" });
  const activeEmpty = h("p", { class: "muted", id: "active-empty" });
  const historyList = h("ul", { class: "download-list", id: "download-history" });
  const historyEmpty = h("p", { class: "muted", id: "history-empty" });
  const historyCount = h("span", { class: "muted", id: "history-count" });
  const retryAll = h("button", { type: "button", class: "btn", id: "history-retry-all", onclick: () => historyAction("retry-all") });
  const clearDone = h("button", { type: "button", class: "btn", id: "history-clear-completed", onclick: () => historyAction("clear-completed") });
  const clearAll = h("button", { type: "button", class: "btn btn-danger", id: "history-clear-all", onclick: () => historyAction("clear-all") });
  const newHeading = h("h2", {});
  const activeHeading = h("h2", {});
  const historyHeading = h("h2", {});
  const title = h("h1", {});
  root.replaceChildren(h("div", { class: "downloads-page page-pad" }, title,
    h("section", { class: "card-section", "aria-labelledby": "dl-new" }, Object.assign(newHeading, { id: "dl-new" }), newForm, chooser),
    h("section", { class: "card-section", "aria-labelledby": "dl-active" }, Object.assign(activeHeading, { id: "dl-active" }), activeEmpty, activeList),
    h("section", { class: "card-section", "aria-labelledby": "dl-history" },
      h("div", { class: "section-head" }, Object.assign(historyHeading, { id: "dl-history" }), historyCount,
        h("div", { class: "toolbar-spacer" }), retryAll, clearDone, clearAll),
      historyEmpty, historyList)));

  function renderStatic() {
    title.textContent = t("nav.downloads");
    newHeading.textContent = t("manager.downloads.new_title");
    activeHeading.textContent = t("manager.downloads.active_title");
    historyHeading.textContent = t("manager.downloads.history_title");
    for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    urlInput.placeholder = "https://civitai.com/models/12345?modelVersionId=67890";
    lookupBtn.textContent = t("manager.downloads.lookup");
    retryAll.textContent = t("manager.downloads.retry_all");
    clearDone.textContent = t("manager.downloads.clear_completed");
    clearAll.textContent = t("manager.downloads.clear_history");
  }

  // -- look-up and the chooser -------------------------------------------------------------------
  function showLookupError(message) {
    lookupError.textContent = message;
    lookupError.hidden = !message;
  }

  async function doLookup() {
    showLookupError("");
    const hf = parseHfInput(urlInput.value);
    if (hf) {
      lookup = { hf, modelId: null, versionId: null, modelName: `${hf.repo} · ${hf.path}`, modelType: "", versions: [] };
      chooser.hidden = false;
      await renderChooser();
      return;
    }
    const parsed = parseCivitaiInput(urlInput.value);
    if (!parsed) {
      showLookupError(t("manager.downloads.invalid_input"));
      return;
    }
    lookupBtn.disabled = true;
    chooser.hidden = false;
    chooser.replaceChildren(h("p", { class: "muted", text: t("common.loading") }));
    try {
      if (parsed.modelId !== null) {
        const body = await api("/api/lm/model-versions-status", { query: { modelId: parsed.modelId } });
        lookup = { modelId: body.modelId, versionId: parsed.versionId, modelName: body.modelName,
          modelType: body.modelType, versions: body.versions || [], source: body.source || "" };
      } else {
        lookup = { modelId: null, versionId: parsed.versionId, modelName: "", modelType: "lora", versions: [] };
      }
      await renderChooser();
    } catch (err) {
      chooser.hidden = true;
      showLookupError(t("manager.downloads.lookup_failed", { error: err.message }));
    } finally {
      lookupBtn.disabled = false;
    }
  }

  async function renderChooser() {
    const info = lookup;
    const versions = info.versions;
    let chosen = versions.find((v) => v.id === info.versionId)
      || versions.find((v) => !v.inLibrary) || versions[0] || null;
    const fileBox = h("div", { class: "choice-list", id: "download-files", role: "radiogroup" });
    const versionBox = h("div", { class: "choice-list", id: "download-versions", role: "radiogroup",
      "aria-label": t("manager.downloads.version") });
    const renderFiles = () => {
      const files = chosen && Array.isArray(chosen.files) ? chosen.files : [];
      const options = files.length ? files.map((file, index) => ({
        value: String(index), label: file.name || t("manager.downloads.primary_file"),
        detail: [file.type, file.metadata && file.metadata.fp, file.metadata && file.metadata.size,
          Number.isFinite(file.sizeKB) ? formatBytes(file.sizeKB * 1024) : ""].filter(Boolean).join(" · "),
        checked: Boolean(file.primary) || (index === 0 && !files.some((f) => f.primary)), file,
      })) : [{ value: "primary", label: t("manager.downloads.primary_file"), detail: t("manager.downloads.primary_hint"),
        checked: true, file: null }];
      fileBox.replaceChildren(h("span", { class: "choice-title", text: t("manager.downloads.file") }),
        ...options.map((option) => h("label", { class: "choice" },
          h("input", { type: "radio", name: "download-file", value: option.value, checked: option.checked,
            onchange: () => { fileBox.selected = option.file; } }),
          h("span", { class: "choice-text" }, h("strong", { text: option.label }),
            option.detail ? h("span", { class: "muted", text: option.detail }) : null))));
      fileBox.selected = (options.find((o) => o.checked) || {}).file || null;
    };
    if (versions.length) {
      versionBox.append(h("span", { class: "choice-title", text: t("manager.downloads.version") }),
        ...versions.map((version) => {
          const badges = [];
          if (version.inLibrary) badges.push(h("span", { class: "badge badge-ok", text: t("manager.versions.in_library") }));
          else if (version.hasBeenDownloaded) badges.push(h("span", { class: "badge", text: t("manager.versions.downloaded_before") }));
          const media = version.thumbnailUrl && !/\.(mp4|webm)(\?|$)/i.test(version.thumbnailUrl)
            ? h("img", { src: version.thumbnailUrl, alt: "", loading: "lazy", class: "choice-thumb" })
            : h("span", { class: "choice-thumb", "aria-hidden": "true" });
          return h("label", { class: "choice", dataset: { versionId: String(version.id) } },
            h("input", { type: "radio", name: "download-version", value: String(version.id), checked: version === chosen,
              onchange: () => { chosen = version; renderFiles(); updateStart(); } }),
            media, h("span", { class: "choice-text" }, h("strong", { text: version.name || String(version.id) }),
              h("span", { class: "muted", text: `#${version.id}` })), ...badges);
        }));
    }
    renderFiles();

    // target folder
    const typeSelect = h("select", { class: "select", id: "download-type" },
      ...[["loras", "nav.loras"], ["checkpoints", "nav.checkpoints"], ["embeddings", "nav.embeddings"]].map(([value, key]) =>
        h("option", { value, text: t(key),
          selected: value === (info.hf ? hfTypePage(info.hf.path) : TYPE_PAGES[info.modelType] || "loras") })));
    typeSelect.disabled = Boolean(info.modelId);
    const useDefault = h("input", { type: "checkbox", id: "download-default-path", checked: true });
    const rootSelect = h("select", { class: "select", id: "download-root" });
    const folderInput = h("input", { type: "text", class: "text-input", id: "download-folder", list: "download-folder-list",
      autocomplete: "off" });
    const folderList = h("datalist", { id: "download-folder-list" });
    const custom = h("label", { class: "field", hidden: true },
      h("span", { text: t("manager.move.folder") }), folderInput, folderList);
    const loadFolders = async () => {
      const base = `/api/lm/${typeSelect.value}`;
      try {
        const [roots, folders] = await Promise.all([api(`${base}/roots`), api(`${base}/folders`)]);
        rootSelect.replaceChildren(...(roots.roots || []).map((r) => h("option", { value: r, text: r })));
        folderList.replaceChildren(...(folders.folders || []).filter(Boolean).map((f) => h("option", { value: f })));
      } catch (err) {
        toastError(err.message);
      }
    };
    typeSelect.addEventListener("change", loadFolders);
    useDefault.addEventListener("change", () => { custom.hidden = useDefault.checked; });
    const start = h("button", { type: "button", class: "btn btn-primary", id: "start-download", onclick: () => startDownload() });
    const note = h("p", { class: "muted", id: "download-note" });
    const updateStart = () => {
      const inLibrary = Boolean(chosen && chosen.inLibrary);
      start.disabled = !info.hf && !chosen && !info.versionId && !info.modelId;
      start.textContent = t("manager.downloads.start");
      note.textContent = inLibrary ? t("manager.downloads.already_in_library") : "";
    };

    async function startDownload() {
      if (info.hf) {
        const request = { download_id: newDownloadId(), hf_url: info.hf.url, model_type: SINGULAR[typeSelect.value],
          use_default_paths: useDefault.checked };
        if (rootSelect.value) request.model_root = rootSelect.value;
        if (!useDefault.checked) request.relative_path = folderInput.value.trim().replace(/^\/+|\/+$/g, "");
        await launch(request, { model_name: info.modelName, version_name: "Hugging Face" });
        return;
      }
      const request = { download_id: newDownloadId(), use_default_paths: useDefault.checked };
      if (info.modelId) request.model_id = info.modelId;
      const versionId = chosen ? chosen.id : info.versionId;
      if (versionId) request.model_version_id = versionId;
      const file = fileBox.selected;
      if (file) {
        request.file_params = { type: file.type, format: file.metadata && file.metadata.format,
          size: file.metadata && file.metadata.size, fp: file.metadata && file.metadata.fp,
          isPrimary: Boolean(file.primary), fileId: file.id ?? null };
        if (file.id !== undefined) request.file_params.id = file.id;
      }
      if (info.source === "civarchive") request.source = "civarchive"; // gone from Civitai: CivArchive's mirrors
      if (rootSelect.value) request.model_root = rootSelect.value;
      if (!useDefault.checked) request.relative_path = folderInput.value.trim().replace(/^\/+|\/+$/g, "");
      const name = info.modelName || t("manager.downloads.version_label", { id: versionId || "?" });
      await launch(request, { model_name: name, version_name: chosen ? chosen.name : "" });
    }

    chooser.replaceChildren(...[
      info.modelName ? h("h3", { class: "chooser-title", id: "download-model-name", text: info.modelName }) : null,
      info.hf ? h("p", { class: "muted", id: "download-hf-note", text: t("manager.downloads.hf_note") })
        : versions.length ? versionBox
          : h("p", { class: "muted", text: t("manager.downloads.version_label", { id: info.versionId }) }),
      info.hf ? null : fileBox,
      h("fieldset", { class: "fieldset" }, h("legend", { text: t("manager.downloads.target") }),
        h("div", { class: "row" }, h("label", { class: "field" }, h("span", { text: t("manager.downloads.model_type") }), typeSelect),
          h("label", { class: "field" }, h("span", { text: t("manager.move.root") }), rootSelect)),
        h("label", { class: "check-row" }, useDefault, h("span", { text: t("manager.downloads.use_default_path") })),
        custom),
      h("div", { class: "modal-actions" }, note, start)].filter(Boolean));
    updateStart();
    await loadFolders();
  }

  // -- starting and watching ---------------------------------------------------------------------
  /** Open the progress socket first (so no frame is missed), then ask the server to start. */
  async function launch(request, names) {
    const id = String(request.download_id);
    const entry = upsert(id, { ...names, status: "starting", progress: 0, local: true });
    render();
    await watch(id);
    try {
      await postJson("/api/lm/download-model", request);
      toast(t("manager.downloads.started", { name: entry.model_name }), { kind: "info" });
    } catch (err) {
      Object.assign(entry, { status: "failed", error: err.message });
      stopWatching(id);
      render();
      toastError(err.message);
      loadHistory();
    }
  }

  function watch(id) {
    if (sockets.has(id)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = setTimeout(resolve, 3000); // the download still starts; the queue poll catches up
      const socket = reconnectingSocket(`/ws/download-progress?id=${encodeURIComponent(id)}`, (frame) => {
        if (frame.type === "download_id") return;
        onProgress(id, frame);
      }, { onStatus: (up) => { if (up) { clearTimeout(done); resolve(); } } });
      sockets.set(id, socket);
    });
  }

  function stopWatching(id) {
    const socket = sockets.get(id);
    if (socket) socket.close();
    sockets.delete(id);
  }

  function upsert(id, fields) {
    let entry = entries.get(id);
    if (!entry) {
      entry = { download_id: id, model_name: "", version_name: "", status: "queued", progress: 0 };
      entries.set(id, entry);
    }
    for (const [key, value] of Object.entries(fields)) if (value !== undefined && value !== null && value !== "") entry[key] = value;
    return entry;
  }

  function onProgress(id, frame) {
    const entry = entries.get(id) || upsert(id, {});
    const before = entry.status;
    const status = statusOf(frame);
    if (TERMINAL.has(before) && !TERMINAL.has(status)) return; // a late replay after the end
    entry.status = status;
    if (Number.isFinite(Number(frame.progress))) entry.progress = Number(frame.progress);
    if (Number.isFinite(frame.bytes_downloaded)) entry.bytes_downloaded = frame.bytes_downloaded;
    if (Number.isFinite(frame.total_bytes)) entry.total_bytes = frame.total_bytes;
    if (Number.isFinite(frame.bytes_per_second)) entry.bytes_per_second = frame.bytes_per_second;
    if (status === "failed") entry.error = frame.message || entry.error;
    if (TERMINAL.has(status) && !TERMINAL.has(before)) finished(entry);
    render();
  }

  function finished(entry) {
    stopWatching(entry.download_id);
    entry.local = true; // stays listed (with its outcome) until dismissed
    if (entry.status === "completed") entry.progress = 100;
    if (entry.status === "completed") toast(t("manager.downloads.completed_toast", { name: entry.model_name || entry.download_id }), { kind: "success" });
    else if (entry.status === "failed") toastError(t("manager.downloads.failed_toast", { name: entry.model_name || entry.download_id, error: entry.error || "" }));
    loadQueue();
    loadHistory();
  }

  async function control(entry, action) {
    const path = { pause: "pause-download", resume: "resume-download", cancel: "cancel-download-get" }[action];
    try {
      const body = await api(`/api/lm/${path}`, { query: { download_id: entry.download_id } });
      if (action === "pause") entry.status = "paused";
      if (action === "resume") entry.status = "downloading";
      if (body.message && action !== "cancel") toast(body.message);
    } catch (err) {
      toastError(err.message);
    }
    render();
    if (action === "cancel") { loadQueue(); loadHistory(); }
  }

  async function startQueued(entry) {
    const request = { download_id: entry.download_id, use_default_paths: true };
    if (entry.model_id) request.model_id = entry.model_id;
    if (entry.model_version_id) request.model_version_id = entry.model_version_id;
    if (entry.file_params) request.file_params = entry.file_params;
    if (entry.source) request.source = entry.source;
    await launch(request, { model_name: entry.model_name, version_name: entry.version_name });
  }

  async function removeQueued(entry) {
    try {
      await api("/api/lm/downloads/queue/remove", { query: { download_id: entry.download_id } });
      entries.delete(entry.download_id);
    } catch (err) {
      toastError(err.message);
    }
    render();
  }

  // -- server state: queue, progress of downloads without a socket, history -----------------------
  async function loadQueue() {
    let body;
    try {
      body = await api("/api/lm/downloads/queue");
    } catch {
      return; // offline: the sockets show it; the next poll tries again
    }
    const ids = new Set();
    for (const row of body.queue || []) {
      ids.add(row.download_id);
      const entry = upsert(row.download_id, { model_name: row.model_name, version_name: row.version_name,
        model_id: row.model_id, model_version_id: row.model_version_id, file_params: row.file_params,
        source: row.source, file_path: row.file_path, thumbnail_url: row.thumbnail_url });
      if (!sockets.has(row.download_id) && !TERMINAL.has(entry.status)) {
        entry.status = row.status;
        if (row.bytes_downloaded) entry.bytes_downloaded = row.bytes_downloaded;
        if (row.total_bytes) entry.total_bytes = row.total_bytes;
      }
    }
    let vanished = false;
    for (const [id, entry] of entries) {
      if (ids.has(id) || entry.local) continue;
      entries.delete(id);
      vanished = true;
    }
    await Promise.all([...entries.values()].filter((e) => ids.has(e.download_id) && !sockets.has(e.download_id)
      && (e.status === "downloading" || e.status === "waiting")).map(pollProgress));
    if (vanished) loadHistory();
    render();
  }

  async function pollProgress(entry) {
    try {
      const body = await api(`/api/lm/download-progress/${encodeURIComponent(entry.download_id)}`);
      onProgress(entry.download_id, { ...body, status: body.status || "progress" });
    } catch { /* not started yet */ }
  }

  async function loadHistory() {
    try {
      const body = await api("/api/lm/downloads/history", { query: { limit: HISTORY_LIMIT, offset: 0 } });
      history = body.items || [];
      historyTotal = body.total ?? history.length;
    } catch (err) {
      historyList.replaceChildren(h("li", { class: "form-error", role: "alert", text: err.message }));
      return;
    }
    // a download this page watched that ended while its socket was away: take the outcome from the history
    for (const row of history) {
      const entry = entries.get(row.download_id);
      if (entry && !TERMINAL.has(entry.status) && entry.status !== "starting") {
        entry.status = row.status === "canceled" ? "cancelled" : row.status;
        if (entry.status === "completed") entry.progress = 100;
        entry.error = row.error || entry.error;
        stopWatching(row.download_id);
      }
    }
    renderHistory();
    render();
  }

  async function historyAction(action) {
    try {
      if (action === "retry-all") {
        const body = await api("/api/lm/downloads/history/retry-all");
        toast(t("manager.downloads.retried", { count: body.retry_count ?? 0 }), { kind: "success" });
        await loadQueue();
        for (const entry of [...entries.values()].filter((e) => e.status === "queued" && !sockets.has(e.download_id))) {
          await startQueued(entry);
        }
      } else if (action === "clear-completed") {
        await api("/api/lm/downloads/history/clear", { query: { status: "completed" } });
      } else if (action === "clear-all") {
        if (!(await confirmDialog(t("manager.downloads.confirm_clear"), { okLabel: t("manager.downloads.clear_history") }))) return;
        await api("/api/lm/downloads/history/clear");
      }
    } catch (err) {
      toastError(err.message);
    }
    loadHistory();
  }

  async function retryRow(row) {
    try {
      const body = await api("/api/lm/downloads/history/retry", { query: { id: row.id } });
      const item = body.item || {};
      await startQueued(upsert(item.download_id, { ...item, status: "queued" }));
    } catch (err) {
      toastError(err.message);
    }
    loadHistory();
  }

  async function deleteRow(row) {
    try {
      await api("/api/lm/downloads/history/delete", { query: { id: row.id } });
    } catch (err) {
      toastError(err.message);
    }
    loadHistory();
  }

  // -- drawing -----------------------------------------------------------------------------------
  function statusText(status) {
    return t(`manager.downloads.status_${status}`) || status;
  }

  function statsLine(entry) {
    const parts = [];
    const done = entry.bytes_downloaded;
    const total = entry.total_bytes;
    if (Number.isFinite(done) && Number.isFinite(total) && total > 0) {
      parts.push(t("manager.downloads.bytes", { done: formatBytes(done), total: formatBytes(total) }));
    } else if (Number.isFinite(done) && done > 0) {
      parts.push(formatBytes(done));
    }
    const speed = entry.bytes_per_second;
    if (entry.status === "downloading" && Number.isFinite(speed) && speed > 0) {
      parts.push(t("manager.downloads.speed", { speed: formatBytes(speed) }));
      if (Number.isFinite(done) && Number.isFinite(total) && total > done) {
        parts.push(t("manager.progress.eta", { time: formatDuration((total - done) / speed) }));
      }
    }
    parts.push(`${Math.round(entry.progress || 0)}%`);
    return parts.join(" · ");
  }

  /** The whole queue's progress in the tab title, e.g. "(42%) Downloads · LoRA Manager", while any is active. */
  function renderTitle() {
    const active = [...entries.values()].filter((e) => ACTIVE.has(e.status));
    const base = `${t("nav.downloads")} · LoRA Manager`;
    if (!active.length) { document.title = base; return; }
    const percent = Math.round(active.reduce((sum, e) => sum + (Number(e.progress) || 0), 0) / active.length);
    document.title = `(${Math.max(0, Math.min(100, percent))}%) ${base}`;
  }

  function render() {
    renderTitle();
    const rows = [...entries.values()];
    activeEmpty.textContent = t("manager.downloads.no_active");
    activeEmpty.hidden = rows.length > 0;
    activeList.replaceChildren(...rows.map((entry) => {
      const name = entry.model_name || t("manager.downloads.version_label", { id: entry.model_version_id || entry.download_id });
      const buttons = [];
      const button = (action, key, cls = "btn btn-small") => h("button", { type: "button", class: cls,
        dataset: { action }, "aria-label": `${t(key)}: ${name}`, text: t(key), onclick: (event) => {
          event.currentTarget.disabled = true;
          if (action === "start") startQueued(entry);
          else if (action === "remove") removeQueued(entry);
          else if (action === "dismiss") { entries.delete(entry.download_id); render(); }
          else control(entry, action);
        } });
      if (entry.status === "queued" && !sockets.has(entry.download_id)) {
        buttons.push(button("start", "manager.downloads.start_now"), button("remove", "manager.downloads.remove"));
      } else if (ACTIVE.has(entry.status) && entry.status !== "starting") {
        buttons.push(entry.status === "paused" ? button("resume", "manager.downloads.resume") : button("pause", "manager.downloads.pause"),
          button("cancel", "common.cancel", "btn btn-small btn-danger"));
      } else if (TERMINAL.has(entry.status)) {
        buttons.push(button("dismiss", "manager.downloads.dismiss", "btn btn-small btn-ghost"));
      }
      return h("li", { class: `download-item status-${entry.status}`, dataset: { downloadId: entry.download_id, status: entry.status } },
        h("div", { class: "status-line" },
          h("strong", { class: "download-name", text: entry.version_name ? `${name} — ${entry.version_name}` : name }),
          h("span", { class: `badge download-status`, text: statusText(entry.status) }),
          h("span", { class: "muted download-stats", text: statsLine(entry) }),
          h("span", { class: "download-actions" }, ...buttons)),
        progressBar(entry.progress, name),
        entry.error && entry.status === "failed" ? h("p", { class: "form-error download-error", text: entry.error }) : null);
    }));
  }

  function renderHistory() {
    historyCount.textContent = t("manager.downloads.history_count", { count: historyTotal });
    historyEmpty.textContent = t("manager.downloads.no_history");
    historyEmpty.hidden = history.length > 0;
    historyList.replaceChildren(...history.map((row) => {
      const status = row.status === "canceled" ? "cancelled" : row.status;
      const name = row.model_name || t("manager.downloads.version_label", { id: row.model_version_id || row.download_id });
      const when = row.completed_at ? new Date(row.completed_at * 1000).toLocaleString() : "";
      const retry = ["failed", "canceled"].includes(row.status) ? h("button", { type: "button", class: "btn btn-small",
        dataset: { action: "retry" }, "aria-label": `${t("common.retry")}: ${name}`, text: t("common.retry"),
        onclick: (event) => { event.currentTarget.disabled = true; retryRow(row); } }) : null;
      const remove = h("button", { type: "button", class: "btn btn-small btn-ghost", dataset: { action: "delete" },
        "aria-label": `${t("manager.downloads.remove")}: ${name}`, text: t("manager.downloads.remove"),
        onclick: (event) => { event.currentTarget.disabled = true; deleteRow(row); } });
      return h("li", { class: `download-item history-item status-${status}`, dataset: { downloadId: row.download_id, status } },
        h("div", { class: "status-line" },
          h("strong", { class: "download-name", text: row.version_name ? `${name} — ${row.version_name}` : name }),
          h("span", { class: "badge download-status", text: statusText(status) }),
          h("span", { class: "muted", text: when }),
          h("span", { class: "download-actions" }, retry, remove)),
        row.file_path ? h("code", { class: "muted break download-path", text: row.file_path }) : null,
        row.error ? h("p", { class: "form-error download-error", text: row.error }) : null);
    }));
  }

  // -- lifetime ------------------------------------------------------------------------------------
  renderStatic();
  onLocaleChange(() => { renderStatic(); render(); renderHistory(); if (lookup && !chooser.hidden) renderChooser(); });
  const params = new URLSearchParams(location.search);
  if (params.get("url")) { urlInput.value = params.get("url"); doLookup(); }
  loadQueue();
  loadHistory();
  render();
  timer = setInterval(() => { if (!document.hidden) loadQueue(); }, POLL_MS);
  return { close: () => { clearInterval(timer); for (const id of [...sockets.keys()]) stopWatching(id); } };
}
