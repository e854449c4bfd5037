"""Settings, language and theme in a real browser, checked against the settings file on disk."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def open_settings(page, server):
    page.goto(server.url + "settings")
    page.wait_for_selector("html[data-ready='true']")
    page.wait_for_selector("#save-settings")


def test_invalid_settings_show_the_server_problems(small_server, page):
    open_settings(page, small_server)
    before = small_server.settings()
    page.fill("#poll-interval", "1")
    page.fill("#download-concurrency", "99")
    page.fill("#template-lora", "../{nope}")
    page.click("#save-settings")
    problems = page.locator("#settings-problems")
    problems.wait_for()
    text = problems.inner_text()
    assert "Invalid settings" in text
    assert "poll_interval_seconds must be from 5 to 86400" in text
    assert "download_concurrency must be from 1 to 16" in text
    assert "download_path_templates.lora" in text
    assert problems.get_attribute("role") == "alert"
    assert small_server.settings() == before  # nothing was written


def test_valid_settings_are_saved(small_server, page, tmp_path):
    open_settings(page, small_server)
    extra = tmp_path / "more-loras"
    extra.mkdir()
    page.fill("#add-root-lora", str(extra))
    page.click("#add-root-btn-lora")
    assert page.locator("#roots-lora", has_text=str(extra)).count() == 1
    page.select_option("#watch-mode", "poll")
    page.fill("#poll-interval", "120")
    page.uncheck("#lazy-hashing")
    page.fill("#download-concurrency", "4")
    page.fill("#api-key", "abcdef1234567890secret")
    page.click("#save-settings")
    page.wait_for_selector(".form-status.ok")
    saved = small_server.settings()
    assert str(extra) in saved["libraries"]["default"]["roots"]["lora"]
    assert saved["watch_mode"] == "poll" and saved["poll_interval_seconds"] == 120
    assert saved["hash_checkpoints_lazily"] is False and saved["download_concurrency"] == 4
    assert saved["civitai_api_key"] == "abcdef1234567890secret"
    # the key is never shown in full again, and saving untouched keeps it
    page.reload()
    page.wait_for_selector("#save-settings")
    assert "secret" not in page.content()
    assert page.get_attribute("#api-key", "placeholder").endswith("cret")
    page.click(f"#roots-lora li:has-text('{extra}') button")
    page.click("#save-settings")
    page.wait_for_selector(".form-status.ok")
    saved = small_server.settings()
    assert saved["civitai_api_key"] == "abcdef1234567890secret"
    assert str(extra) not in saved["libraries"]["default"]["roots"]["lora"]
    page.click("#api-key-clear")
    page.click("#save-settings")
    page.wait_for_selector(".form-status.ok")
    assert small_server.settings()["civitai_api_key"] == ""


def test_language_switch_changes_visible_text_and_is_persisted(small_server, page):
    page.goto(small_server.url + "loras")
    page.wait_for_selector("html[data-ready='true']")
    settings_link = page.locator("#main-nav a[data-page='settings']")
    assert settings_link.inner_text() == "Settings"
    try:
        page.select_option("#language-select", "de")
        page.wait_for_function("document.querySelector(\"#main-nav a[data-page='settings']\").textContent === 'Einstellungen'")
        assert page.locator("#count").inner_text() == "10 Modelle"
        assert page.get_attribute("#search", "placeholder") == "Nach Namen suchen…"
        assert page.evaluate("document.documentElement.lang") == "de"
        page.wait_for_function("1", timeout=1000)
        for _ in range(50):
            if small_server.settings()["language"] == "de":
                break
            page.wait_for_timeout(100)
        assert small_server.settings()["language"] == "de"
        page.reload()
        page.wait_for_selector("html[data-ready='true']")
        assert settings_link.inner_text() == "Einstellungen"
        assert page.input_value("#language-select") == "de"
        page.select_option("#language-select", "ja")
        page.wait_for_function("document.querySelector(\"#main-nav a[data-page='settings']\").textContent === '設定'")
        for _ in range(50):  # the page's own save lands first, so the reset below is the last word
            if small_server.settings()["language"] == "ja":
                break
            page.wait_for_timeout(100)
    finally:
        small_server.post("/api/lm/settings", {"language": "en"})


def test_theme_toggle_is_remembered(small_server, page):
    page.goto(small_server.url + "loras")
    page.wait_for_selector("html[data-ready='true']")
    theme = "document.documentElement.dataset.theme"
    assert page.evaluate(theme) == "light"  # the system preference of this browser context
    light_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert page.get_attribute("#theme-toggle", "aria-label") == "Switch to dark theme"
    page.click("#theme-toggle")
    assert page.evaluate(theme) == "dark"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != light_bg
    assert page.get_attribute("#theme-toggle", "aria-label") == "Switch to light theme"
    page.reload()
    page.wait_for_selector("html[data-ready='true']")
    assert page.evaluate(theme) == "dark"
    page.click("#theme-toggle")
    assert page.evaluate("localStorage.getItem('lm-theme')") == "light"


def test_dark_system_preference_is_the_default(small_server, dark_page):
    dark_page.goto(small_server.url + "settings")
    dark_page.wait_for_selector("html[data-ready='true']")
    assert dark_page.evaluate("document.documentElement.dataset.theme") == "dark"
