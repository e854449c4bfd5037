// Modal dialogs: focus moves in, Tab stays inside, Escape closes, focus returns to where it was.
import { h } from "./dom.js";
import { t } from "./i18n.js";

const FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), " +
  "textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

/** Open a modal; ``build(body, close)`` fills it. Returns {modal, close}. ``onClose`` runs once. */
export function openDialog({ title, titleClass = "", className = "", build, onClose, labelledBy } = {}) {
  const previous = document.activeElement;
  const titleId = `dlg-title-${Math.random().toString(36).slice(2)}`;
  const heading = h("h2", { id: titleId, class: `modal-title ${titleClass}`.trim() });
  if (title instanceof Node) heading.append(title); else heading.textContent = title || "";
  const closeBtn = h("button", { type: "button", class: "modal-close icon-btn", "aria-label": t("common.close"), text: "×" });
  const body = h("div", { class: "modal-body" });
  const modal = h("div", { class: `modal ${className}`.trim(), role: "dialog", "aria-modal": "true",
    "aria-labelledby": labelledBy || titleId, tabindex: "-1" },
  h("div", { class: "modal-header" }, heading, closeBtn), body);
  const backdrop = h("div", { class: "modal-backdrop" }, modal);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    backdrop.remove();
    document.removeEventListener("keydown", onKey, true);
    if (onClose) onClose();
    if (previous && previous.isConnected && typeof previous.focus === "function") previous.focus();
  };
  const onKey = (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      close();
    } else if (event.key === "Tab") {
      const items = [...modal.querySelectorAll(FOCUSABLE)].filter((el) => el.offsetParent !== null);
      if (!items.length) return;
      const first = items[0];
      const last = items[items.length - 1];
      if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
      else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
    }
  };
  closeBtn.addEventListener("click", close);
  backdrop.addEventListener("mousedown", (event) => { if (event.target === backdrop) close(); });
  document.addEventListener("keydown", onKey, true);
  document.body.append(backdrop);
  if (build) build(body, close, heading);
  const firstField = modal.querySelector("[autofocus]") || modal;
  firstField.focus();
  return { modal, body, heading, close };
}

/** A small modal form: ``fill(form)`` adds the fields and returns a function giving what a submit answers;
 * resolves to that answer, or null when cancelled. The first input takes the focus. */
export function formDialog({ title, submitId, submitLabel, fill }) {
  return new Promise((resolve) => {
    let answer = null;
    openDialog({
      title,
      className: "modal-small",
      onClose: () => resolve(answer),
      build: (body, close) => {
        const form = h("form", { class: "form" });
        const take = fill(form);
        form.addEventListener("submit", (event) => {
          event.preventDefault();
          answer = take();
          close();
        });
        form.append(h("div", { class: "modal-actions" },
          h("button", { type: "button", class: "btn", text: t("common.cancel"), onclick: close }),
          h("button", { type: "submit", class: "btn btn-primary", id: submitId, text: submitLabel })));
        body.append(form);
        const first = form.querySelector("input");
        if (first) first.focus();
      },
    });
  });
}

/** Ask for confirmation; resolves true/false. */
export function confirmDialog(message, { okLabel } = {}) {
  return new Promise((resolve) => {
    let answer = false;
    openDialog({
      title: t("manager.dialog.confirm_title"),
      className: "modal-small",
      onClose: () => resolve(answer),
      build: (body, close) => {
        body.append(h("p", { text: message }), h("div", { class: "modal-actions" },
          h("button", { type: "button", class: "btn", text: t("common.cancel"), onclick: close }),
          h("button", { type: "button", class: "btn btn-danger", autofocus: true, text: okLabel || t("common.ok"),
            onclick: () => { answer = true; close(); } })));
      },
    });
  });
}
