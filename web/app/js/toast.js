// Toasts: short messages in a live region; errors stay longer, actions (Undo) are real buttons.
import { h } from "./dom.js";
import { t } from "./i18n.js";

function region() {
  let el = document.getElementById("toasts");
  if (!el) {
    el = h("div", { id: "toasts", class: "toasts", "aria-live": "polite", role: "status" });
    document.body.append(el);
  }
  return el;
}

/** Show a message; ``kind`` is info | success | error; ``action`` = {label, run}. Returns a close function. */
export function toast(message, { kind = "info", action = null, timeout } = {}) {
  const close = () => el.remove();
  const el = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : null },
    h("span", { class: "toast-text", text: message }));
  if (action) {
    el.append(h("button", {
      type: "button", class: "btn btn-small toast-action", text: action.label,
      onclick: async () => { close(); await action.run(); },
    }));
  }
  el.append(h("button", { type: "button", class: "toast-close", "aria-label": t("common.close"), text: "×", onclick: close }));
  region().append(el);
  const ms = timeout ?? (action ? 10000 : kind === "error" ? 8000 : 4000);
  if (ms > 0) setTimeout(close, ms);
  return close;
}

export const toastError = (message) => toast(message, { kind: "error" });
