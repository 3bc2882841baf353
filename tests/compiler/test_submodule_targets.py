"""A target reached through a submodule (``pkg2:sub.attr``): `npatch compile` agrees with run time.

At run time a patch on ``pkg2:sub.attr`` waits for ``pkg2`` and applies right
after ``pkg2`` executes: ``pkg2.sub`` is an attribute of ``pkg2`` then only if
executing ``pkg2`` imported it (itself or through another module it imports),
or ``pkg2`` makes it one on demand (a module ``__getattr__``).  Each case
compiles the manifest and runs a program under it, both as a user does, and
checks that compile reports an error exactly when the run fails to patch.
"""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch

SUB = """
def attr():
    return "orig"

class Cls:
    def meth(self):
        return "orig"
"""

REPL = """
def attr():
    return "patched"

def meth(self):
    return "patched"
"""

#: package shape -> files (besides repl.py)
SHAPES = {
    "not imported": {"pkg2/__init__.py": "X = 1\n", "pkg2/sub.py": SUB},
    "not imported, sub is a package": {"pkg2/__init__.py": "X = 1\n", "pkg2/sub/__init__.py": SUB},
    "imported by the package": {"pkg2/__init__.py": "from . import sub\n", "pkg2/sub.py": SUB},
    "imported through another module": {"pkg2/__init__.py": "from .a import helper\n",
                                        "pkg2/a.py": "from pkg2.sub import Cls\n\ndef helper():\n    return Cls\n",
                                        "pkg2/sub.py": SUB},
    "bound by importing below it": {"pkg2/__init__.py": "import pkg2.sub.deep\n",
                                    "pkg2/sub/__init__.py": SUB, "pkg2/sub/deep.py": "Y = 2\n"},
    "lazy module __getattr__": {"pkg2/__init__.py": "import importlib\n\ndef __getattr__(name):\n"
                                                   "    return importlib.import_module('.' + name, __name__)\n",
                                "pkg2/sub.py": SUB},
}

#: what compile says for each shape: None (passes), "error", or "info" (unverifiable: decided at run time)
EXPECTED = {"not imported": "error", "not imported, sub is a package": "error", "imported by the package": None,
            "imported through another module": None, "bound by importing below it": None,
            "lazy module __getattr__": "info"}

#: (target, replacement, program that imports the package and prints the target's result)
TARGETS = {
    "function": ("pkg2:sub.attr", "repl:attr", "import pkg2.sub\nprint(pkg2.sub.attr())\n"),
    "method": ("pkg2:sub.Cls.meth", "repl:meth", "import pkg2.sub\nprint(pkg2.sub.Cls().meth())\n"),
    # another timing: the package is imported first, the submodule only later in the program
    "late import": ("pkg2:sub.attr", "repl:attr", "import pkg2\nimport sys\nimport pkg2.sub\n"
                                                  "print(sys.modules['pkg2.sub'].attr())\n"),
}


def _project(tmp_path: Path, shape: str, target: str, replacement: str, program: str) -> Path:
    files = {**SHAPES[shape], "repl.py": REPL, "prog.py": program, "m.toml": f"""
        [manifest]
        name = "m"

        [[patch]]
        name = "p"
        target = "{target}"
        replace = "{replacement}"
        """}
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


@pytest.mark.parametrize("which", sorted(TARGETS))
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_compile_agrees_with_run_time(tmp_path: Path, shape: str, which: str) -> None:
    target, replacement, program = TARGETS[which]
    project = _project(tmp_path, shape, target, replacement, program)
    env = clean_env()
    compiled = run_npatch("compile", "m.toml", cwd=project, env=env)
    ran = run_npatch("apply", "m.toml", "--", sys.executable, "prog.py", cwd=project, env=env)
    assert ran.returncode == 0, ran.stderr
    expected = EXPECTED[shape]
    if expected == "error":
        assert compiled.returncode == 1, compiled.stdout + compiled.stderr
        message = compiled.stderr
        assert f"{project / 'm.toml'}:7:10: patch[0].target: error: {target}: pkg2 does not import its " \
               f"submodule 'sub'" in message, message
        assert f"name the submodule: pkg2.sub:{target.partition('sub.')[2]}" in message, message
        # run time: not applied, and it says so
        assert ran.stdout == "orig\n", ran.stdout
        assert "has no attribute 'sub'" in ran.stderr, ran.stderr
    else:
        assert compiled.returncode == 0, compiled.stdout + compiled.stderr
        assert "error" not in compiled.stderr, compiled.stderr
        assert ran.stdout == "patched\n", ran.stdout + ran.stderr
        if expected == "info":  # unverifiable, said with --verbose
            verbose = run_npatch("compile", "-v", "m.toml", cwd=project, env=env)
            assert "defines names at run time (module __getattr__)" in verbose.stdout + verbose.stderr


@pytest.mark.parametrize("shape", ["not imported", "not imported, sub is a package"])
def test_the_suggested_target_passes_and_applies(tmp_path: Path, shape: str) -> None:
    """The fix the error names (the submodule as the module part) passes compile and patches."""
    project = _project(tmp_path, shape, "pkg2.sub:Cls.meth", "repl:meth",
                       "import pkg2.sub\nprint(pkg2.sub.Cls().meth())\n")
    env = clean_env()
    compiled = run_npatch("compile", "m.toml", cwd=project, env=env)
    assert compiled.returncode == 0, compiled.stderr
    ran = run_npatch("apply", "m.toml", "--", sys.executable, "prog.py", cwd=project, env=env)
    assert (ran.returncode, ran.stdout) == (0, "patched\n"), ran.stderr
