"""Every route under /api/lm answers arbitrary input with JSON: a 2xx, or a 4xx ``{"success": false, "error"}``.

Nothing a user can send is a 500. The real app runs on a real library in ``tmp_path``; Civitai is a closed
loopback port, so every remote call fails fast (a 502/503/504 JSON error is then the right answer).
Files outside the library roots and the data dir are never touched, and library files only disappear through
the routes whose job is to delete, move or rename them.
"""
from __future__ import annotations

import inspect
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import yarl
from hypothesis import HealthCheck, event, given, settings, strategies as st

from lora_manager.py.library.atomic import is_leftover_temp
from support.library import lm_sidecar, write_image, write_lora

CLOSED_CIVITAI = "http://127.0.0.1:9"
REQUEST_TIMEOUT = 30.0
# LM_FUZZ_EXAMPLES raises the budget for a deeper run by hand; the suite keeps the file well under a minute.
FUZZ = settings(max_examples=int(os.environ.get("LM_FUZZ_EXAMPLES", "400")), deadline=None,
                suppress_health_check=list(HealthCheck))

# The names the handlers read from query strings, JSON bodies and forms (grep of request.query / body.get /
# require_* / optional_* in py/routes, plus the editable metadata fields and the lifecycle payload keys).
# Settings keys that move where the app reads or writes files (libraries, folder_paths, recipes_dir,
# active_library) are left out on purpose: a valid value would point the app at real system folders.
PARAM_NAMES = sorted({
    "base_model", "base_models", "batch_id", "bytes_downloaded", "checkpoint_hash", "checkpoint_hashes",
    "civitai_model_id", "civitai_model_type", "completed_at", "cursor", "download_id", "downloaded", "dry_run",
    "error", "exclusion_patterns", "extension", "favorite", "favorites_only", "filePath", "file_params",
    "file_path", "file_paths", "first_letter", "folder", "folder_exclude", "folder_include", "force",
    "full_rebuild", "fuzzy", "fuzzy_search", "gen_params", "hash", "hashes", "id", "ignore", "image",
    "image_base64", "image_ids", "image_url", "kind", "limit", "lora_hash", "lora_hashes", "metadata", "modelId",
    "modelIds", "modelType", "modelVersionId", "model_id", "model_ids", "model_name", "model_path", "model_root",
    "model_type", "model_version_id", "name", "new_file_name", "notes", "nsfw_level", "offset", "on_conflict",
    "page", "page_size", "path", "preview_nsfw_level", "preview_url", "recipe_ids", "recursive",
    "relative_path", "resources", "search", "search_creator", "search_filename", "search_lora_model",
    "search_lora_name", "search_modelname", "search_prompt", "search_tags", "search_title", "sha256",
    "skip_metadata_refresh", "sort_by", "source", "source_path", "status", "tag", "tag_exclude", "tag_include",
    "tag_logic", "tags", "target_path", "thumbnail_url", "title", "total_bytes", "update_available_only", "url",
    "usage_tips", "use_default_paths", "username", "version_id", "version_name", "language", "civitai",
})
# Handlers that pass the whole body on: the names their services read.
KEY_HINTS = {
    "update_settings": ["language", "watch_mode", "poll_interval_seconds", "download_concurrency", "display_name",
                        "trash_retention_days", "download_path_templates", "civitai_api_key", "hash_checkpoints_lazily"],
    "save_metadata": ["model_name", "notes", "tags", "usage_tips", "base_model", "preview_nsfw_level", "favorite",
                      "skip_metadata_refresh", "civitai"],
    "update_recipe": ["title", "tags", "favorite", "notes", "base_model", "loras", "gen_params", "source_path"],
}
UPLOAD_FIELDS = ["preview_file", "image", "file", "model_path", "file_path", "name", "tags", "metadata",
                 "image_base64", "extension", "folder", "nsfw_level", "url"]

# Answers that are not JSON by design: a file, a shared recipe image, a zip export (2xx only).
BINARY_ROUTES = re.compile(r"^/api/lm/(previews|recipe/\{recipe_id\}/share|recipes/export)$")
# Routes whose job is to take files away from where they were.
FILE_MOVING_ROUTES = re.compile(
    r"/(delete|bulk-delete|rename|move_model|move_models_bulk|auto-organize|replace-preview|undo-delete"
    r"|delete-model-version)$")
REMOTE_STATUSES = (502, 503, 504)


class FuzzApp(dict):
    """The app under test and what the strategies need from it; a short repr keeps failure reports readable."""

    def __repr__(self) -> str:
        return "FuzzApp(...)"


@pytest.fixture
async def fuzz_app(lib_env, make_client, monkeypatch, tmp_path: Path) -> dict[str, Any]:
    """The real app on a small library, with a sentinel folder next to it that no request may touch."""
    monkeypatch.setenv("LORA_MANAGER_CIVITAI_BASE_URL", CLOSED_CIVITAI)
    monkeypatch.setenv("LORA_MANAGER_HF_BASE_URL", CLOSED_CIVITAI)  # a fuzzed repo + filename never reaches HF
    write_lora(lib_env.loras, "alpha.safetensors", sidecar=lm_sidecar("alpha"), preview=".preview.png")
    write_lora(lib_env.loras, "x/beta.safetensors", family="sdxl")
    write_lora(lib_env.checkpoints, "gamma.safetensors", family="sdxl")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("do not touch", encoding="utf-8")
    write_image(outside / "picture.png")
    client = await make_client(lib_env)
    handlers = {(r.method, r.resource.canonical): r.handler for r in client.app.router.routes()
                if r.resource is not None and r.resource.canonical.startswith("/api/lm")
                and r.method not in ("HEAD", "*")}
    routes = sorted(handlers)
    models = [("lora", lib_env.loras, "alpha.safetensors", "sd15"), ("lora", lib_env.loras, "x/beta.safetensors", "sdxl"),
              ("checkpoint", lib_env.checkpoints, "gamma.safetensors", "sdxl")]
    return FuzzApp(client=client, env=lib_env, routes=routes, outside=outside, models=models,
                   keys={route: _handler_keys(handler) for route, handler in handlers.items()},
                   paths=[str(root / rel) for _type, root, rel, _family in models])


def _handler_keys(handler: Any) -> list[str]:
    """The parameter names a handler reads (its source and the ``self._helpers`` it calls), as the fuzz's hints."""
    sources = [_source(handler)]
    owner = getattr(handler, "__self__", None)
    for helper in re.findall(r"self\.(_\w+)\(", sources[0]):
        if owner is not None and callable(getattr(owner, helper, None)):
            sources.append(_source(getattr(owner, helper)))
    module = inspect.getmodule(handler)
    for called in set(re.findall(r"\b(\w+)\(", sources[0])):
        function = getattr(module, called, None)
        if inspect.isfunction(function) and function.__module__ == getattr(module, "__name__", None):
            sources.append(_source(function))
    names = set(re.findall(r"""(?:get|getall|require_str|require_int|optional_int|optional_bool|_text|_positive_int|
                               _optional_float|_split_many|_json_param)\((?:[\w.]+,\s*)?["'](\w+)["']""",
                           "\n".join(sources), re.X))
    if route_hint := KEY_HINTS.get(getattr(handler, "__name__", "")):
        names |= set(route_hint)
    return sorted(names | {"file_path"})


def _source(fn: Any) -> str:
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return ""


async def _restore_library(app: dict[str, Any]) -> None:
    """Put back the models an earlier example deleted, moved or renamed, so every example can reach them."""
    context = app["client"].lm_context
    for model_type, root, rel, family in app["models"]:
        path = root / rel
        if not path.exists():
            write_lora(root, rel, family=family)
            await context.service(model_type).reindex_paths([str(path)])


# -- strategies ---------------------------------------------------------------------------------------------

def _special_values(app: dict[str, Any]) -> list[str]:
    env, outside = app["env"], app["outside"]
    return [
        "", " ", "0", "1", "-1", "2", "-99999999999999999999999", "99999999999999999999999999999", "1e309", "NaN",
        "inf", "1.5", "abc", "true", "false", "ünïcødé ✓ 漢字 🎨", "\u202e\u0000x", "../", "../../etc/passwd",
        "/etc/passwd", "/etc", "/", "~", "~/.bashrc", "C:\\Windows\\win.ini", "..\\..\\x", str(outside),
        str(outside / "secret.txt"), str(outside / "picture.png"), str(outside / "new.png"),
        "../outside/secret.txt", "../../outside", "{", "}", "[]", "{}", '{"a": 1}', "[1, 2]", '["a", 3]', "null",
        '{"file_path": "../x"}', "x" * 5000, "9" * 400, "queued", "completed", "failed", "canceled", "lora",
        "checkpoint", "LORA", "sdxl", "name", "date:desc", "random:1", "any", "all", "rename", "refuse",
        "http://127.0.0.1:9/image.png", "https://127.0.0.1:9/images/1", "data:image/png;base64,AAAA",
        str(env.loras), str(env.loras / "x"), "x", "x/y", "alpha", "alpha.safetensors", *app["paths"],
        "abc123", "0" * 64,
    ]


def _plausible(app: dict[str, Any]) -> dict[str, list[Any]]:
    """Values that get a request past the first checks, so the fuzz reaches the handlers' deeper paths."""
    env, paths = app["env"], app["paths"]
    names = ["renamed", "alpha", "x/evil", "../evil", "", "a" * 300, "con", ".hidden", "ü漢"]
    return {
        "file_path": paths, "model_path": paths, "path": paths + [str(env.loras / "alpha.preview.png")],
        "file_paths": [paths, paths[:1], [paths[0], "/etc/passwd"], []],
        "target_path": [str(env.loras), str(env.loras / "x"), str(env.loras / "new"), "/tmp", "../..", ""],
        "new_file_name": names, "name": names, "folder": ["", "x", "../..", str(env.loras)],
        "model_id": [1, 100, 0, -5, 2**63], "modelId": ["1", "100", "0"], "model_version_id": [1, 1000, 0],
        "modelVersionId": ["1", "1000"], "version_id": [1, 1000], "modelType": ["lora", "checkpoint", "x"],
        "download_id": ["abc", "", "../x"], "batch_id": ["abc", "../x", "x" * 100], "status": ["queued", "x"],
        "recipe_ids": [["abc"], ["../x"], []], "tags": [["a", "b"], "a,b", [], [1]], "sha256": ["0" * 64, "x"],
        "url": ["http://127.0.0.1:9/a.png", "ftp://x", "x"], "image_url": ["http://127.0.0.1:9/a.png"],
        "resources": ["[]", '[{"type": "lora"}]', "{}"], "on_conflict": ["rename", "refuse", "x"],
        "model_name": ["New name", ""], "notes": ["n"], "favorite": [True, "yes", 2],
        "exclusion_patterns": [["*"], "*"], "model_ids": [[1], ["1"], [0], "1"], "dry_run": [True, "maybe"],
    }


def _text_values(app: dict[str, Any]) -> Any:
    return _cached(app, "_text_values", _build_text_values)


def _build_text_values(app: dict[str, Any]) -> st.SearchStrategy[str]:
    # Random text never forms a URL: only loopback URLs are sent, so nothing leaves the machine.
    random_text = st.text(max_size=40).filter(lambda s: "://" not in s)
    return st.one_of(st.sampled_from(_special_values(app)), random_text, st.integers().map(str))


def _json_values(app: dict[str, Any]) -> Any:
    return _cached(app, "_json_values", _build_json_values)


def _build_json_values(app: dict[str, Any]) -> st.SearchStrategy[Any]:
    keys = st.one_of(st.sampled_from(PARAM_NAMES), st.text(max_size=12))
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=10**20),
                        st.floats(allow_nan=True, allow_infinity=True), _text_values(app))
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(keys, inner, max_size=4)), max_leaves=10)


def _query(app: dict[str, Any]) -> Any:
    return _cached(app, "_query", _build_query)


def _build_query(app: dict[str, Any]) -> st.SearchStrategy[list[tuple[str, str]]]:
    keys = st.one_of(st.sampled_from(PARAM_NAMES), st.text(min_size=1, max_size=12))
    as_text = _plausible_object(app).map(lambda d: [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in d.items()])
    return st.one_of(as_text, st.lists(st.tuples(keys, _text_values(app)), max_size=6))


def _placeholder_values() -> st.SearchStrategy[str]:
    return st.one_of(st.integers().map(str), st.text(min_size=1, max_size=30),
                     st.sampled_from(["0", "-1", "..", "../../etc/passwd", "%", "99999999999999999999999", "x" * 300]))


def _resolve_path(data: Any, template: str) -> str:
    def one(match: re.Match[str]) -> str:
        return quote(data.draw(_placeholder_values(), label=match.group(1)), safe="")

    return re.sub(r"\{([^}]+)\}", one, template)


def _cached(app: dict[str, Any], name: str, build: Any) -> Any:
    """Strategies depend only on the app's paths: build each once per app, not once per example."""
    cache = app.setdefault("strategies", {})
    if name not in cache:
        cache[name] = build(app)
    return cache[name]


def _plausible_object(app: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return _cached(app, "plausible_object", _build_plausible_object)


def _build_plausible_object(app: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    plausible = _plausible(app)
    pair = st.sampled_from(sorted(plausible)).flatmap(
        lambda key: st.tuples(st.just(key), st.one_of(st.sampled_from(plausible[key]), _json_values(app))))
    target = st.sampled_from([[]] + [[("file_path", p)] for p in app["paths"]] + [[("file_paths", app["paths"])]])
    return st.tuples(target, st.lists(pair, max_size=5)).map(lambda t: dict(t[0] + t[1]))


def _route_object(app: dict[str, Any], route: tuple[str, str]) -> Any:
    return _cached(app, f"route {route}", lambda a: _build_route_object(a, route))


def _build_route_object(app: dict[str, Any], route: tuple[str, str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects made of the names this route's handler reads, with plausible or random values."""
    plausible = _plausible(app)
    keys = app["keys"][route]
    pair = st.sampled_from(keys).flatmap(lambda key: st.tuples(st.just(key), st.one_of(
        st.sampled_from(plausible.get(key, [""])), _json_values(app))))
    target = st.sampled_from([[]] + [[("file_path", p)] for p in app["paths"]] + [[("file_paths", app["paths"])]])
    return st.tuples(target, st.lists(pair, max_size=len(keys) + 1)).map(lambda t: dict(t[0] + t[1]))


def _as_query(value: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in value.items()]


def _json_body(app: dict[str, Any]) -> Any:
    return _cached(app, "_json_body", _build_json_body)


def _build_json_body(app: dict[str, Any]) -> st.SearchStrategy[bytes]:
    top = st.one_of(
        _plausible_object(app),
        st.dictionaries(st.sampled_from(PARAM_NAMES), _json_values(app), max_size=6),
        _json_values(app),
    )
    invalid = st.one_of(st.binary(max_size=64), st.sampled_from(
        [b"{", b'{"file_path":', b"\xff\xfe\x00", b"[1,]", b"{'a': 1}", b"NaN", b"\x00" * 8, b"  ", b"{}" * 3]))
    return st.one_of(top.map(lambda v: json.dumps(v).encode("utf-8")), invalid)


def _png_bytes() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (1, 2, 3)).save(buffer, "PNG")
    return buffer.getvalue()


PNG = _png_bytes()


def _multipart_parts(app: dict[str, Any]) -> Any:
    return _cached(app, "_multipart_parts", _build_multipart_parts)


def _build_multipart_parts(app: dict[str, Any]) -> st.SearchStrategy[list[tuple[str, Any]]]:
    # Field names are printable ASCII: the client itself refuses other names in part headers.
    printable = st.characters(blacklist_categories=("Cc", "Cs"))
    ascii_names = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=10)
    names = st.one_of(st.sampled_from(UPLOAD_FIELDS), ascii_names)
    file_part = st.tuples(
        st.one_of(st.binary(max_size=256), st.sampled_from([PNG, PNG[:20], b"", b"GIF89a", b"RIFF\x00\x00WEBP"])),
        st.one_of(st.sampled_from(["a.png", "../../x.png", "/etc/passwd", "x.webp", "noext", "a.safetensors",
                                   "ü漢.jpg", "."]), st.text(printable, min_size=1, max_size=20)),
        st.sampled_from(["image/png", "image/jpeg", "application/octet-stream", "text/plain", "video/mp4"]),
    ).map(lambda t: ("file", t))
    text_part = _text_values(app).map(lambda t: ("text", t))
    likely = st.sampled_from([[("preview_file", ("file", (PNG, "p.png", "image/png"))), ("model_path", ("text", p))]
                              for p in app["paths"]] + [[("image", ("file", (PNG, "i.png", "image/png"))),
                                                         ("name", ("text", "recipe"))]])
    random_parts = st.lists(st.tuples(names, st.one_of(file_part, text_part)), max_size=5)
    return st.one_of(st.tuples(likely, random_parts).map(lambda t: t[0] + t[1]), random_parts)


# -- checks ---------------------------------------------------------------------------------------------------

def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    found: dict[str, tuple[int, int]] = {}
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(dirpath) / name
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            found[str(path.relative_to(folder))] = (stat.st_size, stat.st_mtime_ns)
    return found


def _library_files(app: dict[str, Any]) -> set[str]:
    env = app["env"]
    # The trash and the temporary files of atomic writes (a background job may be mid-write) do not count.
    return {f"{root.name}/{rel}" for root in (env.loras, env.checkpoints, env.embeddings)
            for rel in _tree(root) if not rel.startswith(".lm-trash") and not is_leftover_temp(Path(rel).name)}


def _snapshot(app: dict[str, Any]) -> dict[str, Any]:
    env = app["env"]
    return {
        "outside": _tree(app["outside"]),
        "top": sorted(p.name for p in env.tmp.iterdir()),
        "library": _library_files(app),
        "system": {p: os.stat(p).st_mtime_ns for p in ("/etc/passwd", "/etc/hosts") if os.path.exists(p)},
    }


async def _send(app: dict[str, Any], method: str, path: str, query: list[tuple[str, str]], **kwargs: Any) -> Any:
    client = app["client"]
    text = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query)
    url = yarl.URL(str(client.make_url("")) .rstrip("/") + path + ("?" + text if text else ""), encoded=True)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    try:
        async with client.session.request(method, url, timeout=timeout, **kwargs) as response:
            return response.status, response.content_type, await response.read()
    except TimeoutError:
        pytest.fail(f"{method} {path}?{text[:300]} did not answer within {REQUEST_TIMEOUT} s")


def _check_answer(app: dict[str, Any], route: tuple[str, str], path: str, answer: tuple[int, str, bytes],
                  before: dict[str, Any], sent: str) -> None:
    status, content_type, raw = answer
    method, template = route
    event(f"status {status}")
    if os.environ.get("LM_FUZZ_DEBUG"):
        event(f"{status} {template} {raw[:80]!r}")
    where = f"{method} {path} ({template}) with {sent[:500]}: {status} {raw[:500]!r}"
    assert status != 500 and status < 600, where
    if BINARY_ROUTES.match(template) and 200 <= status < 300:
        return
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        pytest.fail(f"not JSON ({content_type}): {where}")
    if status >= 500:
        assert status in REMOTE_STATUSES, where
    if status >= 400:
        assert isinstance(body, dict) and body.get("success") is False, where
        assert isinstance(body.get("error"), str) and body["error"].strip(), where
    elif template == "/api/lm/health-check":
        assert body == {"status": "ok"}, where
    after = _snapshot(app)
    assert after["outside"] == before["outside"], f"a file outside the library changed: {where}"
    assert after["top"] == before["top"], f"a file appeared beside the library: {where}"
    assert after["system"] == before["system"], f"a system file changed: {where}"
    if not FILE_MOVING_ROUTES.search(template):
        lost = before["library"] - after["library"]
        assert not lost, f"library files vanished {sorted(lost)}: {where}"


def _pick_route(data: Any, routes: list[tuple[str, str]], methods: tuple[str, ...] | None = None) -> tuple[str, str]:
    chosen = [r for r in routes if methods is None or r[0] in methods]
    return data.draw(st.sampled_from(chosen), label="route")


# -- tests ----------------------------------------------------------------------------------------------------

async def test_every_api_route_is_enumerated(fuzz_app):
    """The fuzzers below see the whole API: the model, lifecycle, metadata, download, recipe and system routes."""
    templates = {template for _method, template in fuzz_app["routes"]}
    for expected in ("/api/lm/loras/list", "/api/lm/checkpoints/delete", "/api/lm/embeddings/fetch-civitai",
                     "/api/lm/download-model", "/api/lm/recipes/save", "/api/lm/recipe/{recipe_id}",
                     "/api/lm/settings", "/api/lm/undo-delete", "/api/lm/loras/updates/status/{model_id}"):
        assert expected in templates
    assert len(fuzz_app["routes"]) > 100


@FUZZ
@given(data=st.data())
async def test_random_query_strings_get_json_answers(fuzz_app, data):
    route = _pick_route(data, fuzz_app["routes"])
    path = _resolve_path(data, route[1])
    query = data.draw(st.one_of(_route_object(fuzz_app, route).map(_as_query), _query(fuzz_app)), label="query")
    await _restore_library(fuzz_app)
    before = _snapshot(fuzz_app)
    answer = await _send(fuzz_app, route[0], path, query)
    _check_answer(fuzz_app, route, path, answer, before, f"query {query!r}")


@FUZZ
@given(data=st.data())
async def test_random_json_bodies_get_json_answers(fuzz_app, data):
    route = _pick_route(data, fuzz_app["routes"], ("POST", "PUT", "DELETE", "PATCH"))
    path = _resolve_path(data, route[1])
    body = data.draw(st.one_of(_route_object(fuzz_app, route).map(lambda v: json.dumps(v).encode("utf-8")),
                               _json_body(fuzz_app)), label="body")
    content_type = data.draw(st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded",
                                              None]), label="content_type")
    headers = {"Content-Type": content_type} if content_type else {}
    await _restore_library(fuzz_app)
    before = _snapshot(fuzz_app)
    answer = await _send(fuzz_app, route[0], path, [], data=body, headers=headers)
    _check_answer(fuzz_app, route, path, answer, before, f"body {body[:300]!r} as {content_type}")


@pytest.mark.filterwarnings("ignore::aiohttp.multipart.BadContentDispositionHeader")
@FUZZ
@given(data=st.data())
async def test_random_uploads_get_json_answers(fuzz_app, data):
    uploads = [r for r in fuzz_app["routes"]
               if re.search(r"/(replace-preview|analyze-image|recipes/save|recipes/import)$", r[1])]
    route = data.draw(st.one_of(st.sampled_from(uploads), st.sampled_from(
        [r for r in fuzz_app["routes"] if r[0] in ("POST", "PUT")])), label="route")
    path = _resolve_path(data, route[1])
    parts = data.draw(_multipart_parts(fuzz_app), label="parts")
    form = aiohttp.FormData(default_to_multipart=True)
    for name, (kind, value) in parts:
        if kind == "file":
            payload, filename, content_type = value
            form.add_field(name, payload, filename=filename, content_type=content_type)
        else:
            form.add_field(name, value)
    if not parts:
        form.add_field("nothing", "")
    await _restore_library(fuzz_app)
    before = _snapshot(fuzz_app)
    answer = await _send(fuzz_app, route[0], path, [], data=form)
    _check_answer(fuzz_app, route, path, answer, before, f"multipart {parts!r}"[:600])


async def test_cases_the_fuzz_found_answer_400(fuzz_app):
    """Numbers wider than the index stores, and a form body that is not UTF-8, are refused with a clear 400."""
    client = fuzz_app["client"]
    cases = [
        ("POST", "/api/lm/loras/updates/ignore", {"json": {"model_id": 2**63}}, "model_id"),
        ("POST", "/api/lm/loras/updates/ignore", {"json": {"model_id": 1, "version_id": 10**30}}, "version_id"),
        ("GET", "/api/lm/loras/updates/status/9223372036854775808", {}, "model_id"),
        ("GET", "/api/lm/downloads/history?offset=" + "9" * 30, {}, "offset"),
        ("POST", "/api/lm/recipes/analyze-image",
         {"data": b"\x80\xff=1", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, "UTF-8"),
    ]
    for method, path, kwargs, word in cases:
        response = await client.request(method, path, **kwargs)
        body = await response.json()
        assert response.status == 400, (path, body)
        assert body["success"] is False and word in body["error"], (path, body)
