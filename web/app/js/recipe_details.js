// Recipe details dialog: image, parameters, resources with library status, copy syntax, download missing, delete.
import { api, postJson } from "./api.js";
import { openDialog } from "./dialog.js";
import { h, isVideoUrl } from "./dom.js";
import { t } from "./i18n.js";
import { applyBlur } from "./nsfw.js";
import { missingCount, renderParams, renderResources } from "./recipe_view.js";
import { toast, toastError } from "./toast.js";

/** The host (ComfyUI) may offer ``window.LoraManagerHost.sendRecipeToWorkflow(recipe)``; standalone has none. */
function workflowHook() {
  const host = window.LoraManagerHost;
  return host && typeof host.sendRecipeToWorkflow === "function" ? host.sendRecipeToWorkflow.bind(host) : null;
}

/** Open a recipe (a list item); ``onDeleted(item, batchId)`` runs after a delete, ``onChanged`` after an edit. */
export function openRecipeDetails(item, { onDeleted, onChanged } = {}) {
  const titleEl = h("span", { class: "recipe-title", text: item.title || t("manager.recipes.untitled") });
  let dialog = null;
  dialog = openDialog({
    title: titleEl,
    className: "modal-details recipe-modal",
    build: (body) => body.append(h("p", { class: "muted", text: t("common.loading") })),
  });
  dialog.modal.dataset.recipeId = item.id;

  api(`/api/lm/recipe/${encodeURIComponent(item.id)}`)
    .then((recipe) => render({ ...item, ...recipe }))
    .catch((err) => dialog.body.replaceChildren(h("p", { class: "form-error", role: "alert", text: err.message })));

  function render(recipe) {
    const url = recipe.file_url || item.file_url;
    const media = url
      ? (isVideoUrl(url)
        ? h("video", { src: url, controls: true, muted: true, loop: true, playsInline: true, class: "details-preview recipe-image" })
        : h("img", { src: url, alt: recipe.title || "", class: "details-preview recipe-image" }))
      : h("div", { class: "details-preview no-preview", text: t("manager.details.no_preview") });
    const mediaBox = h("div", { class: "details-media" }, media);
    if (url) applyBlur(mediaBox, recipe.preview_nsfw_level, url);
    const favorite = h("input", { type: "checkbox", id: "recipe-favorite", checked: Boolean(recipe.favorite),
      onchange: async () => {
        try {
          await postJson(`/api/lm/recipe/${encodeURIComponent(recipe.id)}/update`, { favorite: favorite.checked });
          recipe.favorite = favorite.checked;
          if (onChanged) onChanged(recipe);
        } catch (err) {
          favorite.checked = !favorite.checked;
          toastError(err.message);
        }
      } });
    const facts = h("dl", { class: "facts" },
      h("dt", { text: t("library.base_model") }), h("dd", { id: "recipe-base-model", text: recipe.base_model || t("manager.card.unknown_base") }),
      h("dt", { text: t("manager.recipes.created") }), h("dd", { text: recipe.created_date_formatted || "" }),
      recipe.tags && recipe.tags.length ? [h("dt", { text: t("library.tags") }), h("dd", { text: recipe.tags.join(", ") })] : null,
      recipe.source_path ? [h("dt", { text: t("manager.recipes.source") }), h("dd", { class: "break" },
        /^https?:\/\//.test(recipe.source_path) ? h("a", { href: recipe.source_path, target: "_blank", rel: "noopener noreferrer",
          text: recipe.source_path }) : recipe.source_path)] : null);
    const missing = missingCount(recipe);
    const actions = h("div", { class: "row recipe-actions" },
      h("button", { type: "button", class: "btn", id: "recipe-copy-syntax", text: t("manager.details.copy_syntax"), onclick: copySyntax }),
      missing ? h("button", { type: "button", class: "btn", id: "recipe-download-missing",
        text: t("manager.recipes.download_missing", { count: missing }), onclick: (event) => downloadMissing(event.currentTarget) }) : null,
      workflowHook() ? h("button", { type: "button", class: "btn", id: "recipe-send-workflow", text: t("manager.recipes.send_to_workflow"),
        onclick: () => workflowHook()(recipe) }) : null,
      h("button", { type: "button", class: "btn btn-danger", id: "recipe-delete", text: t("common.delete"), onclick: remove }));

    dialog.body.replaceChildren(h("div", { class: "details-grid" },
      h("div", { class: "details-side" }, mediaBox, facts,
        h("label", { class: "check-row" }, favorite, h("span", { text: t("library.favorites") }))),
      h("div", { class: "details-main" }, actions,
        renderResources({ checkpoint: recipe.checkpoint, loras: recipe.loras }),
        h("h3", { class: "filter-title", text: t("manager.recipes.parameters") }),
        renderParams(recipe.gen_params))));

    async function copySyntax() {
      try {
        const body = await api(`/api/lm/recipe/${encodeURIComponent(recipe.id)}/syntax`);
        await navigator.clipboard.writeText(body.syntax);
        toast(t("manager.details.copied", { text: body.syntax }), { kind: "success" });
      } catch (err) {
        toastError(err instanceof Error && err.name !== "NotAllowedError" ? err.message : t("manager.details.copy_failed"));
      }
    }

    async function downloadMissing(button) {
      button.disabled = true;
      try {
        const body = await postJson(`/api/lm/recipe/${encodeURIComponent(recipe.id)}/download-missing`, {});
        const queued = (body.queued || []).length;
        const failed = (body.missing || []).filter((m) => m.error);
        if (failed.length) toastError(`${t("manager.recipes.download_queued", { count: queued })} — ${failed[0].name}: ${failed[0].error}`);
        else toast(queued ? t("manager.recipes.download_queued", { count: queued }) : (body.message || t("manager.recipes.nothing_missing")),
          { kind: "success" });
      } catch (err) {
        toastError(err.message);
        button.disabled = false;
      }
    }

    async function remove() {
      try {
        const body = await api(`/api/lm/recipe/${encodeURIComponent(recipe.id)}`, { method: "DELETE" });
        dialog.close();
        if (onDeleted) onDeleted(recipe, body.batch_id);
      } catch (err) {
        toastError(err.message);
      }
    }
  }
  return dialog;
}
