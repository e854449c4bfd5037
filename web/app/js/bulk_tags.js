// Bulk tag edits on a selection: rename one tag, or remove tags picked from those the selection carries.
// Both go through POST {base}/bulk-tags, which edits each model from the tags it has when its file is written.
import { ApiFailure, postJson } from "./api.js";
import { openDialog } from "./dialog.js";
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

/** Send one tag edit for every path, in chunks; resolves {ok, errors} the way the page reports bulk results. */
export async function bulkTagEdit(base, paths, edit) {
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
      if (result.success) { if (result.changed) ok += 1; }
      else errors.push(`${String(result.file_path).split("/").pop()}: ${result.error}`);
    }
  }
  return { ok, errors };
}

function actions(close, submitId, submitLabel) {
  return h("div", { class: "modal-actions" },
    h("button", { type: "button", class: "btn", text: t("common.cancel"), onclick: close }),
    h("button", { type: "submit", class: "btn btn-primary", id: submitId, text: submitLabel }));
}

/** Ask which tag to rename and to what; resolves {from, to} or null. */
export function replaceTagDialog(items) {
  return new Promise((resolve) => {
    let answer = null;
    openDialog({
      title: t("manager.bulk.replace_tag"),
      className: "modal-small",
      onClose: () => resolve(answer),
      build: (body, close) => {
        const known = h("datalist", { id: "bulk-replace-known" },
          ...selectionTags(items).map(([tag]) => h("option", { value: tag })));
        const from = h("input", { type: "text", class: "text-input", id: "bulk-replace-from", list: "bulk-replace-known",
          maxlength: "128", required: true, spellcheck: "false", autocomplete: "off" });
        const to = h("input", { type: "text", class: "text-input", id: "bulk-replace-to", maxlength: "128", required: true,
          spellcheck: "false", autocomplete: "off" });
        const submit = (event) => {
          event.preventDefault();
          if (from.value.trim() && to.value.trim()) answer = { from: from.value.trim(), to: to.value.trim() };
          close();
        };
        body.append(h("form", { class: "form", onsubmit: submit }, known,
          h("label", { class: "field" }, h("span", { text: t("manager.bulk.replace_from") }), from),
          h("label", { class: "field" }, h("span", { text: t("manager.bulk.replace_to") }), to),
          actions(close, "bulk-replace-submit", t("common.save"))));
        from.focus();
      },
    });
  });
}

/** Ask which tags to remove: checkboxes of the tags the loaded models carry, and a field for any other
 * (a selection of a whole filter holds models whose tags were never loaded); resolves the list, or null. */
export function removeTagsDialog(items) {
  return new Promise((resolve) => {
    let answer = null;
    openDialog({
      title: t("manager.bulk.remove_tags"),
      className: "modal-small",
      onClose: () => resolve(answer),
      build: (body, close) => {
        const tags = selectionTags(items);
        const boxes = tags.map(([tag, n]) => h("label", { class: "check-row" },
          h("input", { type: "checkbox", value: tag, class: "bulk-remove-tag" }),
          h("span", { class: "grow", text: tag }), h("span", { class: "muted", text: String(n) })));
        const other = h("input", { type: "text", class: "text-input", id: "bulk-remove-other", spellcheck: "false",
          autocomplete: "off" });
        const submit = (event) => {
          event.preventDefault();
          const picked = [...body.querySelectorAll(".bulk-remove-tag:checked")].map((box) => box.value)
            .concat(other.value.split(",").map((tag) => tag.trim()).filter(Boolean));
          if (picked.length) answer = picked;
          close();
        };
        body.append(h("form", { class: "form", onsubmit: submit },
          boxes.length ? h("fieldset", { class: "bulk-remove-list" }, h("legend", { text: t("manager.bulk.remove_label") }), ...boxes)
            : h("p", { class: "muted", id: "bulk-remove-none", text: t("manager.bulk.no_tags") }),
          h("label", { class: "field" }, h("span", { text: t("manager.bulk.remove_other") }), other),
          actions(close, "bulk-remove-submit", t("manager.bulk.remove_submit"))));
        (body.querySelector(".bulk-remove-tag") || other).focus();
      },
    });
  });
}
