"""A mistyped page address on the standalone server gets a readable 404 page; API paths keep their JSON error."""
from __future__ import annotations


async def test_an_unknown_page_is_an_html_404_with_a_title_a_language_and_a_way_back(client):
    resp = await client.get("/no-such-page/<script>")
    text = await resp.text()
    assert resp.status == 404
    assert resp.content_type == "text/html"
    assert '<html lang="en">' in text and "<title>Page not found · LoRA Manager</title>" in text
    assert '<a href="/loras">' in text
    assert "/no-such-page/&lt;script&gt;" in text and "<script>" not in text  # the path is shown, escaped


async def test_an_unknown_api_route_still_answers_json(client, snapshot):
    resp = await client.get("/api/lm/no-such-route")
    assert resp.status == 404
    body = await resp.json()
    assert body["success"] is False and "No such API route" in body["error"]
    assert body == snapshot
