"""A newcomer's first mistakes get a one-line answer that says what to type."""
from __future__ import annotations

import sys

import pytest

from npatch_testutil import run_npatch


@pytest.mark.parametrize("command", [["compile"], ["show"], ["explain"],
                                     ["apply", "--", sys.executable, "-c", "pass"]])
@pytest.mark.parametrize("typed", ["cuda-to-cpu.toml", "./cuda-to-cpu.toml"])
def test_a_built_in_name_typed_as_a_file_names_the_built_in(tmp_path, command, typed):
    """``npatch apply cuda-to-cpu.toml -- ...`` said only "manifest file not
    found": the built-in is there, under its name."""
    result = run_npatch(command[0], typed, *command[1:], cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "the built-in manifest is named `cuda-to-cpu`" in lines[0], result.stderr


def test_a_missing_file_that_is_no_built_in_gets_no_hint(tmp_path):
    result = run_npatch("compile", "cuda-to-tpu.toml", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip() == "npatch: error: manifest file not found: cuda-to-tpu.toml"


@pytest.mark.parametrize("command", [["compile", "numpy-compat"], ["scan", ".", "-m", "numpy-compat"]])
@pytest.mark.parametrize("bad", ["src_typo", "a_file.py"])
def test_a_path_that_is_not_a_directory_is_a_usage_error(tmp_path, command, bad):
    """`npatch compile m.toml --path src_typo` said nothing and compiled as if it
    were not given, so the user's own modules were reported as not installed."""
    (tmp_path / "a_file.py").write_text("x = 1\n")
    result = run_npatch(*command, "--path", bad, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == f"npatch: error: --path {bad}: no such directory", result.stderr


@pytest.mark.parametrize("command", [["apply", "numpy-compat", "plan.json", "--", sys.executable, "-c", "pass"],
                                     ["compile", "plan.json", "numpy-compat"], ["show", "plan.json"],
                                     ["explain", "plan.json"], ["compile", "inc.toml"]])
def test_a_saved_plan_where_a_manifest_goes_says_so(tmp_path, command):
    """A saved plan runs alone; next to a manifest, in ``show``/``explain``
    or in an ``include`` it was read as TOML ("invalid TOML: Invalid
    statement" at plan.json:1:1, or "unknown manifest")."""
    saved = run_npatch("compile", "numpy-compat", "-o", "plan.json", cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr
    (tmp_path / "inc.toml").write_text('[manifest]\nname = "inc"\ninclude = ["plan.json"]\n')
    result = run_npatch(*command, cwd=tmp_path)
    assert result.returncode in (1, 2) and "Traceback" not in result.stderr, result.stderr
    assert "plan.json is a saved plan, not a manifest: it runs alone (`npatch apply plan.json -- COMMAND`)" \
        in result.stderr.splitlines()[0], result.stderr
    assert "invalid TOML" not in result.stderr
    alone = run_npatch("apply", "plan.json", "--", sys.executable, "-c", "print('ran')", cwd=tmp_path)
    assert alone.returncode == 0 and alone.stdout == "ran\n", alone.stderr
