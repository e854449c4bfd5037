"""GET /api/lm/settings/libraries and POST /api/lm/settings/libraries/activate through the real app: a switch
serves the other library at once (its own index database), survives a restart, and refuses clearly."""
from __future__ import annotations

import asyncio
import json

import pytest

from support.fixtures import wait_idle
from support.library import write_lora
from support.snap import scrub


@pytest.fixture
def two_libraries(lib_env):
    studio = lib_env.tmp / "studio"
    for folder in ("loras", "checkpoints", "embeddings"):
        (studio / folder).mkdir(parents=True)
    write_lora(lib_env.loras, "home_style.safetensors")
    write_lora(studio / "loras", "studio/studio_style.safetensors")
    write_lora(studio / "loras", "studio_extra.safetensors")
    lib_env.write_settings(libraries={
        "default": {"roots": {"lora": [str(lib_env.loras)], "checkpoint": [str(lib_env.checkpoints)],
                              "embedding": [str(lib_env.embeddings)]}},
        "studio": {"roots": {"lora": [str(studio / "loras")], "checkpoint": [str(studio / "checkpoints")],
                             "embedding": [str(studio / "embeddings")]}},
    })
    lib_env.studio = studio
    return lib_env


async def names(client, model_type="loras"):
    body = await (await client.get(f"/api/lm/{model_type}/list")).json()
    return sorted(item["file_name"] for item in body["items"])


def pinned(body):
    """The answer with each library reduced to ``folder_paths``: the rest of a library's fields is the settings
    file's own shape (tested with the settings), this route only passes it on."""
    if "libraries" not in body:
        return body
    return {**body, "libraries": {name: {"folder_paths": lib["folder_paths"]} for name, lib in body["libraries"].items()}}


async def activate(client, payload, env):
    resp = await client.post("/api/lm/settings/libraries/activate", json=payload)
    return resp.status, scrub(await resp.json(), env.tmp)


async def test_list_libraries(two_libraries, make_client, snapshot):
    client = await make_client(two_libraries)
    resp = await client.get("/api/lm/settings/libraries")
    body = scrub(await resp.json(), two_libraries.tmp)
    assert resp.status == 200
    assert body["active_library"] == "default" and sorted(body["libraries"]) == ["default", "studio"]
    assert body["libraries"]["studio"]["folder_paths"]["loras"] == ["<tmp>/studio/loras"]
    assert pinned(body) == snapshot


async def test_activate_switches_the_served_library_at_once(two_libraries, make_client, snapshot):
    env = two_libraries
    client = await make_client(env)
    assert await names(client) == ["home_style"]
    status, body = await activate(client, {"library": "studio"}, env)
    assert status == 200, body
    assert pinned(body) == snapshot
    await wait_idle(client.lm_context)  # the new library's first sweep, as after a start
    assert await names(client) == ["studio_extra", "studio_style"]
    roots = await (await client.get("/api/lm/loras/roots")).json()
    assert roots["roots"] == [str(env.studio / "loras")]
    assert (env.data_dir / "db" / "studio.sqlite").is_file()
    assert json.loads(env.settings_path.read_text())["active_library"] == "studio"
    status, back = await activate(client, {"library_name": "default"}, env)
    assert status == 200 and back["active_library"] == "default" and back["previous_library"] == "studio"
    assert await names(client) == ["home_style"]  # served from its index at once: it was swept before


async def test_the_choice_survives_a_restart(two_libraries, make_client):
    client = await make_client(two_libraries)
    status, _ = await activate(client, {"library": "studio"}, two_libraries)
    assert status == 200
    await client.close()
    again = await make_client(two_libraries)
    assert await names(again) == ["studio_extra", "studio_style"]
    listed = await (await again.get("/api/lm/settings/libraries")).json()
    assert listed["active_library"] == "studio"


async def test_activating_the_active_library_changes_nothing(two_libraries, make_client):
    client = await make_client(two_libraries)
    before = client.lm_context.database
    status, body = await activate(client, {"library": "default"}, two_libraries)
    assert status == 200 and body["switched"] is False and body["active_library"] == "default"
    assert client.lm_context.database is before


@pytest.mark.parametrize("payload", [{}, {"library": ""}, {"library": 7}, {"library": ["studio"]},
                                     {"library": "x" * 500}, {"library": "nowhere"}, {"library": "../studio"}])
async def test_activate_refusals(two_libraries, make_client, payload, snapshot):
    client = await make_client(two_libraries)
    status, body = await activate(client, payload, two_libraries)
    assert status in (400, 404) and body["success"] is False
    assert await names(client) == ["home_style"]
    assert (status, body) == snapshot


async def test_activate_refuses_non_json(two_libraries, make_client):
    client = await make_client(two_libraries)
    settings_before = two_libraries.settings_path.read_bytes()
    database = client.lm_context.database
    resp = await client.post("/api/lm/settings/libraries/activate", data=b"studio",
                             headers={"Content-Type": "application/json"})
    assert resp.status == 400 and (await resp.json())["success"] is False
    # Nothing switched: the same index is served and the settings file still names the old library.
    assert client.lm_context.database is database
    assert await names(client) == ["home_style"]
    assert two_libraries.settings_path.read_bytes() == settings_before


async def test_activate_waits_for_running_work(two_libraries, make_client, snapshot):
    client = await make_client(two_libraries)
    release = asyncio.Event()

    async def organize(_job):
        await release.wait()

    job = client.lm_context.jobs.start("auto-organize", organize, title="Auto-organize loras")
    status, body = await activate(client, {"library": "studio"}, two_libraries)
    assert status == 409
    assert body == snapshot
    assert await names(client) == ["home_style"]
    release.set()
    await job.wait()
    status, _ = await activate(client, {"library": "studio"}, two_libraries)
    assert status == 200


async def test_activate_from_a_foreign_page_is_refused(two_libraries, make_client):
    client = await make_client(two_libraries)
    resp = await client.post("/api/lm/settings/libraries/activate", json={"library": "studio"},
                             headers={"Origin": "https://evil.example"})
    assert resp.status == 403 and (await resp.json())["success"] is False
    assert await names(client) == ["home_style"]
