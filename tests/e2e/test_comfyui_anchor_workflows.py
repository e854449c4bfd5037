"""Workflows saved with ComfyUI-Lora-Manager, loaded into the real ComfyUI frontend with this package attached.

Every node of that project's types must load (no missing node types), each saved widget value must land in
the widget of the same name (``support.anchor_workflows`` layouts, fitted by ``web/comfyui/lm_anchor_nodes.js``),
and the frontend must queue exactly the API prompt that project's frontend queues for it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from lora_manager.py.library.safetensors import write_safetensors_header
from support.anchor_workflows import (ANCHOR_NODES, META, META_VALUE, AnchorWorkflow, basic_workflow, lora_row,
                                      suite_workflow)
from support.comfy_frontend_backend import ComfyFrontendBackend, frontend_static_dir, start_comfy_frontend_backend
from support.node_library import build_node_library

pytestmark = pytest.mark.e2e

APP = "window.comfyAPI.app.app"
WORKFLOWS = {"basic": basic_workflow, "suite": suite_workflow}


@pytest.fixture(scope="module")
def comfy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyFrontendBackend]:
    if frontend_static_dir() is None:
        pytest.skip("comfyui-frontend-package is not installed (pip install comfyui-frontend-package==1.58.1)")
    tmp = tmp_path_factory.mktemp("comfy-anchor")
    models = tmp / "models"
    for folder in ("checkpoints", "diffusion_models"):
        (models / folder).mkdir(parents=True)
    build_node_library(models / "loras", models / "checkpoints")
    write_safetensors_header(models / "diffusion_models" / "flux_dev.safetensors",
                             {"double_blocks.0.img_attn.qkv.weight": ("F16", [9216, 3072])})
    backend = start_comfy_frontend_backend(tmp, {name: models / name for name in
                                                 ("loras", "checkpoints", "embeddings", "diffusion_models")})
    try:
        backend.wait_ready()
        yield backend
    finally:
        backend.stop()


@pytest.fixture(scope="module")
def page(browser: Any, comfy: ComfyFrontendBackend) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.js_errors = errors  # type: ignore[attr-defined]
    tab.route("http*://*/**", lambda route: route.abort() if not route.request.url.startswith(comfy.url)
              else route.continue_())
    tab.goto(comfy.url)
    tab.wait_for_function("() => window.comfyAPI?.app?.app?.canvas?.canvas && window.LiteGraph?.registered_node_types"
                          "?.['Lora Loader (LoraManager)']", timeout=30_000)
    yield tab
    context.close()


# The frontend's canvas store is read before it exists while the app still boots on a busy machine (its own race).
FRONTEND_BOOT_ERRORS = ("getCanvas: canvas is null",)


def page_errors(page: Any) -> list[str]:
    return [e for e in page.js_errors if not e.startswith(FRONTEND_BOOT_ERRORS)]


def load(page: Any, workflow: dict[str, Any]) -> None:
    page.js_errors.clear()
    page.evaluate(f"async (wf) => {{ {APP}.graph.clear(); await {APP}.loadGraphData(wf); }}", workflow)


# Widgets this frontend version adds on its own (a combo's control gets a filter), not part of any node's layout.
FRONTEND_EXTRAS = ("control_filter_list",)


def widgets(page: Any) -> dict[str, list[list[Any]]]:
    """Every node's serialised widgets as ``[name, value]`` pairs, by node id (the frontend's extras left out)."""
    return page.evaluate(f"""(extras) => Object.fromEntries({APP}.graph.nodes.map(n => [String(n.id),
        (n.widgets || []).filter(w => w.serialize !== false && !extras.includes(w.name))
            .map(w => [w.name, w.value])]))""", list(FRONTEND_EXTRAS))


def queued(page: Any) -> dict[str, Any]:
    return page.evaluate(f"async () => (await {APP}.graphToPrompt()).output")


def missing_types(page: Any, workflow: dict[str, Any]) -> list[str]:
    registered = page.evaluate("() => Object.keys(window.LiteGraph.registered_node_types)")
    return sorted({n["type"] for n in workflow["nodes"]} - set(registered))


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_saved_workflow_loads_every_value_and_queues_the_same_prompt(page, name):
    wf = WORKFLOWS[name]()
    ui = wf.ui()
    assert missing_types(page, ui) == []
    load(page, ui)
    loaded = widgets(page)
    for node_id, node in wf.nodes.items():
        expected = [[w, node.values[w]] for w in (ANCHOR_NODES[node.node_type].widgets if node.node_type in ANCHOR_NODES
                                                  else node.values)]
        assert loaded[str(node_id)] == expected, node.node_type
    prompt = queued(page)
    api = wf.api()
    assert sorted(prompt) == sorted(api)
    for node_id, node in api.items():
        assert prompt[node_id]["class_type"] == node["class_type"]
        assert prompt[node_id]["inputs"] == node["inputs"], node["class_type"]
    assert page_errors(page) == []


def test_older_layouts_are_fitted(page):
    """Saves from older versions of that project: a loader without the hidden autocomplete value, a toggle
    without allow_strength_adjustment."""
    wf = AnchorWorkflow()
    wf.add(1, "Lora Loader (LoraManager)", {META: dict(META_VALUE), "text": "<lora:plain:0.5>",
                                            "loras": [lora_row("plain", 0.5)]})
    wf.add(2, "TriggerWord Toggle (LoraManager)", {"group_mode": True, "default_active": True,
                                                   "allow_strength_adjustment": False,
                                                   "toggle_trigger_words": [{"text": "a", "active": False}],
                                                   "orinalMessage": "a"})
    ui = wf.ui()
    for node in ui["nodes"]:
        node["properties"].pop("__lm_widget_ids", None)
        if node["type"] == "Lora Loader (LoraManager)":
            node["widgets_values"] = node["widgets_values"][1:]
        else:
            node["widgets_values"] = [True, True, [{"text": "a", "active": False}], "a"]
    load(page, ui)
    loaded = widgets(page)
    assert loaded["1"] == [[META, META_VALUE], ["text", "<lora:plain:0.5>"], ["loras", [lora_row("plain", 0.5)]]]
    assert loaded["2"] == [["group_mode", True], ["default_active", True], ["allow_strength_adjustment", False],
                           ["toggle_trigger_words", [{"text": "a", "active": False}]], ["orinalMessage", "a"]]


def test_layouts_of_that_project_s_older_versions_are_matched_by_name(page):
    """Save Image before webp_method/jpeg_subsampling/add_loras_to_prompt, WanVideo Lora Select before
    merge_loras, the toggle before default_active, the UNet loader before base_model and its control."""
    wf = AnchorWorkflow()
    wf.add(1, "Save Image (LoraManager)", {})
    wf.add(2, "WanVideo Lora Select (LoraManager)", {})
    wf.add(3, "TriggerWord Toggle (LoraManager)", {})
    wf.add(4, "Unet Loader (LoraManager)", {})
    saved = {1: ["shot", "jpeg", False, 90, True, False, True, False],
             2: [True, "<lora:plain:0.5>", [lora_row("plain", 0.5)]],
             3: [False, [{"text": "a", "active": False}], "a"],
             4: ["flux_dev.safetensors", "fp8_e5m2"]}
    ui = {"id": "old", "revision": 0, "last_node_id": 4, "last_link_id": 0, "links": [], "groups": [], "config": {},
          "extra": {}, "version": 0.4,
          "nodes": [{"id": i, "type": wf.nodes[i].node_type, "pos": [0, 200 * i], "size": [300, 150], "flags": {},
                     "order": i, "mode": 0, "inputs": [], "outputs": [], "properties": {}, "widgets_values": values}
                    for i, values in saved.items()]}
    load(page, ui)
    loaded = {k: dict(map(tuple, v)) for k, v in widgets(page).items()}
    assert loaded["1"] == {"filename_prefix": "shot", "file_format": "jpeg", "lossless_webp": False, "quality": 90,
                           "webp_method": 6, "jpeg_subsampling": 0, "embed_workflow": True,
                           "save_with_metadata": False, "add_loras_to_prompt": False, "add_counter_to_filename": True,
                           "save_as_recipe": False}
    assert loaded["2"] == {"low_mem_load": True, "merge_loras": True, META: META_VALUE, "text": "<lora:plain:0.5>",
                           "loras": [lora_row("plain", 0.5)]}
    assert loaded["3"] == {"group_mode": False, "default_active": True, "allow_strength_adjustment": False,
                           "toggle_trigger_words": [{"text": "a", "active": False}], "orinalMessage": "a"}
    assert loaded["4"] == {"unet_name": "flux_dev.safetensors", "control_after_generate": "fixed",
                           "weight_dtype": "fp8_e5m2", "base_model": "Any"}


def test_editing_the_text_updates_the_rows_and_a_row_the_text(page):
    wf = AnchorWorkflow()
    wf.add(1, "Lora Loader (LoraManager)", {META: dict(META_VALUE), "text": "<lora:plain:0.5>",
                                            "loras": [lora_row("plain", 0.5, active=False)]})
    load(page, wf.ui())
    rows = page.evaluate(f"""() => {{
        const node = {APP}.graph.getNodeById(1);
        const text = node.widgets.find(w => w.name === 'text');
        text.value = '<lora:plain:0.7> <lora:detail_tweaker:1.0:0.5>';
        text.callback(text.value);
        return node.widgets.find(w => w.name === 'loras').value;
    }}""")
    assert [(r["name"], r["strength"], r["clipStrength"], r["active"]) for r in rows] == [
        ("plain", 0.7, 0.7, False), ("detail_tweaker", 1.0, 0.5, True)]
    text = page.evaluate(f"""() => {{  // what typing 0.25 into the first row's strength does
        const node = {APP}.graph.getNodeById(1);
        const input = node.widgets.find(w => w.name === 'loras').element.querySelector('.lm-row input[type=number]');
        input.value = '0.25';
        input.dispatchEvent(new Event('change'));
        return node.widgets.find(w => w.name === 'text').value;
    }}""")
    assert text == "<lora:plain:0.25> <lora:detail_tweaker:1.0:0.5>"
    assert page_errors(page) == []


def test_the_sidebar_adds_a_lora_to_the_selected_loader_and_its_rows(page):
    wf = AnchorWorkflow()
    wf.add(1, "Lora Loader (LoraManager)", {META: dict(META_VALUE), "text": "", "loras": []})
    load(page, wf.ui())
    rows = page.evaluate(f"""async () => {{
        const app = {APP};
        const graph = await import('/extensions/lora_manager/lm_graph.js');
        app.canvas.deselectAll();
        app.canvas.selectNode(app.graph.getNodeById(1));
        const result = graph.applyToNode(graph.findTarget(app, 'loras'), {{file_name: 'plain', usage_tips: '{{"strength": 0.6}}'}});
        return [result.status, app.graph.getNodeById(1).widgets.find(w => w.name === 'loras').value];
    }}""")
    assert rows[0] == "added"
    assert [(r["name"], r["strength"], r["active"]) for r in rows[1]] == [("plain", 0.6, True)]


def test_new_nodes_of_every_type_can_be_created_and_queued(page):
    page.js_errors.clear()
    created = page.evaluate(f"""([types, extras]) => {{
        const app = {APP};
        app.graph.clear();
        return types.map((type) => {{
            const node = window.LiteGraph.createNode(type);
            app.graph.add(node);
            return [type, (node.widgets || []).filter(w => w.serialize !== false && !extras.includes(w.name))
                .map(w => w.name)];
        }});
    }}""", [sorted(ANCHOR_NODES), list(FRONTEND_EXTRAS)])
    for node_type, names in created:
        assert names == list(ANCHOR_NODES[node_type].widgets), node_type
    assert page_errors(page) == []


def test_shots(page):
    """A screenshot of the basic workflow for a human look (LM_E2E_SHOTS names a folder)."""
    import os

    folder = os.environ.get("LM_E2E_SHOTS")
    if not folder:
        pytest.skip("LM_E2E_SHOTS is not set")
    load(page, basic_workflow().ui())
    Path(folder).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(Path(folder) / "comfyui-anchor-basic.png"))
    json.dumps(queued(page))
