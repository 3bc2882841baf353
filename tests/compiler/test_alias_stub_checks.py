"""Compile errors for aliases that lead back to themselves and stubs of modules
the interpreter needs (issue 10, items 2 and 3), through the real CLI."""
from __future__ import annotations

import re
import sys
import textwrap

import pytest

from npatch.compiler import compile_manifests
from npatch.compiler.checks import interpreter_modules
from npatch.errors import ManifestErrors
from npatch_testutil import clean_env, run_npatch

HEAD = '[manifest]\nname = "m"\n'


def _write(tmp_path, text: str, name: str = "m.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def _compile_errors(path) -> list:
    with pytest.raises(ManifestErrors) as info:
        compile_manifests([str(path)])
    return info.value.errors


@pytest.mark.parametrize("aliases, lines", [
    ([("old", "old")], [5]),                             # to itself
    ([("a", "b"), ("b", "a")], [5, 9]),                  # a cycle of two: both lines
    ([("a", "b"), ("b", "c"), ("c", "a")], [5, 9, 13]),  # three
    ([("old", "old.compat")], [5]),                      # its own submodule: imports `old` first
    ([("a", "b.sub"), ("b", "a.z")], [5, 9]),            # through a package alias
], ids=["self", "two", "three", "own-submodule", "via-package"])
def test_alias_leading_back_to_itself_is_a_compile_error(tmp_path, aliases, lines):
    body = "".join(f'\n[[alias]]\ntarget = "{t}"\nsource = "{s}"\n' for t, s in aliases)
    path = _write(tmp_path, HEAD + body)
    errors = _compile_errors(path)
    assert sorted(e.line for e in errors) == lines, [str(e) for e in errors]
    assert all("leads back to itself" in e.message and e.col == 10 for e in errors)
    for error in errors:  # each names the other aliases of its cycle
        named = sorted(int(line) for line in re.findall(r"m\.toml:(\d+):10", error.hint))
        assert named == [line for line in lines if line != error.line], error.hint
    proc = run_npatch("compile", str(path), env=clean_env(XDG_CACHE_HOME=str(tmp_path / "cache")))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"m.toml:{lines[0]}:10: alias" in proc.stderr


def test_alias_chains_without_a_cycle_compile_and_work(tmp_path):
    (tmp_path / "c.py").write_text("X = 'c'\n")
    path = _write(tmp_path, HEAD + '[[alias]]\ntarget = "a"\nsource = "b"\n\n[[alias]]\ntarget = "b"\nsource = "c"\n'
                  '\n[[alias]]\ntarget = "d.e"\nsource = "d"\n')
    compile_manifests([str(path)])
    env = clean_env(PYTHONPATH=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = run_npatch("apply", str(path), "--", sys.executable, "-c", "import a, b, c; print(a is b is c, a.X)",
                      cwd=tmp_path, env=env)
    assert proc.stdout.strip() == "True c", proc.stdout + proc.stderr


def test_alias_cycle_across_included_manifests(tmp_path):
    _write(tmp_path, '[manifest]\nname = "inner"\n\n[[alias]]\ntarget = "b"\nsource = "a"\n', "inner.toml")
    path = _write(tmp_path, '[manifest]\nname = "outer"\ninclude = ["inner.toml"]\n'
                            '\n[[alias]]\ntarget = "a"\nsource = "b"\n')
    errors = _compile_errors(path)
    assert sorted((e.file.rpartition("/")[2], e.line) for e in errors) == [("inner.toml", 5), ("m.toml", 6)]
    assert any("inner.toml:5" in e.hint for e in errors if e.file.endswith("m.toml"))


@pytest.mark.parametrize("module", ["sys", "builtins", "importlib", "encodings", "os", "os.path", "site"])
def test_stubbing_a_module_the_interpreter_needs_is_a_compile_error(tmp_path, module):
    path = _write(tmp_path, HEAD + f'\n[[stub]]\nmodule = "{module}"\nforce = true\n')
    errors = _compile_errors(path)
    assert [(e.line, e.col) for e in errors] == [(5, 10)]
    assert f"cannot stub {module!r}" in errors[0].message
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = run_npatch("apply", str(path), "--", sys.executable, "-c", "print('ran')", env=env)
    assert proc.returncode == 1 and "ran" not in proc.stdout
    assert "m.toml:5:10" in proc.stderr and "Traceback" not in proc.stderr


def test_interpreter_modules_are_derived_not_listed():
    names = interpreter_modules()
    assert set(sys.builtin_module_names) <= names
    assert {"encodings", "codecs", "io", "abc", "site", "os"} <= names
    assert "tkinter" not in names and "apex" not in names and "npatch" not in names


def test_stub_of_a_stdlib_module_not_imported_at_start_compiles(tmp_path):
    path = _write(tmp_path, HEAD + '\n[[stub]]\nmodule = "tkinter"\nforce = true\n')
    plan = compile_manifests([str(path)]).plan
    assert [op.kind for op in plan.ops] == ["stub"]
