"""Save Image filename patterns: ``%seed%``, ``%date:yyyy-MM-dd%``, ``%Node Title.widget%`` ... and safe paths.

Why separate and pure: the pattern comes from a widget anyone can type into and the values from the prompt
(which may hold any text), so the rules that keep every file inside the output folder live in one small,
property-tested place. Values never create folders: only a ``/`` written in the pattern itself does.
"""
from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

__all__ = ["PatternValues", "render_pattern", "sanitize_segment", "split_subfolders", "OutputPathError",
           "output_target", "next_counter", "DEFAULT_PREFIX"]

DEFAULT_PREFIX = "ComfyUI"
MAX_SEGMENT = 120
MAX_DEPTH = 16
_TOKEN_RE = re.compile(r"%([^%/\\]{1,200})%")
_DATE_TOKEN_RE = re.compile(r"yyyy|yy|MM|dd|HH|hh|mm|ss")
_INVALID_RE = re.compile(r'[<>:"|?*\x00-\x1f\x7f]')
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


class OutputPathError(ValueError):
    """The rendered name would leave the output folder (e.g. through a symlinked subfolder)."""


@dataclass
class PatternValues:
    """What a pattern can refer to; missing values render as an empty string."""

    seed: Any = None
    width: Any = None
    height: Any = None
    model: str = ""
    positive: str = ""
    negative: str = ""
    now: datetime = field(default_factory=datetime.now)
    widget: Callable[[str, str], Any] | None = None  # (node title, widget name) -> value


def sanitize_segment(text: str) -> str:
    """One file or folder name: invalid characters become '_', no leading/trailing dots or spaces, bounded."""
    text = unicodedata.normalize("NFC", str(text))
    text = _INVALID_RE.sub("_", text).replace("/", "_").replace("\\", "_")
    text = text.strip(" .")
    if text.split(".")[0].upper() in _WINDOWS_RESERVED:
        text = "_" + text
    return text[:MAX_SEGMENT].rstrip(" .")


def _value_text(value: Any, limit: int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = " ".join(str(value).split())
    text = sanitize_segment(text)
    return text[:limit].rstrip(" .") if limit is not None else text


def _limit(arg: str | None) -> int | None:
    if arg is not None and arg.strip().isdecimal():
        return int(arg.strip())
    return None


def _date(now: datetime, fmt: str | None) -> str:
    table = {"yyyy": f"{now.year:04d}", "yy": f"{now.year % 100:02d}", "MM": f"{now.month:02d}",
             "dd": f"{now.day:02d}", "HH": f"{now.hour:02d}", "hh": f"{now.hour:02d}",
             "mm": f"{now.minute:02d}", "ss": f"{now.second:02d}"}
    return _DATE_TOKEN_RE.sub(lambda m: table[m.group(0)], fmt if fmt else "yyyyMMddhhmmss")


def _substitute(token: str, values: PatternValues) -> str | None:
    name, sep, arg = token.partition(":")
    arg_or_none = arg if sep else None
    key = name.strip()
    simple = {"seed": values.seed, "width": values.width, "height": values.height, "model": values.model,
              "pprompt": values.positive, "nprompt": values.negative}
    if key in simple:
        return _value_text(simple[key], _limit(arg_or_none))
    if key == "date":
        return sanitize_segment(_date(values.now, arg_or_none))
    if "." in token and values.widget is not None:
        title, _, widget = token.rpartition(".")
        value = values.widget(title, widget)
        if value is not None:
            return _value_text(value, None)
    return None


def render_pattern(pattern: Any, values: PatternValues) -> str:
    """The pattern with every known ``%token%`` replaced by its (sanitised) value; unknown tokens stay as text."""
    text = pattern if isinstance(pattern, str) else ""
    return _TOKEN_RE.sub(lambda m: (lambda v: m.group(0) if v is None else v)(_substitute(m.group(1), values)), text)


def split_subfolders(rendered: str) -> tuple[list[str], str]:
    """(safe subfolders, safe file prefix): ``..``/``.``/empty parts dropped, every part sanitised."""
    parts = [sanitize_segment(p) for p in re.split(r"[/\\]+", rendered)]
    parts = [p for p in parts if p and p not in (".", "..")]
    if not parts:
        return [], DEFAULT_PREFIX
    folders, prefix = parts[:-1][:MAX_DEPTH], parts[-1]
    return folders, prefix


def output_target(output_dir: str | os.PathLike[str], rendered: str) -> tuple[Path, str, str]:
    """(folder to write into, file prefix, subfolder relative to the output dir as ComfyUI reports it).

    Raises OutputPathError when the folder would resolve outside ``output_dir`` (a symlink pointing out).
    """
    base = Path(output_dir)
    folders, prefix = split_subfolders(rendered)
    folder = base.joinpath(*folders)
    real_base = os.path.realpath(base)
    real_folder = os.path.realpath(folder)
    if os.path.commonpath([real_base, real_folder]) != real_base:
        raise OutputPathError(f"The file name pattern leads outside the output folder: {'/'.join(folders)}")
    return folder, prefix, "/".join(folders)


def next_counter(folder: Path, prefix: str) -> int:
    """The next free counter of ``<prefix>_<NNNNN>_.<ext>`` files in ``folder`` (1 when none exist)."""
    pattern = re.compile(re.escape(prefix) + r"_(\d{5,})_?\.[A-Za-z0-9]+$")
    highest = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 1
    for name in names:
        match = pattern.match(name)
        if match:
            highest = max(highest, int(match.group(1)))
    return highest + 1
