"""A manifest in a folder whose name is not UTF-8 (``b'caf\\xe9'``, as a Latin-1
system or an old archive leaves it): Python hands such a name over with a lone
surrogate (``'caf\\udce9'``), which ``str.encode('utf-8')`` refuses, so compile,
apply, env and ``report --record`` each ended in a traceback from inside npatch
(the plan's JSON, the cache entry, the recorded manifest).  Each command runs
in a fresh interpreter, as users run it."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from npatch_testutil import clean_env, run_python

MANIFEST = '''[manifest]
name = "m"
[[patch]]
name = "d"
target = "json:dumps"
replace = "helpers:dumps"
'''


@pytest.fixture
def folder(tmp_path):
    where = os.path.join(os.fsencode(tmp_path), b"caf\xe9")
    try:
        os.mkdir(where)
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system takes only UTF-8 names")
    path = os.fsdecode(where)
    for name, text in (("m.toml", MANIFEST), ("helpers.py", "def dumps(*a, **k):\n    return 'PATCHED'\n"),
                       ("s.py", "import json\nprint(json.dumps(1))\n")):
        with open(os.path.join(path, name), "w", encoding="utf-8") as f:
            f.write(text)
    return path


def run_npatch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``npatch ARGS``; what it prints names the folder in its own bytes (as ``ls``
    does), so the output is read with the undecodable bytes replaced."""
    return subprocess.run([sys.executable, "-m", "npatch", *args], env=env, capture_output=True,
                          encoding="utf-8", errors="replace", timeout=300)


def env_for(tmp_path):
    return clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))


def no_traceback(proc):
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_compile_apply_and_run_from_a_non_utf8_folder(tmp_path, folder):
    env = env_for(tmp_path)
    manifest, script = os.path.join(folder, "m.toml"), os.path.join(folder, "s.py")
    assert no_traceback(run_npatch("compile", manifest, env=env)).returncode == 0
    for _ in range(2):  # the second run reads the cache entry the first wrote
        proc = no_traceback(run_npatch("apply", manifest, "--", sys.executable, script, env=env))
        assert proc.returncode == 0 and proc.stdout.strip() == "PATCHED"
    report = os.path.join(folder, "r.json")
    proc = no_traceback(run_npatch("apply", manifest, "-v", "--report", report, "--", sys.executable, script,
                                   env=env))
    assert proc.stdout.strip() == "PATCHED" and "applied  d" in proc.stderr
    with open(report, encoding="utf-8") as f:
        assert json.load(f)["summary"]["processes"] == 1
    plan = os.path.join(folder, "plan.json")
    assert no_traceback(run_npatch("compile", manifest, "-o", plan, env=env)).returncode == 0
    proc = no_traceback(run_npatch("run", plan, script, env=env))
    assert proc.stdout.strip() == "PATCHED"


def test_env_route_from_a_non_utf8_folder(tmp_path, folder):
    env = env_for(tmp_path)
    proc = no_traceback(run_npatch("env", os.path.join(folder, "m.toml"), "--format", "json", env=env))
    assert proc.returncode == 0, proc.stderr
    child = run_python("import json; print(json.dumps(1))", env={**env, **json.loads(proc.stdout)})
    assert child.stdout.strip() == "PATCHED", child.stderr


def test_record_from_a_run_in_a_non_utf8_folder(tmp_path, folder):
    env = env_for(tmp_path)
    coverage = os.path.join(folder, "c.json")
    proc = run_npatch("apply", os.path.join(folder, "m.toml"), "--coverage", coverage, "--",
                      sys.executable, os.path.join(folder, "s.py"), env=env)
    assert proc.stdout.strip() == "PATCHED", proc.stderr
    for flags in ([], ["--standalone"]):
        recorded = os.path.join(folder, f"min{len(flags)}.toml")
        assert no_traceback(run_npatch("report", coverage, "--record", recorded, *flags, env=env)).returncode == 0
        with open(recorded, encoding="utf-8") as f:  # the file is UTF-8, a TOML parser takes it
            f.read()
        assert no_traceback(run_npatch("compile", recorded, env=env)).returncode == 0
        proc = run_npatch("apply", recorded, "--", sys.executable, os.path.join(folder, "s.py"), env=env)
        assert proc.stdout.strip() == "PATCHED", proc.stderr
