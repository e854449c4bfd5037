"""ModelArtifacts, safe file moves, the operation journal, the trash and organize templates, on real files."""
from __future__ import annotations

import errno
import os
import time

import pytest

from lora_manager.py.library import fileops
from lora_manager.py.library.artifacts import InvalidName, ModelArtifacts, Move, TargetExists, validate_stem
from lora_manager.py.library.journal import ROLLBACK, Journal, Operation
from lora_manager.py.library.organize import plan_organize, render_folder, safe_segment
from lora_manager.py.library.records import ModelRecord
from lora_manager.py.library.trash import (InvalidBatchId, Manifest, check_batch_id, expired_batches, find_batch,
                                           purge)


def touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name", ["ok", "with space", "ünïcode 名前", "it's", "a.b", "x" * 200])
def test_valid_stems(name):
    assert validate_stem(name) == name


@pytest.mark.parametrize("name", [None, 3, "", "  ", ".", "..", "a/b", "a\\b", "a:b", "a*b", "a?b", "a|b", "a<b",
                                  'a"b', "nul", "COM1", "lpt3.txt", ".x", "x.", "x ", " x", "a\x00b", "a\nb",
                                  "x" * 250, "\ud800"])
def test_invalid_stems(name):
    with pytest.raises(InvalidName):
        validate_stem(name)


def test_artifacts_found_by_exact_stem(tmp_path):
    model = touch(tmp_path / "m.safetensors")
    for name in ("m.metadata.json", "m.preview.PNG", "m.webp", "m.civitai.info", "m2.metadata.json",
                 "mm.webp", "m.txt", "other.safetensors"):
        touch(tmp_path / name)
    (tmp_path / "m.png").mkdir()
    found = ModelArtifacts.find(model)
    assert [os.path.basename(p) for p in found.files] == [
        "m.civitai.info", "m.metadata.json", "m.preview.PNG", "m.webp", "m.safetensors"]
    assert found.stem == "m" and found.extension == ".safetensors" and found.folder == str(tmp_path)
    with pytest.raises(FileNotFoundError):
        ModelArtifacts.find(tmp_path / "gone.safetensors")


def test_plan_conflicts_and_suffix_resolution(tmp_path):
    model = touch(tmp_path / "a/m.safetensors")
    touch(tmp_path / "a/m.metadata.json")
    touch(tmp_path / "b/m.ckpt")  # another model with the same stem takes the name
    artifacts = ModelArtifacts.find(model)
    assert artifacts.plan(tmp_path / "a") == []
    with pytest.raises(TargetExists) as caught:
        artifacts.free_plan(tmp_path / "b")
    assert "m.ckpt" in str(caught.value)
    moves = artifacts.free_plan(tmp_path / "b", resolve=True)
    assert [os.path.basename(m.dst) for m in moves] == ["m_1.metadata.json", "m_1.safetensors"]
    touch(tmp_path / "a/n.metadata.json")
    with pytest.raises(TargetExists):
        artifacts.free_plan(tmp_path / "a", "n")
    with pytest.raises(TargetExists):
        artifacts.free_plan(tmp_path / "b", resolve=True, limit=0)


def test_move_file_refuses_overwrite_and_missing(tmp_path):
    src = touch(tmp_path / "s", b"one")
    dst = touch(tmp_path / "d", b"two")
    with pytest.raises(FileExistsError):
        fileops.move_file(str(src), str(dst))
    with pytest.raises(FileNotFoundError):
        fileops.move_file(str(tmp_path / "none"), str(tmp_path / "x"))
    fileops.move_file(str(src), str(tmp_path / "deep/er/s"))
    assert (tmp_path / "deep/er/s").read_bytes() == b"one" and dst.read_bytes() == b"two"


def test_cross_device_copy_and_symlink(tmp_path, monkeypatch):
    real = os.rename

    def rename(src, dst):
        if fileops.PARTIAL_MARK not in str(src):
            raise OSError(errno.EXDEV, "cross-device")
        return real(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    src = touch(tmp_path / "a/file", os.urandom(3 * fileops.CHUNK // 2))
    data = src.read_bytes()
    fileops.move_file(str(src), str(tmp_path / "b/file"))
    assert not src.exists() and (tmp_path / "b/file").read_bytes() == data
    link = tmp_path / "a/link"
    link.symlink_to("file-target")
    fileops.move_file(str(link), str(tmp_path / "b/link"))
    assert os.readlink(tmp_path / "b/link") == "file-target" and not os.path.lexists(link)
    with pytest.raises(OSError):
        monkeypatch.setattr(os, "rename", lambda s, d: (_ for _ in ()).throw(OSError(errno.EIO, "io")))
        fileops.move_file(str(tmp_path / "b/file"), str(tmp_path / "c/file"))


def test_cross_device_verify_failure_removes_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "rename", lambda s, d: (_ for _ in ()).throw(OSError(errno.EXDEV, "x")))
    monkeypatch.setattr(fileops, "file_digest", lambda path: (0, "different"))
    src = touch(tmp_path / "a/file", b"payload")
    with pytest.raises(fileops.VerifyFailed):
        fileops.move_file(str(src), str(tmp_path / "b/file"))
    assert src.read_bytes() == b"payload" and list((tmp_path / "b").iterdir()) == []


def test_remove_helpers(tmp_path):
    touch(tmp_path / f".x{fileops.PARTIAL_MARK}abc")
    assert len(fileops.remove_partials(str(tmp_path))) == 1
    assert fileops.remove_partials(str(tmp_path / "missing")) == []
    (tmp_path / "r/a/b").mkdir(parents=True)
    touch(tmp_path / "r/keep/file")
    assert fileops.remove_empty_dirs(str(tmp_path / "r/a/b"), str(tmp_path / "r")) == [
        str(tmp_path / "r/a/b"), str(tmp_path / "r/a")]
    assert fileops.remove_empty_dirs(str(tmp_path / "r/keep"), str(tmp_path / "r")) == []
    assert fileops.same_content(str(tmp_path / "r/keep/file"), str(tmp_path / "nope")) is False


def test_journal_run_rolls_back_on_error(tmp_path):
    journal = Journal(tmp_path / "j")
    a, b = touch(tmp_path / "a", b"A"), touch(tmp_path / "b", b"B")
    touch(tmp_path / "taken", b"T")
    op = Operation("relocate", [Move(str(a), str(tmp_path / "a2")), Move(str(b), str(tmp_path / "taken"))])
    with pytest.raises(FileExistsError):
        journal.run(op)
    assert a.read_bytes() == b"A" and b.read_bytes() == b"B" and journal.pending() == []


def test_journal_replay_both_directions(tmp_path):
    journal = Journal(tmp_path / "j")
    a, b = touch(tmp_path / "a", b"A"), touch(tmp_path / "b", b"B")
    op = Operation("relocate", [Move(str(a), str(tmp_path / "x/a")), Move(str(b), str(tmp_path / "x/b"))])
    fileops.move_file(str(a), str(tmp_path / "x/a"))
    journal.write(op)
    [pending] = journal.pending()
    outcome = journal.replay(pending)
    assert (tmp_path / "x/b").read_bytes() == b"B" and outcome.kept_both == [] and outcome.missing == []
    back = Operation.from_dict({**op.to_dict(), "state": ROLLBACK})
    journal.replay(back)
    assert a.read_bytes() == b"A" and b.read_bytes() == b"B"
    gone = Operation("relocate", [Move(str(tmp_path / "nowhere"), str(tmp_path / "x/n"))])
    assert journal.replay(gone).missing == [str(tmp_path / "nowhere")]
    dup = touch(tmp_path / "x/a", b"A")
    assert journal.replay(Operation("relocate", [Move(str(a), str(dup))])).kept_both == []
    assert not a.exists() and dup.read_bytes() == b"A"


def test_trash_manifest_roundtrip_and_purge(tmp_path):
    root = tmp_path / "root"
    model = touch(root / "sub/m.safetensors")
    manifest = Manifest("batch1", str(root), "lora", created_at=time.time() - 10 * 86400)
    entry = manifest.add(ModelArtifacts.find(model))
    assert entry.files[0].dst.endswith(".lm-trash/batch1/files/sub/m.safetensors")
    manifest.write()
    [found] = find_batch([root, root], "batch1")
    assert found.to_dict() == manifest.to_dict()
    assert find_batch([root], "other") == []
    (root / ".lm-trash/broken").mkdir()
    (root / ".lm-trash/broken/manifest.json").write_text("{bad")
    assert expired_batches([root, tmp_path / "none"], 7) == [root / ".lm-trash/batch1"]
    assert expired_batches([root], 30) == []
    assert purge(expired_batches([root], 7)) == [root / ".lm-trash/batch1"]
    assert (root / ".lm-trash/broken").is_dir()  # unreadable batches wait for a human
    for bad in ("", "../x", "a/b", None, "x" * 65):
        with pytest.raises(InvalidBatchId):
            check_batch_id(bad)


def record(**fields):
    base = dict(file_path="/r/f/m.safetensors", model_type="lora", root="/r", folder="f", file_name="m",
                extension=".safetensors", size=1, mtime_ns=1)
    base.update(fields)
    return ModelRecord(**base)


def test_render_folder_and_plan():
    rec = record(base_model="SDXL 1.0", tags=["a/b: c"], creator="", civitai_name="v1")
    assert render_folder("{base_model}/{first_tag}", rec) == "SDXL 1.0/a_b_ c"
    assert render_folder("{author}/{version_name}", rec) == "v1"
    assert render_folder("", rec) == ""
    assert safe_segment(" ..x\x01y.. ") == "x_y"
    excluded = record(file_path="/r/e.safetensors", file_name="e", folder="", exclude=True)
    placed = record(file_path="/r/SD/p.safetensors", file_name="p", folder="SD", base_model="SD")
    skipme = record(file_path="/r/s.safetensors", file_name="skip_me", folder="")
    moves, skipped = plan_organize([rec, excluded, placed, skipme], "{base_model}", ["skip_*"])
    assert [m.target_folder for m in moves] == ["SDXL 1.0"]
    assert {r.file_name for r in skipped} == {"e", "p", "skip_me"}
