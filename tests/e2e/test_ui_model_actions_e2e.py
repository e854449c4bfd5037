"""Per-model actions from the card's context menu, in a real browser: each is clicked, its effect checked on
disk and through the API. One server for the module; every test works on its own models."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from support.e2e_live import LiveServer, read_url_and_drain
from support.library import lm_sidecar, write_image, write_lora

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE_CIVITAI = "http://127.0.0.1:9"  # discard port: metadata calls fail fast and clearly
MODELS = [  # (relative path, display name, preview suffix, the preview's NSFW level)
    ("styles/anime/anime_lineart.safetensors", "Anime Lineart", ".png", 8),
    ("styles/oil_paint.safetensors", "Oil Paint", None, 0),
    ("characters/knight.safetensors", "Brave Knight", ".jpg", 0),
    ("characters/wizard.safetensors", "Old Wizard", None, 0),
    ("concepts/neon_city.safetensors", "Neon City", ".png", 1),
    ("concepts/forest.safetensors", "Deep Forest", None, 0),
    ("zebra_stripes.safetensors", "Zebra Stripes", None, 0),
    ("characters/robot.safetensors", "Steel Robot", None, 0),
]


def build_library(root: Path) -> None:
    for number, (rel, name, preview, nsfw) in enumerate(MODELS):
        stem = Path(rel).stem
        sidecar = lm_sidecar(stem, model_name=name, preview_nsfw_level=nsfw,
                             civitai={"id": 2000 + number, "modelId": 500 + number, "name": "v1.0"})
        path = write_lora(root, rel, sidecar=sidecar)
        if preview:
            write_image(path.with_name(stem + preview), size=(64, 80))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The small LoRA library plus one checkpoint and one embedding (for the copy label and text)."""
    tmp = tmp_path_factory.mktemp("actions")
    loras, checkpoints, embeddings = tmp / "loras", tmp / "checkpoints", tmp / "embeddings"
    build_library(loras)
    write_lora(checkpoints, "dreamy_ckpt.safetensors")
    write_lora(embeddings, "bad_hands.safetensors")
    data_dir = tmp / "data"
    env = {**os.environ, "LORA_MANAGER_ANCHOR_CONFIG_DIR": "", "LORA_MANAGER_CIVITAI_BASE_URL": UNREACHABLE_CIVITAI, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "standalone.py"), "--port", "0", "--data-dir", str(data_dir),
                             "--loras", str(loras), "--checkpoints", str(checkpoints), "--embeddings", str(embeddings)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=tmp, env=env)
    url, log = read_url_and_drain(proc)
    live = LiveServer(url=url, proc=proc, library=loras, data_dir=data_dir, log=log)
    live.wait_for_total(len(MODELS))
    live.wait_for("/api/lm/embeddings/list?page_size=1", lambda body: body["total"] == 1)
    yield live
    live.stop()


def open_page(page: Any, server: LiveServer, kind: str = "loras") -> None:
    page.add_init_script("window.__opened = []; window.open = (url) => { window.__opened.push(url); return null; };")
    page.goto(server.url + kind)
    page.wait_for_selector("html[data-ready='true']")
    page.wait_for_selector(".model-card:not(.skeleton)")


def card(page: Any, name: str) -> Any:
    return page.locator(f".model-card[aria-label='{name}']")


def menu_of(page: Any, name: str, how: str = "right") -> Any:
    if how == "right":
        card(page, name).click(button="right")
    else:
        card(page, name).hover()
        card(page, name).locator(".card-menu").click()
    page.wait_for_selector(".context-menu")
    return page.locator(".context-menu")


def listed(server: LiveServer, kind: str = "loras") -> dict[str, dict[str, Any]]:
    items = server.get(f"/api/lm/{kind}/list?page_size=100")["items"]
    return {item["file_path"]: item for item in items}


def toast_text(page: Any, kind: str) -> str:
    page.wait_for_selector(f".toast-{kind}")
    return page.locator(f".toast-{kind} .toast-text").last.inner_text()


def test_menu_from_the_mouse_the_button_and_the_keyboard(server, page):
    open_page(page, server)
    menu = menu_of(page, "Old Wizard")
    labels = menu.locator(".menu-item").all_inner_texts()
    assert labels[:2] == ["Open details", "Copy LoRA syntax"]
    assert {"Rename file…", "Move to folder…", "Replace preview…", "Refresh metadata from Civitai", "Open on Civitai",
            "Exclude from the library", "Delete"} <= set(labels)
    assert page.evaluate("document.activeElement.dataset.menuAction") == "details"
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.dataset.menuAction") == "copy"
    page.keyboard.press("Enter")  # copies the syntax and closes the menu
    page.wait_for_selector(".context-menu", state="detached")
    assert page.evaluate("navigator.clipboard.readText()") == "<lora:wizard:0.8>"  # the usage tips strength
    # the "⋯" button, then Escape gives the focus back to the card
    menu_of(page, "Brave Knight", how="button")
    page.keyboard.press("Escape")
    page.wait_for_selector(".context-menu", state="detached")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Brave Knight"
    # keyboard: Shift+F10 and the ContextMenu key on the focused card
    page.keyboard.press("Shift+F10")
    page.wait_for_selector(".context-menu")
    page.keyboard.press("Escape")
    page.keyboard.press("ContextMenu")
    page.wait_for_selector(".context-menu")
    page.click(".context-menu [data-menu-action='details']")
    page.wait_for_selector(".modal .model-name-content")
    assert page.locator(".modal .model-name-content").inner_text() == "Brave Knight"
    page.keyboard.press("Escape")
    # open on Civitai: the link the API gives
    menu_of(page, "Brave Knight").locator("[data-menu-action='civitai']").click()
    page.wait_for_function("window.__opened.length === 1")
    assert page.evaluate("window.__opened[0]") == "https://civitai.com/models/502?modelVersionId=2002"
    assert page.js_errors == []


def test_copy_label_and_text_fit_checkpoints_and_embeddings(server, page):
    open_page(page, server, "checkpoints")
    page.locator(".model-card:not(.skeleton)").first.click(button="right")
    item = page.locator(".context-menu [data-menu-action='copy']")
    assert item.inner_text() == "Copy checkpoint file name"
    item.click()
    page.wait_for_function("navigator.clipboard.readText().then((t) => t === 'dreamy_ckpt.safetensors')")
    open_page(page, server, "embeddings")
    page.locator(".model-card:not(.skeleton)").first.click(button="right")
    item = page.locator(".context-menu [data-menu-action='copy']")
    assert item.inner_text() == "Copy embedding syntax"
    item.click()
    page.wait_for_function("navigator.clipboard.readText().then((t) => t === 'embedding:bad_hands')")


def test_rename_renames_the_file_its_sidecar_and_preview(server, page):
    open_page(page, server)
    folder = server.library / "characters"
    menu_of(page, "Brave Knight").locator("[data-menu-action='rename']").click()
    page.fill("#rename-input", "knight of/../bad")
    page.click("#rename-submit")
    page.wait_for_selector(".modal .form-error:not([hidden])")  # the API's refusal is shown in the dialog
    assert (folder / "knight.safetensors").exists()
    page.fill("#rename-input", "paladin")
    page.click("#rename-submit")
    assert toast_text(page, "success") == "Renamed to paladin"
    assert not (folder / "knight.safetensors").exists()
    assert (folder / "paladin.safetensors").exists()
    assert (folder / "paladin.metadata.json").exists() and not (folder / "knight.metadata.json").exists()
    assert (folder / "paladin.jpg").exists()
    assert json.loads((folder / "paladin.metadata.json").read_text(encoding="utf-8"))["model_name"] == "Brave Knight"
    items = listed(server)
    assert any(p.endswith("/characters/paladin.safetensors") for p in items)
    assert not any(p.endswith("/characters/knight.safetensors") for p in items)


def test_move_with_the_folder_picker(server, page):
    open_page(page, server)
    menu_of(page, "Old Wizard", how="button").locator("[data-menu-action='move']").click()
    page.wait_for_selector("#move-folder-list .folder-option")
    root = page.locator("#move-root").input_value()
    assert Path(root).resolve() == server.library.resolve()  # the root the model is in comes first
    assert page.locator("#move-folder").input_value() == "characters"
    assert page.locator("#move-folder-list [aria-selected='true']").get_attribute("data-folder") == "characters"
    assert page.locator("#move-folder-list .folder-option[data-folder='concepts']").count() == 1  # every folder at first
    page.fill("#move-folder", "anime")  # filters the picker
    page.click("#move-folder-list .folder-option[data-folder='styles/anime']")
    assert page.locator("#move-folder").input_value() == "styles/anime"
    page.click("#move-submit")
    page.wait_for_selector(".toast-success")
    assert not (server.library / "characters" / "wizard.safetensors").exists()
    assert (server.library / "styles" / "anime" / "wizard.safetensors").exists()
    assert (server.library / "styles" / "anime" / "wizard.metadata.json").exists()
    item = next(i for p, i in listed(server).items() if p.endswith("/wizard.safetensors"))
    assert item["folder"] == "styles/anime"


def test_delete_then_undo_from_the_toast(server, page):
    open_page(page, server)
    target = server.library / "concepts" / "forest.safetensors"
    menu_of(page, "Deep Forest").locator("[data-menu-action='delete']").click()
    page.click(".modal .btn-danger")
    assert toast_text(page, "success") == "Deep Forest deleted"
    assert not target.exists()
    assert not any(p.endswith("/forest.safetensors") for p in listed(server))
    batches = server.get("/api/lm/trash")["batches"]
    assert any(any(m.endswith("/forest.safetensors") for m in b["models"]) for b in batches)
    page.click(".toast-success .toast-action")
    page.wait_for_function("[...document.querySelectorAll('.toast-text')].some((e) => e.textContent === 'Models restored')")
    assert target.exists() and target.with_name("forest.metadata.json").exists()
    server.wait_for("/api/lm/loras/list?page_size=100",
                    lambda body: any(i["file_path"].endswith("/forest.safetensors") for i in body["items"]))
    page.wait_for_selector(".model-card[aria-label='Deep Forest']")


def test_exclude_hides_the_model_and_the_api_lists_it_as_excluded(server, page):
    open_page(page, server)
    menu_of(page, "Neon City").locator("[data-menu-action='exclude']").click()
    assert toast_text(page, "success") == "Neon City excluded"
    page.wait_for_selector(".model-card[aria-label='Neon City']", state="detached")
    excluded = server.get("/api/lm/loras/excluded")["items"]
    assert [i["model_name"] for i in excluded] == ["Neon City"]
    sidecar = json.loads((server.library / "concepts" / "neon_city.metadata.json").read_text(encoding="utf-8"))
    assert sidecar["exclude"] is True
    server.post("/api/lm/loras/unexclude", {"file_path": excluded[0]["file_path"]})  # back for the other tests


def test_replace_preview_from_a_file_and_from_a_bad_url(server, page, tmp_path):
    open_page(page, server)
    upload = write_image(tmp_path / "new_preview.png", size=(40, 50), color=(10, 200, 10))
    menu_of(page, "Zebra Stripes").locator("[data-menu-action='preview']").click()
    page.fill("#preview-url", "http://127.0.0.1:9/nothing.png")
    page.click("#preview-submit")
    page.wait_for_selector(".modal .form-error:not([hidden])")
    assert page.locator(".modal .form-error").inner_text()  # the API's error text
    page.fill("#preview-url", "")
    page.set_input_files("#preview-file", str(upload))
    page.click("#preview-submit")
    assert toast_text(page, "success") == "Preview replaced"
    previews = [p for p in server.library.glob("zebra_stripes.*") if p.suffix in (".png", ".webp", ".jpg", ".jpeg")]
    assert previews, list(server.library.iterdir())
    item = next(i for p, i in listed(server).items() if p.endswith("/zebra_stripes.safetensors"))
    assert item["preview_url"]
    page.wait_for_selector(".model-card[aria-label='Zebra Stripes'] .card-media img")


def test_refresh_from_civitai_shows_the_api_error(server, page):
    open_page(page, server)
    menu_of(page, "Oil Paint").locator("[data-menu-action='refresh']").click()
    message = toast_text(page, "error")
    assert message and message != "Metadata refreshed"


def test_excluded_view_lists_excluded_models_and_includes_them_again(server, page):
    anime = next(p for p in listed(server) if p.endswith("/anime_lineart.safetensors"))
    server.post("/api/lm/loras/exclude", {"file_path": anime})
    open_page(page, server)
    page.wait_for_selector(".model-card[aria-label='Anime Lineart']", state="detached")
    page.click("#view-excluded")
    assert page.url.endswith("/loras?view=excluded")
    page.wait_for_selector(".model-card[aria-label='Anime Lineart']")
    assert page.locator(".model-card:not(.skeleton)").count() == 1
    assert page.locator(".sidebar").is_hidden()
    menu = menu_of(page, "Anime Lineart")
    assert menu.locator("[data-menu-action='exclude']").count() == 0
    menu.locator("[data-menu-action='include']").click()
    assert toast_text(page, "success") == "Anime Lineart is listed again"
    page.wait_for_function("document.querySelector('.grid-empty').textContent === 'No model is excluded.'")
    assert server.get("/api/lm/loras/excluded")["total"] == 0
    sidecar = json.loads((server.library / "styles" / "anime" / "anime_lineart.metadata.json").read_text(encoding="utf-8"))
    assert sidecar["exclude"] is False
    page.click("#view-library")
    page.wait_for_selector(".model-card[aria-label='Anime Lineart']")
    page.reload()  # the view is in the URL: a reload keeps it
    page.wait_for_selector("#view-library[aria-pressed='true']")


def test_trash_view_lists_deletes_and_restores_them(server, page):
    open_page(page, server)
    target = server.library / "styles" / "oil_paint.safetensors"
    menu_of(page, "Oil Paint").locator("[data-menu-action='delete']").click()
    page.click(".modal .btn-danger")
    page.wait_for_selector(".toast-success .toast-action")
    page.click(".toast-success .toast-close")  # no undo from the toast: the trash view does it
    assert not target.exists()
    page.click("#view-trash")
    assert page.url.endswith("/loras?view=trash")
    batch = page.locator(".trash-batch", has_text="oil_paint.safetensors")
    batch.wait_for()
    assert "LoRA" in batch.locator(".trash-facts").inner_text()
    assert page.locator(".grid-scroller").is_hidden()
    batch.locator(".trash-restore").click()
    page.wait_for_selector(".trash-batch:has-text('oil_paint.safetensors')", state="detached")
    assert target.exists() and target.with_name("oil_paint.metadata.json").exists()
    assert not any(any(m.endswith("/oil_paint.safetensors") for m in b["models"])
                   for b in server.get("/api/lm/trash")["batches"])
    server.wait_for("/api/lm/loras/list?page_size=100",
                    lambda body: any(i["file_path"].endswith("/oil_paint.safetensors") for i in body["items"]))
    assert page.js_errors == []


def blurred(page: Any, name: str) -> bool:
    return card(page, name).locator(".card-media").evaluate("(el) => el.classList.contains('nsfw-blurred')")


def test_mature_previews_blur_reveal_on_click_and_follow_the_setting(server, page):
    open_page(page, server)
    assert blurred(page, "Anime Lineart")  # X, the default blurs from R
    assert not blurred(page, "Neon City")  # PG
    assert page.evaluate("getComputedStyle(document.querySelector('.nsfw-blurred img')).filter").startswith("blur")
    assert card(page, "Anime Lineart").locator(".nsfw-reveal").get_attribute("tabindex") == "-1"  # one Tab stop per grid
    card(page, "Anime Lineart").locator(".nsfw-reveal").click()
    assert not blurred(page, "Anime Lineart")
    assert page.locator(".modal").count() == 0  # revealing does not open the details
    # the details blur too, with their own reveal
    page.reload()
    page.wait_for_selector(".model-card[aria-label='Anime Lineart'] .nsfw-reveal")
    menu_of(page, "Anime Lineart").locator("[data-menu-action='details']").click()
    page.wait_for_selector(".modal .details-media.nsfw-blurred")
    page.click(".modal .details-media .nsfw-reveal")
    page.wait_for_selector(".modal .details-media:not(.nsfw-blurred)")
    page.keyboard.press("Escape")
    # the settings page: blur only XXX; saved to the file and used by the cards
    page.goto(server.url + "settings")
    page.wait_for_selector("#mature-blur-level")
    assert page.locator("#blur-mature-content").is_checked()
    assert page.locator("#mature-blur-level").input_value() == "R"
    page.select_option("#mature-blur-level", "XXX")
    page.click("#save-settings")
    page.wait_for_selector(".form-status.ok")
    assert server.settings()["mature_blur_level"] == "XXX"
    assert server.get("/api/lm/settings")["settings"]["mature_blur_level"] == "XXX"
    open_page(page, server)
    assert not blurred(page, "Anime Lineart")
    # PG13 and up, then blur off
    page.goto(server.url + "settings")
    page.wait_for_selector("#mature-blur-level")
    page.select_option("#mature-blur-level", "PG13")
    page.click("#save-settings")
    page.wait_for_selector(".form-status.ok")
    open_page(page, server)
    assert blurred(page, "Anime Lineart") and not blurred(page, "Neon City")
    page.goto(server.url + "settings")
    page.wait_for_selector("#blur-mature-content")
    page.uncheck("#blur-mature-content")
    page.select_option("#mature-blur-level", "R")
    page.click("#save-settings")
    page.wait_for_selector(".form-status.ok")
    assert server.settings()["blur_mature_content"] is False
    open_page(page, server)
    assert not blurred(page, "Anime Lineart")
    # show only SFW: the X-rated model leaves the list, the PG one stays
    page.goto(server.url + "settings")
    page.wait_for_selector("#show-only-sfw")
    page.check("#show-only-sfw")
    page.click("#save-settings")
    page.wait_for_selector(".form-status.ok")
    assert server.settings()["show_only_sfw"] is True
    open_page(page, server)
    page.wait_for_selector(".model-card[aria-label='Neon City']")
    assert card(page, "Anime Lineart").count() == 0
    assert not any(i["model_name"] == "Anime Lineart" for i in listed(server).values())
    server.post("/api/lm/settings", {"show_only_sfw": False})
    server.post("/api/lm/settings", {"blur_mature_content": True})  # as the other tests expect it
    assert page.js_errors == []


def test_the_details_offer_the_same_actions(server, page):
    open_page(page, server)
    card(page, "Steel Robot").click()
    page.wait_for_selector("#details-rename")
    assert page.locator(".details-actions button").all_inner_texts() == [
        "Rename file…", "Move to folder…", "Replace preview…", "Refresh metadata from Civitai",
        "Exclude from the library", "Delete"]
    page.click("#details-rename")
    page.wait_for_selector(".modal #rename-input")
    assert page.locator(".modal").count() == 1  # the details closed
    page.fill("#rename-input", "robot_v2")
    page.click("#rename-submit")
    assert toast_text(page, "success") == "Renamed to robot_v2"
    folder = server.library / "characters"
    assert (folder / "robot_v2.safetensors").exists() and (folder / "robot_v2.metadata.json").exists()
    assert not (folder / "robot.safetensors").exists()
    assert any(p.endswith("/characters/robot_v2.safetensors") for p in listed(server))


def test_set_the_content_rating_from_the_menu(server, page):
    open_page(page, server)
    assert not blurred(page, "Neon City")
    menu_of(page, "Neon City").locator("[data-menu-action='rating']").click()
    assert page.locator("#rating-1").is_checked()  # PG, as the sidecar says
    page.check("#rating-8")
    page.click("#rating-submit")
    assert toast_text(page, "success") == "Content rating saved"
    page.wait_for_function("document.querySelector(\".model-card[aria-label='Neon City'] .card-media\")"
                           "?.classList.contains('nsfw-blurred')")
    sidecar = json.loads((server.library / "concepts" / "neon_city.metadata.json").read_text(encoding="utf-8"))
    assert sidecar["preview_nsfw_level"] == 8
    item = next(i for p, i in listed(server).items() if p.endswith("/neon_city.safetensors"))
    assert item["preview_nsfw_level"] == 8
    server.post("/api/lm/loras/save-metadata", {"file_path": item["file_path"], "preview_nsfw_level": 1})


def test_a_mature_recipe_image_blurs_in_the_grid_and_the_details(server, page, tmp_path):
    import base64
    import urllib.parse
    import urllib.request

    image = write_image(tmp_path / "recipe.png", size=(48, 48))
    form = urllib.parse.urlencode({"name": "Night Scene", "image_base64": base64.b64encode(image.read_bytes()).decode(),
                                   "extension": ".png"}).encode()
    request = urllib.request.Request(server.url + "api/lm/recipes/save", data=form, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        recipe_id = json.loads(resp.read())["recipe_id"]
    server.post(f"/api/lm/recipe/{recipe_id}/update", {"preview_nsfw_level": 16})
    page.goto(server.url + "recipes")
    page.wait_for_selector("html[data-ready='true']")
    recipe = page.locator(".recipe-card[aria-label='Night Scene']")
    recipe.locator(".card-media.nsfw-blurred").wait_for()
    recipe.click(position={"x": 20, "y": 260})  # the card's text, not its reveal button
    page.wait_for_selector(".modal .details-media.nsfw-blurred")
    page.click(".modal .details-media .nsfw-reveal")
    page.wait_for_selector(".modal .details-media:not(.nsfw-blurred)")
    assert page.js_errors == []


def test_the_menu_of_a_card_far_down_a_2000_model_library(big_server, page):
    """Virtualised cards are drawn anew while scrolling: the menu acts on the card the user chose."""
    open_page(page, big_server)
    page.evaluate("const s = document.querySelector('.grid-scroller'); s.scrollTop = s.scrollHeight")
    page.wait_for_selector(".model-card[aria-label='model_1999']")
    page.focus(".model-card[aria-label='model_1998']")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.activeElement?.getAttribute('aria-label') === 'model_1999'")
    page.keyboard.press("Shift+F10")
    page.wait_for_selector(".context-menu")
    page.click(".context-menu [data-menu-action='delete']")
    page.click(".modal .btn-danger")
    assert toast_text(page, "success") == "model_1999 deleted"
    target = big_server.library / "model_1999.safetensors"
    assert not target.exists()
    big_server.wait_for("/api/lm/loras/list?page_size=1", lambda body: body["total"] == 1999)
    page.click(".toast-success .toast-action")
    big_server.wait_for("/api/lm/loras/list?page_size=1", lambda body: body["total"] == 2000)
    assert target.exists()
    page.wait_for_function("document.querySelector('#count').textContent === '2000 models'")


def test_hash_now_hashes_a_pending_checkpoint(server, page):
    """Checkpoints are hashed lazily; "Verify hash" hashes the file now and the API then reports its sha256."""
    import hashlib

    target = next(server.library.parent.glob("checkpoints/dreamy_ckpt.safetensors"))
    expected = hashlib.sha256(target.read_bytes()).hexdigest()
    before = next(iter(listed(server, "checkpoints").values()))
    assert before["sha256"] != expected, before
    open_page(page, server, "checkpoints")
    page.locator(".model-card:not(.skeleton)").first.click(button="right")
    item = page.locator(".context-menu [data-menu-action='hash']")
    assert item.inner_text() == "Verify hash (hash now)"
    item.click()
    assert toast_text(page, "success") == f"SHA256: {expected}"
    listed_item = next(iter(listed(server, "checkpoints").values()))
    assert listed_item["sha256"] == expected
    assert target.read_bytes()  # the file is untouched
    assert page.js_errors == []
