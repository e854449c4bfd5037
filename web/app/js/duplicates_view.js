// The Duplicates view of a model page: groups of files with the same sha256 (keep one, the others go to the
// trash with an Undo) and groups of files with the same name in different folders (listed, to rename or move).
// Why a view of its own: copies of one LoRA waste gigabytes and make the loader pick either one; the server
// already answers find-duplicates / find-filename-conflicts, and deletes go through bulk-delete (undoable).
import { api, postJson } from "./api.js";
import { confirmDialog } from "./dialog.js";
import { formatBytes, h } from "./dom.js";
import { t } from "./i18n.js";
import { undoDelete } from "./model_actions.js";
import { toast, toastError } from "./toast.js";

const TABS = ["hash", "names"];

/** Mount the view into ``panel``; ``onChanged`` runs after a delete or an undo. Returns {load}. */
export function mountDuplicatesView(panel, { base, onOpen, onChanged }) {
  let tab = "hash";
  const tabButtons = TABS.map((id) => h("button", { type: "button", class: "view-tab", id: `dupes-tab-${id}`,
    "aria-pressed": String(tab === id), dataset: { tab: id }, text: t(`manager.dupes.tab_${id}`),
    onclick: () => { tab = id; load(); } }));
  const body = h("div", { class: "dupes-body", "aria-live": "polite" });
  panel.replaceChildren(h("div", { class: "view-switch dupes-tabs", role: "group", "aria-label": t("manager.dupes.label") },
    ...tabButtons), body);

  const changed = () => { onChanged(); load(); };
  const folderOf = (path) => String(path).split("/").slice(0, -1).join("/");

  function modelRow(item, group) {
    const name = item.model_name || item.file_name;
    const keep = group && h("button", { type: "button", class: "btn btn-primary dupes-keep",
      "aria-label": t("manager.dupes.keep_named", { name }), text: t("manager.dupes.keep"),
      onclick: () => keepOne(item, group) });
    return h("li", { class: "dupes-model", dataset: { filePath: item.file_path } },
      h("div", { class: "trash-info" },
        h("button", { type: "button", class: "link-button dupes-name", text: name, onclick: () => onOpen(item) }),
        h("div", { class: "muted trash-facts", text: t("manager.dupes.facts", {
          size: formatBytes(item.file_size), folder: folderOf(item.file_path) }) })),
      keep);
  }

  async function keepOne(item, group) {
    const others = group.models.filter((m) => m.file_path !== item.file_path).map((m) => m.file_path);
    const name = item.model_name || item.file_name;
    if (!(await confirmDialog(t("manager.dupes.confirm_keep", { name, count: others.length }),
      { okLabel: t("common.delete") }))) return;
    try {
      const result = await postJson(`${base}/bulk-delete`, { file_paths: others });
      const failed = result.failed || [];
      const message = t("manager.dupes.kept", { count: result.total_deleted ?? others.length });
      toast(failed.length ? `${message} — ${failed[0].error}` : message, {
        kind: failed.length ? "error" : "success",
        action: result.batch_id ? { label: t("common.undo"), run: () => undoDelete(result.batch_id, changed) } : null,
      });
    } catch (err) {
      toastError(err.message);
    }
    changed();
  }

  async function verify(group, button, out) {
    button.disabled = true;
    out.textContent = t("manager.dupes.verifying");
    try {
      const result = await postJson(`${base}/verify-duplicates`, { file_paths: group.models.map((m) => m.file_path) });
      out.textContent = t(result.verified_as_duplicates ? "manager.dupes.verified_same" : "manager.dupes.verified_differ");
    } catch (err) {
      out.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  }

  function hashGroup(group) {
    const out = h("span", { class: "muted dupes-verdict", role: "status" });
    const check = h("button", { type: "button", class: "btn dupes-verify", text: t("manager.dupes.verify") });
    check.addEventListener("click", () => verify(group, check, out));
    return h("li", { class: "dupes-group", dataset: { hash: group.hash } },
      h("div", { class: "dupes-head" },
        h("h3", { class: "dupes-title", text: t("manager.dupes.group_hash", { count: group.models.length,
          hash: String(group.hash).slice(0, 12) }) }), check, out),
      h("ul", { class: "dupes-models" }, ...group.models.map((m) => modelRow(m, group))));
  }

  function nameGroup(group) {
    return h("li", { class: "dupes-group", dataset: { filename: group.filename } },
      h("div", { class: "dupes-head" }, h("h3", { class: "dupes-title", text: t("manager.dupes.group_name",
        { count: group.models.length, name: group.filename }) })),
      h("ul", { class: "dupes-models" }, ...group.models.map((m) => modelRow(m, null))));
  }

  async function load() {
    for (const button of tabButtons) {
      button.setAttribute("aria-pressed", String(button.dataset.tab === tab));
      button.textContent = t(`manager.dupes.tab_${button.dataset.tab}`); // the language may have changed
    }
    body.replaceChildren(h("p", { class: "muted", text: t("common.loading") }));
    let groups = [];
    try {
      const answer = await api(`${base}/${tab === "hash" ? "find-duplicates" : "find-filename-conflicts"}`);
      groups = (tab === "hash" ? answer.duplicates : answer.conflicts) || [];
    } catch (err) {
      body.replaceChildren(h("p", { class: "form-error", role: "alert", text: err.message }));
      return;
    }
    if (!groups.length) {
      body.replaceChildren(h("p", { class: "grid-empty-text muted", id: "dupes-empty", text: t(`manager.dupes.none_${tab}`) }));
      return;
    }
    body.replaceChildren(h("p", { class: "muted", text: t(`manager.dupes.hint_${tab}`) }),
      h("ul", { class: "trash-list dupes-list", id: "dupes-list" }, ...groups.map(tab === "hash" ? hashGroup : nameGroup)));
  }

  return { load };
}
