// What a click or a drop does to the ComfyUI graph. `app` and `LiteGraph` are passed in, so nothing here
// depends on how the frontend exposes them.
import { appendSyntax, hasLora, loraSyntax, matchComboValue } from "./lm_syntax.js";

/** Nodes holding LoRA syntax in a text widget, and the widget's name: this project's own types and
 * ComfyUI-Lora-Manager's (whose rows follow their text, see lm_anchor_nodes.js). */
export const SYNTAX_NODES = {
  LoraLoaderLM: "text", LoraStackerLM: "lora_syntax", "Lora Loader (LoraManager)": "text",
  "Lora Stacker (LoraManager)": "text", "WanVideo Lora Select (LoraManager)": "text",
  "Create Hook LoRA (LoraManager)": "text",
};
/** Core nodes choosing one LoRA from a combo widget. */
export const CORE_LORA_NODES = { LoraLoader: "lora_name", LoraLoaderModelOnly: "lora_name" };
/** Core nodes choosing one checkpoint. */
export const CHECKPOINT_NODES = { CheckpointLoaderSimple: "ckpt_name", CheckpointLoader: "ckpt_name" };

const nodeType = (node) => node?.comfyClass || node?.type;
const widgetNamed = (node, name) => (node?.widgets || []).find((w) => w.name === name);

/** The selected nodes of the canvas, whichever selection API this frontend has. */
export function selectedNodes(app) {
  const canvas = app?.canvas;
  if (!canvas) return [];
  if (canvas.selectedItems instanceof Set) {
    return [...canvas.selectedItems].filter((item) => Array.isArray(item?.widgets));
  }
  return Object.values(canvas.selected_nodes || {});
}

/** The first selected node that can take a model of `type` ("loras" | "checkpoints"), with its widget. */
export function findTarget(app, type) {
  const kinds = type === "loras" ? [["syntax", SYNTAX_NODES], ["combo", CORE_LORA_NODES]]
    : type === "checkpoints" ? [["combo", CHECKPOINT_NODES]] : [];
  for (const node of selectedNodes(app)) {
    for (const [kind, table] of kinds) {
      const name = table[nodeType(node)];
      const widget = name && widgetNamed(node, name);
      if (widget) return { node, widget, kind };
    }
  }
  return null;
}

function setWidget(node, widget, value) {
  widget.value = value;
  widget.callback?.(value, node?.graph?.list_of_graphcanvas?.[0], node);
  node.setDirtyCanvas?.(true, true);
  node.graph?.change?.();
}

/** Put a model into a target node. Result status: "added" | "exists" | "set" | "missing". */
export function applyToNode(target, item) {
  const { node, widget, kind } = target;
  if (kind === "syntax") {
    if (hasLora(widget.value, item.file_name)) return { status: "exists", node };
    const syntax = loraSyntax(item);
    setWidget(node, widget, appendSyntax(widget.value, syntax));
    return { status: "added", node, syntax };
  }
  const value = matchComboValue(widget.options?.values, item);
  if (value === undefined) return { status: "missing", node };
  setWidget(node, widget, value);
  return { status: "set", node, value };
}

/** A human title for a node in messages. */
export function nodeTitle(node) {
  return node?.title || nodeType(node) || "node";
}

/** Create a loader node at graph position `pos` loading `item`: this project's loader when it is registered. */
export function createLoaderNode(app, LiteGraph, item, pos) {
  const registered = LiteGraph?.registered_node_types || {};
  const type = ["LoraLoaderLM", "LoraLoader"].find((name) => name in registered);
  if (!type) return null;
  const node = LiteGraph.createNode(type);
  if (!node) return null;
  node.pos = [pos[0], pos[1]];
  app.graph.add(node);
  const name = SYNTAX_NODES[type] || CORE_LORA_NODES[type];
  const result = applyToNode({ node, widget: widgetNamed(node, name), kind: type in SYNTAX_NODES ? "syntax" : "combo" },
    item);
  app.canvas?.selectNode?.(node);
  return { node, result };
}

/** Graph coordinates of a pointer event over the canvas element. */
export function eventToGraphPos(app, event) {
  const canvas = app.canvas;
  const element = canvas?.canvas || app.canvasEl;
  const rect = element.getBoundingClientRect();
  const offset = [event.clientX - rect.left, event.clientY - rect.top];
  if (canvas?.ds?.convertOffsetToCanvas) return canvas.ds.convertOffsetToCanvas(offset);
  return offset;
}
