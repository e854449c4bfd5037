"""The version string the browser extension reads, from a git checkout or a plain copy."""
from __future__ import annotations

from lora_manager.py.version import VERSION, read_version_info

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_plain_copy_is_stable(tmp_path):
    info = read_version_info(tmp_path)
    assert (info.full, info.has_git) == (f"{VERSION}-stable", False)


def test_branch_ref(tmp_path):
    (tmp_path / ".git" / "refs" / "heads").mkdir(parents=True)
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / ".git" / "refs" / "heads" / "main").write_text(SHA + "\n")
    info = read_version_info(tmp_path)
    assert (info.build, info.has_git) == ("0123456", True)


def test_packed_ref_and_detached_head(tmp_path):
    git = tmp_path / ".git"
    git.mkdir()
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "packed-refs").write_text(f"# pack-refs\n{SHA} refs/heads/main\n")
    assert read_version_info(tmp_path).build == "0123456"
    (git / "packed-refs").write_text("# nothing\n")
    assert read_version_info(tmp_path).build == "stable"
    (git / "HEAD").write_text(SHA)
    assert read_version_info(tmp_path).build == "0123456"
    (git / "HEAD").write_text("not-a-hash")
    assert read_version_info(tmp_path).build == "stable"


def test_worktree_gitdir_file(tmp_path):
    real = tmp_path / "real-git"
    real.mkdir()
    (real / "HEAD").write_text(SHA)
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".git").write_text(f"gitdir: {real}\n")
    assert read_version_info(checkout).build == "0123456"
    (checkout / ".git").write_text("garbage")
    assert read_version_info(checkout).build == "stable"
