"""Make the repository importable as ``lora_manager`` for the benchmark scripts, as ComfyUI imports it.

Why one module: the repo root is the package (its ``__init__.py`` registers the nodes), so a script run from
``benchmarks/`` must load it by path before ``from lora_manager...`` imports work.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load() -> Path:
    """Register the repo as the ``lora_manager`` package (once) and return the repo root."""
    if "lora_manager" not in sys.modules:
        sys.path.insert(0, str(ROOT.parent))
        spec = importlib.util.spec_from_file_location("lora_manager", ROOT / "__init__.py",
                                                      submodule_search_locations=[str(ROOT)])
        package = importlib.util.module_from_spec(spec)
        sys.modules["lora_manager"] = package
        spec.loader.exec_module(package)
    return ROOT
