// Bulk tag edits on a selection: rename one tag, or remove tags picked from those the selection carries.
// Both go through POST {base}/bulk-tags, which edits each model from the tags it has when its file is written.
import { ApiFailure, postJson } from "./api.js";
import { formDialog } from "./dialog.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";

const CHUNK = 1000; // models per request (the server takes at most 10000)

/** The tags of the selected models, most common first: [[tag, count], ...] (case-insensitive, first spelling). */
export function selectionTags(items) {
  const counts = new Map();
  for (const item of items) {
    for (const tag of new Set((item.tags || []).map((x) => String(x)))) {
      const key = tag.toLocaleLowerCase();
      const entry = counts.get(key) || [tag, 0];
      entry[1] += 1;
      counts.set(key, entry);
    }
  }
  return [...counts.values()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** Send one tag edit for every path, in chunks; resolves {ok, errors} the way the page reports bulk results.
 * ``known`` (file path -> list item, the selection) learns each model's tags as written, so a next dialog
 * offers the tags the models have now. */
export async function bulkTagEdit(base, paths, edit, known = new Map()) {
  let ok = 0;
  const errors = [];
  for (let i = 0; i < paths.length; i += CHUNK) {
    const chunk = paths.slice(i, i + CHUNK);
    let body;
    try {
      body = await postJson(`${base}/bulk-tags`, { file_paths: chunk, ...edit });
    } catch (err) {
      if (!(err instanceof ApiFailure) || !Array.isArray(err.body.results)) {
        errors.push(err.message);
        continue;
      }
      body = err.body; // some models failed, the others were edited
    }
    for (const result of body.results || []) {
      if (result.success) {
        if (result.changed) ok += 1;
        if (known.has(result.file_path)) known.get(result.file_path).tags = result.tags;
      }
      else errors.push(`${String(result.file_path).split("/").pop()}: ${result.error}`);
    }
  }
  return { ok, errors };
}

const field = (label, input) => h("label", { class: "field" }, h("span", { text: label }), input);
const textInput = (attrs) => h("input", { type: "text", class: "text-input", spellcheck: "false", autocomplete: "off", ...attrs });

/** Ask which tag to rename and to what; resolves the edit {replace: {from: to}}, or null. */
function replaceTagDialog(items) {
  return formDialog({ title: t("manager.bulk.replace_tag"), submitId: "bulk-replace-submit", submitLabel: t("common.save"),
    fill: (form) => {
      const known = h("datalist", { id: "bulk-replace-known" }, ...selectionTags(items).map(([tag]) => h("option", { value: tag })));
      const from = textInput({ id: "bulk-replace-from", list: "bulk-replace-known", maxlength: "128", required: true });
      const to = textInput({ id: "bulk-replace-to", maxlength: "128", required: true });
      form.append(known, field(t("manager.bulk.replace_from"), from), field(t("manager.bulk.replace_to"), to));
      return () => (from.value.trim() && to.value.trim() ? { replace: { [from.value.trim()]: to.value.trim() } } : null);
    } });
}

/** Ask which tags to remove: checkboxes of the tags the loaded models carry, and a field for any other (a
 * selection of a whole filter holds models whose tags were never loaded); resolves {remove: [...]}, or null. */
function removeTagsDialog(items) {
  return formDialog({ title: t("manager.bulk.remove_tags"), submitId: "bulk-remove-submit",
    submitLabel: t("manager.bulk.remove_submit"), fill: (form) => {
      const boxes = selectionTags(items).map(([tag, n]) => h("label", { class: "check-row" },
        h("input", { type: "checkbox", value: tag, class: "bulk-remove-tag" }),
        h("span", { class: "grow", text: tag }), h("span", { class: "muted", text: String(n) })));
      const other = textInput({ id: "bulk-remove-other" });
      form.append(boxes.length ? h("fieldset", { class: "bulk-remove-list" }, h("legend", { text: t("manager.bulk.remove_label") }), ...boxes)
        : h("p", { class: "muted", id: "bulk-remove-none", text: t("manager.bulk.no_tags") }),
      field(t("manager.bulk.remove_other"), other));
      return () => {
        const picked = [...form.querySelectorAll(".bulk-remove-tag:checked")].map((box) => box.value)
          .concat(other.value.split(",").map((tag) => tag.trim()).filter(Boolean));
        return picked.length ? { remove: picked } : null;
      };
    } });
}

export const TAG_EDITS = {
  replace: { ask: replaceTagDialog, done: "manager.bulk.tags_replaced" },
  remove: { ask: removeTagsDialog, done: "manager.bulk.tags_removed" },
};
