"""``npatch compile M -o plan.json`` writes a plan only when the compile passes:
a plan whose checks failed (a missing target, a replacement that does not
accept the target's calls) was written all the same, so ``npatch compile m.toml
-o plan.json; npatch apply plan.json -- ...`` (or a Makefile rule, which then
sees a fresh plan.json) ran it."""
from __future__ import annotations

import sys

from npatch_testutil import run_npatch

GOOD = '''[manifest]
name = "m"
[[patch]]
name = "d"
target = "helpers_target:build"
replace = "helpers_repl:build"
'''


def project(tmp_path, replacement: str):
    (tmp_path / "m.toml").write_text(GOOD)
    (tmp_path / "helpers_target.py").write_text("def build(dataset, batch_size=2):\n    return 'gpu'\n")
    (tmp_path / "helpers_repl.py").write_text(replacement)
    return tmp_path


def test_no_plan_is_written_when_the_compile_fails(tmp_path):
    project(tmp_path, "def build(dataset):\n    return 'cpu'\n")  # takes fewer arguments
    for extra in ([], ["--format", "json"]):
        proc = run_npatch("compile", "m.toml", "-o", "plan.json", *extra, cwd=tmp_path)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        said = proc.stdout if extra else proc.stderr
        assert ('"code": "incompatible"' if extra else "m.toml:6:11: patch[0].replace: error:") in said
        assert "plan.json not written: 1 error" in proc.stderr
        assert not (tmp_path / "plan.json").exists()


def test_an_earlier_plan_is_left_as_it_was(tmp_path):
    project(tmp_path, "def build(dataset, batch_size=2):\n    return 'cpu'\n")
    assert run_npatch("compile", "m.toml", "-o", "plan.json", cwd=tmp_path).returncode == 0
    before = (tmp_path / "plan.json").read_bytes()
    (tmp_path / "m.toml").write_text(GOOD.replace('target = "helpers_target:build"', 'target = "helpers_target:buidl"'))
    proc = run_npatch("compile", "m.toml", "-o", "plan.json", cwd=tmp_path)
    assert proc.returncode == 1
    assert "m.toml:5:10: patch[0].target: error:" in proc.stderr
    assert "plan.json not written: 1 error (the file there is an earlier plan)" in proc.stderr
    assert (tmp_path / "plan.json").read_bytes() == before
    ran = run_npatch("apply", "plan.json", "--", sys.executable, "-c", "import helpers_target; print(helpers_target.build(1))",
                     cwd=tmp_path)
    assert ran.stdout.strip() == "cpu", ran.stderr


def test_dash_is_standard_output(tmp_path):
    """``-o -`` wrote a file named ``-``; it prints the plan on stdout (the
    summary goes to stderr), so ``npatch compile m.toml -o - > plan.json`` is a plan."""
    project(tmp_path, "def build(dataset, batch_size=2):\n    return 'cpu'\n")
    proc = run_npatch("compile", "m.toml", "-o", "-", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "-").exists()
    (tmp_path / "piped.json").write_text(proc.stdout)
    assert "m: 1 ops (1 replace)" in proc.stderr
    ran = run_npatch("apply", "piped.json", "--", sys.executable, "-c", "import helpers_target; print(helpers_target.build(1))",
                     cwd=tmp_path)
    assert ran.stdout.strip() == "cpu", ran.stderr
    failed = run_npatch("compile", "m.toml", "-o", "-", cwd=project(tmp_path, "def build(dataset):\n    return 1\n"))
    assert failed.returncode == 1 and failed.stdout == "" and "- not written: 1 error" in failed.stderr
    both = run_npatch("compile", "m.toml", "-o", "-", "--format", "json", cwd=tmp_path)
    assert both.returncode == 2 and "npatch: error: -o - and --format json both print on standard output" in both.stderr
