// Minimal manager page: lists the models of the page's type with search; the full UI builds on this.
const pageType = (location.pathname.split("/")[1] || "loras");
const grid = document.getElementById("grid");
const count = document.getElementById("count");
const search = document.getElementById("search");
let timer = null;

async function load() {
  const params = new URLSearchParams({ page_size: "100", search: search.value });
  const resp = await fetch(`/api/lm/${pageType}/list?${params}`);
  const body = await resp.json();
  count.textContent = `${body.total ?? 0} models`;
  grid.replaceChildren(...(body.items || []).map(card));
}

function card(item) {
  const el = document.createElement("article");
  el.className = "model-card";
  el.setAttribute("role", "listitem");
  const media = item.preview_url ? Object.assign(document.createElement("img"), { src: item.preview_url, alt: item.model_name, loading: "lazy" })
    : Object.assign(document.createElement("div"), { className: "no-preview" });
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.innerHTML = `<div class="name"></div><div class="base"></div>`;
  meta.querySelector(".name").textContent = item.model_name;
  meta.querySelector(".base").textContent = item.base_model;
  el.append(media, meta);
  return el;
}

search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(load, 150); });
load();
