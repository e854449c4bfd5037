// "Select all matching": every model the current filter matches goes into the selection, not only the cards
// loaded in the grid (a Shift-click or "Select visible" covers only those). The server answers the file paths
// of the filter (at most 10000); models whose card is not loaded are selected by path and name only.
import { api } from "./api.js";
import { t } from "./i18n.js";
import { toast } from "./toast.js";

function stub(path) {
  const file = String(path).split("/").pop();
  return { file_path: path, file_name: file.replace(/\.[^.]+$/, ""), tags: [] };
}

function addPaths(paths, selection, source) {
  const loaded = new Map();
  for (const page of source.pages.values()) for (const item of page) loaded.set(item.file_path, item);
  selection.addAll(paths.map((path) => loaded.get(path) || stub(path)));
}

/** Fetch the filter's paths and add them to ``selection``; loaded list items are kept as they are. */
export async function selectAllMatching(url, params, selection, source) {
  const body = await api(url, { query: params });
  addPaths(body.file_paths || [], selection, source);
  if (body.truncated) {
    toast(t("manager.toolbar.select_truncated", { count: body.file_paths.length, total: body.total }), { kind: "error" });
  }
  return body;
}

/** A Shift range over cards that were never loaded: the filter's paths from ``low`` to ``high`` (list order). */
export async function selectRange(url, params, { low, high }, selection, source) {
  const query = new URLSearchParams(params);
  query.set("limit", String(high + 1));
  const body = await api(url, { query });
  addPaths((body.file_paths || []).slice(low, high + 1), selection, source);
}
