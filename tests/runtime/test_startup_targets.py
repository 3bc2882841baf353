"""A target the interpreter imported before the program started (``posixpath``,
``json`` under ``--report``) with its replacement in a module beside the
script: the op applies while Python has not yet put the script's directory on
``sys.path``, and said "module 'helper' is not installed" (in every mode,
while the same op on a module imported later worked).  The replacement must
come from where the program itself would import it: the script's directory,
the current directory for ``-m`` and ``-c``.
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
name = "expand"
target = "posixpath:expandvars"
replace = "npatch_helper_mod:expandvars"

[[patch]]
name = "loads"
target = "json:loads"
replace = "npatch_helper_mod:loads"
"""
HELPER = """
def expandvars(path):
    return "PATCHED " + path

def loads(s, **kwargs):
    return "LOADED"
"""
PY = sys.executable
PROGRAM = "import json, os.path\nprint(os.path.expandvars('x'), json.loads('1'))\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``m.toml`` and a working directory ``cwd`` apart from ``app/``, which
    holds the script and its helper module."""
    (tmp_path / "m.toml").write_text(MANIFEST)
    for folder in ("app", "cwd"):
        (tmp_path / folder).mkdir()
    (tmp_path / "app" / "npatch_helper_mod.py").write_text(textwrap.dedent(HELPER))
    (tmp_path / "app" / "prog.py").write_text(PROGRAM)
    return tmp_path


def npatch(tree: Path, *args: str, cwd: Path):
    return run_npatch(*args, cwd=cwd, env=clean_env(XDG_CACHE_HOME=str(tree / "cache")))


def patched(result) -> None:
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["PATCHED", "x", "LOADED"], result.stderr
    assert "not installed" not in result.stderr


@pytest.mark.parametrize("flags", [[], ["-v"], ["--report", "r.json"]], ids=["deferred", "verbose", "report"])
def test_a_replacement_beside_the_script_patches_a_module_imported_at_start_up(tree, flags):
    patched(npatch(tree, "apply", str(tree / "m.toml"), *flags, "--", PY, str(tree / "app" / "prog.py"),
                   cwd=tree / "cwd"))


@pytest.mark.parametrize("how", [["-m", "prog"], ["-c", PROGRAM]], ids=["module", "command"])
def test_with_m_and_c_the_replacement_comes_from_the_current_directory(tree, how):
    patched(npatch(tree, "apply", str(tree / "m.toml"), "-v", "--", PY, *how, cwd=tree / "app"))


def test_npatch_run_finds_the_replacement_beside_the_script(tree):
    patched(npatch(tree, "run", str(tree / "m.toml"), str(tree / "app" / "prog.py"), cwd=tree / "cwd"))


def test_a_helper_the_program_cannot_import_either_is_still_reported(tree):
    """Only where the program will look: a helper in neither place stays an error."""
    (tree / "app" / "npatch_helper_mod.py").rename(tree / "cwd" / "elsewhere.py")
    result = npatch(tree, "apply", str(tree / "m.toml"), "-v", "--", PY, str(tree / "app" / "prog.py"),
                    cwd=tree / "cwd")
    assert "module 'npatch_helper_mod' (from 'npatch_helper_mod:expandvars') is not installed" in result.stderr


def test_a_stdlib_name_beside_the_script_does_not_shadow_npatch_s_own_imports(tree):
    """The script's directory is searched for the replacement only, as the
    program's own ``import`` would: a ``json.py`` or ``zlib.py`` there must not
    replace what npatch imports while it starts (the program itself does get them)."""
    for name in ("json", "zlib", "marshal", "textwrap"):
        (tree / "app" / f"{name}.py").write_text("raise SystemExit('shadowed ' + __name__)\n")
    (tree / "app" / "prog.py").write_text("import os.path\nprint(os.path.expandvars('x'), 'LOADED')\n")
    patched(npatch(tree, "apply", str(tree / "m.toml"), "--report", "r.json", "--", PY,
                   str(tree / "app" / "prog.py"), cwd=tree / "cwd"))


# -- a replacement beside the manifest ----------------------------------------------
# `npatch compile` looks for a replacement's module in the manifest's folder; the
# run did not, so a check that passed was followed by "module ... is not installed"
# (from any working directory but that folder, and in every child started elsewhere).
BESIDE = """
import json, os.path, subprocess, sys
print(os.path.expandvars('x'), json.loads('1'))
sys.stdout.flush()
subprocess.run([sys.executable, "-c", {program!r}], cwd="/", check=True)
"""


@pytest.fixture
def beside(tree: Path) -> Path:
    """The helper moves next to the manifest, in ``patches/``; the script stays in ``app/``."""
    (tree / "patches").mkdir()
    (tree / "m.toml").rename(tree / "patches" / "m.toml")
    (tree / "app" / "npatch_helper_mod.py").rename(tree / "patches" / "npatch_helper_mod.py")
    (tree / "app" / "prog.py").write_text(BESIDE.format(program=PROGRAM))
    return tree / "patches" / "m.toml"


@pytest.mark.parametrize("flags", [[], ["-v"]], ids=["deferred", "verbose"])
def test_a_replacement_beside_the_manifest_is_found_as_compile_found_it(tree, beside, flags):
    assert npatch(tree, "compile", str(beside), cwd=tree / "cwd").returncode == 0
    result = npatch(tree, "apply", str(beside), *flags, "--", PY, str(tree / "app" / "prog.py"), cwd=tree / "cwd")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["PATCHED", "x", "LOADED"] * 2, result.stderr  # the child in / too
    assert "not installed" not in result.stderr


def test_a_replacement_beside_the_manifest_under_npatch_run_and_the_api(tree, beside):
    result = npatch(tree, "run", str(beside), str(tree / "app" / "prog.py"), cwd=tree / "cwd")
    assert result.stdout.split() == ["PATCHED", "x", "LOADED"] * 2, result.stderr
    code = f"import npatch, json\nwith npatch.apply({str(beside)!r}):\n    print(json.loads('1'))\nprint(json.loads('1'))"
    result = subprocess.run([PY, "-c", code], cwd=tree / "cwd", capture_output=True, text=True,
                            env=clean_env(XDG_CACHE_HOME=str(tree / "cache")))
    assert result.stdout.split() == ["LOADED", "1"], result.stderr


def test_a_failing_import_inside_the_helper_beside_the_manifest_is_that_error(tree, beside):
    """Found beside the manifest, the helper's own missing dependency is reported as
    itself, not as the helper being "not installed"."""
    helper = tree / "patches" / "npatch_helper_mod.py"
    helper.write_text("import npatch_no_such_dependency\n" + helper.read_text())
    result = npatch(tree, "apply", str(beside), "-v", "--", PY, "-c", PROGRAM, cwd=tree / "cwd")
    assert "No module named 'npatch_no_such_dependency'" in result.stderr, result.stderr
    assert "is not installed" not in result.stderr


def test_a_helper_beside_the_manifest_imports_a_sibling_when_called(tree, beside):
    """The folder stays on sys.path (last) once it held the helper: a sibling the
    replacement imports at call time, after the op applied, is found too."""
    helper = tree / "patches" / "npatch_helper_mod.py"
    helper.write_text(helper.read_text().replace('return "LOADED"', 'import npatch_sibling_mod\n    return npatch_sibling_mod.WORD'))
    (tree / "patches" / "npatch_sibling_mod.py").write_text("WORD = 'LOADED'\n")
    code = "import json, sys\nprint(json.loads('1'), sys.path[-1].endswith('patches'))"
    result = npatch(tree, "apply", str(beside), "--", PY, "-c", code, cwd=tree / "cwd")
    assert result.stdout.split() == ["LOADED", "True"], result.stderr
