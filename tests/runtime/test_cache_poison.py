"""The plan cache against an adversary and against accidents: what it reads
must never block, never be trusted when someone else could have written it,
and never stop the user's program.

Every scenario runs the real CLI (or a child under a plan) in a fresh
interpreter with a private ``XDG_CACHE_HOME`` under tmp_path.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch

PY = sys.executable
SHOW = "import colorsys; print('yiq', colorsys.rgb_to_yiq)"
MANIFEST = """
[manifest]
name = "m"

[[patch]]
name = "yiq"
target = "colorsys:rgb_to_yiq"
value = 42
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def apply(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return run_npatch("apply", *map(str, args), env=env, timeout=timeout)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


# -- a source of a cached entry that became something else -----------------------------
@pytest.mark.parametrize("which", ["manifest", "include"])
def test_a_cached_source_replaced_by_a_fifo_is_a_miss_not_a_hang(tmp_path, env, which):
    """The entry records each manifest read; one that is now a FIFO (planted in a
    shared directory) must not block the lookup: it is a miss, and the compiler
    says the manifest is not a regular file."""
    sub = write(tmp_path / "sub.toml", MANIFEST)
    top = write(tmp_path / "top.toml", '[manifest]\nname = "top"\ninclude = ["./sub.toml"]\n')
    ok(apply(top, "--", PY, "-c", SHOW, env=env))
    victim = top if which == "manifest" else sub
    victim.unlink()
    os.mkfifo(victim)
    proc = apply(top, "--", PY, "-c", SHOW, env=env, timeout=20)
    assert proc.returncode != 0 and "not a regular file" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_cached_source_replaced_by_a_directory_is_a_miss(tmp_path, env):
    manifest = write(tmp_path / "m.toml", MANIFEST)
    ok(apply(manifest, "--", PY, "-c", SHOW, env=env))
    manifest.unlink()
    manifest.mkdir()
    proc = apply(manifest, "--", PY, "-c", SHOW, env=env)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
