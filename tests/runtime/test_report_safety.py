"""``--report F`` (apply, diff) and ``-o F`` (compile) never follow a planted
symlink, use nothing planted beside the report, and stop with one line and exit 2 on an
impossible path, before the program runs.  All in ``tmp_path``; "another
user" is a directory chowned to another uid (root can), or made writable by
others (anyone can)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch

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


def _planted(shared: Path) -> list[Path]:
    """What another user could plant where a per-process directory or a
    temporary file would go: a directory open to all, a symlink into the
    user's files, a FIFO at the report's own name."""
    open_dir = shared / "shared" / "open.json.d"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    (shared / "shared" / "link.json.d").symlink_to(shared / "py")
    os.mkfifo(shared / "shared" / "fifo.json")
    return [open_dir, shared / "shared" / "link.json.d"]


def test_nothing_planted_beside_the_report_is_used_or_waited_on(shared):
    """Each process adds its record to the report itself (no ``F.d`` of parts):
    a planted ``F.d`` is never written into, a FIFO at the report's name is
    replaced, not opened for reading, and the run leaves nothing but reports."""
    planted = _planted(shared)
    before = sorted(p.name for p in (shared / "shared").iterdir())
    for name in ("open.json", "link.json", "fifo.json"):
        result, ran = apply(shared, str(shared / "shared" / name))
        assert result.returncode == 0 and ran, result.stderr
        report = shared / "shared" / name
        assert report.is_file() and not report.is_symlink()
        assert json.loads(report.read_text())["summary"]["processes"] == 1
    assert not [q for p in planted if p.is_dir() and not p.is_symlink() for q in p.iterdir()]
    assert list((shared / "py").iterdir()) == [shared / "py" / "a.py"]      # nothing written through the link
    after = sorted(p.name for p in (shared / "shared").iterdir())
    assert set(after) - set(before) == {"open.json", "link.json"}           # fifo.json was replaced in place


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


def test_the_report_is_written_through_a_private_directory_and_leaves_none(shared):
    result, _ = apply(shared, str(shared / "shared" / "ok.json"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (shared / "shared").iterdir()) == ["ok.json"]


def _stand_ins(root: Path) -> dict[str, Path]:
    """Copies, inside ``root``, of the special names users pass as an output
    (``/dev/stdout``, ``/dev/null``, a link to a pipe; named .json for ``diff``): the real ones must
    never be at stake in a test.  ``stdout`` is a link into /proc exactly as
    ``/dev/stdout`` is; ``devnull`` a device node (root only)."""
    made = {"stdout": root / "stdout.json", "fifo-link": root / "fifo-link.json", "socket": root / "sock.json"}
    made["stdout"].symlink_to("/proc/self/fd/1")
    os.mkfifo(root / "a-fifo")
    made["fifo-link"].symlink_to(root / "a-fifo")
    import socket

    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(made["socket"]))
    sock.close()
    if IS_ROOT:
        try:
            os.mknod(root / "devnull.json", 0o020666, os.makedev(1, 3))
            made["devnull"] = root / "devnull.json"
        except PermissionError:     # a container without CAP_MKNOD
            pass
    return made


@pytest.mark.parametrize("kind", ["stdout", "fifo-link", "socket", "devnull"])
def test_a_device_a_socket_or_a_link_into_proc_is_refused_not_replaced(shared, kind):
    """``-o /dev/stdout`` run as root replaced the system's /dev/stdout link by
    a regular file (and ``/dev/null`` likewise): an output that exists and is
    not a file, or a link to a pipe, a device or into /proc, is a one-line
    error (exit 2) before anything runs, and stays what it was."""
    made = _stand_ins(shared / "shared")
    if kind not in made:
        pytest.skip("no device node can be made here")
    path = made[kind]
    before = os.lstat(path)
    result, ran = apply(shared, str(path))
    assert "not a regular file" in one_line_error(result) and not ran
    compiled = run_npatch("compile", "m.toml", "-o", str(path), cwd=shared)
    assert "not a regular file" in one_line_error(compiled)
    diff = run_npatch("diff", "cuda-to-npu", "py", "--report", str(path), cwd=shared)
    assert "not a regular file" in one_line_error(diff)
    after = os.lstat(path)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)


@pytest.mark.parametrize("victim,text", [("m.toml", MANIFEST), ("prog.py", "print('hello')\n"),
                                         ("notes.txt", "\ufeffnot json\n"),
                                         ("package.json", '{\n  "name": "web",\n  "npatch": "not first"\n}\n')])
def test_an_output_named_after_a_manifest_or_a_script_does_not_replace_it(shared, victim, text):
    """``npatch apply m.toml --report m.toml``, ``--coverage helper.py`` and
    ``npatch compile m.toml -o m.toml`` replaced the manifest or script with
    JSON: an existing file that is not JSON is refused (one line, exit 2,
    before the program runs); an earlier report or plan is replaced."""
    path = shared / victim
    path.write_text(text)
    result, ran = apply(shared, str(path))
    assert "exists and is not a plan or report of npatch" in one_line_error(result) and not ran
    coverage = run_npatch("apply", str(shared / "m.toml"), "--coverage", str(path), "--", "python", "-c", "pass",
                          cwd=shared)
    assert "exists and is not a plan or report of npatch" in one_line_error(coverage)
    compiled = run_npatch("compile", str(shared / "m.toml"), "-o", str(path), cwd=shared)
    assert "exists and is not a plan or report of npatch" in one_line_error(compiled)
    assert path.read_text() == text


def test_an_earlier_report_or_plan_is_replaced(shared):
    report = shared / "r.json"
    for _ in range(2):
        result, ran = apply(shared, str(report))
        assert result.returncode == 0 and ran, result.stderr
    plan = shared / "plan.json"
    for _ in range(2):
        assert run_npatch("compile", "m.toml", "-o", str(plan), cwd=shared).returncode == 0
    assert json.loads(plan.read_text())
    # a compact report (another npatch version's) is npatch's own too
    (shared / "old.json").write_text('{"npatch": "0.0.1", "processes": []}')
    result, ran = apply(shared, str(shared / "old.json"))
    assert result.returncode == 0 and ran, result.stderr


JSON_SPOILERS = '''
def boom(*args, **kwargs):
    raise RuntimeError("the program's json")


def garbage(*args, **kwargs):
    return "GARBAGE"
'''


def _json_spoiling_manifest(root: Path, target: str, replacement: str) -> dict[str, str]:
    """``m.toml`` replacing ``target`` by ``spoil:replacement``; the environment that finds ``spoil``."""
    (root / "spoil.py").write_text(JSON_SPOILERS)
    (root / "m.toml").write_text(f'[manifest]\nname = "m"\n[[patch]]\nname = "p"\n'
                                 f'target = "{target}"\nreplace = "spoil:{replacement}"\n')
    return clean_env(PYTHONPATH=str(root), XDG_CACHE_HOME=str(root / "cache"))


@pytest.mark.parametrize("target,replacement", [
    ("json:dumps", "garbage"), ("json:JSONEncoder.encode", "boom"), ("json:JSONEncoder.iterencode", "boom"),
    ("json.encoder:encode_basestring_ascii", "garbage"), ("json:JSONDecoder.decode", "boom"), ("json:loads", "boom"),
])
def test_a_plan_that_patches_json_does_not_break_its_own_report(tmp_path, target, replacement):
    """The report is written (and the other processes' records read) with the
    ``json`` functions of before the plan: a plan may replace ``json.dumps``,
    the encoder's methods or its string quoting by something that raises or
    returns garbage, and every process's record still arrives, as JSON."""
    env = _json_spoiling_manifest(tmp_path, target, replacement)
    report = tmp_path / "r.json"
    child = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'print(2)'], check=True); print(1)"
    result = run_npatch("apply", "m.toml", "--report", str(report), "--", sys.executable, "-c", child,
                        cwd=tmp_path, env=env)
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
    data = json.loads(report.read_text())
    assert [p["sessions"][0]["ops"][0]["status"] for p in data["processes"]] == ["applied", "applied"], data
    assert data["summary"] == {"processes": 2, "applied": 1}


@pytest.mark.parametrize("target", ["json:JSONEncoder.encode", "json.encoder:c_make_encoder"])
def test_npatch_run_writes_its_report_past_a_patched_json(tmp_path, target):
    """``npatch run`` applies the plan in its own process, then writes the
    report there: the program's ``json`` really is the patched one, the
    report is not."""
    env = _json_spoiling_manifest(tmp_path, target, "boom")
    (tmp_path / "prog.py").write_text("import json\ntry:\n    json.dumps([1], indent=None)\n"
                                      "except RuntimeError as exc:\n    print('program sees', exc)\n")
    report = tmp_path / "r.json"
    result = run_npatch("run", "m.toml", "--report", str(report), "prog.py", cwd=tmp_path, env=env)
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
    assert "program sees the program's json" in result.stdout
    data = json.loads(report.read_text())
    assert data["summary"] == {"processes": 1, "applied": 1}
    assert data["processes"][0]["sessions"][0]["plan"] == data["ops"][0]["plan"]
