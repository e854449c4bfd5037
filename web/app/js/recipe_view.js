// Pieces shared by the recipe details and the import dialog: generation parameters and the resource list.
import { h, isVideoUrl } from "./dom.js";
import { t } from "./i18n.js";

const PARAM_ORDER = ["prompt", "negative_prompt", "steps", "sampler", "scheduler", "cfg_scale", "seed", "size",
  "clip_skip", "denoising_strength"];

/** The generation parameters as a definition list (prompts first, then the known keys, then the rest). */
export function renderParams(params) {
  const entries = Object.entries(params || {}).filter(([, value]) => value !== null && value !== undefined && value !== "");
  if (!entries.length) return h("p", { class: "muted", text: t("manager.recipes.no_params") });
  entries.sort(([a], [b]) => {
    const ia = PARAM_ORDER.indexOf(a);
    const ib = PARAM_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  return h("dl", { class: "facts recipe-params" }, ...entries.flatMap(([key, value]) => {
    const label = PARAM_ORDER.includes(key) ? t(`manager.recipes.param_${key}`) : key;
    const text = typeof value === "object" ? JSON.stringify(value) : String(value);
    return [h("dt", { text: label }), h("dd", { class: key.endsWith("prompt") ? "prompt-text" : "", dataset: { param: key }, text })];
  }));
}

/** The status word and class of a LoRA/checkpoint: in library, missing, deleted or unknown. */
export function resourceStatus(item) {
  if (item.isDeleted) return ["deleted", t("manager.recipes.status_deleted")];
  const inLibrary = item.inLibrary ?? item.existsLocally;
  if (inLibrary) return ["in-library", t("manager.versions.in_library")];
  if (item.matchStatus === "unknown") return ["unknown", t("manager.recipes.status_unknown")];
  return ["missing", t("manager.recipes.status_missing")];
}

function resourceRow(item, kind) {
  const [status, label] = resourceStatus(item);
  const name = item.modelName || item.name || item.file_name || t("manager.recipes.unnamed");
  const version = item.modelVersionName || item.version || "";
  const strength = kind === "lora" ? (item.strength ?? item.weight) : null;
  const preview = item.preview_url || item.thumbnailUrl || "";
  const media = preview && !isVideoUrl(preview)
    ? h("img", { src: preview, alt: "", loading: "lazy", class: "resource-thumb" })
    : h("span", { class: "resource-thumb", "aria-hidden": "true", text: name.slice(0, 1).toUpperCase() });
  return h("li", { class: `resource resource-${status}`, dataset: { kind, status, fileName: item.file_name || "" } },
    media,
    h("span", { class: "resource-text" },
      h("strong", { class: "resource-name", text: name }),
      h("span", { class: "muted", text: [version, item.file_name && item.file_name !== name ? item.file_name : ""].filter(Boolean).join(" · ") })),
    strength !== null && strength !== undefined && Number.isFinite(Number(strength)) ? h("span", { class: "resource-strength",
      text: `${t("manager.details.strength")}: ${Number(Number(strength).toFixed(2))}` }) : null,
    h("span", { class: `badge badge-${status}`, text: label }));
}

/** The checkpoint and LoRAs of a recipe (or of an analysed image) with their in-library status. */
export function renderResources({ checkpoint, loras }) {
  const list = h("ul", { class: "resource-list" });
  if (checkpoint && (checkpoint.name || checkpoint.modelName || checkpoint.file_name)) list.append(resourceRow(checkpoint, "checkpoint"));
  for (const lora of loras || []) list.append(resourceRow(lora, "lora"));
  const wrap = h("div", { class: "resources" },
    h("h3", { class: "filter-title", text: t("manager.recipes.resources") }));
  if (!list.children.length) wrap.append(h("p", { class: "muted", text: t("manager.recipes.no_loras") }));
  else wrap.append(list);
  return wrap;
}

/** How many LoRAs of a recipe are not in the library. */
export function missingCount(recipe) {
  return (recipe.loras || []).filter((lora) => !lora.isDeleted && !(lora.inLibrary ?? lora.existsLocally)).length;
}
