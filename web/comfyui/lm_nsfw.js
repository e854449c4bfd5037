// NSFW previews in the sidebar, by the manager's settings (``blur_mature_content``, ``mature_blur_level``):
// Civitai's levels are bit flags (1 PG, 2 PG13, 4 R, 8 X, 16 XXX); a preview at or above the level is blurred.

export const BLUR_LEVELS = { PG13: 2, R: 4, X: 8, XXX: 16 };

/** ``{blur, threshold}`` from a settings object; the defaults (blur from R up) until the settings are read. */
export function blurConfig(settings = {}) {
  const level = typeof settings.mature_blur_level === "string" ? settings.mature_blur_level.trim().toUpperCase() : "";
  return { blur: settings.blur_mature_content !== false, threshold: BLUR_LEVELS[level] || BLUR_LEVELS.R };
}

/** Whether a preview rated ``level`` is blurred under ``config`` (the highest flag set counts). */
export function isBlurred(config, level) {
  let value = Number(level) || 0;
  let top = 0;
  for (let bit = 1; value; bit <<= 1, value >>= 1) if (value & 1) top = bit;
  return Boolean(config && config.blur) && top >= config.threshold;
}
