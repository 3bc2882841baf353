"""A ``value`` op on an absent name follows ``on-missing`` like ``replace`` does.

It created the name whatever ``on-missing`` said: under the default ``warn``
(the name a typo, `npatch compile` calling it an error) the run set it
silently, and ``on-missing = "error"`` never stopped anything.
"""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch, run_python

SHOW = "import colorsys; print('value', getattr(colorsys, 'npatch_absent', 'absent'))"


def _manifest(tmp_path: Path, on_missing: str | None) -> Path:
    policy = f'on-missing = "{on_missing}"\n' if on_missing else ""
    path = tmp_path / "m.toml"
    path.write_text(textwrap.dedent("""\
        [manifest]
        name = "m"

        [[patch]]
        name = "v"
        target = "colorsys:npatch_absent"
        value = 42
        """) + policy)
    return path


@pytest.mark.parametrize("on_missing, code, shown", [
    (None, 0, "absent"), ("warn", 0, "absent"), ("ignore", 0, "absent"), ("create", 0, "42"), ("error", 1, None)])
def test_a_value_of_an_absent_name_follows_on_missing(tmp_path, on_missing, code, shown):
    _manifest(tmp_path, on_missing)
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = run_npatch("apply", "m.toml", "--", sys.executable, "-c", SHOW, cwd=tmp_path, env=env)
    assert proc.returncode == code, proc.stderr
    if shown is not None:
        assert f"value {shown}" in proc.stdout
    failed = "value 'v' on colorsys:npatch_absent failed: target not found: 'colorsys' has no attribute"
    assert (failed in proc.stderr) == (on_missing in (None, "warn", "error")), proc.stderr
    if on_missing in (None, "warn"):
        assert "m.toml:4: NpatchWarning" in proc.stderr


def test_a_child_under_npatch_env_and_strict_stops_at_the_absent_name(tmp_path):
    _manifest(tmp_path, None)
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    exported = run_npatch("env", "m.toml", "--strict", "--format", "dotenv", cwd=tmp_path, env=env)
    assert exported.returncode == 0, exported.stderr
    env.update(line.split("=", 1) for line in exported.stdout.splitlines())
    proc = run_python(SHOW, cwd=tmp_path, env=env)
    assert proc.returncode == 1 and "value" not in proc.stdout
    assert "target not found" in proc.stderr and "Traceback" not in proc.stderr
