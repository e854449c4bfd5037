// LoRA Manager inside ComfyUI: a sidebar tab to search the library and put LoRAs into the workflow.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { LibraryClient } from "./lm_api.js";
import { loadTranslator } from "./lm_i18n.js";
import { createLoaderNode, eventToGraphPos, nodeTitle } from "./lm_graph.js";
import { DRAG_MIME, SidebarPanel } from "./lm_panel.js";

const TAB_ID = "lora-manager";
const STYLE_ID = "lm-sidebar-style";

function addStylesheet() {
  if (document.getElementById(STYLE_ID)) return;
  const link = document.createElement("link");
  link.id = STYLE_ID;
  link.rel = "stylesheet";
  link.href = new URL("./lm_sidebar.css", import.meta.url).href;
  document.head.appendChild(link);
}

function currentLocale() {
  try {
    return app.extensionManager?.setting?.get?.("Comfy.Locale") || navigator.language || "en";
  } catch {
    return navigator.language || "en";
  }
}

/** Absolute URL of a server path, honouring the API base ComfyUI runs under (e.g. behind a proxy). */
function serverUrl(path) {
  return `${api.api_base || ""}${path}`;
}

/** Dropping a dragged LoRA on the canvas creates a loader node holding it. */
function installDropTarget(panel, t) {
  const overCanvas = (event) => {
    const canvas = app.canvas?.canvas || app.canvasEl;
    if (!canvas || !event.dataTransfer?.types?.includes(DRAG_MIME)) return false;
    if (event.target instanceof Element && event.target.closest("textarea, input, .lm-sidebar")) return false;
    const rect = canvas.getBoundingClientRect();
    return event.clientX >= rect.left && event.clientX <= rect.right && event.clientY >= rect.top
      && event.clientY <= rect.bottom;
  };
  document.addEventListener("dragover", (event) => {
    if (!overCanvas(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  }, true);
  document.addEventListener("drop", (event) => {
    if (!overCanvas(event)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    let item;
    try {
      item = JSON.parse(event.dataTransfer.getData(DRAG_MIME));
    } catch {
      return;
    }
    const created = createLoaderNode(app, window.LiteGraph, item, eventToGraphPos(app, event));
    const name = item.model_name || item.file_name;
    if (created) panel.notify(t("sidebar.node_created", { node: nodeTitle(created.node), name }));
    else panel.notify(t("sidebar.no_loader_node"), "warn");
  }, true);
}

app.registerExtension({
  name: "LoraManager.Sidebar",
  async setup() {
    if (!app.extensionManager?.registerSidebarTab) {
      console.warn("LoRA Manager: this ComfyUI frontend has no sidebar tab API");
      return;
    }
    addStylesheet();
    const client = new LibraryClient((route, options) => api.fetchApi(route, options));
    const t = await loadTranslator((route) => client.json(route), currentLocale());
    const panel = new SidebarPanel({ client, t, app, url: serverUrl });
    app.extensionManager.registerSidebarTab({
      id: TAB_ID,
      icon: "mdi mdi-layers-triple-outline",
      title: t("sidebar.title"),
      tooltip: t("sidebar.tooltip"),
      label: t("sidebar.label"),
      type: "custom",
      render: (element) => panel.mount(element),
      destroy: () => panel.unmount(),
    });
    installDropTarget(panel, t);
  },
});
