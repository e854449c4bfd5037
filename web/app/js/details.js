// Model details dialog: metadata, identity report, edits saved to the sidecar, Civitai versions, example images.
import { api, postJson } from "./api.js";
import { openDialog } from "./dialog.js";
import { formatBytes, h, isVideoUrl } from "./dom.js";
import { t } from "./i18n.js";
import { copyLabel, copyText, deleteModel, moveDialog, previewDialog, refreshMetadata, renameDialog, setExcluded,
  syntaxFor } from "./model_actions.js";
import { applyBlur } from "./nsfw.js";
import { toast, toastError } from "./toast.js";

const CIVITAI_WEB = "https://civitai.com";

function parseTips(text) {
  try {
    const value = JSON.parse(text || "{}");
    return value && typeof value === "object" && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}

const splitList = (text) => [...new Set(text.split(",").map((s) => s.trim()).filter(Boolean))];

/** Open the dialog for one list item; ``onSaved`` runs after a successful save. */
export function openDetails(pageType, item, { onSaved } = {}) {
  const base = `/api/lm/${pageType}`;
  const isLora = pageType === "loras";
  const nameEl = h("span", { class: "model-name-content", text: item.model_name || item.file_name });
  const tabs = [
    ["overview", "manager.details.tab_overview"], ["identity", "manager.details.tab_identity"],
    ["metadata", "manager.details.tab_metadata"], ["versions", "manager.details.tab_versions"],
  ];
  const panels = {};
  const tabButtons = {};
  const examples = item.sha256 ? exampleImagesSection(item.sha256) : null;

  const dialog = openDialog({
    title: nameEl,
    className: "modal-details",
    onClose: () => { if (examples) examples.stop(); },
    build: (body) => {
      const tabList = h("div", { class: "tabs", role: "tablist", "aria-label": t("manager.details.tabs") });
      for (const [id, key] of tabs) {
        const button = h("button", { type: "button", role: "tab", class: "tab", id: `tab-${id}`, "aria-controls": `panel-${id}`,
          "aria-selected": String(id === "overview"), tabindex: id === "overview" ? "0" : "-1", text: t(key),
          dataset: { tab: id }, onclick: () => select(id) });
        tabButtons[id] = button;
        tabList.append(button);
        panels[id] = h("div", { class: "tab-panel", role: "tabpanel", id: `panel-${id}`, "aria-labelledby": `tab-${id}`,
          hidden: id !== "overview" }, h("p", { class: "muted", text: t("common.loading") }));
      }
      tabList.addEventListener("keydown", (event) => {
        const ids = tabs.map(([id]) => id);
        const current = ids.indexOf(event.target.dataset.tab);
        if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
          event.preventDefault();
          const next = ids[(current + (event.key === "ArrowRight" ? 1 : ids.length - 1)) % ids.length];
          select(next);
          tabButtons[next].focus();
        }
      });
      body.append(tabList, ...Object.values(panels));
    },
  });

  function select(id) {
    for (const [tab, button] of Object.entries(tabButtons)) {
      button.setAttribute("aria-selected", String(tab === id));
      button.tabIndex = tab === id ? 0 : -1;
      panels[tab].hidden = tab !== id;
    }
    if (id === "versions" && !panels.versions.dataset.loaded) loadVersions();
  }

  const query = { file_path: item.file_path };
  const metadataP = api(`${base}/metadata`, { query }).then((b) => b.metadata || {});
  const infoP = api(`${base}/info`, { query });
  const urlP = api(`${base}/civitai-url`, { query }).catch(() => ({}));

  Promise.allSettled([metadataP, infoP, urlP]).then(([meta, info, url]) => {
    const metadata = meta.status === "fulfilled" ? meta.value : {};
    renderOverview(metadata, url.status === "fulfilled" ? url.value : {});
    if (info.status === "fulfilled") renderIdentity(info.value);
    else panels.identity.replaceChildren(h("p", { class: "form-error", role: "alert", text: info.reason.message }));
    renderMetadata(meta.status === "fulfilled" ? metadata : null, meta.status === "rejected" ? meta.reason : null);
  });

  // -- overview: the editable fields -------------------------------------------------------------
  function renderOverview(metadata, link) {
    const tips = parseTips(item.usage_tips);
    const civitai = metadata.civitai && typeof metadata.civitai === "object" ? metadata.civitai : {};
    const words = Array.isArray(civitai.trainedWords) ? civitai.trainedWords : (item.civitai && item.civitai.trainedWords) || [];
    const media = item.preview_url
      ? (isVideoUrl(item.preview_url)
        ? h("video", { src: item.preview_url, muted: true, loop: true, autoplay: true, playsInline: true, class: "details-preview" })
        : h("img", { src: item.preview_url, alt: t("library.preview"), class: "details-preview" }))
      : h("div", { class: "details-preview no-preview", text: t("manager.details.no_preview") });
    const mediaBox = h("div", { class: "details-media" }, media);
    if (item.preview_url) applyBlur(mediaBox, item.preview_nsfw_level, item.preview_url);
    const field = (key, input) => h("label", { class: "field" }, h("span", { text: t(key) }), input);
    const nameInput = h("input", { type: "text", class: "text-input", id: "edit-name", value: item.model_name || "" });
    const favorite = h("input", { type: "checkbox", id: "edit-favorite", checked: Boolean(item.favorite) });
    const tagsInput = h("input", { type: "text", class: "text-input", id: "edit-tags", value: (item.tags || []).join(", ") });
    const wordsInput = h("input", { type: "text", class: "text-input", id: "edit-trigger-words", value: words.join(", ") });
    const notes = h("textarea", { class: "text-input", id: "edit-notes", rows: "4" });
    notes.value = item.notes || "";
    const strength = h("input", { type: "number", class: "text-input", id: "edit-strength", step: "0.05", min: "-10", max: "10",
      value: String(tips.strength ?? 1) });
    const clip = h("input", { type: "number", class: "text-input", id: "edit-clip-strength", step: "0.05", min: "-10", max: "10",
      value: tips.clip_strength === undefined ? "" : String(tips.clip_strength), placeholder: t("manager.details.same_as_strength") });
    const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
    const syntax = () => {
      const s = strength.value === "" ? 1 : Number(strength.value);
      const c = clip.value === "" ? null : Number(clip.value);
      return c === null || c === s ? `<lora:${item.file_name}:${s}>` : `<lora:${item.file_name}:${s}:${c}>`;
    };
    const syntaxCode = h("code", { class: "lora-syntax", text: syntax() });
    for (const input of [strength, clip]) input.addEventListener("input", () => { syntaxCode.textContent = syntax(); });
    const copy = h("button", { type: "button", class: "btn", id: "copy-syntax", text: copyLabel(pageType),
      onclick: () => copyText(isLora ? syntax() : syntaxFor(pageType, item)) });
    const civitaiLink = link && link.civitai_url
      ? h("a", { href: link.civitai_url, target: "_blank", rel: "noopener noreferrer", class: "btn", id: "civitai-link",
        text: t("manager.details.open_civitai") })
      : h("span", { class: "muted", text: t("manager.details.no_civitai") });
    const save = async (event) => {
      event.preventDefault();
      const updates = {
        file_path: item.file_path,
        model_name: nameInput.value.trim(),
        notes: notes.value,
        tags: splitList(tagsInput.value),
        favorite: favorite.checked,
        civitai: { trainedWords: splitList(wordsInput.value) },
      };
      if (isLora) {
        const next = { ...tips, strength: strength.value === "" ? 1 : Number(strength.value) };
        if (clip.value === "") delete next.clip_strength; else next.clip_strength = Number(clip.value);
        updates.usage_tips = JSON.stringify(next);
      }
      status.className = "form-status";
      status.textContent = t("manager.details.saving");
      try {
        const result = await postJson(`${base}/save-metadata`, updates);
        if (result.model) Object.assign(item, result.model);
        nameEl.textContent = item.model_name || item.file_name;
        status.textContent = t("manager.details.saved");
        status.classList.add("ok");
        if (onSaved) onSaved(item);
      } catch (err) {
        status.textContent = err.message;
        status.classList.add("form-error");
      }
    };
    const facts = h("dl", { class: "facts" },
      h("dt", { text: t("library.base_model") }), h("dd", { text: item.base_model || t("manager.card.unknown_base") }),
      h("dt", { text: t("library.folder") }), h("dd", { text: item.folder || "/" }),
      h("dt", { text: t("manager.details.file") }), h("dd", { class: "break", text: item.file_path }),
      h("dt", { text: t("manager.details.size") }), h("dd", { text: formatBytes(item.file_size) }));
    const form = h("form", { class: "form details-form", onsubmit: save },
      field("manager.details.name", nameInput),
      h("label", { class: "check-row" }, favorite, h("span", { text: t("library.favorites") })),
      field("library.tags", tagsInput),
      field("library.trigger_words", wordsInput),
      isLora ? h("fieldset", { class: "fieldset" }, h("legend", { text: t("library.usage_tips") }),
        h("div", { class: "row" }, field("manager.details.strength", strength), field("manager.details.clip_strength", clip))) : null,
      field("library.notes", notes),
      h("div", { class: "modal-actions" }, status, h("button", { type: "submit", class: "btn btn-primary", id: "save-details",
        text: t("common.save") })));
    panels.overview.replaceChildren(h("div", { class: "details-grid" },
      h("div", { class: "details-side" }, mediaBox, facts, isLora ? syntaxCode : null, h("div", { class: "row" }, copy, civitaiLink),
        actionsRow()),
      form), examples ? examples.element : null);
  }

  /** The per-model actions of the card menu; each closes the details (a rename or move changes the model's path). */
  function actionsRow() {
    const changed = () => { if (onSaved) onSaved(item); };
    const action = (id, key, run, extra = "") => h("button", { type: "button", class: `btn btn-small ${extra}`.trim(),
      id: `details-${id}`, text: t(key), onclick: () => { dialog.close(); run(); } });
    return h("div", { class: "row details-actions", role: "group", "aria-label": t("manager.actions.more") },
      action("rename", "manager.actions.rename", () => renameDialog(pageType, item, changed)),
      action("move", "manager.actions.move", () => moveDialog(pageType, [item], changed)),
      action("preview", "manager.actions.replace_preview", () => previewDialog(pageType, item, changed)),
      action("refresh", "manager.actions.refresh", () => refreshMetadata(pageType, item, changed)),
      item.exclude
        ? action("include", "manager.actions.include", () => setExcluded(pageType, item, false, changed))
        : action("exclude", "manager.actions.exclude", () => setExcluded(pageType, item, true, changed)),
      action("delete", "common.delete", () => deleteModel(pageType, item, changed), "btn-danger"));
  }

  // -- identity report -----------------------------------------------------------------------------
  function renderIdentity(info) {
    const id = info.identity || {};
    const rows = [
      ["manager.identity.base_model", info.base_model && info.base_model.value, info.base_model && info.base_model.source],
      ["manager.identity.network_type", id.network_type, id.network_type_source],
      ["manager.identity.rank", id.rank, id.rank_source],
      ["manager.identity.alpha", id.alpha, id.alpha_source],
      ["manager.identity.vram", formatBytes(info.vram_estimate_bytes), id.vram_estimate_source],
      ["manager.identity.hash_status", info.hashes && info.hashes.status, ""],
      ["manager.identity.sha256", info.hashes && info.hashes.sha256, ""],
      ["manager.identity.autov2", info.hashes && info.hashes.autov2, ""],
      ["manager.identity.autov3", info.hashes && info.hashes.autov3, ""],
      ["manager.identity.status", info.status, info.status_reason],
    ];
    const table = h("table", { class: "identity-table" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col", text: t("manager.identity.field") }),
        h("th", { scope: "col", text: t("manager.identity.value") }), h("th", { scope: "col", text: t("manager.identity.source") }))),
      h("tbody", {}, ...rows.map(([key, value, source]) => h("tr", {},
        h("th", { scope: "row", text: t(key) }),
        h("td", { class: "break", text: value === null || value === undefined || value === "" ? "—" : String(value) }),
        h("td", { class: "muted", text: source || "" })))));
    panels.identity.replaceChildren(table);
  }

  function renderMetadata(metadata, error) {
    if (error) {
      panels.metadata.replaceChildren(h("p", { class: "form-error", role: "alert", text: error.message }));
      return;
    }
    const entries = Object.entries(metadata || {});
    if (!entries.length) {
      panels.metadata.replaceChildren(h("p", { class: "muted", text: t("manager.details.no_metadata") }));
      return;
    }
    panels.metadata.replaceChildren(h("pre", { class: "metadata-json", tabindex: "0", text: JSON.stringify(metadata, null, 2) }));
  }

  // -- versions (keeps the browser extension's DOM hooks) -----------------------------------------
  function loadVersions() {
    const panel = panels.versions;
    panel.dataset.loaded = "1";
    const modelId = item.civitai && item.civitai.modelId;
    const container = h("div", { class: "model-versions-tab", dataset: { modelId: modelId ? String(modelId) : "" } });
    panel.replaceChildren(container);
    if (!modelId) {
      container.append(h("p", { class: "muted", text: t("manager.versions.not_linked") }));
      return;
    }
    const fetchVersions = async () => {
      container.replaceChildren(h("p", { class: "muted", text: t("common.loading") }));
      try {
        const body = await api("/api/lm/model-versions-status", { query: { modelId } });
        renderVersions(container, body, modelId);
      } catch (err) {
        container.replaceChildren(h("p", { class: "form-error", role: "alert",
          text: t("manager.versions.error", { error: err.message }) }));
      }
    };
    container.addEventListener("lm:refreshVersions", fetchVersions);
    fetchVersions();
  }

  function renderVersions(container, body, modelId) {
    const versions = body.versions || [];
    if (!versions.length) {
      container.replaceChildren(h("p", { class: "muted", text: t("manager.versions.none") }));
      return;
    }
    container.replaceChildren(...versions.map((version) => {
      const url = `${CIVITAI_WEB}/models/${modelId}?modelVersionId=${version.id}`;
      const status = version.inLibrary ? t("manager.versions.in_library")
        : version.hasBeenDownloaded ? t("manager.versions.downloaded_before") : "";
      const media = h("div", { class: "version-media" });
      if (version.thumbnailUrl && /\.(mp4|webm)(\?|$)/i.test(version.thumbnailUrl)) {
        media.append(h("video", { src: version.thumbnailUrl, muted: true, loop: true, playsInline: true, preload: "metadata" }));
      } else if (version.thumbnailUrl) {
        media.append(h("img", { src: version.thumbnailUrl, alt: "", loading: "lazy" }));
      }
      const download = version.inLibrary ? null : h("button", { type: "button", class: "btn btn-small",
        dataset: { versionAction: "download" }, text: t("manager.versions.download"),
        onclick: (event) => downloadVersion(event, modelId, version) });
      return h("div", { class: "model-version-row", dataset: { versionId: String(version.id), civitaiUrl: url } },
        media,
        h("div", { class: "version-info" },
          h("a", { class: "versions-tab-version-name", href: url, target: "_blank", rel: "noopener noreferrer", text: version.name }),
          status ? h("span", { class: "badge", text: status }) : null),
        download);
    }));
  }

  async function downloadVersion(event, modelId, version) {
    if (event.defaultPrevented) return; // the browser extension took the click
    const button = event.currentTarget;
    button.disabled = true;
    toast(t("manager.versions.download_started", { name: version.name }));
    try {
      await postJson("/api/lm/download-model", { model_id: modelId, model_version_id: version.id, use_default_paths: true });
      toast(t("manager.versions.download_done", { name: version.name }), { kind: "success" });
      const container = button.closest(".model-versions-tab");
      if (container) container.dispatchEvent(new CustomEvent("lm:refreshVersions"));
    } catch (err) {
      toastError(err.message);
      button.disabled = false;
    }
  }
}

/** The "Example images" section of one model: its stored files (``GET /api/lm/example-images/{sha256}``),
 * loaded when the details open and again when a run ends. ``stop()`` detaches it when the dialog closes. */
function exampleImagesSection(sha256) {
  const headingId = `examples-title-${sha256.slice(0, 12)}`;
  const content = h("div", { class: "example-images-content" }, h("p", { class: "muted", text: t("common.loading") }));
  const element = h("section", { class: "example-images", id: "example-images", "aria-labelledby": headingId },
    h("h3", { class: "example-images-title", id: headingId, text: t("manager.examples.title") }), content);
  let request = null;

  const render = (files) => {
    if (!files.length) {
      content.replaceChildren(h("p", { class: "muted", id: "example-images-empty", text: t("manager.examples.none") }));
      return;
    }
    content.replaceChildren(h("ul", { class: "example-images-list", id: "example-images-list" }, ...files.map((file, index) => {
      const label = t("manager.examples.item", { number: index + 1, name: file.name });
      const video = file.is_video || isVideoUrl(file.url);
      const media = video
        ? h("video", { src: file.url, muted: true, loop: true, playsInline: true, preload: "metadata", controls: true,
          "aria-label": label })
        : h("img", { src: file.url, alt: label, loading: "lazy" });
      return h("li", { class: `example-image${video ? " is-video" : ""}`, dataset: { name: file.name } },
        media,
        h("a", { href: file.url, target: "_blank", rel: "noopener noreferrer", class: "example-image-open",
          "aria-label": t("manager.examples.open", { name: file.name }), title: file.name, text: "↗" }));
    })));
  };

  const load = async () => {
    if (request) request.abort();
    const controller = new AbortController();
    request = controller;
    try {
      const body = await api(`/api/lm/example-images/${encodeURIComponent(sha256)}`, { signal: controller.signal });
      render(Array.isArray(body.files) ? body.files : []);
    } catch (err) {
      if (err && err.name === "AbortError") return;
      // No folder configured is not a fault of this model: say how to get examples.
      const notSet = err.status === 400 && /example_images_path/.test(err.message || "");
      content.replaceChildren(notSet
        ? h("p", { class: "muted", id: "example-images-empty", text: t("manager.examples.not_configured") })
        : h("p", { class: "form-error", role: "alert", text: t("manager.examples.error", { error: err.message }) }));
    } finally {
      if (request === controller) request = null;
    }
  };

  document.addEventListener("lm:example-images-changed", load);
  load();
  return {
    element,
    stop: () => {
      document.removeEventListener("lm:example-images-changed", load);
      if (request) request.abort();
    },
  };
}
