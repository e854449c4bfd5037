// Values of ComfyUI-Lora-Manager's node widgets, as that project saves them: pure functions (no ComfyUI
// imports), shared by lm_anchor_nodes.js and the tests.

export const META_PREFIX = "__lm_autocomplete_meta_";
export const WIDGET_IDS = "__lm_widget_ids";
export const META_VERSION = 1;

/** The hidden value an autocomplete text widget saves before its text. */
export function metaValue(textWidgetName = "text") {
  return { version: META_VERSION, textWidgetName };
}

const TAG = /<lora:([^:>]+):([-+]?[\d.]+)(?::([-+]?[\d.]+))?>/gi;

/** The `<lora:name:strength[:clip]>` tags of a text, in order (the last tag of a name wins). */
export function parseLoraTags(text) {
  const found = new Map();
  for (const match of String(text || "").matchAll(TAG)) {
    const strength = Number(match[2]);
    if (!Number.isFinite(strength)) continue;
    const clip = match[3] !== undefined && Number.isFinite(Number(match[3])) ? Number(match[3]) : strength;
    found.set(match[1].trim(), { strength, clipStrength: clip });
  }
  return found;
}

/**
 * The LORAS rows after the user edited the text: the text's LoRAs in text order with the strengths written
 * there; a row already present keeps its other fields (on/off, lock); rows whose tag was removed go away.
 */
export function rowsFromText(text, rows) {
  const previous = new Map((Array.isArray(rows) ? rows : []).filter((r) => r && r.name).map((r) => [r.name, r]));
  const result = [];
  for (const [name, values] of parseLoraTags(text)) {
    const old = previous.get(name);
    result.push({
      name,
      strength: values.strength,
      active: old ? old.active !== false : true,
      expanded: old ? !!old.expanded : false,
      clipStrength: values.clipStrength,
      locked: old ? !!old.locked : false,
    });
  }
  return result;
}

/** A strength as the text shows it: at most two decimals, no trailing zeros beyond one ("1.0", "0.75"). */
export function formatStrength(value) {
  const rounded = Math.round(Number(value) * 100) / 100;
  return Number.isInteger(rounded) ? rounded.toFixed(1) : String(rounded);
}

/** The text with each tag rewritten from its row (strengths, clip strength when it differs). */
export function textFromRows(text, rows) {
  const byName = new Map((Array.isArray(rows) ? rows : []).filter((r) => r && r.name).map((r) => [r.name, r]));
  return String(text || "").replace(TAG, (whole, name) => {
    const row = byName.get(name.trim());
    if (!row) return whole;
    const strength = formatStrength(row.strength);
    const clip = Number(row.clipStrength ?? row.strength);
    return Math.abs(clip - Number(row.strength)) > 0.001
      ? `<lora:${row.name}:${strength}:${formatStrength(clip)}>`
      : `<lora:${row.name}:${strength}>`;
  });
}

/**
 * Saved widget values fitted to the widgets a node has now, as that project's frontend fits them:
 * by name when the node saved its widget names (`properties.__lm_widget_ids`); otherwise an older layout
 * without the hidden autocomplete values gets them inserted.
 */
export function fitWidgetValues(values, currentNames, savedNames) {
  if (!Array.isArray(values)) return values;
  if (Array.isArray(savedNames) && savedNames.length) {
    const byName = new Map();
    savedNames.forEach((name, index) => { if (index < values.length) byName.set(name, values[index]); });
    const fitted = currentNames.filter((name) => byName.has(name)).map((name) => byName.get(name));
    for (const name of savedNames) if (!currentNames.includes(name) && byName.has(name)) fitted.push(byName.get(name));
    return fitted;
  }
  const metaCount = currentNames.filter((name) => name.startsWith(META_PREFIX)).length;
  if (metaCount && values.length === currentNames.length - metaCount) {
    let next = 0;
    return currentNames.map((name) => (name.startsWith(META_PREFIX)
      ? metaValue(name.slice(META_PREFIX.length) || "text") : values[next++]));
  }
  return values;
}

const SAVE_IMAGE_OLD = ["filename_prefix", "file_format", "lossless_webp", "quality"];
/**
 * Widget layouts older versions of ComfyUI-Lora-Manager saved, by node type (read from its history): a saved
 * list of one of these lengths is matched by name, widgets it did not have keep their defaults.
 */
export const OLD_LAYOUTS = {
  "Save Image (LoraManager)": [
    [...SAVE_IMAGE_OLD, "webp_method", "jpeg_subsampling", "embed_workflow", "save_with_metadata",
      "add_counter_to_filename", "save_as_recipe"],
    [...SAVE_IMAGE_OLD, "embed_workflow", "save_with_metadata", "add_counter_to_filename", "save_as_recipe"],
    [...SAVE_IMAGE_OLD, "embed_workflow", "save_with_metadata", "add_counter_to_filename"],
    [...SAVE_IMAGE_OLD, "embed_workflow", "add_counter_to_filename"],
  ],
  "WanVideo Lora Select (LoraManager)": [["low_mem_load", "text", "loras"]],
  "TriggerWord Toggle (LoraManager)": [["group_mode", "toggle_trigger_words", "orinalMessage"],
    ["group_mode", "default_active", "toggle_trigger_words", "orinalMessage"]],
  "Unet Loader (LoraManager)": [["unet_name", "weight_dtype"]],
};

/** Saved values of an older layout (see OLD_LAYOUTS) put under today's widget names; `defaults` by name. */
export function fitOldLayout(nodeType, values, currentNames, defaults) {
  if (!Array.isArray(values) || values.length === currentNames.length) return values;
  const layout = (OLD_LAYOUTS[nodeType] || []).find((names) => names.length === values.length);
  if (!layout) return values;
  const byName = new Map(layout.map((name, index) => [name, values[index]]));
  return currentNames.map((name) => (byName.has(name) ? byName.get(name) : defaults[name]));
}

/**
 * Values saved before the frontend gave a combo's `control_after_generate` a `control_filter_list` widget
 * (one value fewer): the filter's current value is put in its place, so later values keep their widgets.
 */
export function fitControlFilter(values, currentNames, filterValue) {
  const index = currentNames.indexOf("control_filter_list");
  if (!Array.isArray(values) || index < 0 || values.length !== currentNames.length - 1) return values;
  return [...values.slice(0, index), filterValue, ...values.slice(index)];
}

/**
 * TriggerWord Toggle values from older saves: before `allow_strength_adjustment` existed the layout was
 * [group_mode, default_active, rows, message]; a `default_active` that is not a boolean reads as on.
 */
export function fitToggleValues(values) {
  if (!Array.isArray(values)) return values;
  let fitted = values.slice();
  if (fitted.length === 4 && typeof fitted[2] !== "boolean") fitted = [fitted[0], fitted[1], false, fitted[2], fitted[3]];
  if (fitted.length > 1 && typeof fitted[1] !== "boolean") fitted[1] = true;
  return fitted;
}

/** Toggle rows for a new trigger word message, keeping the on/off state of the words already there. */
export function toggleRows(message, groupMode, rows, defaultActive) {
  const previous = new Map((Array.isArray(rows) ? rows : []).map((r) => [String(r?.text || "").trim(), r]));
  const text = String(message || "");
  const items = groupMode
    ? text.split(/,{2,}/).map((g) => g.split(",").map((w) => w.trim()).filter(Boolean).join(", "))
    : text.split(",").map((w) => w.trim());
  const seen = new Set();
  const result = [];
  for (const item of items) {
    if (!item || seen.has(item)) continue;
    seen.add(item);
    const old = previous.get(item);
    result.push({ text: item, active: old ? !!old.active : defaultActive !== false, strength: old?.strength ?? null,
      highlighted: false });
  }
  return result;
}

/** Default widget values of the config widgets, for nodes created here (saved ones replace them). */
export const DEFAULT_CONFIGS = {
  LORA_POOL_CONFIG: () => ({
    version: 2,
    filters: { baseModels: [], tags: { include: [], exclude: [] }, folders: { include: [], exclude: [] },
      favoritesOnly: false, license: { noCreditRequired: false, allowSelling: false },
      namePatterns: { include: [], exclude: [], useRegex: false } },
    preview: { matchCount: 0, lastUpdated: 0 },
  }),
  RANDOMIZER_CONFIG: () => ({
    count_mode: "range", count_fixed: 3, count_min: 2, count_max: 4, model_strength_min: 0.2,
    model_strength_max: 1.0, use_same_clip_strength: true, clip_strength_min: 0.2, clip_strength_max: 1.0,
    roll_mode: "always", use_recommended_strength: false, recommended_strength_scale_min: 0.5,
    recommended_strength_scale_max: 1.0, execution_seed: null, next_seed: null,
  }),
  CYCLER_CONFIG: () => ({
    current_index: 1, total_count: 0, model_strength: 1.0, clip_strength: 1.0, use_same_clip_strength: true,
    use_preset_strength: false, preset_strength_scale: 1.0, sort_by: "filename", current_lora_name: "",
    current_lora_filename: "", execution_index: null, next_index: null, include_no_lora: false,
  }),
};

/** One line describing a config widget's value, for its display. */
export function describeConfig(type, value) {
  if (!value || typeof value !== "object") return "";
  if (type === "LORA_POOL_CONFIG") {
    const f = value.filters || {};
    const parts = [];
    if (f.baseModels?.length) parts.push(`base: ${f.baseModels.join(", ")}`);
    if (f.tags?.include?.length) parts.push(`tags: ${f.tags.include.join(", ")}`);
    if (f.folders?.include?.length) parts.push(`folders: ${f.folders.include.join(", ")}`);
    if (f.favoritesOnly) parts.push("favourites");
    return parts.length ? parts.join(" · ") : "all LoRAs";
  }
  if (type === "RANDOMIZER_CONFIG") {
    const count = value.count_mode === "fixed" ? value.count_fixed : `${value.count_min}-${value.count_max}`;
    return `${count} LoRAs, strength ${value.model_strength_min}..${value.model_strength_max}, ${value.roll_mode}`;
  }
  if (type === "CYCLER_CONFIG") {
    return `#${value.current_index}${value.total_count ? ` of ${value.total_count}` : ""}` +
      (value.current_lora_name ? `: ${value.current_lora_name}` : "");
  }
  return "";
}
