"""Issue 16 item 1: with a cached plan, `npatch apply M -- CMD` goes from the
console script to exec importing only what it must.

The launcher runs under ``-X importtime`` in a fresh interpreter, as users
start it (the ``npatch`` console script next to this Python when there is
one); what it imports beyond what the console script itself imports (``re``,
``sys``) must be exactly the hot path's modules: no argparse, no json, no
typing, no npatch.errors/npatch.log, no compiler.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from npatch_testutil import clean_env

#: the modules `npatch apply` with a cached plan imports (npatch.cli.hot's docstring)
#: (cli.registry holds the command table, importing nothing; outfiles has the
#: one private-cache-directory check, importing npatch.errors only to raise)
#: (npatch.runtime holds the environment variables and read_file: not the child's boot, npatch.runtime.launcher)
HOT_PATH = {"npatch", "npatch.cli", "npatch.cli.hot", "npatch.cli.registry", "npatch.outfiles", "npatch.plancache",
            "npatch.runtime", "npatch.runtime.launcher_parent"}
#: besides those, only what their own imports need: the interpreter's SHA-256 (no __future__:
#: importing it costs ~0.5 M instructions, so the hot path's modules quote their annotations instead)
STDLIB_ALLOWED = {"_sha256", "_sha2"}

MANIFEST = '[manifest]\nname = "m"\n\n[options]\nk = "x"\n\n[[patch]]\nname = "p"\ntarget = "npt_never_imported:f"\nreplace = "json:loads"\n'


def _imported(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[set[str], str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", *cmd], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    return names, proc.stdout


def _launcher() -> list[str]:
    script = Path(sys.executable).with_name("npatch")
    return [str(script)] if script.exists() else ["-m", "npatch"]


@pytest.mark.parametrize("options", [[], ["--strict", "-v", "--disable", "p", "--set", "k=v"]])
def test_a_cached_apply_imports_only_the_hot_path(tmp_path, options):
    (tmp_path / "m.toml").write_text(MANIFEST)
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    cmd = [*_launcher(), "apply", *options, "m.toml", "--", sys.executable, "-c", "print('ran')"]
    first, out = _imported(cmd, env, tmp_path)  # a miss: compiles
    assert "npatch.compiler" in first and out.strip() == "ran"
    bare, _ = _imported(["-c", "import re, sys"], env, tmp_path)  # what the console script imports itself
    hit, out = _imported(cmd, env, tmp_path)
    assert out.strip() == "ran"
    extra = hit - bare
    assert {n for n in extra if n.startswith("npatch")} == HOT_PATH
    assert {n for n in extra if not n.startswith("npatch")} <= STDLIB_ALLOWED, sorted(extra)


def test_a_report_or_a_miss_still_takes_the_general_path(tmp_path):
    (tmp_path / "m.toml").write_text(MANIFEST)
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    cmd = [*_launcher(), "apply", "m.toml", "--", sys.executable, "-c", "pass"]
    _imported(cmd, env, tmp_path)
    report = tmp_path / "r.json"
    names, _ = _imported([*cmd[:-4], "--report", str(report), *cmd[-4:]], env, tmp_path)
    assert "npatch.cli.apply" in names and report.exists()
