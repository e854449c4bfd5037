// LoRA syntax helpers: pure functions, no ComfyUI imports, so any module (and any test page) can use them.

/** The strength a model recommends in its usage tips (a JSON text such as '{"strength": 0.8}'), else 1.0. */
export function recommendedStrength(item) {
  let tips = item?.usage_tips;
  if (typeof tips === "string") {
    try {
      tips = JSON.parse(tips || "{}");
    } catch {
      tips = {};
    }
  }
  const value = Number(tips?.strength);
  return Number.isFinite(value) ? value : 1.0;
}

/** A strength as LoRA syntax writes it: 1 -> "1.0", 0.75 -> "0.75" (at most two decimals). */
export function formatStrength(value) {
  const rounded = Math.round(Number(value) * 100) / 100;
  return Number.isInteger(rounded) ? rounded.toFixed(1) : String(rounded);
}

/** `<lora:file_name:strength>` for one list item. */
export function loraSyntax(item, strength = recommendedStrength(item)) {
  return `<lora:${item.file_name}:${formatStrength(strength)}>`;
}

/** True when `text` already names this LoRA in a `<lora:name:...>` tag. */
export function hasLora(text, fileName) {
  const escaped = fileName.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`<lora:${escaped}:`, "i").test(text || "");
}

/** `text` with `syntax` appended, separated by a space unless the text is empty or ends in whitespace. */
export function appendSyntax(text, syntax) {
  const current = text || "";
  if (!current.trim()) return syntax;
  return /\s$/.test(current) ? current + syntax : `${current} ${syntax}`;
}

/** The path of a model relative to its root folder, as ComfyUI's combo widgets list it. */
export function relativeName(item) {
  const base = String(item.file_path || "").split("/").pop() || item.file_name;
  return item.folder ? `${item.folder}/${base}` : base;
}

/** The option of a combo widget naming this model: exact relative path first, then the same file stem. */
export function matchComboValue(values, item) {
  const normalize = (v) => String(v).replace(/\\/g, "/");
  const wanted = relativeName(item);
  const list = Array.isArray(values) ? values : [];
  const exact = list.find((v) => normalize(v) === wanted);
  if (exact !== undefined) return exact;
  const stem = (v) => normalize(v).split("/").pop().replace(/\.[^.]+$/, "");
  return list.find((v) => stem(v) === item.file_name);
}

/** The trigger words of a list item (Civitai's trainedWords), without blanks or duplicates. */
export function triggerWords(item) {
  const words = item?.civitai?.trainedWords;
  if (!Array.isArray(words)) return [];
  return [...new Set(words.map((w) => String(w).trim()).filter(Boolean))];
}
