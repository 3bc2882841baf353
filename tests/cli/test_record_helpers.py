"""``npatch report --record`` round trips for a manifest whose replacement is a
file beside it (``patches/m.toml`` + ``patches/helpers.py``), in fresh interpreters.

``--standalone`` copies the ops' blocks into a new manifest; the runtime looks
for such a module in the folder of the manifest naming it, so a copy written
elsewhere compiled with the module 'not installed here' and every run warned
and ran unpatched, while ``report`` said nothing about it.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch

MANIFEST = """\
[manifest]
name = "h"

[[patch]]
name = "hx"
target = "colorsys:rgb_to_hsv"
replace = "myhelp:hsv"
"""
SHOW = "import colorsys; print(colorsys.rgb_to_hsv(1, 2, 3))"


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    (tmp_path / "patches").mkdir()
    (tmp_path / "patches" / "h.toml").write_text(MANIFEST)
    (tmp_path / "patches" / "myhelp.py").write_text("def hsv(r, g, b):\n    return 'helped'\n")
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = run_npatch("apply", "patches/h.toml", "--coverage", "cov.json", "--", sys.executable, "-c", SHOW,
                      cwd=tmp_path, env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == "helped", proc.stderr
    return tmp_path, env


def _applied(root: Path, env: dict[str, str], manifest: str) -> str:
    proc = run_npatch("apply", manifest, "--", sys.executable, "-c", SHOW, cwd=root, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_a_standalone_record_elsewhere_names_the_module_to_copy(project):
    root, env = project
    (root / "rec").mkdir()
    proc = run_npatch("report", "cov.json", "--record", "rec/s.toml", "--standalone", cwd=root, env=env)
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line == (f"npatch: warning: rec/s.toml: op 'hx' uses module 'myhelp', a file beside "
                    f"{root / 'patches' / 'h.toml'}; copy {root / 'patches' / 'myhelp.py'} beside rec/s.toml "
                    "(or put it on sys.path), or the op fails when it runs")
    assert "myhelp.py" in (root / "rec" / "s.toml").read_text()  # the same note, as a comment in the file
    (root / "rec" / "myhelp.py").write_text((root / "patches" / "myhelp.py").read_text())
    assert _applied(root, env, "rec/s.toml") == "helped"


def test_a_standalone_record_beside_the_manifest_needs_no_note(project):
    root, env = project
    proc = run_npatch("report", "cov.json", "--record", "patches/s.toml", "--standalone", cwd=root, env=env)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert _applied(root, env, "patches/s.toml") == "helped"


def test_a_record_that_includes_the_manifest_finds_the_module_from_anywhere(project):
    root, env = project
    (root / "rec").mkdir()
    proc = run_npatch("report", "cov.json", "--record", "rec/i.toml", cwd=root, env=env)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert _applied(root, env, "rec/i.toml") == "helped"
