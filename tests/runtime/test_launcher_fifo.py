"""A child under ``npatch apply`` reads its plan's ``.modules`` and
``.marshal`` copies without blocking: a FIFO (or any non-regular file)
planted at either name after the launcher verified them is treated as a
damaged copy (the JSON plan of record is read), never a hang or a traceback.

The child runs as the launcher starts it (the bootstrap on ``PYTHONPATH``,
``NPATCH_PLAN`` naming the cached JSON plan), in a fresh interpreter.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from npatch.runtime.launcher import BOOTSTRAP_DIR
from npatch_testutil import YIQ_MANIFEST, clean_env, run_npatch

PY = sys.executable

MANIFEST = YIQ_MANIFEST

SHOW = "import colorsys; print('yiq', colorsys.rgb_to_yiq)"


def cached_plan(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    (tmp_path / "m.toml").write_text(textwrap.dedent(MANIFEST))
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = run_npatch("apply", str(tmp_path / "m.toml"), "--", PY, "-c", "pass", env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (plan,) = (tmp_path / "cache" / "npatch" / "plans").glob("*.json")
    return plan, env


def child(plan: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    child_env = dict(env, PYTHONPATH=BOOTSTRAP_DIR, NPATCH_PLAN=str(plan))
    return subprocess.run([PY, "-c", SHOW], env=child_env, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("suffix", [".modules", ".marshal"])
def test_a_fifo_at_a_plan_copy_is_no_hang(tmp_path, suffix):
    plan, env = cached_plan(tmp_path)
    planted = plan.with_suffix(suffix)
    planted.unlink()
    os.mkfifo(planted)
    proc = child(plan, env)  # a blocking open() would wait for a writer until the timeout
    assert proc.returncode == 0 and "yiq 42" in proc.stdout, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("suffix", [".modules", ".marshal"])
def test_a_directory_at_a_plan_copy_falls_back_to_the_json(tmp_path, suffix):
    plan, env = cached_plan(tmp_path)
    planted = plan.with_suffix(suffix)
    planted.unlink()
    planted.mkdir()
    proc = child(plan, env)
    assert proc.returncode == 0 and "yiq 42" in proc.stdout, proc.stderr
    assert "Traceback" not in proc.stderr
