"""The two failures callers need to tell apart: the bytes are not a readable image, or nothing in it is usable."""
from __future__ import annotations


class RecipeParseError(Exception):
    """Base class for parser failures; carries a short human-readable ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ImageReadError(RecipeParseError):
    """The bytes are not an image Pillow can open (corrupt, truncated, unknown, too large)."""


class NoGenerationMetadata(RecipeParseError):
    """The image or text holds no generation metadata any parser understands."""

    def __init__(self, reason: str = "no generation metadata found") -> None:
        super().__init__(reason)
