"""Recipe corpus check: does analysis report exactly the LoRAs each real ComfyUI image was made with?

Run: ``.venv/bin/python benchmarks/recipe_corpus.py [DIR ...]`` (default: ``../shared/fixtures/comfyui-examples``;
any folder of ComfyUI-saved PNG/WebP/MP4/WebM, e.g. an export of comfyanonymous/ComfyUI_examples).

The reference is the API ``prompt`` an image carries: what ComfyUI executed, with muted nodes gone and bypassed
ones rewired by the frontend. A LoRA ran when a node with a ``lora_name`` input and a non-zero strength is
reached walking back from an output node. Each image is then analysed twice: as saved (prompt + workflow) and
from its UI ``workflow`` alone (the harder case: subgraphs, mute/bypass, switches evaluated by us). Figures are
printed; nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import lm_package

ROOT = lm_package.load()

from lora_manager.py.services.recipes.parsers import parse_metadata_text  # noqa: E402
from lora_manager.py.services.recipes.parsers.errors import ImageReadError, NoGenerationMetadata  # noqa: E402
from lora_manager.py.services.recipes.parsers.image_metadata import extract_image_metadata  # noqa: E402

DEFAULT_DIR = ROOT.parent / "shared" / "fixtures" / "comfyui-examples"
OUTPUT_HINTS = ("save", "preview", "combine", "output")
STRENGTH_KEYS = ("strength_model", "strength", "strength_clip", "lora_strength", "model_weight")


def _stem(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def reference_loras(prompt: dict[str, Any]) -> set[str]:
    """LoRAs of the executed API prompt that feed an output node, by file stem."""
    nodes = {key: node for key, node in prompt.items() if isinstance(node, dict)}
    outputs = [key for key, node in nodes.items()
               if any(hint in str(node.get("class_type", "")).lower() for hint in OUTPUT_HINTS)]
    seen: set[str] = set()
    stack = list(outputs)
    while stack:
        key = stack.pop()
        if key in seen or key not in nodes:
            continue
        seen.add(key)
        for value in (nodes[key].get("inputs") or {}).values():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int)):
                stack.append(str(value[0]))
    found: set[str] = set()
    for key in seen:
        inputs = nodes[key].get("inputs") or {}
        name = inputs.get("lora_name")
        strengths = [inputs[k] for k in STRENGTH_KEYS if isinstance(inputs.get(k), (int, float))]
        if isinstance(name, str) and name and (not strengths or any(s != 0 for s in strengths)):
            found.add(_stem(name))
    return found


def analysed_loras(text: dict[str, str]) -> set[str] | None:
    try:
        result = parse_metadata_text(text)
    except NoGenerationMetadata:
        return None
    return {_stem(lora.file_name or lora.name) for lora in result.loras}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", type=Path, default=[DEFAULT_DIR])
    args = parser.parse_args()
    files = sorted(p for d in args.dirs for p in d.rglob("*")
                   if p.suffix.lower() in (".png", ".webp", ".mp4", ".webm"))
    totals = {"images": 0, "with_prompt": 0, "with_loras": 0, "saved_exact": 0, "workflow_exact": 0,
              "workflow_read": 0}
    misses: list[str] = []
    for path in files:
        try:
            text = extract_image_metadata(path.read_bytes()).text
        except ImageReadError:
            continue
        totals["images"] += 1
        try:
            prompt = json.loads(text.get("prompt", ""))
        except ValueError:
            continue
        if not isinstance(prompt, dict):
            continue
        totals["with_prompt"] += 1
        truth = reference_loras(prompt)
        totals["with_loras"] += bool(truth)
        saved = analysed_loras(text) or set()
        totals["saved_exact"] += saved == truth
        if saved != truth:
            misses.append(f"{path.name} (as saved): ran {sorted(truth)}, reported {sorted(saved)}")
        if "workflow" in text:
            totals["workflow_read"] += 1
            alone = analysed_loras({"workflow": text["workflow"]}) or set()
            totals["workflow_exact"] += alone == truth
            if alone != truth:
                misses.append(f"{path.name} (workflow only): ran {sorted(truth)}, reported {sorted(alone)}")
    print(f"images read: {totals['images']}; with an executed prompt: {totals['with_prompt']} "
          f"({totals['with_loras']} used LoRAs)")
    print(f"exactly the LoRAs that ran, as saved:      {totals['saved_exact']}/{totals['with_prompt']}")
    print(f"exactly the LoRAs that ran, workflow only: {totals['workflow_exact']}/{totals['workflow_read']}")
    for line in misses:
        print("  miss:", line)


if __name__ == "__main__":
    main()
