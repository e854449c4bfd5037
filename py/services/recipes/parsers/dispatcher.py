"""Pick the right parser for an image or its text fields: one ordered list, most specific first.

Why an explicit order: images often carry several formats at once (a recipe appended to A1111 text, a ComfyUI
graph saved beside a workflow); the most specific, most faithful source must win, and the order is a tested
contract rather than an accident of code layout.
"""
from __future__ import annotations

import logging
from typing import Callable

from .a1111 import parse_a1111, parse_a1111_civitai, parse_a1111_lora_n
from .civitai_meta import parse_civitai_meta_text
from .comfyui import parse_comfyui_prompt, parse_comfyui_workflow
from .errors import NoGenerationMetadata
from .image_metadata import extract_image_metadata
from .model import ParsedGeneration
from .recipe_json import parse_recipe_json
from .swarmui import parse_swarmui

logger = logging.getLogger(__name__)

__all__ = ["PARSER_ORDER", "parse_image", "parse_metadata_text"]

TextParser = Callable[[dict[str, str]], "ParsedGeneration | None"]

# (name, parser) pairs tried in this order; the first non-None result wins.
PARSER_ORDER: tuple[tuple[str, TextParser], ...] = (
    ("lora-manager-recipe", parse_recipe_json),
    ("comfyui-prompt", parse_comfyui_prompt),
    ("comfyui-workflow", parse_comfyui_workflow),
    ("swarmui", parse_swarmui),
    ("a1111-comfyui-civitai", parse_a1111_lora_n),
    ("a1111-civitai", parse_a1111_civitai),
    ("a1111", parse_a1111),
    ("civitai-meta", parse_civitai_meta_text),
)


def parse_metadata_text(text: dict[str, str]) -> ParsedGeneration:
    """The first parser in PARSER_ORDER that understands ``text``; raises NoGenerationMetadata otherwise."""
    if not isinstance(text, dict) or not text:
        raise NoGenerationMetadata()
    clean = {key: value for key, value in text.items() if isinstance(key, str) and isinstance(value, str)}
    for name, parser in PARSER_ORDER:
        try:
            result = parser(clean)
        except Exception:  # one faulty parser must not hide the others
            logger.warning("metadata parser %s failed", name, exc_info=True)
            continue
        if result is not None:
            return result
    raise NoGenerationMetadata()


def parse_image(data: bytes) -> ParsedGeneration:
    """Parse an image's embedded generation metadata.

    Raises ImageReadError for unreadable bytes and NoGenerationMetadata when nothing usable is embedded.
    Blocking (Pillow): call it from a worker thread.
    """
    metadata = extract_image_metadata(data)
    return parse_metadata_text(metadata.text)
