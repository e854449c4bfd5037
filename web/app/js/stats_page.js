// The statistics page (/stats): what the library holds and where the disk goes, from GET /api/lm/stats.
// Charts are drawn by the vendored Chart.js (web/app/vendor/README.md); the figures are also listed as text,
// so the page reads without the charts (screen readers, a failed script load).
import { api } from "./api.js";
import { formatBytes, h } from "./dom.js";
import { t } from "./i18n.js";

const CHART_SRC = "/lm-static/vendor/chart.umd.js";
let chartLoad = null;

/** Chart.js, loaded once as a classic script (its UMD build sets ``window.Chart``). */
function loadChart() {
  if (!chartLoad) {
    chartLoad = new Promise((resolve, reject) => {
      if (window.Chart) { resolve(window.Chart); return; }
      const script = document.createElement("script");
      script.src = CHART_SRC;
      script.onload = () => resolve(window.Chart);
      script.onerror = () => reject(new Error(CHART_SRC));
      document.head.append(script);
    });
  }
  return chartLoad;
}

function section(id, titleKey, ...children) {
  return h("section", { class: "stats-card", id, "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title`, text: t(titleKey) }), ...children);
}

function table(rows, columns) {
  return h("table", { class: "stats-table" },
    h("tbody", {}, ...rows.map((row) => h("tr", {}, ...columns.map((fn) => h("td", { text: String(fn(row)) }))))));
}

function chartCanvas(label) {
  return h("div", { class: "stats-chart" }, h("canvas", { role: "img", "aria-label": label }));
}

function drawChart(Chart, holder, type, labels, values) {
  const canvas = holder.querySelector("canvas");
  return new Chart(canvas, {
    type,
    data: { labels, datasets: [{ data: values }] },
    options: { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { display: type === "doughnut" } } },
  });
}

export function mountStatsPage(root) {
  // Focusable so a keyboard can scroll the page even though it holds no control (axe scrollable-region-focusable).
  const body = h("div", { class: "stats-grid", id: "stats", tabindex: "0" });
  root.replaceChildren(h("div", { class: "stats-page" }, h("h1", { text: t("manager.stats.title") }), body));

  async function load() {
    let stats;
    try {
      stats = await api("/api/lm/stats");
    } catch (err) {
      body.replaceChildren(h("p", { class: "form-error", role: "alert", text: `${t("manager.stats.load_failed")}: ${err.message}` }));
      return;
    }
    const totals = stats.totals;
    const base = chartCanvas(t("manager.stats.per_base_model"));
    const types = chartCanvas(t("manager.stats.per_type"));
    const growth = chartCanvas(t("manager.stats.growth"));
    const disk = chartCanvas(t("manager.stats.disk_per_folder"));
    const problems = stats.problems;
    body.replaceChildren(
      section("stats-totals", "manager.stats.totals",
        h("p", { text: `${totals.models} · ${formatBytes(totals.size)} · ${t("manager.stats.excluded")}: ${totals.excluded}` })),
      section("stats-base", "manager.stats.per_base_model", base,
        table(stats.per_base_model, [(r) => r.base_model, (r) => r.count, (r) => formatBytes(r.size)])),
      section("stats-types", "manager.stats.per_type", types,
        table(stats.per_type, [(r) => r.model_type, (r) => r.count, (r) => formatBytes(r.size)])),
      section("stats-disk", "manager.stats.disk_per_folder", disk,
        table(stats.disk_per_folder, [(r) => r.model_type, (r) => r.folder || "/", (r) => formatBytes(r.size)])),
      section("stats-growth", "manager.stats.growth", growth),
      section("stats-most-used", "manager.stats.most_used",
        table(stats.most_used, [(r) => r.file_name, (r) => r.usage_count])),
      section("stats-least-used", "manager.stats.least_used",
        table(stats.least_used, [(r) => r.file_name, (r) => r.usage_count])),
      section("stats-tags", "manager.stats.tag_cloud",
        h("p", { class: "tag-cloud" }, ...stats.tag_cloud.map((tag) => h("span", {
          class: "tag", style: `font-size: ${Math.min(2, 0.8 + tag.count / Math.max(1, stats.tag_cloud[0].count))}em`,
          text: `${tag.tag} (${tag.count})` })))),
      section("stats-problems", "manager.stats.problems",
        table(Object.entries(problems), [([key]) => t(`manager.stats.${key}`), ([, n]) => n])),
    );
    try {
      const Chart = await loadChart();
      drawChart(Chart, base, "doughnut", stats.per_base_model.map((r) => r.base_model), stats.per_base_model.map((r) => r.count));
      drawChart(Chart, types, "bar", stats.per_type.map((r) => r.model_type), stats.per_type.map((r) => r.count));
      drawChart(Chart, disk, "bar", stats.disk_per_folder.map((r) => `${r.model_type}/${r.folder}`), stats.disk_per_folder.map((r) => r.size));
      drawChart(Chart, growth, "line", stats.growth_by_month.map((r) => r.month), stats.growth_by_month.map((r) => r.count));
    } catch (err) {
      body.prepend(h("p", { class: "muted", text: `${t("manager.stats.charts_unavailable")} (${err.message})` }));
    }
    body.dataset.loaded = "true";
  }
  load();
  return {};
}
