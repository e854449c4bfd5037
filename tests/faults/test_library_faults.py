"""One bad file, folder or database never breaks the library: each gives a clear report, the rest lists."""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from lora_manager.py.library.ingest import ingest_file
from lora_manager.py.library.scanner import MODEL_EXTENSIONS, FileStat, sweep_roots
from support.library import lm_sidecar, write_lora


async def list_items(client, **params):
    resp = await client.get("/api/lm/loras/list", params={"page_size": "100", **params})
    assert resp.status == 200
    return (await resp.json())["items"]


async def test_truncated_and_garbage_files_are_flagged(lib_env, make_client):
    good = write_lora(lib_env.loras, "good.safetensors")
    truncated = lib_env.loras / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:200])
    (lib_env.loras / "garbage.safetensors").write_bytes(os.urandom(64))
    (lib_env.loras / "tiny.safetensors").write_bytes(b"\x01")
    client = await make_client(lib_env)
    items = {i["file_name"]: i for i in await list_items(client)}
    assert items["good"]["status"] == "ok"
    for name in ("truncated", "garbage", "tiny"):
        assert items[name]["status"] == "invalid"
        assert items[name]["status_reason"]
    assert "truncated" in items["truncated"]["status_reason"]
    assert not (lib_env.loras / "truncated.metadata.json").exists()  # nothing is invented for a broken file


async def test_invalid_sidecar_is_set_aside_and_rebuilt(lib_env, make_client):
    write_lora(lib_env.loras, "model.safetensors")
    bad = lib_env.loras / "model.metadata.json"
    bad.write_text("{ this is not json", encoding="utf-8")
    client = await make_client(lib_env)
    items = await list_items(client)
    assert [i["file_name"] for i in items] == ["model"]
    asides = list(lib_env.loras.glob("model.metadata.json.corrupt-*"))
    assert len(asides) == 1 and asides[0].read_text() == "{ this is not json"
    assert json.loads(bad.read_text())["file_name"] == "model"


async def test_null_model_name_lists_with_file_name(lib_env, make_client):
    write_lora(lib_env.loras, "nameless.safetensors", sidecar=lm_sidecar("nameless", model_name=None, tags=None,
                                                                         civitai=None, favorite=None))
    client = await make_client(lib_env)
    items = await list_items(client)
    assert items[0]["model_name"] == "nameless" and items[0]["tags"] == []


def _sweep_as_nobody(root: str, queue: "multiprocessing.Queue[object]") -> None:
    os.setgid(65534)
    os.setuid(65534)
    result = sweep_roots([root], MODEL_EXTENSIONS["lora"])
    queue.put(([f.path for f in result.files], result.problems))


def test_permission_denied_folder_is_reported_and_skipped():
    base = Path(tempfile.mkdtemp(prefix="lm-perm-"))
    try:
        os.chmod(base, 0o755)
        write_lora(base, "open/ok.safetensors")
        write_lora(base, "locked/hidden.safetensors")
        for folder in (base / "open", base):
            os.chmod(folder, 0o755)
        os.chmod(base / "open" / "ok.safetensors", 0o644)
        os.chmod(base / "locked", 0o000)
        if os.geteuid() == 0:
            ctx = multiprocessing.get_context("fork")
            queue = ctx.Queue()
            proc = ctx.Process(target=_sweep_as_nobody, args=(str(base), queue))
            proc.start()
            files, problems = queue.get(timeout=30)
            proc.join(10)
        else:
            result = sweep_roots([base], MODEL_EXTENSIONS["lora"])
            files, problems = [f.path for f in result.files], result.problems
        assert [Path(f).name for f in files] == ["ok.safetensors"]
        assert len(problems) == 1 and "locked" in problems[0] and "ermission" in problems[0]
    finally:
        os.chmod(base / "locked", 0o755)
        shutil.rmtree(base)


async def test_corrupt_index_database_is_set_aside_and_rebuilt(lib_env, make_client):
    write_lora(lib_env.loras, "a.safetensors")
    write_lora(lib_env.loras, "b.safetensors")
    db_dir = lib_env.data_dir / "db"
    db_dir.mkdir(parents=True)
    (db_dir / "default.sqlite").write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    client = await make_client(lib_env)
    assert sorted(i["file_name"] for i in await list_items(client)) == ["a", "b"]
    asides = list(db_dir.glob("default.sqlite.corrupt-*"))
    assert len(asides) == 1


async def test_symlink_loop_and_double_links(lib_env, make_client):
    write_lora(lib_env.loras, "real/model.safetensors")
    (lib_env.loras / "real" / "loop").symlink_to(lib_env.loras)
    (lib_env.loras / "alias.safetensors").symlink_to(lib_env.loras / "real" / "model.safetensors")
    client = await make_client(lib_env)
    items = await list_items(client)
    assert len(items) == 1


def test_file_deleted_between_sweep_and_read(tmp_path):
    path = write_lora(tmp_path, "gone.safetensors")
    stat = FileStat(path=str(path), root=str(tmp_path), folder="", stem="gone", extension=".safetensors",
                    size=path.stat().st_size, mtime_ns=path.stat().st_mtime_ns, inode=path.stat().st_ino)
    path.unlink()
    result = ingest_file(stat, "lora")
    assert result.record.status == "invalid"
    assert "unreadable" in result.record.status_reason
    assert result.problems


async def test_missing_root_is_reported_not_fatal(lib_env, make_client):
    lib_env.write_settings(libraries={"default": {"roots": {"lora": [str(lib_env.loras),
                                                                     str(lib_env.tmp / "offline-nas")]}}})
    write_lora(lib_env.loras, "ok.safetensors")
    client = await make_client(lib_env)
    scan = await (await client.get("/api/lm/loras/scan")).json()
    assert any("offline-nas" in p for p in scan["problems"])
    assert [i["file_name"] for i in await list_items(client)] == ["ok"]


async def test_records_of_an_offline_root_are_kept(lib_env, make_client):
    nas = lib_env.tmp / "nas"
    write_lora(nas, "remote.safetensors")
    lib_env.write_settings(libraries={"default": {"roots": {"lora": [str(lib_env.loras), str(nas)]}}})
    client = await make_client(lib_env)
    assert [i["file_name"] for i in await list_items(client)] == ["remote"]
    nas.rename(lib_env.tmp / "nas-unplugged")
    await client.get("/api/lm/loras/scan")
    assert [i["file_name"] for i in await list_items(client)] == ["remote"]


async def test_read_only_sidecar_folder_keeps_data_in_index(lib_env, make_client, monkeypatch):
    write_lora(lib_env.loras, "ro.safetensors")
    import lora_manager.py.library.ingest as ingest

    def refuse(path, data, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    import lora_manager.py.services.model_service as model_service

    monkeypatch.setattr(ingest, "write_sidecar", refuse)
    monkeypatch.setattr(model_service, "write_sidecar", refuse)
    client = await make_client(lib_env)
    info = await (await client.get("/api/lm/loras/info",
                                   params={"file_path": str(lib_env.loras / "ro.safetensors")})).json()
    assert info["sidecar_status"] == "read_only"
    assert info["hashes"]["status"] == "done"  # the hash is kept in the index even though no sidecar holds it
    assert not (lib_env.loras / "ro.metadata.json").exists()


@pytest.mark.parametrize("error,status", [(28, 507), (13, 403)])
async def test_edit_on_full_or_locked_disk_is_refused_and_changes_nothing(lib_env, make_client, monkeypatch,
                                                                          error, status, snapshot):
    path = write_lora(lib_env.loras, "keep.safetensors", sidecar=lm_sidecar("keep", notes="original"))
    client = await make_client(lib_env)
    sidecar_before = path.with_name("keep.metadata.json").read_bytes()
    import lora_manager.py.services.model_service as model_service

    def fail(target, data, **kwargs):
        raise OSError(error, os.strerror(error), str(target))

    monkeypatch.setattr(model_service, "write_sidecar", fail)
    resp = await client.post("/api/lm/loras/save-metadata", json={"file_path": str(path), "notes": "lost?"})
    assert resp.status == status
    assert await resp.json() == snapshot
    assert path.with_name("keep.metadata.json").read_bytes() == sidecar_before
    item = (await (await client.get("/api/lm/loras/list")).json())["items"][0]
    assert item["notes"] == "original"


async def test_edit_of_a_model_that_vanished_leaves_no_stray_sidecar(lib_env, make_client):
    path = write_lora(lib_env.loras, "gone.safetensors")
    client = await make_client(lib_env)
    sidecar = path.with_name("gone.metadata.json")
    path.unlink()
    sidecar.unlink()
    resp = await client.post("/api/lm/loras/save-metadata", json={"file_path": str(path), "notes": "x"})
    assert resp.status == 404
    assert (await resp.json())["success"] is False
    assert not sidecar.exists()


async def test_index_of_an_older_schema_is_migrated_and_kept(tmp_path, closer):
    import sqlite3

    from lora_manager.py.library.index import MIGRATIONS, LibraryDatabase

    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version=1")
    conn.execute("INSERT INTO meta (key, value) VALUES ('kept', 'yes')")
    conn.commit()
    conn.close()
    database = closer(LibraryDatabase(path))
    await database.open()
    async with database.conn.execute("PRAGMA user_version") as cursor:
        assert (await cursor.fetchone())[0] == len(MIGRATIONS)
    async with database.conn.execute("SELECT value FROM meta WHERE key = 'kept'") as cursor:
        assert (await cursor.fetchone())[0] == "yes"
    assert await database.load_records("lora") == []
    await database.close()
    assert database.healed_from is None


async def test_rows_of_a_version_1_index_get_their_network_type_and_keep_their_identity(tmp_path, closer):
    import json
    import sqlite3

    from lora_manager.py.library.index import _V1_FIELDS, MIGRATIONS, LibraryDatabase, ModelIndex

    path = tmp_path / "v1.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version=1")
    row = {name: None for name in _V1_FIELDS}
    row.update(file_path="/lib/a.safetensors", model_type="lora", root="/lib", folder="", file_name="a",
               extension=".safetensors", size=1, mtime_ns=1, tags="[]", trigger_words="[]", favorite=0, exclude=0,
               from_civitai=0, skip_metadata_refresh=0, usage_count=0, preview_nsfw_level=0, inode=0,
               sidecar_mtime_ns=0, sidecar_size=0, base_model="SD 1.5", base_model_source="metadata",
               identity_json=json.dumps({"network_type": "LoCon", "rank": 8}), hash_status="pending",
               status="ok", sidecar_status="ok", usage_tips="{}", preview_path="", model_name="A", notes="",
               civitai_name="", creator="", sha256="", autov3="", status_reason="", sub_type="")
    conn.execute(f"INSERT INTO models ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))
    broken = dict(row, file_path="/lib/b.safetensors", file_name="b", identity_json="not json")
    conn.execute(f"INSERT INTO models ({', '.join(broken)}) VALUES ({', '.join('?' for _ in broken)})",
                 list(broken.values()))
    conn.commit()
    conn.close()
    database = closer(LibraryDatabase(path))
    await database.open()
    index = ModelIndex(database, "lora")
    await index.load_in_thread()
    record = index.get("/lib/a.safetensors")
    assert record.network_type == "LoCon" and record.identity_json == ""  # listings do not load the report
    assert record.to_list_item()["network_type"] == "LoCon"
    assert await index.identity_of(record) == {"network_type": "LoCon", "rank": 8}
    # an edit of a record loaded without its report keeps the stored report
    await index.put(record.evolve(notes="edited"))
    assert await index.identity_of(index.get("/lib/a.safetensors")) == {"network_type": "LoCon", "rank": 8}
    assert index.get("/lib/b.safetensors").network_type == ""  # an unreadable report migrates to nothing
    await database.close()
    assert database.healed_from is None


async def test_a_fresh_report_replaces_the_stored_one(tmp_path, closer):
    from lora_manager.py.library.index import LibraryDatabase, ModelIndex
    from lora_manager.py.library.records import ModelRecord

    database = closer(LibraryDatabase(tmp_path / "fresh.sqlite"))
    await database.open()
    index = ModelIndex(database, "lora")
    first = ModelRecord(file_path="/lib/c.safetensors", model_type="lora", root="/lib", folder="", file_name="c",
                        extension=".safetensors", size=1, mtime_ns=1, identity_json='{"rank": 4}', network_type="LoRA")
    await index.put(first)
    await index.put(first.evolve(identity_json='{"rank": 16}'))
    reloaded = ModelIndex(database, "lora")
    await reloaded.load_in_thread()
    assert await reloaded.identity_of(reloaded.get("/lib/c.safetensors")) == {"rank": 16}
    await database.close()
