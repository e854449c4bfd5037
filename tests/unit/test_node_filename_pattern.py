"""Save Image filename patterns: tokens, invalid characters, subfolders, counters, confinement."""
from __future__ import annotations

import os
from datetime import datetime

import pytest

from lora_manager.py.nodes.filename_pattern import (
    OutputPathError, PatternValues, next_counter, output_target, render_pattern, sanitize_segment, split_subfolders)

NOW = datetime(2024, 3, 7, 9, 5, 2)


def vals(**kw):
    kw.setdefault("now", NOW)
    return PatternValues(**kw)


@pytest.mark.parametrize("pattern, expected", [
    ("%seed%_%width%x%height%", "42_512x768"),
    ("%date%", "20240307090502"),
    ("%date:yyyy-MM-dd%/%date:hh.mm.ss%", "2024-03-07/09.05.02"),
    ("%date:yy_MM%", "24_03"),
    ("%model:4%-%model%", "sd15-sd15_base"),
    ("%pprompt:9%|%nprompt%", "a castle_|blurry lowres"),
    ("%pprompt%", "a castle_ dusk"),
    ("%unknown% 100%", "%unknown% 100%"),
    ("%Sampler.steps%-%Nope.steps%", "25-%Nope.steps%"),
])
def test_tokens(pattern, expected):
    widgets = {("Sampler", "steps"): 25}
    out = render_pattern(pattern, vals(seed=42, width=512, height=768.0, model="sd15_base",
                                       positive="a castle/ dusk", negative="blurry\n lowres",
                                       widget=lambda t, w: widgets.get((t, w))))
    assert out == expected


def test_values_never_create_folders_and_odd_patterns_are_safe():
    out = render_pattern("x/%pprompt%", vals(positive="../../etc/passwd"))
    assert split_subfolders(out) == (["x"], "_.._etc_passwd")
    assert split_subfolders("../..//./a\\b/") == (["a"], "b")
    assert split_subfolders("") == ([], "ComfyUI")
    assert render_pattern(None, vals()) == ""


@pytest.mark.parametrize("raw, expected", [
    ('a<b>c:d"e|f?g*h', "a_b_c_d_e_f_g_h"), (" .hidden. ", "hidden"), ("CON", "_CON"), ("nul.txt", "_nul.txt"),
    ("x" * 300, "x" * 120), ("tab\there", "tab_here"),
])
def test_sanitize_segment(raw, expected):
    assert sanitize_segment(raw) == expected


def test_output_target_creates_nothing_and_refuses_a_symlink_out(tmp_path):
    base = tmp_path / "out"
    base.mkdir()
    folder, prefix, sub = output_target(base, "a/b/name")
    assert folder == base / "a" / "b" and prefix == "name" and sub == "a/b" and not folder.exists()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, base / "link")
    with pytest.raises(OutputPathError, match="outside the output folder"):
        output_target(base, "link/name")


def test_next_counter(tmp_path):
    assert next_counter(tmp_path / "missing", "img") == 1
    for name in ("img_00001_.png", "img_00007_.webp", "img_x_00009_.png", "other_00020_.png", "img_00003.png"):
        (tmp_path / name).write_bytes(b"")
    assert next_counter(tmp_path, "img") == 8
