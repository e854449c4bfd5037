// NSFW previews: Civitai's levels are bit flags (1 PG, 2 PG13, 4 R, 8 X, 16 XXX); a preview at or above the
// chosen level (settings ``blur_mature_content`` + ``mature_blur_level``) is blurred until the user reveals it.
import { h } from "./dom.js";
import { t } from "./i18n.js";

export const BLUR_LEVELS = { PG13: 2, R: 4, X: 8, XXX: 16 };
const state = { blur: true, threshold: BLUR_LEVELS.R };
const revealed = new Set(); // previews revealed in this page's life (by URL)

/** Take the blur settings from a settings object (GET /api/lm/settings). */
export function setNsfwSettings(settings = {}) {
  state.blur = settings.blur_mature_content !== false;
  const level = typeof settings.mature_blur_level === "string" ? settings.mature_blur_level.trim().toUpperCase() : "";
  state.threshold = BLUR_LEVELS[level] || BLUR_LEVELS.R;
}

/** The highest level flag set in ``level`` (a preview may carry several flags). */
function highest(level) {
  const value = Number(level) || 0;
  let top = 0;
  for (let bit = 1; bit <= value && bit <= 1 << 30; bit <<= 1) if (value & bit) top = bit;
  return top;
}

export function shouldBlur(level, url = "") {
  return state.blur && highest(level) >= state.threshold && !(url && revealed.has(url));
}

/** Blur ``container`` (the media's parent) and put a reveal button over it, when the level asks for it.
 * In the grid the button stays out of the Tab order (``focusable: false``): the grid keeps one Tab stop, and the
 * details, opened with Enter, have a reveal button that takes focus. */
export function applyBlur(container, level, url, { focusable = true } = {}) {
  if (!shouldBlur(level, url)) return;
  container.classList.add("nsfw-blurred");
  const reveal = h("button", { type: "button", class: "nsfw-reveal", dataset: { action: "reveal" },
    tabindex: focusable ? null : "-1",
    "aria-label": t("manager.nsfw.reveal_label"), text: t("manager.nsfw.reveal") });
  reveal.addEventListener("click", (event) => {
    event.preventDefault();
    event.stopPropagation();
    if (url) revealed.add(url);
    container.classList.remove("nsfw-blurred");
    reveal.remove();
  });
  container.append(reveal);
}
