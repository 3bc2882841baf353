"""The plan cache against an adversary and against accidents: what it reads
must never block, never be trusted when someone else could have written it,
and never stop the user's program.

Every scenario runs the real CLI (or a child under a plan) in a fresh
interpreter with a private ``XDG_CACHE_HOME`` under tmp_path.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch

PY = sys.executable
SHOW = "import colorsys; print('yiq', colorsys.rgb_to_yiq)"
MANIFEST = """
[manifest]
name = "m"

[[patch]]
name = "yiq"
target = "colorsys:rgb_to_yiq"
value = 42
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def apply(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return run_npatch("apply", *map(str, args), env=env, timeout=timeout)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


# -- a source of a cached entry that became something else -----------------------------
@pytest.mark.parametrize("which", ["manifest", "include"])
def test_a_cached_source_replaced_by_a_fifo_is_a_miss_not_a_hang(tmp_path, env, which):
    """The entry records each manifest read; one that is now a FIFO (planted in a
    shared directory) must not block the lookup: it is a miss, and the compiler
    says the manifest is not a regular file."""
    sub = write(tmp_path / "sub.toml", MANIFEST)
    top = write(tmp_path / "top.toml", '[manifest]\nname = "top"\ninclude = ["./sub.toml"]\n')
    ok(apply(top, "--", PY, "-c", SHOW, env=env))
    victim = top if which == "manifest" else sub
    victim.unlink()
    os.mkfifo(victim)
    proc = apply(top, "--", PY, "-c", SHOW, env=env, timeout=20)
    assert proc.returncode != 0 and "not a regular file" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_cached_source_replaced_by_a_directory_is_a_miss(tmp_path, env):
    manifest = write(tmp_path / "m.toml", MANIFEST)
    ok(apply(manifest, "--", PY, "-c", SHOW, env=env))
    manifest.unlink()
    manifest.mkdir()
    proc = apply(manifest, "--", PY, "-c", SHOW, env=env)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr


# -- a marshal copy damaged inside one op (its outer tuple still loads) ------------------
def _damage_ops(copy: Path, how: str) -> None:
    import marshal

    tag, header, index, ops = marshal.loads(copy.read_bytes())
    if how == "unknown type code":
        ops = [b"\xff" + op[1:] for op in ops]
    elif how == "truncated":
        ops = [op[:-3] for op in ops]
    else:  # a well-formed op of another shape (a copy written by another npatch version)
        ops = [marshal.dumps({"kind": 3}) for _ in ops]
    copy.write_bytes(marshal.dumps((tag, header, index, ops)))


SECOND = """
[[patch]]
name = "escape"
target = "html:escape"
value = 7
"""


@pytest.mark.parametrize("how", ["unknown type code", "truncated", "another shape"])
def test_a_child_given_a_marshal_copy_with_a_damaged_op_reads_the_json_plan(tmp_path, env, how):
    """The child decodes an op when its module is imported; a damaged op there
    must not fail the program's own ``import`` with npatch's traceback: the
    JSON file is the plan of record, as for a copy damaged as a whole."""
    manifest = write(tmp_path / "m.toml", MANIFEST + SECOND)
    ok(apply(manifest, "--", PY, "-c", "pass", env=env))
    (copy,) = (tmp_path / "cache" / "npatch" / "plans").glob("*.marshal")
    _damage_ops(copy, how)
    from npatch.runtime.launcher import BOOTSTRAP_DIR

    child_env = dict(env, PYTHONPATH=BOOTSTRAP_DIR, NPATCH_PLAN=str(copy.with_suffix(".json")))
    code = SHOW + "; import html; print('escape', html.escape)"
    proc = subprocess.run([PY, "-c", code], env=child_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "yiq 42" in proc.stdout and "escape 7" in proc.stdout, proc.stderr
    assert "Traceback" not in proc.stderr
