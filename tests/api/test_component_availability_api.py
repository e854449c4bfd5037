"""An area whose service is missing (failed to build, switched off) answers a clear 503, never a 500."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("component, method, path, message", [
    ("downloads", "get", "/api/lm/downloads/queue", "Downloads are not available"),
    ("example_images", "get", "/api/lm/example-images-status", "Example images are not available"),
    ("lifecycle", "post", "/api/lm/loras/exclude", "Model lifecycle operations are not available"),
    ("lifecycle", "post", "/api/lm/undo-delete", "Model lifecycle operations are not available"),
])
async def test_a_missing_area_answers_503(lib_env, make_client, component, method, path, message, snapshot):
    client = await make_client(lib_env)
    components = client.lm_context.components
    removed = components.pop(component)
    try:
        kwargs = {"json": {"file_path": "x", "batch_id": "b"}} if method == "post" else {}
        resp = await getattr(client, method)(path, **kwargs)
        body = await resp.json()
    finally:
        components[component] = removed  # closed with the app, as usual
    assert resp.status == 503
    assert body == {"success": False, "error": message}
    assert body == snapshot
