"""The example ComfyUI workflows shipped in ``example_workflows/`` (also ComfyUI's own template folder for
custom-node packages), listed and served by name.

Why a strict name rule: the file name comes from the URL, so only plain ``<name>.json`` names of files that
really lie in that folder are ever opened; anything else is refused before the disk is touched.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

WORKFLOWS_DIR = Path(__file__).resolve().parent.parent.parent / "example_workflows"
DEFAULT_NAME = "Default"
MAX_WORKFLOW_BYTES = 4 * 1024 * 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.()+-]{0,150}\.json")
BLANK_WORKFLOW: dict[str, Any] = {"last_node_id": 0, "last_link_id": 0, "nodes": [], "links": [], "groups": [],
                                  "config": {}, "extra": {}, "version": 0.4}


class WorkflowError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def label_of(filename: str) -> str:
    return filename.rsplit(".", 1)[0].replace("_", " ")


def list_workflows(folder: Path = WORKFLOWS_DIR) -> list[dict[str, Any]]:
    """The blank workflow first, then every shipped ``*.json`` by name (ComfyUI-Lora-Manager's shape)."""
    items: list[dict[str, Any]] = [{"value": DEFAULT_NAME, "label": "Default (Blank)", "path": None}]
    if folder.is_dir():
        for path in sorted(folder.iterdir(), key=lambda p: p.name.casefold()):
            if path.is_file() and _NAME.fullmatch(path.name):
                items.append({"value": path.name, "label": label_of(path.name),
                              "path": f"example_workflows/{path.name}"})
    return items


def load_workflow(filename: str, folder: Path = WORKFLOWS_DIR) -> dict[str, Any]:
    """The workflow JSON of one shipped file; ``WorkflowError`` 400 for a name that is not a plain
    ``<name>.json``, 404 for one that is not shipped."""
    if filename == DEFAULT_NAME:
        return json.loads(json.dumps(BLANK_WORKFLOW))
    if not _NAME.fullmatch(filename) or ".." in filename:
        raise WorkflowError("Invalid workflow name: use the plain file name of an example workflow (name.json)", 400)
    root = folder.resolve()
    path = (root / filename).resolve()
    if path.parent != root or not path.is_file():
        raise WorkflowError(f"Workflow not found: {filename}", 404)
    if path.stat().st_size > MAX_WORKFLOW_BYTES:
        raise WorkflowError(f"Workflow is too large: {filename}", 413)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WorkflowError(f"Workflow is not valid JSON: {filename}", 422) from None
    if not isinstance(data, dict):
        raise WorkflowError(f"Workflow is not a JSON object: {filename}", 422)
    return data
