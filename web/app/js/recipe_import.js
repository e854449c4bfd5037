// Recipe import: drop/choose an image or paste its URL -> analyse -> review resources and parameters -> name, tags -> save.
import { postForm, postJson } from "./api.js";
import { openDialog } from "./dialog.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { renderParams, renderResources } from "./recipe_view.js";
import { toast } from "./toast.js";

const NO_METADATA_STATUS = 422;

/** An analysed LoRA in the recipe file's own shape (the analysis names the version id ``id``, the strength ``weight``). */
function recipeLora(item) {
  const lora = { file_name: item.file_name || "", hash: item.hash || "", strength: item.weight ?? item.strength ?? 1,
    modelVersionId: item.id || item.modelVersionId || 0, modelName: item.name || item.modelName || "",
    modelVersionName: item.version || item.modelVersionName || "", isDeleted: Boolean(item.isDeleted) };
  if (item.modelId) lora.modelId = item.modelId;
  if (item.clipStrength !== undefined) lora.clipStrength = item.clipStrength;
  return lora;
}

const splitTags = (text) => [...new Set(text.split(",").map((s) => s.trim()).filter(Boolean))];

/** A readable default name: the analysis title, else the first words of the prompt, else the file name. */
function defaultName(analysis, fileName) {
  if (analysis.title) return String(analysis.title);
  const prompt = String((analysis.gen_params || {}).prompt || "").replace(/[<>()[\]{}]/g, " ").trim();
  if (prompt) return prompt.split(/[\s,]+/).filter(Boolean).slice(0, 8).join(" ");
  return (fileName || "").replace(/\.[^.]+$/, "") || t("manager.recipes.untitled");
}

/** Open the import dialog; ``onSaved(answer)`` runs after a recipe was saved. */
export function openRecipeImport({ onSaved } = {}) {
  let source = null; // {file} or {url, base64}
  let analysis = null;

  openDialog({
    title: t("manager.recipes.import_title"),
    className: "recipe-import-modal",
    build: (body, close) => {
      const fileInput = h("input", { type: "file", id: "recipe-file", accept: "image/*,video/mp4,video/webm", class: "sr-only",
        onchange: () => { if (fileInput.files[0]) analyseFile(fileInput.files[0]); } });
      const chooseBtn = h("button", { type: "button", class: "btn", id: "recipe-choose", text: t("manager.recipes.choose_file"),
        onclick: () => fileInput.click() });
      const drop = h("div", { class: "drop-zone", id: "recipe-drop", tabindex: "0", role: "button",
        "aria-label": t("manager.recipes.drop_hint") },
      h("p", { text: t("manager.recipes.drop_hint") }), chooseBtn, fileInput);
      drop.addEventListener("keydown", (event) => {
        if ((event.key === "Enter" || event.key === " ") && event.target === drop) { event.preventDefault(); fileInput.click(); }
      });
      for (const name of ["dragenter", "dragover"]) {
        drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("drag-over"); });
      }
      drop.addEventListener("dragleave", () => drop.classList.remove("drag-over"));
      drop.addEventListener("drop", (event) => {
        event.preventDefault();
        drop.classList.remove("drag-over");
        const file = event.dataTransfer && event.dataTransfer.files[0];
        if (file) { analyseFile(file); return; }
        const text = event.dataTransfer && (event.dataTransfer.getData("text/uri-list") || event.dataTransfer.getData("text/plain"));
        if (text) { urlInput.value = text.split("\n")[0].trim(); analyseUrl(); }
      });
      const urlInput = h("input", { type: "url", id: "recipe-url", class: "text-input", autocomplete: "off",
        placeholder: "https://civitai.com/images/12345", "aria-label": t("manager.recipes.url_label") });
      const urlForm = h("form", { class: "row", onsubmit: (event) => { event.preventDefault(); analyseUrl(); } },
        urlInput, h("button", { type: "submit", class: "btn", id: "recipe-analyze-url", text: t("manager.recipes.analyze") }));
      const status = h("p", { class: "form-status", id: "recipe-import-status", role: "status", "aria-live": "polite" });
      const error = h("div", { class: "import-error", id: "recipe-import-error", role: "alert", hidden: true });
      const result = h("div", { class: "import-result", id: "recipe-import-result", hidden: true });
      body.append(h("div", { class: "import-sources" }, drop,
        h("label", { class: "field" }, h("span", { text: t("manager.recipes.url_label") }), urlForm)), status, error, result);

      function busy(text) {
        status.className = "form-status";
        status.textContent = text;
        error.hidden = true;
        result.hidden = true;
      }

      function fail(err) {
        status.textContent = "";
        const noMetadata = err.status === NO_METADATA_STATUS || /no generation metadata/i.test(err.message || "");
        error.replaceChildren(
          h("strong", { text: noMetadata ? t("manager.recipes.no_metadata") : t("manager.recipes.analyze_failed") }),
          h("p", { text: noMetadata ? t("manager.recipes.no_metadata_hint") : err.message }));
        error.classList.toggle("no-metadata", noMetadata);
        error.hidden = false;
      }

      async function analyseFile(file) {
        busy(t("manager.recipes.analyzing"));
        source = { file };
        const form = new FormData();
        form.append("image", file, file.name || "image.png");
        try {
          show(await postForm("/api/lm/recipes/analyze-image", form), file.name);
        } catch (err) {
          fail(err);
        }
      }

      async function analyseUrl() {
        const url = urlInput.value.trim();
        if (!url) { urlInput.focus(); return; }
        busy(t("manager.recipes.analyzing"));
        try {
          const answer = await postJson("/api/lm/recipes/analyze-image", { url });
          source = { url, base64: answer.image_base64 || "" };
          show(answer, url.split("/").pop());
        } catch (err) {
          fail(err);
        }
      }

      function show(answer, fileName) {
        analysis = answer;
        status.textContent = "";
        const preview = source.file
          ? (answer.is_video ? h("video", { src: URL.createObjectURL(source.file), muted: true, loop: true, autoplay: true, class: "import-preview" })
            : h("img", { src: URL.createObjectURL(source.file), alt: "", class: "import-preview" }))
          : (source.base64 ? h("img", { src: `data:image/${(answer.extension || ".png").slice(1)};base64,${source.base64}`, alt: "",
            class: "import-preview" }) : h("div", { class: "import-preview no-preview", text: t("manager.details.no_preview") }));
        const nameInput = h("input", { type: "text", class: "text-input", id: "recipe-name", value: defaultName(answer, fileName), required: true });
        const tagsInput = h("input", { type: "text", class: "text-input", id: "recipe-tags",
          value: Array.isArray(answer.tags) ? answer.tags.join(", ") : "", placeholder: t("manager.recipes.tags_hint") });
        const saveStatus = h("p", { class: "form-status", id: "recipe-save-status", role: "status" });
        const duplicates = (answer.matching_recipes || []).length
          ? h("p", { class: "notice", id: "recipe-duplicates", text: t("manager.recipes.duplicates", { count: answer.matching_recipes.length }) }) : null;
        const save = async (event) => {
          event.preventDefault();
          const name = nameInput.value.trim();
          if (!name) { nameInput.focus(); return; }
          const form = new FormData();
          if (source.file) form.append("image", source.file, source.file.name || `image${answer.extension || ".png"}`);
          else form.append("image_base64", source.base64);
          form.append("name", name);
          form.append("tags", JSON.stringify(splitTags(tagsInput.value)));
          const metadata = { base_model: answer.base_model || "", loras: (answer.loras || []).map(recipeLora), gen_params: answer.gen_params || {} };
          if (answer.checkpoint) metadata.checkpoint = answer.checkpoint;
          if (source.url) metadata.source_path = source.url;
          form.append("metadata", JSON.stringify(metadata));
          if (answer.extension) form.append("extension", answer.extension);
          saveStatus.className = "form-status";
          saveStatus.textContent = t("manager.details.saving");
          try {
            const saved = await postForm("/api/lm/recipes/save", form);
            close();
            toast(t("manager.recipes.saved", { name }), { kind: "success" });
            if (onSaved) onSaved(saved);
          } catch (err) {
            saveStatus.textContent = err.message;
            saveStatus.classList.add("form-error");
          }
        };
        result.replaceChildren(h("div", { class: "details-grid" },
          h("div", { class: "details-side" }, preview,
            h("dl", { class: "facts" }, h("dt", { text: t("library.base_model") }),
              h("dd", { id: "import-base-model", text: answer.base_model || t("manager.card.unknown_base") }))),
          h("div", { class: "details-main" },
            renderResources({ checkpoint: answer.checkpoint, loras: answer.loras }),
            h("h3", { class: "filter-title", text: t("manager.recipes.parameters") }),
            renderParams(answer.gen_params),
            duplicates,
            h("form", { class: "form", id: "recipe-save-form", onsubmit: save },
              h("label", { class: "field" }, h("span", { text: t("manager.recipes.name") }), nameInput),
              h("label", { class: "field" }, h("span", { text: t("library.tags") }), tagsInput),
              h("div", { class: "modal-actions" }, saveStatus,
                h("button", { type: "button", class: "btn", text: t("common.cancel"), onclick: close }),
                h("button", { type: "submit", class: "btn btn-primary", id: "recipe-save", text: t("manager.recipes.save") }))))));
        result.hidden = false;
      }
    },
  });
}
