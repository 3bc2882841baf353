"""Manifests that combine: an included manifest's options, as `npatch compile`
and `npatch apply` see them in a fresh interpreter."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from npatch_testutil import run_npatch

BASE = """[manifest]
name = "base"
[options]
level = 1
ratio = 0.5
flag = false
mode = "x"
[[patch]]
name = "p"
target = "json:dumps"
value = 1
when = "option('level') >= 2"
"""


def _write(tmp_path: Path, options: str) -> Path:
    (tmp_path / "base.toml").write_text(BASE)
    top = tmp_path / "top.toml"
    top.write_text(f'[manifest]\nname = "top"\ninclude = ["base.toml"]\n[options]\n{options}\n')
    return top


@pytest.mark.parametrize("options,first", [
    ('level = "high"', "an integer"),
    ("level = true", "an integer"),
    ("flag = 1", "a boolean"),
    ("mode = 2", "a string"),
    ("ratio = false", "a float"),
])
def test_an_included_option_keeps_its_type(tmp_path, options, first):
    """`level = "high"` over an included `level = 1` compiled clean, and the included
    manifest's `option('level') >= 2` then compared a string with a number."""
    top = _write(tmp_path, options)
    result = run_npatch("compile", str(top), cwd=tmp_path)
    assert "Traceback" not in result.stderr and result.returncode == 1, result.stderr
    line = result.stderr.splitlines()[0]
    name = options.partition(" ")[0]
    assert line.startswith(f"{top}:5:{len(name) + 4}: options.{name}: "), line
    assert f"base declares it as {first}" in line and f"{tmp_path / 'base.toml'}:" in result.stderr, result.stderr


@pytest.mark.parametrize("options", ["level = 3", "ratio = 1", "ratio = 2.5", "flag = true", 'mode = "y"'])
def test_an_included_option_takes_a_new_default_of_its_type(tmp_path, options):
    top = _write(tmp_path, options)
    assert run_npatch("compile", str(top), cwd=tmp_path).returncode == 0
    result = run_npatch("apply", str(top), "--", sys.executable, "-c",
                        "import json; print(json.dumps)", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    applies = options == "level = 3"   # base's op asks option('level') >= 2
    assert result.stdout.startswith("1" if applies else "<function dumps"), result.stdout
