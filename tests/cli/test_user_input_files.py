"""Every file a user names as input is read without blocking and must be a
regular file: a saved plan (``npatch apply plan.json``, ``run``, ``diff``,
``NPATCH_PLAN``), a report (``npatch report``), a scan table.  A FIFO, a
directory or a device there was a hang (``open()`` waits for a writer) or a
traceback; now it is one line saying what is there, with the usage-error
status (2), as for a manifest.  Each scenario runs the CLI or a child in a
fresh interpreter; a hang fails on the subprocess timeout.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from npatch.runtime.launcher import BOOTSTRAP_DIR
from npatch_testutil import YIQ_MANIFEST as MANIFEST, clean_env, run_npatch


SHOW = "import colorsys; print('yiq', colorsys.rgb_to_yiq)"


def _env(tmp_path: Path) -> dict[str, str]:
    return clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))


def _saved_plan(tmp_path: Path) -> Path:
    (tmp_path / "m.toml").write_text(MANIFEST)
    plan = tmp_path / "plan.json"
    proc = run_npatch("compile", str(tmp_path / "m.toml"), "-o", str(plan), env=_env(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return plan


def _plant(path: Path, what: str) -> str:
    """Replace ``path`` by a FIFO, a directory or a link to a device; the reason npatch gives."""
    path.unlink()
    if what == "fifo":
        os.mkfifo(path)
        return "is a FIFO (a named pipe), not a regular file"
    if what == "directory":
        path.mkdir()
        return "is a directory"
    path.symlink_to("/dev/zero")  # a blocking read of it would never end
    return "is a character device, not a regular file"


def _one_line_error(proc: subprocess.CompletedProcess, reason: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("npatch: error: ") and reason in lines[0], proc.stderr


@pytest.mark.parametrize("what", ["fifo", "directory", "device"])
def test_a_saved_plan_that_is_not_a_file_is_a_usage_error(tmp_path, what):
    plan = _saved_plan(tmp_path)
    reason = _plant(plan, what)
    (tmp_path / "x.py").write_text("print('ran')\n")
    env = _env(tmp_path)
    for words in (["apply", str(plan), "--", sys.executable, "-c", "print('ran')"],
                  ["run", str(plan), str(tmp_path / "x.py")],
                  ["diff", str(plan), str(tmp_path)]):
        proc = run_npatch(*words, env=env, timeout=60)
        _one_line_error(proc, reason)
        assert "ran" not in proc.stdout


def test_a_saved_plan_swapped_for_a_fifo_after_a_cached_run(tmp_path):
    """The cache verifies the plan file it compiled from without blocking: a miss, then the error."""
    plan = _saved_plan(tmp_path)
    env = _env(tmp_path)
    proc = run_npatch("apply", str(plan), "--", sys.executable, "-c", SHOW, env=env, timeout=60)
    assert proc.returncode == 0 and "yiq 42" in proc.stdout, proc.stderr
    reason = _plant(plan, "fifo")
    _one_line_error(run_npatch("apply", str(plan), "--", sys.executable, "-c", SHOW, env=env, timeout=60), reason)


@pytest.mark.parametrize("strict", [False, True])
def test_npatch_plan_naming_a_fifo_is_no_hang(tmp_path, strict):
    """A plan file named by hand in NPATCH_PLAN: the child says why and runs without it (strict: stops)."""
    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)
    env = dict(_env(tmp_path), PYTHONPATH=BOOTSTRAP_DIR, NPATCH_PLAN=str(fifo), NPATCH_STRICT="1" if strict else "")
    proc = subprocess.run([sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stderr
    assert f"cannot read plan {fifo}: is a FIFO" in proc.stderr, proc.stderr
    if strict:
        assert proc.returncode == 1 and "yiq" not in proc.stdout
    else:
        assert proc.returncode == 0 and "yiq <function" in proc.stdout


@pytest.mark.parametrize("what", ["fifo", "directory", "device"])
def test_a_report_or_table_that_is_not_a_file_is_a_usage_error(tmp_path, what):
    report = tmp_path / "run.json"
    report.write_text("{}")
    reason = _plant(report, what)
    _one_line_error(run_npatch("report", str(report), timeout=60), reason)
    _one_line_error(run_npatch("scan", "--table", str(report), str(tmp_path), timeout=60), reason)


@pytest.mark.parametrize("what,kind", [("fifo", "a FIFO (a named pipe)"), ("device", "a character device")])
def test_reading_writing_and_rewriting_name_a_special_file_alike(tmp_path, what, kind):
    """One table names what a non-regular file is: the same FIFO or device
    is called the same whether npatch was to read it (a saved plan), write
    it (``--report``, a link to it) or rewrite it (``diff``)."""
    plan = _saved_plan(tmp_path)
    special = tmp_path / "special"
    if what == "fifo":
        os.mkfifo(special)
    else:
        special.symlink_to("/dev/null")
    env = _env(tmp_path)
    plan.unlink()
    plan.symlink_to(special)
    read = run_npatch("apply", str(plan), "--", sys.executable, "-c", "print('ran')", env=env, timeout=60)
    _one_line_error(read, f"is {kind}, not a regular file")
    (tmp_path / "m.toml").write_text(MANIFEST)
    report = tmp_path / "report.json"
    report.symlink_to(special)
    written = run_npatch("apply", str(tmp_path / "m.toml"), "--report", str(report), "--",
                         sys.executable, "-c", "print('ran')", env=env, timeout=60)
    _one_line_error(written, f"is a link to {kind}, not a regular file")
    source = tmp_path / "src.py"
    source.symlink_to(special)
    rewritten = run_npatch("diff", "cuda-to-npu", str(source), env=env, timeout=60)
    assert f"{kind}, not a regular file: not read" in rewritten.stderr, rewritten.stderr
