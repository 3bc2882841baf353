"""``npatch diff --write`` never writes where it should not.

Symlinks out of the given paths are not followed, special files are never
opened, an edit made at any moment before the replacement is never lost,
owner/group/mode and hard links are kept or the file is refused, and odd
file names give a diff that ``git apply`` takes.  Everything happens in
pytest's ``tmp_path``.
"""
from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from npatch.rewrite.output import write_changes
from npatch.rewrite.runner import discover, run
from npatch_testutil import run_npatch
from rewrite_helpers import rw

RULES = [rw("m", "method", from_="cuda", to="npu")]
IS_ROOT = os.geteuid() == 0


def diff_write(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return run_npatch("diff", "cuda-to-npu", *args, cwd=root, timeout=timeout)


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "ok.py").write_text("x.cuda()\n")
    (tmp_path / "outside").mkdir()
    return tmp_path


def test_symlink_out_of_the_tree_is_not_followed(tree):
    victim = tree / "outside" / "victim.py"
    victim.write_text("secret.cuda()\n")
    (tree / "src" / "link.py").symlink_to(victim)
    (tree / "outside" / "pkg").mkdir()
    (tree / "outside" / "pkg" / "deep.py").write_text("y.cuda()\n")
    (tree / "src" / "dirlink").symlink_to(tree / "outside" / "pkg")       # a directory link
    result = diff_write(tree, "src", "--write")
    assert victim.read_text() == "secret.cuda()\n"
    assert (tree / "outside" / "pkg" / "deep.py").read_text() == "y.cuda()\n"
    assert (tree / "src" / "ok.py").read_text() == "x.npu()\n"
    assert "skipped src/link.py: a symbolic link to a file outside the given paths: not followed" in result.stderr
    assert result.returncode == 0, result.stderr


def test_symlink_inside_the_tree_edits_the_target_once_and_keeps_the_link(tree):
    real = tree / "src" / "real.py"
    real.write_text("a.cuda()\n")
    (tree / "src" / "alias.py").symlink_to(real)
    (tree / "src" / "sub").mkdir()
    (tree / "src" / "sub" / "again.py").symlink_to("../real.py")          # relative link
    result = diff_write(tree, "src", "--write")
    assert result.returncode == 0, result.stderr
    assert real.read_text() == "a.npu()\n"
    assert (tree / "src" / "alias.py").is_symlink() and (tree / "src" / "sub" / "again.py").is_symlink()
    assert "3 changed" not in result.stderr and "2 changed, 0 refused, 0 failed" in result.stderr


def test_named_symlink_is_followed_because_the_user_named_it(tree):
    target = tree / "outside" / "named.py"
    target.write_text("z.cuda()\n")
    (tree / "src" / "named.py").symlink_to(target)
    result = diff_write(tree, "src/named.py", "--write")
    assert result.returncode == 0, result.stderr
    assert target.read_text() == "z.npu()\n" and (tree / "src" / "named.py").is_symlink()


def _special_files(root: Path) -> list[str]:
    os.mkfifo(root / "p.py")
    made = ["p.py"]
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "s.py"))
    sock.close()
    made.append("s.py")
    if IS_ROOT:         # root may make a device node (a copy of /dev/null) in a temporary directory
        try:
            os.mknod(root / "d.py", stat.S_IFCHR | 0o600, os.makedev(1, 3))
            made.append("d.py")
        except PermissionError:     # a container without CAP_MKNOD
            pass
    return made


def test_fifos_sockets_and_devices_are_skipped_without_blocking(tree):
    made = _special_files(tree / "src")
    result = diff_write(tree, "src", "--write", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "skipped src/p.py: a FIFO (a named pipe), not a regular file: not read" in result.stderr
    assert "skipped src/s.py: a socket, not a regular file: not read" in result.stderr
    if "d.py" in made:
        assert "skipped src/d.py: a character device, not a regular file: not read" in result.stderr
    named = diff_write(tree, "src/p.py", timeout=120)                 # named on the command line
    assert named.returncode == 0 and "skipped src/p.py: a FIFO" in named.stderr
    assert stat.S_ISFIFO(os.lstat(tree / "src" / "p.py").st_mode)


def test_a_fifo_swapped_in_after_discovery_is_not_read(tree):
    files = discover([str(tree / "src")])
    (tree / "src" / "ok.py").unlink()
    os.mkfifo(tree / "src" / "ok.py")
    result = run(RULES, files)                                         # must not block
    assert [o.error for o in result.errors] == ["cannot read: a FIFO (a named pipe), not a regular file"]


def test_owner_group_and_mode_are_kept(tree):
    file = tree / "src" / "ok.py"
    file.chmod(0o640)
    if IS_ROOT:       # "another user": root can give the file away
        os.chown(file, 12345, 23456)
    before = file.stat()
    result = diff_write(tree, "src", "--write")
    assert result.returncode == 0, result.stderr
    after = file.stat()
    assert file.read_text() == "x.npu()\n"
    assert (after.st_uid, after.st_gid, stat.S_IMODE(after.st_mode)) == \
        (before.st_uid, before.st_gid, 0o640)
    assert after.st_ino != before.st_ino                   # really replaced, not edited in place


@pytest.mark.parametrize("mode", [0o444, 0o555, 0o064])
def test_read_only_file_is_refused_unless_forced(tree, mode):
    file = tree / "src" / "ok.py"
    file.chmod(mode)
    result = diff_write(tree, "src", "--write")
    assert result.returncode == 1
    assert f"refused src/ok.py: read-only (mode {mode:04o}); --force writes it anyway" in result.stderr
    assert "0 changed, 1 refused, 0 failed" in result.stderr
    assert file.read_text() == "x.cuda()\n"
    forced = diff_write(tree, "src", "--write", "--force")
    assert forced.returncode == 0, forced.stderr
    assert file.read_text() == "x.npu()\n" and stat.S_IMODE(file.stat().st_mode) == mode


def test_hard_link_is_refused_or_edited_in_place_never_split(tree):
    file = tree / "src" / "ok.py"
    twin = tree / "outside" / "twin.py"
    os.link(file, twin)
    result = diff_write(tree, "src", "--write")
    assert result.returncode == 1
    assert "refused src/ok.py: has 2 hard links; replacing it would split them" in result.stderr
    assert twin.read_text() == "x.cuda()\n" and os.path.samefile(file, twin)
    forced = diff_write(tree, "src", "--write", "--force")
    assert forced.returncode == 0, forced.stderr
    assert twin.read_text() == "x.npu()\n" and os.path.samefile(file, twin)


def test_force_needs_write(tree):
    result = diff_write(tree, "src", "--force")
    assert result.returncode == 2 and "--force only makes sense with --write" in result.stderr


APPENDER = textwrap.dedent('''
    import os, select, sys
    directory, name, log = sys.argv[1:]
    n = 0

    def temporary():
        return any(f.endswith(".npatch") for f in os.listdir(directory))

    def told():  # the test wrote a byte: the round is over
        return select.select([0], [], [], 0)[0]

    while os.read(0, 1) == b"g":  # a round: edit the file whenever npatch's temporary file is there
        while not told():
            if temporary():
                n += 1
                with open(os.path.join(directory, name), "a") as handle:
                    handle.write(f"# edit {n}\\n")
                with open(log, "a") as handle:
                    handle.write(f"# edit {n}\\n")
                while temporary() and not told():
                    pass
        os.read(0, 1)
        os.write(1, b"i")  # idle: every edit of the round is in the file and in the log
''')


def test_an_edit_made_while_the_file_is_being_replaced_is_never_lost(tmp_path):
    """A process appends to the file the moment npatch's temporary file
    appears: every such edit must survive (written after the rewrite, or the
    write refused / the edited version put back), in every round.  The file is
    read once the appender says it is idle (no sleep: a late append is waited for)."""
    directory = tmp_path / "src"
    directory.mkdir()
    file = directory / "big.py"
    original = "".join(f"v{i} = x{i}.cuda()\n" for i in range(3000))
    log = tmp_path / "log"
    log.write_text("")
    appender = subprocess.Popen([sys.executable, "-c", APPENDER, str(directory), "big.py", str(log)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    file.write_text(original)
    result = run(RULES, discover([str(directory)]))              # parsed once; written again each round
    outcomes = []
    try:
        for _ in range(30):
            file.write_text(original)
            seen = len(log.read_text().splitlines())
            appender.stdin.write(b"g")
            appender.stdin.flush()
            written = write_changes(result)
            appender.stdin.write(b"p")
            appender.stdin.flush()
            assert appender.stdout.read(1) == b"i", "the appender stopped"
            text = file.read_text()
            for edit in log.read_text().splitlines()[seen:]:
                assert edit + "\n" in text, (edit, written)
            outcomes.append((bool(written.written), [r for _, r in written.refused]))
    finally:
        appender.stdin.close()
        appender.wait(timeout=60)
    edits = len(log.read_text().splitlines())
    assert edits >= 3, f"the appender saw the temporary file only {edits} times in 30 rounds"
    assert not list(directory.glob("*.npatch"))
    reasons = {r for _, refused in outcomes for r in refused}
    assert reasons <= {"changed since it was read; run again",
                       "being opened for writing by another process; run again",
                       "open for writing by another process; run again",
                       "changed while it was being written; left as edited"}, reasons


ODD_NAMES = ["new\nline.py", "tab\there.py", 'quo"te.py', "back\\slash.py", "caf\u00e9.py", "space name.py",
             os.fsdecode(b"latin\xe9.py")]


def test_odd_file_names_give_a_diff_git_applies(tmp_path):
    for name in ODD_NAMES:
        (tmp_path / name).write_text("x.cuda()\n")
    subprocess.run(["git", "init", "-q", "."], cwd=tmp_path, check=True)
    result = subprocess.run([sys.executable, "-m", "npatch", "diff", "cuda-to-npu", "."], cwd=tmp_path,
                            capture_output=True, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.count(b"\n+++ ") == len(ODD_NAMES)
    assert b'+++ "b/new\\nline.py"' in result.stdout
    check = subprocess.run(["git", "apply", "-"], cwd=tmp_path, input=result.stdout, capture_output=True)
    assert check.returncode == 0, check.stderr.decode()
    for name in ODD_NAMES:
        assert (tmp_path / name).read_text() == "x.npu()\n", name


def test_summary_counts_and_plurals(tree):
    (tree / "src" / "ro.py").write_text("y.cuda()\n")
    (tree / "src" / "ro.py").chmod(0o444)
    result = diff_write(tree, "src", "--write")
    first = result.stderr.splitlines()[0]
    assert first.startswith("npatch diff: 2 files, 2 parsed, 1 changed, 1 refused, 0 failed (2 edits), "
                            "0 unsupported uses, 0 errors"), first
    assert first.endswith("with 1 process")
    (tree / "src" / "one.py").write_text("q.cuda()\n")
    single = diff_write(tree, "src/one.py")
    assert single.stderr.startswith("npatch diff: 1 file, 1 parsed, 1 to change (1 edit), 0 unsupported uses")
