"""PEP 440 conditions as users meet them: ``npatch apply`` in a fresh
interpreter against the real torch 2.13.0+cpu, and without ``packaging``
being imported by the patched program."""
from __future__ import annotations

import sys

import pytest

from npatch_testutil import clean_env, run_npatch

# (condition, applied?) with torch 2.13.0+cpu installed
CASES = [
    ("version('torch') > '2.13.0'", False),  # a local build is not greater than its public version
    ("version('torch') <= '2.13.0'", True),
    ("version('torch') ~= '2.13'", True),
    ("version('torch') ~= '2.12.0'", False),
    ("option('level') >= 3", True),  # --set level=5, compared as numbers
    ("option('level') > 10", False),  # as numbers 5 < 10 (as versions too; '5' > '10' only as text)
]


@pytest.mark.parametrize(("condition", "applied"), CASES)
def test_condition_decides_in_a_patched_process(tmp_path, condition, applied):
    manifest = tmp_path / "m.toml"
    manifest.write_text(f'[manifest]\nname = "c"\n\n[options]\nlevel = 1\n\n[[patch]]\nname = "v"\n'
                        f'target = "shlex:NPT_MARK"\nvalue = "set"\non-missing = "create"\nwhen = "{condition}"\n')
    code = "import shlex, sys; print('MARK', getattr(shlex, 'NPT_MARK', None), 'packaging' in sys.modules)"
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = run_npatch("apply", "--set", "level=5", str(manifest), "--", sys.executable, "-c", code,
                      cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"MARK {'set' if applied else None} False" in proc.stdout, proc.stdout + proc.stderr


def _manifest(tmp_path, condition: str):
    manifest = tmp_path / "m.toml"
    manifest.write_text(f'[manifest]\nname = "c"\n\n[options]\nflag = true\nlevel = 3\n\n[[patch]]\nname = "v"\n'
                        f'target = "shlex:NPT_MARK"\nvalue = "set"\non-missing = "create"\nwhen = "{condition}"\n')
    return manifest


@pytest.mark.parametrize("condition,col,shown", [
    ("installed(true)", 19, "true"),
    ("version(2) >= '1'", 17, "2"),
    ("importable(1.5)", 20, "1.5"),
    ("env(1) == 'x' or true", 13, "1"),
])
def test_a_name_function_given_a_number_or_boolean_is_a_compile_error(tmp_path, condition, col, shown):
    """installed(true) compiled clean, then `npatch explain` died with an AttributeError
    traceback and the run marked the op failed ('bool' object has no attribute 'split')."""
    manifest = _manifest(tmp_path, condition)
    proc = run_npatch("compile", str(manifest), cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    first, text, carets = proc.stderr.splitlines()[:3]
    name = condition.partition("(")[0]
    assert first == f"{manifest}:13:{col}: patch[0].when: {name}() takes a name as a quoted string", proc.stderr
    assert carets.strip() == "^" * len(shown), proc.stderr


@pytest.mark.parametrize("condition,applied", [
    ("installed(option('flag'))", False),          # a name read as its text: 'true'
    ("not importable(option('level'))", True),
    ("version(option('level')) == '1'", False),
])
def test_a_name_function_given_an_option_of_another_type_reads_its_text(tmp_path, condition, applied):
    manifest = _manifest(tmp_path, condition)
    explained = run_npatch("explain", str(manifest), cwd=tmp_path)
    assert explained.returncode == 0 and "Traceback" not in explained.stderr, explained.stderr
    assert explained.stdout.startswith("apply" if applied else "skip"), explained.stdout
    proc = run_npatch("apply", "--strict", str(manifest), "--", sys.executable, "-c",
                      "import shlex; print('MARK', getattr(shlex, 'NPT_MARK', None))", cwd=tmp_path,
                      env=clean_env(XDG_CACHE_HOME=str(tmp_path / "cache")))
    assert proc.returncode == 0, proc.stderr
    assert f"MARK {'set' if applied else None}" in proc.stdout, proc.stderr
