"""Test bootstrap: import the repo root as the package ``lora_manager``.

The repo root is a ComfyUI custom-node package whose code lives in ``py/``. That name clashes with the
``py`` shim pytest installs, so tests never put the root on ``sys.path``; they load the root package under a
stable name, the way ComfyUI loads a custom-node folder.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
SHARED = ROOT.parent / "shared"

if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

# No test reaches the real CivArchive (update checks fall back to it on their own): by default it is the discard
# port, which refuses at once; the fake's fixture points the app at the fake instead.
os.environ.setdefault("LORA_MANAGER_CIVARCHIVE_BASE_URL", "http://127.0.0.1:9")


def _load_root_package() -> None:
    if "lora_manager" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(
        "lora_manager", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["lora_manager"] = module
    spec.loader.exec_module(module)


_load_root_package()

pytest_plugins = ["support.fixtures"]


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001 - pytest's hook
    """Tests run in a random order (pytest-randomly); its seed is printed on every run, ``-q`` included (where
    pytest hides the header), so an order-dependent failure can be replayed with ``--randomly-seed=N``."""
    seed = getattr(config.option, "randomly_seed", None)
    if config.pluginmanager.hasplugin("randomly") and isinstance(seed, int):
        terminalreporter.write_line(f"random order: replay with --randomly-seed={seed}")
