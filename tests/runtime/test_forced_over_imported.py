"""A ``replace = true`` alias or a ``force = true`` stub of a package that is
already imported, with submodules already imported too (the pytest plugin
and ``npatch.apply()`` start a plan late): during the session every name
under it is the alias's or the stub's, by any way of importing it
(``from old.sub import X``, ``importlib.import_module``, ``sys.modules``),
and restore puts back the very module objects.

Every scenario runs in a fresh interpreter.
"""
from __future__ import annotations

import subprocess
import sys

from npatch_testutil import clean_env
from tree_helpers import expect_lines, write_files

FILES = {
    "npt_old/__init__.py": "WHO = 'old'\n",
    "npt_old/sub.py": "WHO = 'old.sub'\n",
    "npt_old/only_old.py": "WHO = 'old.only_old'\n",
    "npt_old/deep/__init__.py": "",
    "npt_old/deep/leaf.py": "WHO = 'old.deep.leaf'\n",
    "npt_new/__init__.py": "WHO = 'new'\n",
    "npt_new/sub.py": "WHO = 'new.sub'\nclass C: pass\n",
    "npt_new/deep/__init__.py": "",
    "npt_new/deep/leaf.py": "WHO = 'new.deep.leaf'\n",
    "npt_gone/__init__.py": "WHO = 'gone'\n",
    "npt_gone/inner.py": "WHO = 'gone.inner'\n",
}

MANIFEST = """
[manifest]
name = "m"

[[alias]]
target = "npt_old"
source = "npt_new"
replace = true

[[stub]]
module = "npt_gone"
force = true
"""

BEFORE = """
import importlib, sys
import npatch
import npt_old.sub, npt_old.only_old, npt_old.deep.leaf, npt_gone.inner

def snapshot():
    mods = {k: v for k, v in sys.modules.items() if k.startswith(("npt_old", "npt_gone"))}
    return mods, {k: dict(vars(v)) for k, v in mods.items()}

def same(a, b):
    return a[0].keys() == b[0].keys() and all(a[0][k] is b[0][k] for k in a[0]) and a[1] == b[1]

before = snapshot()
real_sub, real_inner = npt_old.sub, npt_gone.inner
session = npatch.apply("m.toml")
"""


def _run(tmp_path, code: str) -> subprocess.CompletedProcess:
    """``python scenario.py``: the plan starts in the script, after its imports."""
    write_files(tmp_path, {**FILES, "m.toml": MANIFEST, "scenario.py": BEFORE + code})
    env = clean_env(PYTHONPATH=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "scenario.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_names_under_a_forced_alias_are_the_sources_modules(tmp_path):
    proc = _run(tmp_path, """
from npt_old.sub import C
import npt_new.sub, npt_new.deep.leaf
print("FROM", C is npt_new.sub.C)
print("MODULES", sys.modules["npt_old.sub"] is npt_new.sub, importlib.import_module("npt_old.sub") is npt_new.sub,
      importlib.import_module("npt_old.deep.leaf") is npt_new.deep.leaf)
import npt_old.deep.leaf as leaf
print("AS", leaf.WHO)
try:
    import npt_old.only_old
    print("ONLY_OLD", npt_old.only_old)
except ModuleNotFoundError as exc:
    print("ONLY_OLD not found", exc.name)
session.stop()
print("RESTORED", same(before, snapshot()), sys.modules["npt_old.sub"] is real_sub)
from npt_old.sub import WHO
print("AFTER", WHO)
""")
    expect_lines(proc.stdout, "FROM True", "MODULES True True True", "AS new.deep.leaf",
                 "ONLY_OLD not found npt_old.only_old", "RESTORED True True", "AFTER old.sub")


def test_names_under_a_forced_stub_are_stubs(tmp_path):
    proc = _run(tmp_path, """
from npatch.runtime.stubs import StubModule
from npatch.runtime.errors import NpatchStubError
from npt_gone.inner import WHO
try:
    WHO()
    print("WHO", WHO)
except NpatchStubError:
    print("WHO is a stub")
import npt_gone.inner as inner
print("MODULES", type(sys.modules["npt_gone.inner"]).__name__, type(inner).__name__,
      type(importlib.import_module("npt_gone.inner")).__name__)
session.stop()
print("RESTORED", same(before, snapshot()), sys.modules["npt_gone.inner"] is real_inner, npt_gone.inner is real_inner)
""")
    expect_lines(proc.stdout, "WHO is a stub", "MODULES StubModule StubModule StubModule", "RESTORED True True True")

