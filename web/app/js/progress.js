// Progress everywhere: job frames and scan progress from the WebSockets, with bars, counts, ETA and cancel.
import { postJson } from "./api.js";
import { formatDuration, h } from "./dom.js";
import { onLocaleChange, t } from "./i18n.js";
import { toastError } from "./toast.js";

const ACTIVE = new Set(["queued", "running"]);

/** A WebSocket that reconnects with exponential backoff (the server replays its state on connect). */
export function reconnectingSocket(path, onFrame, { onStatus } = {}) {
  let attempt = 0;
  let socket = null;
  let stopped = false;
  let timer = null;
  const open = () => {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
    socket = new WebSocket(url);
    socket.addEventListener("open", () => { attempt = 0; if (onStatus) onStatus(true); });
    socket.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      onFrame(frame);
    });
    socket.addEventListener("close", () => {
      if (onStatus) onStatus(false);
      if (stopped) return;
      const delay = Math.min(30000, 500 * 2 ** attempt) * (0.8 + Math.random() * 0.4);
      attempt += 1;
      timer = setTimeout(open, delay);
    });
  };
  open();
  return { close: () => { stopped = true; clearTimeout(timer); if (socket) socket.close(); } };
}

/** A progress bar (0-100) with its accessible name. */
export function progressBar(percent, label) {
  const value = Math.max(0, Math.min(100, Number(percent) || 0));
  return h("div", { class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
    "aria-valuenow": String(Math.round(value)), "aria-label": label },
  h("div", { class: "progress-fill", style: `width: ${value}%` }));
}

/** Mount the status area; ``onModelsChanged(frame)`` is called for models_changed frames, ``onFrame(frame)``
 * for every other typed frame of the global socket (e.g. recipes_changed). */
export function mountProgress(area, { onModelsChanged, onFrame } = {}) {
  const jobs = new Map(); // id -> job dict
  const scans = new Map(); // pageType -> init frame
  let bulk = null; // untyped bulk metadata refresh frame
  const list = h("ul", { class: "status-list" });
  const offline = h("p", { class: "status-offline", hidden: true });
  area.replaceChildren(offline, list);

  const bar = progressBar;

  function render() {
    const rows = [];
    for (const [pageType, frame] of scans) {
      if (frame.status === "complete") continue;
      const label = t("manager.progress.scan", { type: t(`nav.${pageType}`) });
      rows.push(h("li", { class: "status-item", dataset: { scan: pageType } },
        h("div", { class: "status-line" }, h("strong", { text: label }), h("span", { class: "muted", text: frame.details || frame.stage || "" })),
        bar(frame.progress, label)));
    }
    for (const job of jobs.values()) {
      const percent = job.total ? (job.processed / job.total) * 100 : (job.progress ?? 0);
      const title = job.title || job.kind;
      const parts = [];
      if (job.total) parts.push(t("manager.progress.count", { done: job.processed, total: job.total }));
      if (ACTIVE.has(job.status) && Number.isFinite(job.eta_seconds)) parts.push(t("manager.progress.eta", { time: formatDuration(job.eta_seconds) }));
      parts.push(t(`jobs.${job.status}`) || job.status);
      if (job.error) parts.push(job.error);
      const cancel = ACTIVE.has(job.status) ? h("button", { type: "button", class: "btn btn-small", "aria-label": t("manager.progress.cancel_job", { title }),
        text: t("common.cancel"), dataset: { jobId: job.id }, onclick: async (event) => {
          event.currentTarget.disabled = true;
          try { await postJson(`/api/lm/jobs/${encodeURIComponent(job.id)}/cancel`, {}); } catch (err) { toastError(err.message); }
        } }) : null;
      rows.push(h("li", { class: `status-item status-${job.status}`, dataset: { jobId: job.id } },
        h("div", { class: "status-line" }, h("strong", { text: title }), h("span", { class: "muted", text: parts.join(" · ") }), cancel),
        bar(percent, title)));
    }
    if (bulk) {
      const label = t("manager.progress.metadata");
      rows.push(h("li", { class: "status-item" }, h("div", { class: "status-line" }, h("strong", { text: label }),
        h("span", { class: "muted", text: t("manager.progress.count", { done: bulk.processed ?? 0, total: bulk.total ?? 0 }) })),
      bar(bulk.total ? ((bulk.processed || 0) / bulk.total) * 100 : 0, label)));
    }
    list.replaceChildren(...rows);
    area.hidden = rows.length === 0 && offline.hidden;
  }

  function onFetchFrame(frame) {
    if (frame.type === "job_progress" && frame.job) {
      const job = frame.job;
      jobs.set(job.id, job);
      if (!ACTIVE.has(job.status)) setTimeout(() => { if (jobs.get(job.id) === job) { jobs.delete(job.id); render(); } }, 5000);
      render();
    } else if (frame.type === "models_changed") {
      if (onModelsChanged) onModelsChanged(frame);
    } else if (frame.type === "cache_health_warning") {
      toastError(frame.message || "");
    } else if (!frame.type && frame.status && "total" in frame && "processed" in frame) {
      bulk = ["started", "processing", "rate_limited"].includes(frame.status) ? frame : null;
      render();
    } else if (frame.type && onFrame) {
      onFrame(frame);
    }
  }

  function onInitFrame(frame) {
    if (!frame.pageType) return;
    scans.set(frame.pageType, frame);
    render();
  }

  const status = (up) => {
    offline.hidden = up;
    offline.textContent = up ? "" : t("manager.progress.offline");
    render();
  };
  reconnectingSocket("/ws/fetch-progress", onFetchFrame, { onStatus: status });
  reconnectingSocket("/ws/init-progress", onInitFrame);
  onLocaleChange(render);
  render();
}
