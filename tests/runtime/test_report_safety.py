"""``--report F`` (apply, diff) and ``-o F`` (compile) never follow a planted
symlink, refuse an unsafe ``F.d``, and stop with one line and exit 2 on an
impossible path, before the program runs.  All in ``tmp_path``; "another
user" is a directory chowned to another uid (root can), or made writable by
others (anyone can)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from npatch_testutil import run_npatch

IS_ROOT = os.geteuid() == 0
MANIFEST = '''
[manifest]
name = "m"
[[patch]]
name = "p"
target = "textwrap:dedent"
replace = "textwrap:dedent"
'''


@pytest.fixture
def shared(tmp_path):
    """A world-writable directory (like /tmp) and a root-only file elsewhere."""
    (tmp_path / "m.toml").write_text(MANIFEST)
    (tmp_path / "py").mkdir()
    (tmp_path / "py" / "a.py").write_text("x.cuda()\n")
    (tmp_path / "adir.json").mkdir()
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o1777)
    secret = tmp_path / "secret"
    secret.write_text("root only\n")
    secret.chmod(0o600)
    return tmp_path


def apply(root: Path, report: str) -> tuple:
    marker = root / "ran"
    result = run_npatch("apply", str(root / "m.toml"), "--report", report, "--",
                        "python", "-c", f"open({str(marker)!r}, 'w').write('x')", cwd=root)
    return result, marker.exists()


def one_line_error(result) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_apply_report_replaces_a_planted_symlink_instead_of_following_it(shared):
    report = shared / "shared" / "r.json"
    report.symlink_to(shared / "secret")
    result, ran = apply(shared, str(report))
    assert result.returncode == 0 and ran, result.stderr
    assert (shared / "secret").read_text() == "root only\n"
    assert not report.is_symlink() and json.loads(report.read_text())["summary"]["processes"] == 1


def test_diff_report_and_compile_output_replace_a_planted_symlink(shared):
    for option, args in (("--report", ["diff", "cuda-to-npu", "py"]), ("-o", ["compile", "m.toml"])):
        out = shared / "shared" / f"out{option}.json"
        out.symlink_to(shared / "secret")
        result = run_npatch(*args, option, str(out), cwd=shared)
        assert result.returncode == 0, result.stderr
        assert (shared / "secret").read_text() == "root only\n"
        assert not out.is_symlink() and json.loads(out.read_text())
    assert not [p for p in (shared / "shared").iterdir() if p.name.startswith(".npatch-")]


def _unsafe_parts_dirs(shared: Path) -> list[tuple[str, str]]:
    cases = []
    open_dir = shared / "shared" / "open.json.d"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    cases.append(("open.json", "is writable by others (mode 0777)"))
    (shared / "shared" / "link.json.d").symlink_to(shared / "py")
    cases.append(("link.json", "is a symbolic link"))
    (shared / "shared" / "file.json.d").write_text("")
    cases.append(("file.json", "exists and is not a directory"))
    if IS_ROOT:     # another user's directory: root can give one away
        theirs = shared / "shared" / "theirs.json.d"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 12345, 12345)
        cases.append(("theirs.json", "is owned by uid 12345, not by this user"))
    return cases


def test_unsafe_per_process_directory_is_refused_before_the_program_runs(shared):
    for name, reason in _unsafe_parts_dirs(shared):
        result, ran = apply(shared, str(shared / "shared" / name))
        line = one_line_error(result)
        assert reason in line and f"{name}.d" in line, line
        assert not ran
    assert list((shared / "py").iterdir()) == [shared / "py" / "a.py"]      # nothing written through the link


@pytest.mark.parametrize("path,reason", [
    ("/proc/npatch-report.json", "cannot write in /proc"),
    ("{tmp}/missing/r.json", "no such directory"),
    ("{tmp}/adir.json", "is a directory"),
])
def test_impossible_report_path_is_one_line_exit_2_before_anything_runs(shared, path, reason):
    path = path.format(tmp=shared)
    result, ran = apply(shared, path)
    assert reason in one_line_error(result) and not ran
    diff = run_npatch("diff", "cuda-to-npu", "py", "--write", "--report", path, cwd=shared)
    assert reason in one_line_error(diff)
    assert (shared / "py" / "a.py").read_text() == "x.cuda()\n"                # --write did not start
    compiled = run_npatch("compile", "m.toml", "-o", path, cwd=shared)
    assert reason in one_line_error(compiled)


def test_report_directory_is_private(shared):
    result, _ = apply(shared, str(shared / "shared" / "ok.json"))
    assert result.returncode == 0, result.stderr
    parts = shared / "shared" / "ok.json.d"
    assert parts.stat().st_mode & 0o777 == 0o700 and parts.stat().st_uid == os.geteuid()
