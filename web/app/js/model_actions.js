// Per-model actions: the card context menu (right-click, the "⋯" button, the ContextMenu key / Shift+F10)
// and the dialogs behind it (rename, move, replace preview). Every action calls the API and reports its error.
import { api, postForm, postJson } from "./api.js";
import { confirmDialog, formDialog, openDialog } from "./dialog.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { toast, toastError } from "./toast.js";

const baseName = (path) => String(path || "").split("/").pop();

/** The text "copy" puts on the clipboard: LoRA syntax, ``embedding:name`` or the checkpoint's file name. */
export function syntaxFor(pageType, item, strength) {
  if (pageType === "embeddings") return `embedding:${item.file_name}`;
  if (pageType === "checkpoints") return baseName(item.file_path) || item.file_name;
  let value = strength;
  if (value === undefined) {
    try { value = JSON.parse(item.usage_tips || "{}").strength; } catch { value = undefined; }
  }
  return `<lora:${item.file_name}:${Number.isFinite(Number(value)) && value !== null && value !== "" ? Number(value) : 1}>`;
}

/** The label of the copy action, fitting the model type. */
export const copyLabel = (pageType) => t(`manager.actions.copy_${pageType}`);

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t("manager.details.copied", { text }), { kind: "success" });
  } catch {
    toastError(t("manager.details.copy_failed"));
  }
}

// -- the menu -------------------------------------------------------------------------------------
let openMenu = null;

export function closeModelMenu({ restoreFocus = false } = {}) {
  if (!openMenu) return;
  const { el, returnTo, cleanup } = openMenu;
  openMenu = null;
  cleanup();
  el.remove();
  if (restoreFocus && returnTo && returnTo.isConnected) returnTo.focus();
}

/** Open the menu of ``item`` at (x, y); ``returnTo`` gets the focus back on Escape. */
export function openModelMenu({ pageType, item, x, y, returnTo, onOpen, onChanged }) {
  closeModelMenu();
  const base = `/api/lm/${pageType}`;
  const changed = () => { if (onChanged) onChanged(); };
  const entries = [
    ["details", t("manager.actions.details"), () => onOpen(item)],
    ["copy", copyLabel(pageType), () => copyText(syntaxFor(pageType, item))],
    ["rename", t("manager.actions.rename"), () => renameDialog(pageType, item, changed)],
    ["move", t("manager.actions.move"), () => moveDialog(pageType, [item], changed)],
    ["preview", t("manager.actions.replace_preview"), () => previewDialog(pageType, item, changed)],
    ["rating", t("manager.rating.action"), () => ratingDialog(pageType, item, changed)],
    ["refresh", t("manager.actions.refresh"), () => refreshMetadata(pageType, item, changed)],
    ["civitai", t("manager.details.open_civitai"), () => openOnCivitai(pageType, item)],
    ["hash", t("manager.actions.hash"), () => hashNow(pageType, item, changed)],
    ["relink", t("manager.relink.action"), () => relinkDialog(pageType, item, changed)],
    item.exclude
      ? ["include", t("manager.actions.include"), () => setExcluded(pageType, item, false, changed)]
      : ["exclude", t("manager.actions.exclude"), () => setExcluded(pageType, item, true, changed)],
    ["delete", t("common.delete"), () => deleteModel(pageType, item, changed), "danger"],
  ];
  const name = item.model_name || item.file_name;
  const el = h("div", { class: "context-menu", role: "menu", "aria-label": t("manager.actions.menu", { name }), tabindex: "-1" },
    ...entries.map(([id, label, run, kind]) => h("button", {
      type: "button", role: "menuitem", tabindex: "-1", class: `menu-item${kind ? ` menu-${kind}` : ""}`,
      dataset: { menuAction: id }, text: label,
      onclick: () => { closeModelMenu({ restoreFocus: true }); run(); },
    })));
  document.body.append(el);
  const box = el.getBoundingClientRect();
  el.style.left = `${Math.max(4, Math.min(x, innerWidth - box.width - 4))}px`;
  el.style.top = `${Math.max(4, Math.min(y, innerHeight - box.height - 4))}px`;
  const items = [...el.querySelectorAll(".menu-item")];
  const onKey = (event) => {
    const current = items.indexOf(document.activeElement);
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      closeModelMenu({ restoreFocus: true });
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const down = event.key === "ArrowDown";
      const next = current < 0 ? (down ? 0 : items.length - 1) : (current + (down ? 1 : items.length - 1)) % items.length;
      items[next].focus();
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      items[event.key === "Home" ? 0 : items.length - 1].focus();
    } else if (event.key === "Tab") {
      event.preventDefault();
      closeModelMenu({ restoreFocus: true });
    }
  };
  const onDown = (event) => { if (!el.contains(event.target)) closeModelMenu(); };
  const onScroll = (event) => { if (!el.contains(event.target)) closeModelMenu(); };
  el.addEventListener("keydown", onKey);
  document.addEventListener("mousedown", onDown, true);
  document.addEventListener("scroll", onScroll, true);
  window.addEventListener("resize", onScroll);
  openMenu = {
    el, returnTo,
    cleanup: () => {
      document.removeEventListener("mousedown", onDown, true);
      document.removeEventListener("scroll", onScroll, true);
      window.removeEventListener("resize", onScroll);
    },
  };
  items[0].focus();
  return el;
}

// -- actions ----------------------------------------------------------------------------------------
export async function refreshMetadata(pageType, item, changed) {
  const close = toast(t("manager.actions.refreshing", { name: item.model_name || item.file_name }), { timeout: 0 });
  try {
    await postJson(`/api/lm/${pageType}/fetch-civitai`, { file_path: item.file_path });
    close();
    toast(t("manager.actions.refreshed"), { kind: "success" });
    changed();
  } catch (err) {
    close();
    toastError(err.message);
  }
}

/** Hash the file now: checkpoints stay "Hash pending" until hashed, and a re-hash verifies a copied file. */
export async function hashNow(pageType, item, changed) {
  const close = toast(t("manager.actions.hashing", { name: item.model_name || item.file_name }), { timeout: 0 });
  try {
    const body = await postJson(`/api/lm/${pageType}/compute-hash`, { file_path: item.file_path });
    close();
    toast(t("manager.actions.hashed", { sha256: body.sha256 || "" }), { kind: "success" });
    changed();
  } catch (err) {
    close();
    toastError(err.message);
  }
}

export async function openOnCivitai(pageType, item) {
  try {
    const body = await api(`/api/lm/${pageType}/civitai-url`, { query: { file_path: item.file_path } });
    if (!body.civitai_url) {
      toastError(t("manager.details.no_civitai"));
      return;
    }
    window.open(body.civitai_url, "_blank", "noopener,noreferrer");
  } catch (err) {
    toastError(err.message);
  }
}

export async function setExcluded(pageType, item, value, changed) {
  try {
    await postJson(`/api/lm/${pageType}/${value ? "exclude" : "unexclude"}`, { file_path: item.file_path });
    toast(t(value ? "manager.actions.excluded" : "manager.actions.included", { name: item.model_name || item.file_name }),
      { kind: "success" });
    changed();
  } catch (err) {
    toastError(err.message);
  }
}

export async function undoDelete(batchId, changed) {
  try {
    await postJson("/api/lm/undo-delete", { batch_id: batchId });
    toast(t("manager.bulk.restored"), { kind: "success" });
    if (changed) changed();
    return true;
  } catch (err) {
    toastError(err.message);
    return false;
  }
}

export async function deleteModel(pageType, item, changed) {
  const name = item.model_name || item.file_name;
  if (!(await confirmDialog(t("manager.actions.confirm_delete", { name }), { okLabel: t("common.delete") }))) return;
  try {
    const body = await postJson(`/api/lm/${pageType}/delete`, { file_path: item.file_path });
    changed();
    toast(t("manager.actions.deleted", { name }), {
      kind: "success",
      action: body.batch_id ? { label: t("common.undo"), run: () => undoDelete(body.batch_id, changed) } : null,
    });
  } catch (err) {
    toastError(err.message);
  }
}

function formError() {
  return h("p", { class: "form-error", role: "alert", hidden: true });
}

function showError(el, message) {
  el.textContent = message;
  el.hidden = false;
}

/** Ask for one line of text; resolves to the trimmed text, or null when cancelled or left empty. */
export function textDialog({ title, label, id, submitLabel }) {
  return formDialog({ title, submitId: `${id}-submit`, submitLabel, fill: (form) => {
    const input = h("input", { type: "text", class: "text-input", id, spellcheck: "false", autocomplete: "off" });
    form.append(h("label", { class: "field" }, h("span", { text: label }), input));
    return () => input.value.trim() || null;
  } });
}

/** Re-link the model to another Civitai model (and version): the server fetches it and rewrites the sidecar. */
export function relinkDialog(pageType, item, changed) {
  let civitai = {};
  try { civitai = typeof item.civitai === "string" ? JSON.parse(item.civitai) : (item.civitai || {}); } catch { civitai = {}; }
  openDialog({
    title: t("manager.relink.title", { name: item.model_name || item.file_name }),
    className: "modal-small",
    build: (body, close) => {
      const idInput = (id, value) => h("input", { type: "number", min: "1", step: "1", class: "text-input", id,
        value: value ? String(value) : "", inputmode: "numeric" });
      const modelInput = idInput("relink-model-id", civitai.modelId);
      const versionInput = idInput("relink-version-id", "");
      const error = formError();
      const submit = async (event) => {
        event.preventDefault();
        const modelId = Number(modelInput.value);
        const versionText = versionInput.value.trim();
        const versionId = versionText ? Number(versionText) : null;
        if (!Number.isInteger(modelId) || modelId < 1 || (versionId !== null && (!Number.isInteger(versionId) || versionId < 1))) {
          showError(error, t("manager.relink.invalid"));
          return;
        }
        const payload = { file_path: item.file_path, model_id: modelId };
        if (versionId !== null) payload.model_version_id = versionId;
        try {
          await postJson(`/api/lm/${pageType}/relink-civitai`, payload);
          close();
          toast(t("manager.relink.done"), { kind: "success" });
          changed();
        } catch (err) {
          showError(error, err.message);
        }
      };
      body.append(h("form", { class: "form", novalidate: true, onsubmit: submit },
        h("label", { class: "field" }, h("span", { text: t("manager.relink.model_id") }), modelInput),
        h("label", { class: "field" }, h("span", { text: t("manager.relink.version_id") }), versionInput),
        error,
        h("div", { class: "modal-actions" },
          h("button", { type: "button", class: "btn", text: t("common.cancel"), onclick: close }),
          h("button", { type: "submit", class: "btn btn-primary", id: "relink-submit", text: t("manager.relink.submit") }))));
      modelInput.focus();
    },
  });
}

export function renameDialog(pageType, item, changed) {
  openDialog({
    title: t("manager.rename.title", { name: item.model_name || item.file_name }),
    className: "modal-small",
    build: (body, close) => {
      const input = h("input", { type: "text", class: "text-input", id: "rename-input", value: item.file_name,
        autofocus: true, spellcheck: "false", autocomplete: "off" });
      const error = formError();
      const submit = async (event) => {
        event.preventDefault();
        const value = input.value.trim();
        if (!value || value === item.file_name) { close(); return; }
        try {
          await postJson(`/api/lm/${pageType}/rename`, { file_path: item.file_path, new_file_name: value });
          close();
          toast(t("manager.rename.done", { name: value }), { kind: "success" });
          changed();
        } catch (err) {
          showError(error, err.message);
        }
      };
      body.append(h("form", { class: "form", onsubmit: submit },
        h("label", { class: "field" }, h("span", { text: t("manager.rename.label") }), input),
        h("p", { class: "muted", text: t("manager.rename.hint") }),
        error,
        h("div", { class: "modal-actions" },
          h("button", { type: "button", class: "btn", text: t("common.cancel"), onclick: close }),
          h("button", { type: "submit", class: "btn btn-primary", id: "rename-submit", text: t("manager.rename.submit") }))));
      input.select();
    },
  });
}

/** The root that holds ``path`` (the longest one that is a prefix at a separator), or null. */
function rootOf(roots, path) {
  let best = null;
  for (const root of roots) {
    const r = root.replace(/\/+$/, "");
    if ((path === r || path.startsWith(`${r}/`)) && (!best || r.length > best.length)) best = r;
  }
  return best;
}

function treePaths(tree, prefix = "", out = []) {
  for (const name of Object.keys(tree || {}).sort((a, b) => a.localeCompare(b))) {
    const path = prefix ? `${prefix}/${name}` : name;
    out.push(path);
    treePaths(tree[name], path, out);
  }
  return out;
}

/** Move one or more models: a root (the one the first model is in first) and a folder picked from the
 * folder tree or typed. Several models go through ``move_models_bulk``. */
export async function moveDialog(pageType, items, changed) {
  const base = `/api/lm/${pageType}`;
  let roots = [];
  let folders = [];
  try {
    const [r, tree] = await Promise.all([api(`${base}/roots`), api(`${base}/folder-tree`)]);
    roots = r.roots || [];
    folders = treePaths(tree.tree || {});
  } catch (err) {
    toastError(err.message);
    return;
  }
  if (!roots.length) {
    toastError(t("manager.move.no_roots"));
    return;
  }
  const current = rootOf(roots, items[0].file_path);
  const ordered = current ? [current, ...roots.filter((r) => r.replace(/\/+$/, "") !== current)] : roots;
  openDialog({
    title: items.length === 1 ? t("manager.move.title_one", { name: items[0].model_name || items[0].file_name })
      : t("manager.move.title", { count: items.length }),
    className: "modal-small",
    build: (body, close) => {
      const rootSelect = h("select", { class: "select", id: "move-root" },
        ...ordered.map((r) => h("option", { value: r, text: r })));
      const folderInput = h("input", { type: "text", id: "move-folder", class: "text-input", autocomplete: "off",
        spellcheck: "false", autofocus: true, value: items.length === 1 ? items[0].folder || "" : "" });
      const list = h("div", { class: "folder-picker", id: "move-folder-list", role: "listbox",
        "aria-label": t("manager.move.pick") });
      const error = formError();
      const mark = () => {
        for (const el of list.children) el.setAttribute("aria-selected", String(el.dataset.folder === folderInput.value.trim()));
      };
      let filtering = false; // the whole tree first; typing narrows it
      const drawList = () => {
        const needle = filtering ? folderInput.value.trim().toLowerCase() : "";
        const shown = ["", ...folders].filter((f) => !needle || f.toLowerCase().includes(needle) || f === "");
        list.replaceChildren(...shown.slice(0, 300).map((folder) => h("div", {
          role: "option", class: "folder-option", tabindex: "-1", "aria-selected": "false", dataset: { folder },
          style: `padding-inline-start: ${0.5 + (folder ? folder.split("/").length - 1 : 0) * 0.9}rem`,
          text: folder ? folder.split("/").pop() : t("manager.move.root_folder"), title: folder || "/",
          onclick: () => { folderInput.value = folder; mark(); },
        })));
        mark();
        const picked = list.querySelector("[aria-selected='true']");
        if (picked && !filtering) picked.scrollIntoView({ block: "nearest" });
      };
      folderInput.addEventListener("input", () => { filtering = true; drawList(); });
      const submit = async (event) => {
        event.preventDefault();
        const rel = folderInput.value.trim().replace(/^\/+|\/+$/g, "");
        const target = rel ? `${rootSelect.value.replace(/\/+$/, "")}/${rel}` : rootSelect.value;
        try {
          if (items.length === 1) {
            const result = await postJson(`${base}/move_model`, { file_path: items[0].file_path, target_path: target });
            toast(result.message || t("manager.move.done_one", { folder: rel || "/" }), { kind: "success" });
          } else {
            const result = await postJson(`${base}/move_models_bulk`, { file_paths: items.map((i) => i.file_path),
              target_path: target });
            toast(t("manager.move.done", { count: result.success_count ?? items.length }), { kind: "success" });
          }
          close();
          changed();
        } catch (err) {
          const failures = (err.body && err.body.results || []).filter((r) => !r.success).map((r) => r.message);
          showError(error, failures.length ? failures.join("; ") : err.message);
          if (err.body && err.body.success_count) changed();
        }
      };
      body.append(h("form", { class: "form", onsubmit: submit },
        h("label", { class: "field" }, h("span", { text: t("manager.move.root") }), rootSelect),
        h("label", { class: "field" }, h("span", { text: t("manager.move.folder") }), folderInput),
        list,
        error,
        h("div", { class: "modal-actions" },
          h("button", { type: "button", class: "btn", text: t("common.cancel"), onclick: close }),
          h("button", { type: "submit", class: "btn btn-primary", id: "move-submit", text: t("manager.move.submit") }))));
      drawList();
    },
  });
}

/** Replace the preview from a file upload or from a URL the server downloads. */
export function previewDialog(pageType, item, changed) {
  const endpoint = `/api/lm/${pageType}/replace-preview`;
  openDialog({
    title: t("manager.preview.title", { name: item.model_name || item.file_name }),
    className: "modal-small",
    build: (body, close) => {
      const file = h("input", { type: "file", id: "preview-file", accept: "image/*,video/mp4,video/webm" });
      const url = h("input", { type: "url", id: "preview-url", class: "text-input", placeholder: "https://…", autocomplete: "off" });
      const error = formError();
      const submitButton = h("button", { type: "submit", class: "btn btn-primary", id: "preview-submit", text: t("manager.preview.submit") });
      const submit = async (event) => {
        event.preventDefault();
        const chosen = file.files && file.files[0];
        const link = url.value.trim();
        if (!chosen && !link) { showError(error, t("manager.preview.choose")); return; }
        submitButton.disabled = true;
        try {
          if (chosen) {
            const form = new FormData();
            form.append("model_path", item.file_path);
            form.append("preview_file", chosen, chosen.name);
            await postForm(endpoint, form);
          } else {
            await postJson(endpoint, { file_path: item.file_path, url: link });
          }
          close();
          toast(t("manager.preview.done"), { kind: "success" });
          changed();
        } catch (err) {
          showError(error, err.message);
        } finally {
          submitButton.disabled = false;
        }
      };
      body.append(h("form", { class: "form", onsubmit: submit },
        h("label", { class: "field" }, h("span", { text: t("manager.preview.file") }), file),
        h("label", { class: "field" }, h("span", { text: t("manager.preview.url") }), url),
        error,
        h("div", { class: "modal-actions" },
          h("button", { type: "button", class: "btn", text: t("common.cancel"), onclick: close }), submitButton)));
    },
  });
}

const RATINGS = [[1, "PG"], [2, "PG13"], [4, "R"], [8, "X"], [16, "XXX"]];

/** Set the preview's content rating (Civitai's level flags), saved to the sidecar's ``preview_nsfw_level``. */
export function ratingDialog(pageType, item, changed) {
  const current = Number(item.preview_nsfw_level) || 0;
  openDialog({
    title: t("manager.rating.title", { name: item.model_name || item.file_name }),
    className: "modal-small",
    build: (body, close) => {
      const error = formError();
      const choices = [[0, "unknown"], ...RATINGS].map(([value, key]) => h("label", { class: "check-row" },
        h("input", { type: "radio", name: "nsfw-rating", value: String(value), checked: value === current,
          id: `rating-${value}` }),
        h("span", { text: t(`manager.rating.level_${key}`) })));
      const submit = async (event) => {
        event.preventDefault();
        const picked = body.querySelector("input[name='nsfw-rating']:checked");
        const value = picked ? Number(picked.value) : 0;
        try {
          await postJson(`/api/lm/${pageType}/save-metadata`, { file_path: item.file_path, preview_nsfw_level: value });
          item.preview_nsfw_level = value;
          close();
          toast(t("manager.rating.done"), { kind: "success" });
          changed();
        } catch (err) {
          showError(error, err.message);
        }
      };
      body.append(h("form", { class: "form", onsubmit: submit },
        h("fieldset", { class: "fieldset" }, h("legend", { text: t("manager.rating.legend") }), ...choices),
        error,
        h("div", { class: "modal-actions" },
          h("button", { type: "button", class: "btn", text: t("common.cancel"), onclick: close }),
          h("button", { type: "submit", class: "btn btn-primary", id: "rating-submit", text: t("common.save") }))));
      const checked = body.querySelector("input[name='nsfw-rating']:checked") || body.querySelector("input[name='nsfw-rating']");
      if (checked) checked.focus();
    },
  });
}
