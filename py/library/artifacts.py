"""ModelArtifacts: a model file with its sidecar, previews and ``.civitai.info``, always handled as one.

Why: the worst losses in a model library come from a model separated from its metadata (a rename that left the
sidecar behind, a move that overwrote a same-named file). Every lifecycle operation starts here: find the
companions of a model by exact stem, validate the new name, and produce a plan of ``(src, dst)`` pairs that is
refused as a whole when any destination is taken. Nothing in this module touches the disk except to look.
"""
from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field

from .scanner import CIVITAI_INFO_SUFFIX, MODEL_EXTENSIONS, PREVIEW_EXTENSIONS, SIDECAR_SUFFIX

ALL_MODEL_EXTENSIONS = frozenset(ext for exts in MODEL_EXTENSIONS.values() for ext in exts)
COMPANION_SUFFIXES: tuple[str, ...] = (
    SIDECAR_SUFFIX,
    CIVITAI_INFO_SUFFIX,
    *(f".preview{ext}" for ext in PREVIEW_EXTENSIONS),
    *PREVIEW_EXTENSIONS,
)
_COMPANION_SET = frozenset(COMPANION_SUFFIXES)
_LONGEST_SUFFIX = max(len(s.encode()) for s in COMPANION_SUFFIXES)
MAX_NAME_BYTES = 255 - _LONGEST_SUFFIX
_INVALID_CHARS = set('<>:"/\\|?*')
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$", re.IGNORECASE)


class InvalidName(ValueError):
    """A file name the user asked for that cannot be used; the message says why."""


class TargetExists(FileExistsError):
    """A destination is already taken; nothing was moved."""

    def __init__(self, message: str, path: str = ""):
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return self.message


def stem_siblings(model_path: str) -> list[str]:
    """Other model files of the same stem in the same folder (``x.ckpt`` beside ``x.pt``)."""
    folder, name = os.path.split(model_path)
    stem, ext = os.path.splitext(name)
    return [os.path.join(folder, stem + other) for other in sorted(ALL_MODEL_EXTENSIONS)
            if other != ext.lower() and os.path.isfile(os.path.join(folder, stem + other))]


def validate_stem(name: object) -> str:
    """The name as given when it is a usable file stem on every platform, else ``InvalidName``.

    Refused: empty, path separators, characters Windows cannot store, control characters, a leading dot (the
    scanner skips hidden files, so the model would vanish), trailing dot or space, reserved device names, and
    names too long for the companions' suffixes.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidName("The new file name must not be empty")
    if name in (".", ".."):
        raise InvalidName("The new file name must not be '.' or '..'")
    bad = sorted({ch for ch in name if ch in _INVALID_CHARS})
    if bad:
        shown = " ".join(bad)
        raise InvalidName(f"The new file name contains characters that are not allowed: {shown}")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise InvalidName("The new file name contains control characters")
    if name.startswith("."):
        raise InvalidName("The new file name must not start with a dot")
    if name != name.rstrip(". ") or name != name.lstrip(" "):
        raise InvalidName("The new file name must not start with a space or end with a dot or a space")
    if _RESERVED.match(name):
        raise InvalidName(f"'{name}' is a reserved device name on Windows")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidName("The new file name is not valid Unicode text") from None
    if size > MAX_NAME_BYTES:
        raise InvalidName(f"The new file name is too long ({size} bytes, at most {MAX_NAME_BYTES})")
    return name


@dataclass(frozen=True)
class Move:
    """One file of a plan: where it is and where it goes."""

    src: str
    dst: str


@dataclass
class ModelArtifacts:
    """A model file (absolute path) and its companions found by exact stem in its folder."""

    model: str
    companions: list[str] = field(default_factory=list)

    @property
    def folder(self) -> str:
        return os.path.dirname(self.model)

    @property
    def stem(self) -> str:
        return split_model_name(os.path.basename(self.model))[0]

    @property
    def extension(self) -> str:
        return split_model_name(os.path.basename(self.model))[1]

    @property
    def files(self) -> list[str]:
        """Companions first, the model last: until the model itself moves, a scan still finds it with its
        sidecar, so it never writes a fresh sidecar for a model whose own one is in flight."""
        return [*self.companions, self.model]

    @classmethod
    def find(cls, model_path: str | os.PathLike[str]) -> "ModelArtifacts":
        """Look at the model's folder once; raises ``FileNotFoundError`` when the model itself is gone.

        When another model file shares the stem (``x.ckpt`` beside ``x.pt``) the sidecar and previews belong
        to both, so none is this model's to move or delete: only the model file itself is listed."""
        model = os.path.abspath(os.fspath(model_path))
        if not os.path.isfile(model):
            raise FileNotFoundError(model)
        folder, name = os.path.split(model)
        stem = split_model_name(name)[0]
        companions = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name == name or not entry.name.startswith(stem):
                    continue
                suffix = entry.name[len(stem):].lower()
                if suffix in ALL_MODEL_EXTENSIONS and entry.is_file():
                    return cls(model, [])
                if suffix in _COMPANION_SET and not entry.is_dir(follow_symlinks=False):
                    companions.append(os.path.join(folder, entry.name))
        return cls(model, sorted(companions))

    def suffix_of(self, path: str) -> str:
        """What follows the stem in an artifact's name (``.metadata.json``, ``.preview.png``, ``.safetensors``)."""
        return os.path.basename(path)[len(self.stem):]

    def plan(self, target_folder: str | os.PathLike[str], new_stem: str | None = None) -> list[Move]:
        """Every artifact's move into ``target_folder`` under ``new_stem`` (unchanged files are left out)."""
        folder = os.path.abspath(os.fspath(target_folder))
        stem = self.stem if new_stem is None else new_stem
        moves = []
        for path in self.files:
            dst = os.path.join(folder, stem + self.suffix_of(path))
            if dst != path:
                moves.append(Move(path, dst))
        return moves

    def conflicts(self, target_folder: str | os.PathLike[str], new_stem: str, moves: list[Move]) -> list[str]:
        """Destinations taken by another file, including another model file of the same new stem (whose
        sidecar and preview would then be mistaken for ours). A destination that is the same file as its
        source (a case-only rename on a case-insensitive disk) is not a conflict."""
        taken: list[str] = []
        for move in sorted(moves, key=lambda m: m.src != self.model):
            if os.path.lexists(move.dst) and not _same_file(move.src, move.dst):
                taken.append(move.dst)
        folder = os.path.abspath(os.fspath(target_folder))
        for ext in sorted(ALL_MODEL_EXTENSIONS):
            other = os.path.join(folder, new_stem + ext)
            if other not in taken and os.path.lexists(other) and not _same_file(self.model, other):
                taken.append(other)
        return taken

    def free_plan(self, target_folder: str | os.PathLike[str], new_stem: str | None = None, *,
                  resolve: bool = False, limit: int = 1000) -> list[Move]:
        """A plan without conflicts: refused with ``TargetExists``, or with ``resolve`` the first free
        ``<stem>_<n>`` is used."""
        stem = self.stem if new_stem is None else new_stem
        moves = self.plan(target_folder, stem)
        taken = self.conflicts(target_folder, stem, moves)
        if not taken:
            return moves
        if not resolve:
            raise TargetExists(f"a file with that name already exists: {os.path.basename(taken[0])}",
                               taken[0].replace("\\", "/"))
        for n in range(1, limit + 1):
            candidate = f"{stem}_{n}"
            moves = self.plan(target_folder, candidate)
            if not self.conflicts(target_folder, candidate, moves):
                return moves
        raise TargetExists(f"No free name found for {stem} in the target folder")


def split_model_name(name: str) -> tuple[str, str]:
    """``name.safetensors`` -> (``name``, ``.safetensors``): only the last extension is the model's."""
    stem, ext = os.path.splitext(name)
    return stem, ext


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def posix(path: str | os.PathLike[str]) -> str:
    return os.fspath(path).replace("\\", "/")
