"""Typed result shared by every generation-metadata parser.

Why one shape: the recipe store, the HTTP routes and the Save Image node consume parsed metadata without caring
which tool wrote it; each parser only maps its format onto these records.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ResourceKind = Literal["lora", "checkpoint", "embedding"]
# How sure a parser is that a resource was used: read from a node proven to feed the image (or a tool's own
# record), guessed (names, prompt tags, no output node), or kept although a switch or several outputs leave doubt.
Confidence = Literal["exact", "inferred", "ambiguous"]

# The only keys a ParsedGeneration.gen_params may hold (the recipe JSON "gen_params" vocabulary).
GEN_PARAM_KEYS: tuple[str, ...] = (
    "prompt",
    "negative_prompt",
    "steps",
    "sampler",
    "scheduler",
    "cfg_scale",
    "seed",
    "size",
    "clip_skip",
    "denoising_strength",
    "width",
    "height",
)


@dataclass
class ResourceRef:
    """A model a generation used, as far as the metadata identifies it.

    ``name`` is the text as written (a path, a file name or a Civitai display name); ``file_name`` is the
    basename without extension when the metadata names a file. ``hashes`` maps a hash kind (``sha256``,
    ``autov1``, ``autov2``, ``autov3``, ``short``) to a lowercase hex value.
    """

    kind: ResourceKind
    name: str
    file_name: str | None = None
    strength_model: float = 1.0
    strength_clip: float | None = None
    hashes: dict[str, str] = field(default_factory=dict)
    model_id: int | None = None
    model_version_id: int | None = None
    version_name: str | None = None
    model_name: str | None = None
    confidence: Confidence = "exact"
    node_id: str | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "file_name": self.file_name,
            "strength_model": self.strength_model,
            "strength_clip": self.strength_clip,
            "hashes": dict(self.hashes),
            "model_id": self.model_id,
            "model_version_id": self.model_version_id,
            "version_name": self.version_name,
            "model_name": self.model_name,
            "confidence": self.confidence,
            "node_id": self.node_id,
            "reason": self.reason,
        }


@dataclass
class ParsedGeneration:
    """Everything one image says about how it was made; ``loras`` are in chain order (checkpoint outward)."""

    source_format: str
    loras: list[ResourceRef] = field(default_factory=list)
    checkpoint: ResourceRef | None = None
    gen_params: dict[str, Any] = field(default_factory=dict)
    base_model: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def has_content(self) -> bool:
        """True when the parse found anything worth a recipe."""
        return bool(self.loras or self.checkpoint or self.gen_params)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_format": self.source_format,
            "loras": [lora.to_dict() for lora in self.loras],
            "checkpoint": self.checkpoint.to_dict() if self.checkpoint else None,
            "gen_params": dict(self.gen_params),
            "base_model": self.base_model,
            "raw": dict(self.raw),
        }
