"""``importlib.reload`` of a patched module executes it again, as without npatch.

Under npatch the shared finder took the module already in ``sys.modules``
(reload looks the spec up with the module still registered) for one that a
plan's start had just imported, and answered with a spec that executes
nothing: a reload returned the old module unchanged, an edit to its file was
never seen, and the module's code ran once instead of twice.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch

MANIFEST = """
[manifest]
name = "m"

[[patch]]
name = "p"
target = "npt_reload_tgt:f"
replace = "npt_reload_helper:f"
"""
TARGET = """
import builtins
builtins.RUNS = getattr(builtins, "RUNS", 0) + 1
VERSION = 1
def f():
    return "orig"
"""
PROGRAM = """
import builtins, importlib, os, pathlib
import {module}
target = {module}
print("import", builtins.RUNS, target.VERSION, target.f())
path = pathlib.Path(target.__file__)
path.write_text(path.read_text().replace("VERSION = 1", "VERSION = 2"))
os.utime(path, (0, os.stat(path).st_mtime + 10))   # a new mtime: the cached bytecode is stale
again = importlib.reload(target)
print("reload", builtins.RUNS, target.VERSION, target.f(), again is target)
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "m.toml").write_text(MANIFEST)
    (tmp_path / "npt_reload_helper.py").write_text("def f():\n    return 'PATCHED'\n")
    (tmp_path / "npt_reload_tgt.py").write_text(textwrap.dedent(TARGET))
    (tmp_path / "npt_reload_pkg").mkdir()
    (tmp_path / "npt_reload_pkg" / "__init__.py").write_text(textwrap.dedent(TARGET))
    return tmp_path


def expect_reexecuted(result) -> None:
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "import 1 1 PATCHED", result.stdout
    assert lines[1] == "reload 2 2 PATCHED True", result.stdout     # ran again, saw the edit, patched again


@pytest.mark.parametrize("flags", [[], ["-v"]], ids=["deferred", "eager"])
@pytest.mark.parametrize("module", ["npt_reload_tgt", "npt_reload_pkg"])
def test_reload_executes_the_module_again_and_reapplies(tree, flags, module):
    manifest = MANIFEST.replace("npt_reload_tgt:f", f"{module}:f")
    (tree / "m.toml").write_text(manifest)
    (tree / "prog.py").write_text(textwrap.dedent(PROGRAM.format(module=module)))
    expect_reexecuted(run_npatch("apply", "m.toml", *flags, "--", sys.executable, "prog.py", cwd=tree,
                                 env=clean_env(XDG_CACHE_HOME=str(tree / "cache"))))


def test_reload_inside_a_with_block_of_the_python_api(tree):
    program = "import npatch\nwith npatch.apply('m.toml'):\n" + textwrap.indent(
        textwrap.dedent(PROGRAM.format(module="npt_reload_tgt")), "    ")
    (tree / "prog.py").write_text(program)
    result = subprocess.run([sys.executable, "prog.py"], cwd=tree, env=clean_env(XDG_CACHE_HOME=str(tree / "cache")),
                            capture_output=True, text=True, timeout=300)
    expect_reexecuted(result)
