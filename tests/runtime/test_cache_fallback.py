"""The plan cache never stops a program: when it cannot be used, ``npatch
apply`` warns once, keeps the plan in a private temporary directory removed
at exit, and runs the program (which sees its patches); when no file can be
written at all, the plan travels in ``NPATCH_PLAN_DATA``."""
from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from npatch_testutil import clean_env

PATCHES = "".join(f'''
[[patch]]
name = "p{i}"
target = "textwrap:indent"
replace = "npatch_fb_repl:indent"
priority = {i}
''' for i in range(40))           # a plan of several KiB, larger than the file-size limit below
MANIFEST = '[manifest]\nname = "fb"\n' + PATCHES
SHOW = "import textwrap; print('patched' if textwrap.indent('a', '') == 'X' else 'plain')"


@pytest.fixture
def setup(tmp_path):
    (tmp_path / "npatch_fb_repl.py").write_text("def indent(text, prefix, predicate=None):\n    return 'X'\n")
    (tmp_path / "m.toml").write_text(MANIFEST)
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=str(tmp_path))
    return tmp_path, env


def apply(root: Path, env: dict, limit: tuple[int, int] | None = None) -> subprocess.CompletedProcess:
    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)

    return subprocess.run([sys.executable, "-m", "npatch", "apply", "m.toml", "--", sys.executable, "-c", SHOW],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300,
                          preexec_fn=lower if limit else None)


def ran_with_fallback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "patched"
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, result.stderr
    kept = re.search(r"the plan is kept in (\S+), removed at exit", warnings[0])
    assert kept, warnings[0]
    assert not os.path.exists(kept.group(1))                  # removed when the command ended


def test_a_file_where_the_cache_directory_should_be(setup):
    root, env = setup
    (root / "cache").mkdir()
    (root / "cache" / "npatch").write_text("not a directory")
    ran_with_fallback(apply(root, env))


def test_a_file_where_the_plans_directory_should_be(setup):
    root, env = setup
    (root / "cache" / "npatch").mkdir(parents=True, mode=0o700)
    (root / "cache" / "npatch" / "plans").write_text("not a directory")
    result = apply(root, env)
    ran_with_fallback(result)
    assert "cannot write the plan cache" in result.stderr


def test_read_only_cache_directory(setup):
    root, env = setup
    cache = root / "cache" / "npatch"
    cache.mkdir(parents=True, mode=0o700)
    cache.chmod(0o500)
    result = apply(root, env)
    if os.geteuid() == 0:       # root writes into a 0500 directory: the cache simply works
        assert result.returncode == 0 and result.stdout.strip() == "patched", result.stderr
        assert (cache / "plans").is_dir() and "warning" not in result.stderr
    else:
        ran_with_fallback(result)


def test_file_size_limit_soft(setup):
    """``ulimit -S -f``: the cache write fails (EFBIG); the plan is written
    once above the soft limit, which the program then gets back."""
    root, env = setup
    soft, hard = 1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    if hard != resource.RLIM_INFINITY and hard <= soft:
        hard = soft * 2
    result = apply(root, env, (soft, hard))
    ran_with_fallback(result)
    assert "File too large" in result.stderr


def test_file_size_limit_hard_ships_the_plan_in_the_environment(setup):
    """``ulimit -f`` (hard too): no file of the plan's size can be written
    anywhere (as on a full disk); the plan travels inline in
    ``NPATCH_PLAN_DATA``, one warning says so, and the program runs patched."""
    root, env = setup
    result = apply(root, env, (1024, 1024))
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "patched"
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "travels in the environment (NPATCH_PLAN_DATA)" in warnings[0], result.stderr
    child = subprocess.run([sys.executable, "-m", "npatch", "apply", "m.toml", "--", sys.executable, "-c",
                            "import subprocess, sys; subprocess.run([sys.executable, '-c', " + repr(SHOW) + "])"],
                           cwd=root, env=env, capture_output=True, text=True, timeout=300,
                           preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024)))
    assert child.returncode == 0 and child.stdout.strip() == "patched", child.stderr   # and reaches grandchildren


def test_a_plan_too_large_for_the_environment_is_one_line_not_a_traceback(setup):
    """No file can be written and the plan is over what one variable can hold
    (Linux: 128 KiB): a clear one-line error, exit 2, before anything runs."""
    root, env = setup
    big = "".join(f'[[patch]]\nname = "big{i}"\ntarget = "textwrap:indent"\nreplace = "npatch_fb_repl:indent"\n'
                  f'priority = {100 + i}\noptions = {{ pad = "{os.urandom(128).hex()}" }}\n' for i in range(1500))
    (root / "m.toml").write_text(MANIFEST + big)
    result = apply(root, env, (1024, 1024))
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    assert "npatch: error: cannot write the plan anywhere" in result.stderr.splitlines()[-1]


def test_second_run_still_uses_a_good_cache(setup):
    root, env = setup
    first, second = apply(root, env), apply(root, env)
    assert first.stdout.strip() == second.stdout.strip() == "patched"
    assert "warning" not in first.stderr + second.stderr


def test_command_not_found_and_exit_status_under_the_fallback(setup):
    """Without exec the status is still the command's (and 127 when there is none)."""
    root, env = setup
    (root / "cache").mkdir()
    (root / "cache" / "npatch").write_text("not a directory")
    missing = subprocess.run([sys.executable, "-m", "npatch", "apply", "m.toml", "--", "no-such-command-npatch"],
                             cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 127 and "no-such-command-npatch: command not found" in missing.stderr
    status = subprocess.run([sys.executable, "-m", "npatch", "apply", "m.toml", "--", sys.executable, "-c",
                             "raise SystemExit(7)"], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert status.returncode == 7, status.stderr
    killed = subprocess.run([sys.executable, "-m", "npatch", "apply", "m.toml", "--", sys.executable, "-c",
                             "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"],
                            cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == 128 + 15, killed.stderr


def test_a_full_disk_keeps_the_plan_elsewhere(setup):
    """A real full file system (a 64 KiB tmpfs filled up, in a private mount
    namespace) as the cache and as ``$TMPDIR``: ENOSPC on the cache write;
    the plan goes to a temporary directory on another file system (Python's
    ``tempfile`` passes over a ``$TMPDIR`` it cannot write) and the program
    runs.  No file at all: the hard ``ulimit -f`` test above."""
    root, env = setup
    full = root / "full"
    full.mkdir()
    fill = (f"mount -t tmpfs -o size=64k tmpfs {full} && mkdir {full}/cache "
            f"&& (dd if=/dev/zero of={full}/fill bs=4k 2>/dev/null; true) && exec \"$@\"")
    env = dict(env, XDG_CACHE_HOME=str(full / "cache"), TMPDIR=str(full))
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", fill, "sh",
                             sys.executable, "-m", "npatch", "apply", "m.toml", "--", sys.executable, "-c", SHOW],
                            cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "patched"
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "No space left on device" in warnings[0], result.stderr
    kept = re.search(r"the plan is kept in (\S+), removed at exit", warnings[0])
    assert kept and not kept.group(1).startswith(str(full)) and not os.path.exists(kept.group(1)), warnings[0]


WAITER = """
import signal, sys, time
got = []
def note(number, frame):
    got.append(number)
for name in ("SIGUSR1", "SIGUSR2", "SIGQUIT"):
    signal.signal(getattr(signal, name), note)
print("ready", flush=True)
while not got:
    time.sleep(0.05)
print("got", signal.Signals(got[0]).name, flush=True)
sys.exit(3)
"""


@pytest.mark.parametrize("name", ["SIGINT", "SIGUSR1", "SIGUSR2", "SIGQUIT", "SIGTERM"])
def test_signals_sent_to_npatch_reach_the_command_under_the_fallback(setup, name):
    """Without exec npatch waits for the command: a signal sent to npatch
    alone (``kill -INT``, a scheduler's ``SIGUSR1`` before its time limit)
    is passed on, not swallowed (SIGINT: the command never stopped) nor
    fatal to npatch alone (SIGUSR1: the command ran on, orphaned, and the
    temporary plan directory stayed)."""
    root, env = setup
    (root / "cache").mkdir()
    (root / "cache" / "npatch").write_text("not a directory")
    (root / "waiter.py").write_text(WAITER)
    proc = subprocess.Popen([sys.executable, "-m", "npatch", "apply", "m.toml", "--", sys.executable, "waiter.py"],
                            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)      # its own process group: the signal reaches npatch only
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(getattr(signal, name))
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    if name in ("SIGINT", "SIGTERM"):           # the command's default action: it dies of it
        assert proc.returncode == 128 + getattr(signal, name), err
    else:
        assert (proc.returncode, out) == (3, f"got {name}\n"), err
    kept = re.search(r"the plan is kept in (\S+), removed at exit", err)
    assert kept and not os.path.exists(kept.group(1)), err
