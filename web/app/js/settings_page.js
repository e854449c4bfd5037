// The settings page: roots per type (plus the roots this run scans besides them, e.g. ComfyUI's folders) and
// the default folder of each type, Civitai key (masked), language, templates, watching, hashing, downloads,
// example images.
import { api, postJson } from "./api.js";
import { h } from "./dom.js";
import { LANGUAGES, loadLocale, onLocaleChange, t } from "./i18n.js";
import { BLUR_LEVELS, setNsfwSettings } from "./nsfw.js";
import { toast } from "./toast.js";

const TYPES = [["lora", "nav.loras"], ["checkpoint", "nav.checkpoints"], ["embedding", "nav.embeddings"]];
const ROUTE = { lora: "loras", checkpoint: "checkpoints", embedding: "embeddings" };
// The default folder of each type, by ComfyUI-Lora-Manager's key names (diffusion models have their own).
const DEFAULT_KEYS = { lora: ["default_lora_root"], checkpoint: ["default_checkpoint_root", "default_unet_root"],
  embedding: ["default_embedding_root"] };
const ALL_DEFAULT_KEYS = Object.values(DEFAULT_KEYS).flat();

const samePath = (a, b) => String(a).replace(/\\/g, "/").replace(/\/+$/, "") === String(b).replace(/\\/g, "/").replace(/\/+$/, "");
const WATCH_MODES = ["off", "poll", "notify"];

/** "SD 1.5, Pony , ,SDXL 1.0" -> ["SD 1.5", "Pony", "SDXL 1.0"] (duplicates dropped, order kept). */
export function splitNames(text) {
  return [...new Set(String(text || "").split(",").map((name) => name.trim()).filter(Boolean))];
}

/** ``onLanguage(lang)`` keeps the header's language select in step after a save. */
export function mountSettingsPage(root, { onLanguage } = {}) {
  let settings = null;
  let draftRoots = null;
  let draftDefaults = null;
  let runRoots = null; // roots this run scans besides the library's own: ComfyUI's folders, --loras DIR ...
  let clearKey = false;

  function takeLibrary(lib) {
    draftRoots = Object.fromEntries(TYPES.map(([type]) => [type, [...(((lib || {}).roots || {})[type] || [])]]));
    draftDefaults = Object.fromEntries(ALL_DEFAULT_KEYS.map((key) => [key, (lib || {})[key] || ""]));
  }

  async function load() {
    root.replaceChildren(h("p", { class: "muted page-pad", text: t("common.loading") }));
    let served;
    try {
      [settings, ...served] = await Promise.all([api("/api/lm/settings").then((b) => b.settings),
        ...TYPES.map(([type]) => api(`/api/lm/${ROUTE[type]}/roots`).then((b) => b.roots || []).catch(() => []))]);
    } catch (err) {
      root.replaceChildren(h("p", { class: "form-error page-pad", role: "alert", text: err.message }));
      return;
    }
    const lib = settings.libraries[settings.active_library] || { roots: {} };
    runRoots = Object.fromEntries(TYPES.map(([type], i) => [type,
      served[i].filter((path) => !(((lib.roots || {})[type]) || []).some((own) => samePath(own, path)))]));
    takeLibrary(lib);
    clearKey = false;
    render();
  }

  function render() {
    const problems = h("div", { class: "settings-problems", id: "settings-problems", role: "alert", hidden: true });
    const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });

    const librarySelect = h("select", { class: "select", id: "active-library" },
      ...Object.keys(settings.libraries).map((name) => h("option", { value: name, text: name, selected: name === settings.active_library })));
    librarySelect.addEventListener("change", () => {
      settings.active_library = librarySelect.value;
      takeLibrary(settings.libraries[librarySelect.value]);
      render();
    });
    const rootsSections = TYPES.map(([type, labelKey]) => {
      const list = h("ul", { class: "root-list", id: `roots-${type}` }, ...draftRoots[type].map((path, index) => h("li", { class: "root-item" },
        h("code", { class: "break", text: path }),
        h("button", { type: "button", class: "btn btn-small btn-ghost", "aria-label": t("manager.settings.remove_root", { path }),
          text: t("manager.settings.remove"), onclick: () => { draftRoots[type].splice(index, 1); render(); } }))));
      const others = runRoots[type].filter((path) => !draftRoots[type].some((own) => samePath(own, path)));
      if (!draftRoots[type].length && !others.length) list.append(h("li", { class: "muted", text: t("manager.settings.no_roots") }));
      const runList = others.length ? h("div", { class: "run-roots" },
        h("p", { class: "muted", text: t("manager.settings.run_roots") }),
        h("ul", { class: "root-list", id: `run-roots-${type}` }, ...others.map((path) => h("li", { class: "root-item" },
          h("code", { class: "break", text: path }))))) : null;
      const choices = [...draftRoots[type], ...others];
      const defaults = DEFAULT_KEYS[type].map((key) => {
        const current = draftDefaults[key];
        const select = h("select", { class: "select", id: `default-root-${key}` },
          h("option", { value: "", text: t("manager.settings.default_root_first"), selected: !current }),
          ...choices.map((path) => h("option", { value: path, text: path, selected: Boolean(current) && samePath(current, path) })),
          ...(current && !choices.some((path) => samePath(current, path))
            ? [h("option", { value: current, text: t("manager.settings.default_root_missing", { path: current }), selected: true })] : []));
        select.addEventListener("change", () => { draftDefaults[key] = select.value; });
        const label = key === "default_unet_root" ? "manager.settings.default_diffusion_root" : "manager.settings.default_root";
        return h("label", { class: "field" }, h("span", { text: t(label) }), select);
      });
      const input = h("input", { type: "text", class: "text-input", id: `add-root-${type}`,
        placeholder: t("manager.settings.root_placeholder"), "aria-label": t("manager.settings.add_root_for", { type: t(labelKey) }) });
      const add = () => {
        const value = input.value.trim();
        if (value && !draftRoots[type].includes(value)) draftRoots[type].push(value);
        render();
        const again = root.querySelector(`#add-root-${type}`);
        if (again) again.focus();
      };
      input.addEventListener("keydown", (event) => { if (event.key === "Enter") { event.preventDefault(); add(); } });
      return h("fieldset", { class: "fieldset" }, h("legend", { text: t(labelKey) }), list, runList,
        h("div", { class: "row" }, input, h("button", { type: "button", class: "btn", id: `add-root-btn-${type}`,
          text: t("manager.settings.add"), onclick: add })), ...defaults);
    });

    const keyInput = h("input", { type: "password", class: "text-input", id: "api-key", autocomplete: "off",
      placeholder: settings.civitai_api_key_set ? settings.civitai_api_key : t("manager.settings.api_key_none") });
    const keyState = h("span", { class: "muted", id: "api-key-state",
      text: clearKey ? t("manager.settings.api_key_will_clear")
        : settings.civitai_api_key_set ? t("manager.settings.api_key_set") : t("manager.settings.api_key_none") });
    const clearBtn = settings.civitai_api_key_set ? h("button", { type: "button", class: "btn btn-small btn-ghost",
      id: "api-key-clear", text: t("manager.settings.api_key_clear"), onclick: () => { clearKey = true; render(); } }) : null;

    const language = h("select", { class: "select", id: "settings-language" },
      ...LANGUAGES.map(([code, name]) => h("option", { value: code, text: name, selected: code === settings.language })));
    const templates = TYPES.map(([type, labelKey]) => h("label", { class: "field" }, h("span", { text: t(labelKey) }),
      h("input", { type: "text", class: "text-input", id: `template-${type}`, value: (settings.download_path_templates || {})[type] || "" })));
    const watch = h("select", { class: "select", id: "watch-mode" },
      ...WATCH_MODES.map((mode) => h("option", { value: mode, text: t(`manager.settings.watch_${mode}`), selected: mode === settings.watch_mode })));
    const poll = h("input", { type: "number", class: "text-input", id: "poll-interval", min: "5", max: "86400",
      value: String(settings.poll_interval_seconds) });
    const lazy = h("input", { type: "checkbox", id: "lazy-hashing", checked: Boolean(settings.hash_checkpoints_lazily) });
    const concurrency = h("input", { type: "number", class: "text-input", id: "download-concurrency", min: "1", max: "16",
      value: String(settings.download_concurrency) });
    const skipDownloaded = h("input", { type: "checkbox", id: "skip-downloaded-versions",
      checked: Boolean(settings.skip_previously_downloaded_model_versions) });
    const skipBases = h("input", { type: "text", class: "text-input", id: "skip-base-models", autocomplete: "off",
      "aria-describedby": "skip-base-models-hint", placeholder: t("manager.settings.skip_base_models_placeholder"),
      value: (settings.download_skip_base_models || []).join(", ") });
    const examplesPath = h("input", { type: "text", class: "text-input", id: "example-images-path", autocomplete: "off",
      "aria-describedby": "example-images-path-hint", placeholder: t("manager.settings.example_images_path_placeholder"),
      value: settings.example_images_path || "" });
    const downloadExamples = h("input", { type: "checkbox", id: "download-example-images",
      checked: Boolean(settings.download_example_images) });

    const blurMature = h("input", { type: "checkbox", id: "blur-mature-content", checked: settings.blur_mature_content !== false });
    const onlySfw = h("input", { type: "checkbox", id: "show-only-sfw", checked: Boolean(settings.show_only_sfw) });
    const blurLevel = h("select", { class: "select", id: "mature-blur-level", "aria-describedby": "mature-blur-level-hint" },
      ...Object.keys(BLUR_LEVELS).map((level) => h("option", { value: level, text: t(`manager.nsfw.level_${level}`),
        selected: level === String(settings.mature_blur_level || "R").toUpperCase() })));
    const number = (input) => {
      const text = input.value.trim();
      return /^-?\d+$/.test(text) ? Number(text) : text;
    };
    const save = async (event) => {
      event.preventDefault();
      problems.hidden = true;
      status.className = "form-status";
      status.textContent = t("manager.details.saving");
      const libraries = JSON.parse(JSON.stringify(settings.libraries));
      const current = libraries[settings.active_library] || {};
      // the roots of kinds this page does not edit (VAEs, ControlNets...) are sent back as they are
      libraries[settings.active_library] = { ...current, roots: { ...(current.roots || {}), ...draftRoots },
        ...draftDefaults };
      const changes = {
        libraries,
        active_library: settings.active_library,
        language: language.value,
        download_path_templates: { ...(settings.download_path_templates || {}), // keeps ComfyUI-Lora-Manager's "unet" one
          ...Object.fromEntries(TYPES.map(([type]) => [type, root.querySelector(`#template-${type}`).value.trim()])) },
        watch_mode: watch.value,
        poll_interval_seconds: number(poll),
        hash_checkpoints_lazily: lazy.checked,
        download_concurrency: number(concurrency),
        skip_previously_downloaded_model_versions: skipDownloaded.checked,
        download_skip_base_models: splitNames(skipBases.value),
        example_images_path: examplesPath.value.trim(),
        download_example_images: downloadExamples.checked,
        blur_mature_content: blurMature.checked,
        mature_blur_level: blurLevel.value,
        show_only_sfw: onlySfw.checked,
      };
      const inputs = { poll_interval_seconds: poll, download_concurrency: concurrency, download_skip_base_models: skipBases,
        example_images_path: examplesPath };
      for (const input of Object.values(inputs)) input.removeAttribute("aria-invalid");
      if (clearKey) changes.civitai_api_key = "";
      else if (keyInput.value) changes.civitai_api_key = keyInput.value;
      try {
        const body = await postJson("/api/lm/settings", changes);
        const languageChanged = body.settings.language !== settings.language;
        settings = body.settings;
        setNsfwSettings(settings);
        clearKey = false;
        if (languageChanged) {
          await loadLocale(settings.language);
          if (onLanguage) onLanguage(settings.language);
        }
        render();
        const fresh = root.querySelector(".form-status");
        fresh.textContent = t("settings.saved");
        fresh.classList.add("ok");
        toast(t("settings.saved"), { kind: "success" });
      } catch (err) {
        status.textContent = "";
        const list = (err.body && Array.isArray(err.body.problems) && err.body.problems.length) ? err.body.problems : [err.message];
        problems.replaceChildren(h("h3", { text: t("settings.invalid") }), h("ul", {}, ...list.map((p) => h("li", { text: p }))));
        for (const [key, input] of Object.entries(inputs)) {
          if (list.some((p) => String(p).startsWith(key))) input.setAttribute("aria-invalid", "true");
        }
        problems.hidden = false;
        problems.scrollIntoView({ block: "nearest" });
      }
    };

    const field = (labelKey, input, hint) => h("label", { class: "field" }, h("span", { text: t(labelKey) }), input,
      hint ? h("small", { class: "muted", id: input.getAttribute("aria-describedby") || null, text: hint }) : null);
    root.replaceChildren(h("form", { class: "settings-form page-pad", novalidate: true, onsubmit: save },
      h("h1", { text: t("settings.title") }),
      problems,
      h("section", { class: "card-section" }, h("h2", { text: t("settings.libraries") }),
        field("manager.settings.active_library", librarySelect), ...rootsSections,
        h("p", { class: "muted", text: t("manager.settings.roots_hint") }),
        h("p", { class: "muted", text: t("manager.settings.default_root_hint") })),
      h("section", { class: "card-section" }, h("h2", { text: t("manager.settings.civitai") }),
        field("settings.api_key", keyInput), h("div", { class: "row" }, keyState, clearBtn)),
      h("section", { class: "card-section" }, h("h2", { text: t("manager.settings.general") }),
        field("settings.language", language)),
      h("section", { class: "card-section" }, h("h2", { text: t("settings.download_template") }), ...templates,
        h("p", { class: "muted", text: t("manager.settings.template_hint", { fields: "{base_model} {first_tag} {author} {model_name} {version_name}" }) })),
      h("section", { class: "card-section" }, h("h2", { text: t("manager.settings.library_behaviour") }),
        field("settings.watch_mode", watch),
        field("manager.settings.poll_interval", poll, t("manager.settings.poll_hint")),
        h("label", { class: "check-row" }, lazy, h("span", { text: t("manager.settings.lazy_hashing") })),
        field("manager.settings.download_concurrency", concurrency, t("manager.settings.concurrency_hint"))),
      h("section", { class: "card-section", id: "settings-downloads" }, h("h2", { text: t("manager.settings.downloads") }),
        h("label", { class: "check-row" }, skipDownloaded, h("span", { text: t("manager.settings.skip_downloaded_versions") })),
        field("manager.settings.skip_base_models", skipBases, t("manager.settings.skip_base_models_hint"))),
      h("section", { class: "card-section", id: "settings-example-images" },
        h("h2", { text: t("manager.settings.example_images") }),
        field("manager.settings.example_images_path", examplesPath, t("manager.settings.example_images_path_hint")),
        h("label", { class: "check-row" }, downloadExamples, h("span", { text: t("manager.settings.download_example_images") }))),
      h("section", { class: "card-section", id: "settings-nsfw" }, h("h2", { text: t("manager.nsfw.title") }),
        h("label", { class: "check-row" }, blurMature, h("span", { text: t("manager.nsfw.blur") })),
        field("manager.nsfw.level", blurLevel, t("manager.nsfw.level_hint")),
        h("label", { class: "check-row" }, onlySfw, h("span", { text: t("manager.nsfw.only_sfw") }))),
      h("div", { class: "form-footer" }, status, h("button", { type: "submit", class: "btn btn-primary", id: "save-settings",
        text: t("common.save") }))));
  }

  onLocaleChange(() => { if (settings) render(); });
  load();
}
