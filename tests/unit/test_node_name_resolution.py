"""Name resolution rules: relative path, then file name, then model name; exact before any case."""
from __future__ import annotations

import pytest

from lora_manager.py.library.records import ModelRecord
from lora_manager.py.nodes.resolve import LibraryView, NodeInputError

ROOT = "/lib/loras"


def rec(rel: str, model_name: str = "", exclude: bool = False) -> ModelRecord:
    folder, _, stem = rel.rpartition("/")
    return ModelRecord(file_path=f"{ROOT}/{rel}.safetensors", model_type="lora", root=ROOT, folder=folder,
                       file_name=stem, extension=".safetensors", size=1, mtime_ns=1, model_name=model_name,
                       exclude=exclude)


VIEW = LibraryView("lora", [rec("Foo"), rec("x/foo", "Bar"), rec("y/bar"), rec("z/dup"), rec("w/dup", exclude=True),
                            rec("a/same"), rec("b/same")])


@pytest.mark.parametrize("name, expected", [
    ("Foo", "Foo"),            # exact file name beats the case-insensitive match
    ("foo", "x/foo"),          # the exact file name of x/foo
    ("x\\foo.safetensors", "x/foo"),
    ("/y/bar/", "y/bar"),
    ("Bar", "x/foo"),          # model name
    ("BAR", "y/bar"),          # any case: file name of y/bar before the model name of x/foo
    ("dup", "z/dup"),          # two files, one excluded: the one in use wins
])
def test_resolution_order(name, expected):
    assert VIEW.resolve(name).file_path == f"{ROOT}/{expected}.safetensors"


def test_errors():
    with pytest.raises(NodeInputError, match="Empty lora name"):
        VIEW.resolve("  ")
    with pytest.raises(NodeInputError, match="ambiguous: it matches a/same.safetensors, b/same.safetensors"):
        VIEW.resolve("same")
    with pytest.raises(NodeInputError, match="not found in the library.$"):
        VIEW.resolve("qqqqqqqqqqqq")
    with pytest.raises(NodeInputError, match="the library has no loras yet"):
        LibraryView("lora", []).resolve("x")
    assert VIEW.find("same") is None


def test_view_of_a_context_that_is_not_started(lib_env):
    context = lib_env.context()
    view = LibraryView.of(context, "lora")
    assert view.records == [] and view.loading
    with pytest.raises(NodeInputError, match="still loading"):
        view.resolve("x")
    assert LibraryView.of(context, "unknown").records == []
