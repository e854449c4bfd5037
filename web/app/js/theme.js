// Light/dark theme: the system preference by default, the user's toggle remembered in localStorage.

const KEY = "lm-theme";

export function storedTheme() {
  try {
    const value = localStorage.getItem(KEY);
    return value === "light" || value === "dark" ? value : null;
  } catch {
    return null;
  }
}

export function effectiveTheme() {
  return storedTheme() || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
}

export function applyTheme(theme = effectiveTheme()) {
  document.documentElement.dataset.theme = theme;
  return theme;
}

export function toggleTheme() {
  const next = effectiveTheme() === "dark" ? "light" : "dark";
  try {
    localStorage.setItem(KEY, next);
  } catch { /* private mode: the toggle still works for this page */ }
  return applyTheme(next);
}
