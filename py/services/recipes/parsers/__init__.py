"""Generation-metadata parsers: image bytes or metadata text -> one ParsedGeneration."""
from __future__ import annotations

from .civitai_meta import parse_civitai_meta
from .comfy_graph import read_prompt_graph
from .comfyui import parse_comfyui, workflow_to_prompt
from .dispatcher import PARSER_ORDER, parse_image, parse_metadata_text
from .errors import ImageReadError, NoGenerationMetadata, RecipeParseError
from .image_metadata import ImageMetadata, extract_image_metadata
from .model import GEN_PARAM_KEYS, ParsedGeneration, ResourceRef
from .recipe_json import recipe_metadata_text

__all__ = [
    "GEN_PARAM_KEYS",
    "ImageMetadata",
    "ImageReadError",
    "NoGenerationMetadata",
    "PARSER_ORDER",
    "ParsedGeneration",
    "RecipeParseError",
    "ResourceRef",
    "extract_image_metadata",
    "parse_civitai_meta",
    "parse_comfyui",
    "parse_image",
    "parse_metadata_text",
    "read_prompt_graph",
    "recipe_metadata_text",
    "workflow_to_prompt",
]
