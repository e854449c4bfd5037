"""The standalone server: CLI, default library, demo library, a real process serving the API."""
from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from lora_manager.py.library.query import ListQuery
from lora_manager.py.standalone_server import Options, StandaloneServer, parse_args, prepare_context

ROOT = Path(__file__).resolve().parents[2]


def test_parse_args_roots_and_defaults(tmp_path):
    options = parse_args(["--loras", str(tmp_path / "a"), "--loras", str(tmp_path / "b"), "--port", "0"])
    assert options.host == "127.0.0.1" and options.port == 0
    assert options.roots == {"lora": [str(tmp_path / "a"), str(tmp_path / "b")]}
    with pytest.raises(SystemExit):
        parse_args(["--port", "70000"])


def test_first_run_creates_settings_and_default_library(tmp_path):
    context = prepare_context(Options(data_dir=str(tmp_path / "d")))
    assert (tmp_path / "d" / "settings.json").is_file()
    for folder in ("loras", "checkpoints", "embeddings"):
        assert (tmp_path / "d" / "models" / folder).is_dir()
    assert context.roots_for("lora") == [tmp_path / "d" / "models" / "loras"]


async def test_demo_library_lists_models(tmp_path, aiohttp_client):
    server = StandaloneServer(Options(port=0, demo=True, data_dir=str(tmp_path / "d")))
    url = await server.start()
    try:
        assert url.startswith("http://127.0.0.1:")
        context = server.context
        for _ in range(500):
            if all(job.status == "completed" for job in context.jobs.list_jobs()) and context.jobs.list_jobs():
                break
            await asyncio.sleep(0.02)
        result = context.service("lora").list_models(ListQuery(page_size=100))
        assert result.total == 36
        assert {r.base_model for r in result.items} >= {"SD 1.5", "SDXL 1.0", "Flux.1 D"}
        assert context.service("checkpoint").list_models(ListQuery()).total == 2
        demo_dir = server.options.demo_dir
        assert demo_dir is not None and demo_dir.is_dir()
    finally:
        await server.stop()
    assert not demo_dir.exists()


def test_real_process_serves_and_stops_cleanly(tmp_path):
    proc = subprocess.Popen([sys.executable, str(ROOT / "standalone.py"), "--port", "0", "--data-dir",
                             str(tmp_path / "d")], stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        url = None
        lines = []
        for _ in range(200):
            line = proc.stderr.readline()
            lines.append(line)
            match = re.search(r"running at (http://\S+/)", line)
            if match:
                url = match.group(1)
                break
        assert url, "".join(lines)
        with urllib.request.urlopen(url + "api/lm/loras/list") as resp:
            body = json.loads(resp.read())
        assert body["items"] == [] and body["total"] == 0
        with urllib.request.urlopen(url) as resp:  # "/" opens the manager
            assert resp.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "Traceback" not in err and "Task was destroyed" not in err


async def test_notify_watch_mode_picks_up_new_files(lib_env, make_client):
    from support.library import write_lora

    lib_env.write_settings(watch_mode="notify")
    client = await make_client(lib_env)
    await asyncio.sleep(0.3)  # let the watcher start
    write_lora(lib_env.loras, "watched/new_one.safetensors")
    for _ in range(200):
        body = await (await client.get("/api/lm/loras/list")).json()
        if body["total"] == 1:
            break
        await asyncio.sleep(0.05)
    assert [i["file_name"] for i in body["items"]] == ["new_one"]
