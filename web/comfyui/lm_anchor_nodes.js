// ComfyUI-Lora-Manager's node types in the ComfyUI frontend: the widgets their inputs need, so workflows
// saved with that project load with every value in place and queue the same prompt.
//
// - AUTOCOMPLETE_TEXT_LORAS / AUTOCOMPLETE_TEXT_PROMPT: a hidden `__lm_autocomplete_meta_<name>` value, then a
//   multiline text; LORAS: one row per LoRA (on/off, name, strength), kept in step with the text;
// - LORA_POOL_CONFIG, RANDOMIZER_CONFIG, CYCLER_CONFIG: the config object, shown as one line;
// - TriggerWord Toggle: `toggle_trigger_words` (click a word to switch it) and the hidden `orinalMessage`;
//   Lora Info: `lora_info_display`;
// - Prompt and Lora Stack Combiner grow a numbered input when the last one is connected.
// Older saved layouts are fitted as that project fits them (see lm_anchor_values.js).
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import {
  DEFAULT_CONFIGS, META_PREFIX, WIDGET_IDS, describeConfig, fitControlFilter, fitOldLayout, fitToggleValues, fitWidgetValues,
  metaValue,
  rowsFromText, textFromRows, toggleRows,
} from "./lm_anchor_values.js";

const LORA_TEXT_NODES = new Set(["Lora Loader (LoraManager)", "Lora Stacker (LoraManager)",
  "WanVideo Lora Select (LoraManager)", "Create Hook LoRA (LoraManager)"]);
const TOGGLE = "TriggerWord Toggle (LoraManager)";
const LORA_INFO = "Lora Info (LoraManager)";
const NUMBERED_INPUTS = { "Prompt (LoraManager)": ["trigger_words", "STRING"],
  "Lora Stack Combiner (LoraManager)": ["lora_stack", "LORA_STACK"] };
const STYLE_ID = "lm-anchor-style";

function addStylesheet() {
  if (document.getElementById(STYLE_ID)) return;
  const style = document.createElement("style");
  style.id = STYLE_ID;
  style.textContent = `
    .lm-rows { display: flex; flex-direction: column; gap: 2px; font: 12px sans-serif; overflow: auto; }
    .lm-row { display: flex; align-items: center; gap: 6px; padding: 1px 4px; border-radius: 4px;
      background: var(--comfy-input-bg, #222); color: var(--input-text, #ddd); }
    .lm-row.lm-off { opacity: 0.5; }
    .lm-row .lm-name { flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    .lm-row input[type=number] { width: 56px; }
    .lm-chips { display: flex; flex-wrap: wrap; gap: 4px; font: 12px sans-serif; overflow: auto; }
    .lm-chip { padding: 2px 6px; border-radius: 10px; cursor: pointer; background: #3a6; color: #fff; }
    .lm-chip.lm-off { background: #555; color: #aaa; text-decoration: line-through; }
    .lm-summary { font: 12px sans-serif; color: var(--input-text, #ddd); padding: 2px 4px; overflow: hidden; }`;
  document.head.appendChild(style);
}

const widgetNamed = (node, name) => (node.widgets || []).find((w) => w.name === name);
const serializedNames = (node) => (node.widgets || []).filter((w) => w && w.serialize !== false).map((w) => w.name);

function changed(node) {
  node.setDirtyCanvas?.(true, true);
  node.graph?.change?.();
}

/** A hidden widget that is saved (and sent) but never drawn. */
function addHiddenValue(node, name, value, type) {
  const widget = node.addWidget("text", name, "", () => {}, {});
  widget.value = value;
  widget.type = type;
  widget.hidden = true;
  widget.computeSize = () => [0, -4];
  widget.serializeValue = () => widget.value;
  return widget;
}

function autocompleteText(node, inputName, inputData) {
  addHiddenValue(node, META_PREFIX + inputName, metaValue(inputName), "LORA_MANAGER_AUTOCOMPLETE_METADATA");
  const options = inputData?.[1] || {};
  const textarea = document.createElement("textarea");
  textarea.className = "comfy-multiline-input";
  textarea.placeholder = options.placeholder || "";
  textarea.spellcheck = false;
  const widget = node.addDOMWidget(inputName, "customtext", textarea, {
    getValue: () => textarea.value,
    setValue: (value) => { textarea.value = value ?? ""; },
    serialize: true,
    getMinHeight: () => 60,
  });
  widget.inputEl = textarea;
  textarea.addEventListener("input", () => {
    widget.callback?.(textarea.value);
    changed(node);
  });
  return { widget, minWidth: 300, minHeight: 60 };
}

/** A DOM widget holding `initial` (a JSON value) and redrawn by `render(element, value, set)`. */
function valueWidget(node, name, type, initial, render, minHeight = 32) {
  addStylesheet();
  const element = document.createElement("div");
  let value = initial;
  const widget = node.addDOMWidget(name, type, element, {
    getValue: () => value,
    setValue: (next) => {
      value = next && typeof next === "object" && "__value__" in next ? next.__value__ : next;
      render(element, value, set);
    },
    serialize: true,
    getMinHeight: () => minHeight,
  });
  function set(next) {  // a change the user made in the widget (loading a workflow never comes here)
    value = next;
    render(element, value, set);
    widget.lmOnUserChange?.(value);
    widget.callback?.(value);
    changed(node);
  }
  render(element, value, set);
  return { widget, minWidth: 260, minHeight };
}

function renderRows(element, rows, set) {
  element.className = "lm-rows";
  element.replaceChildren(...(Array.isArray(rows) ? rows : []).map((row, index) => {
    const line = document.createElement("div");
    line.className = `lm-row${row.active === false ? " lm-off" : ""}`;
    const toggle = document.createElement("input");
    toggle.type = "checkbox";
    toggle.checked = row.active !== false;
    toggle.title = "Apply this LoRA";
    toggle.addEventListener("change", () => set(rows.map((r, i) => (i === index ? { ...r, active: toggle.checked } : r))));
    const name = document.createElement("span");
    name.className = "lm-name";
    name.textContent = row.name;
    name.title = row.name;
    const strength = document.createElement("input");
    strength.type = "number";
    strength.step = "0.05";
    strength.value = String(row.strength);
    strength.title = "Model strength";
    strength.addEventListener("change", () => {
      const value = Number(strength.value);
      if (!Number.isFinite(value)) return;
      const sameClip = Math.abs(Number(row.clipStrength ?? row.strength) - Number(row.strength)) <= 0.001;
      set(rows.map((r, i) => (i === index ? { ...r, strength: value, clipStrength: sameClip ? value : r.clipStrength } : r)));
    });
    line.append(toggle, name, strength);
    return line;
  }));
}

function renderSummary(type) {
  return (element, value) => {
    element.className = "lm-summary";
    element.textContent = describeConfig(type, value);
  };
}

function renderChips(element, rows, set) {
  element.className = "lm-chips";
  element.replaceChildren(...(Array.isArray(rows) ? rows : []).map((row, index) => {
    const chip = document.createElement("span");
    chip.className = `lm-chip${row.active ? "" : " lm-off"}`;
    chip.textContent = row.text;
    chip.addEventListener("click", () => set(rows.map((r, i) => (i === index ? { ...r, active: !r.active } : r))));
    return chip;
  }));
}

function renderInfo(element, value) {
  element.className = "lm-summary";
  element.textContent = value?.name ? `${value.name}${value.notes ? ` — ${value.notes}` : ""}` : "";
}

/** Keep a loader's text and rows in step: editing the text rebuilds the rows, editing a row rewrites the text. */
function linkTextAndRows(node) {
  const text = widgetNamed(node, "text");
  const rows = widgetNamed(node, "loras");
  if (!text || !rows) return;
  let syncing = false;
  const textCallback = text.callback;
  text.callback = function (value, ...rest) {
    textCallback?.call(this, value, ...rest);
    if (syncing) return;
    syncing = true;
    try { rows.value = rowsFromText(value, rows.value); } finally { syncing = false; }
  };
  rows.lmOnUserChange = (value) => {
    if (syncing) return;
    syncing = true;
    try { text.value = textFromRows(text.value, value); } finally { syncing = false; }
  };
}

function addToggleWidgets(node) {
  const { widget } = valueWidget(node, "toggle_trigger_words", "LORA_MANAGER_TAGS", [], renderChips, 24);
  node.lmTagWidget = widget;
  node.lmMessageWidget = addHiddenValue(node, "orinalMessage", "", "LORA_MANAGER_HIDDEN");
}

function growNumberedInputs(node, prefix, type) {
  const numbered = (node.inputs || []).map((input, slot) => [input, slot]).filter(([input]) => input.name.startsWith(prefix));
  if (!numbered.length || numbered.some(([, slot]) => !node.isInputConnected(slot))) return;
  numbered.splice(0, numbered.length, ...numbered.map(([input]) => input));
  const highest = Math.max(0, ...numbered.map((input) => Number(input.name.slice(prefix.length)) || 0));
  node.addInput(`${prefix}${highest + 1}`, type, { shape: 7 });
}

/** Do not let the frontend drop a saved value it takes for a converted input (as that project avoids it). */
function keepForceInputValues(node, values) {
  const inputs = node.constructor?.nodeData?.inputs;
  if (!inputs || !Array.isArray(values)) return values;
  const names = new Set((node.widgets || []).map((w) => w?.name));
  const slots = Object.values(inputs).filter((input) => names.has(input.name) || input.forceInput)
    .flatMap((input) => (input.control_after_generate ? [!!input.forceInput, false] : [!!input.forceInput]));
  return slots.some(Boolean) && slots.length === values.length ? [...values, null] : values;
}

app.registerExtension({
  name: "LoraManager.AnchorNodes",

  getCustomWidgets() {
    const config = (type) => (node, inputName) =>
      valueWidget(node, inputName, type, DEFAULT_CONFIGS[type](), renderSummary(type));
    return {
      AUTOCOMPLETE_TEXT_LORAS: autocompleteText,
      AUTOCOMPLETE_TEXT_PROMPT: autocompleteText,
      LORAS: (node, inputName) => valueWidget(node, inputName, "LORAS", [], renderRows, 40),
      LORA_POOL_CONFIG: config("LORA_POOL_CONFIG"),
      RANDOMIZER_CONFIG: config("RANDOMIZER_CONFIG"),
      CYCLER_CONFIG: config("CYCLER_CONFIG"),
    };
  },

  setup() {
    api.addEventListener("trigger_word_update", (event) => {
      const { id, message } = event.detail || {};
      const node = app.graph?.getNodeById?.(Number(id));
      if (!node || node.comfyClass !== TOGGLE || !node.lmTagWidget) return;
      node.lmMessageWidget.value = message || "";
      const groupMode = widgetNamed(node, "group_mode")?.value !== false;
      const defaultActive = widgetNamed(node, "default_active")?.value !== false;
      node.lmTagWidget.value = toggleRows(message, groupMode, node.lmTagWidget.value, defaultActive);
      changed(node);
    });
  },

  async beforeRegisterNodeDef(nodeType, nodeData) {
    const name = nodeData?.name;
    const inputs = { ...(nodeData?.input?.required || {}), ...(nodeData?.input?.optional || {}) };
    const hasAutocomplete = Object.values(inputs).some((spec) => Array.isArray(spec) &&
      String(spec[1]?.widgetType || spec[0]).startsWith("AUTOCOMPLETE_TEXT_"));
    const created = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function (...args) {
      const result = created?.apply(this, args);
      if (name === TOGGLE) addToggleWidgets(this);
      if (name === LORA_INFO) {
        valueWidget(this, "lora_info_display", "LORA_INFO_DISPLAY",
          { name: "", notes: "", filePath: "", activeTab: "notes" }, renderInfo, 24);
      }
      if (LORA_TEXT_NODES.has(name)) linkTextAndRows(this);
      return result;
    };
    if (String(name).endsWith(" (LoraManager)")) {
      const configure = nodeType.prototype.configure;
      nodeType.prototype.configure = function (info, ...rest) {
        if (info && Array.isArray(info.widgets_values)) {
          const names = serializedNames(this);
          const defaults = Object.fromEntries((this.widgets || []).map((w) => [w.name, w.value]));
          let values = info.properties?.[WIDGET_IDS] ? info.widgets_values
            : fitOldLayout(name, info.widgets_values, names.filter((n) => n !== "control_filter_list"), defaults);
          values = fitControlFilter(values, names, widgetNamed(this, "control_filter_list")?.value);
          if (name === TOGGLE) values = fitToggleValues(values);
          else if (hasAutocomplete) values = keepForceInputValues(this, fitWidgetValues(values, names, info.properties?.[WIDGET_IDS]));
          info.widgets_values = values;
        }
        return configure.call(this, info, ...rest);
      };
      const serialize = nodeType.prototype.onSerialize;
      nodeType.prototype.onSerialize = function (data, ...rest) {
        serialize?.call(this, data, ...rest);
        if (hasAutocomplete) {
          data.properties = data.properties || {};
          data.properties[WIDGET_IDS] = serializedNames(this);
        }
      };
    }
    if (NUMBERED_INPUTS[name]) {
      const [prefix, type] = NUMBERED_INPUTS[name];
      const connections = nodeType.prototype.onConnectionsChange;
      nodeType.prototype.onConnectionsChange = function (...args) {
        const result = connections?.apply(this, args);
        if (args[0] === 1 && args[2]) growNumberedInputs(this, prefix, type);  // an input was connected
        return result;
      };
    }
  },
});
