"""Issue 16 item 2: what npatch imports in a child whose program starts a plan.

A child under ``mmcv-npu`` that imports numpy starts the plan (numpy-compat's
``call`` ops apply): the npatch modules it imports are exactly the runtime's
start path (``npatch.pep440`` only where mx_driving is installed: mmcv-npu's
conditions ask ``importable('mx_driving')`` before any version), without
``npatch.distributions`` (numpy-compat's ``installed('numpy')`` takes the
import system's answer as numpy is found: no listing of ``sys.path``), the
modules only some op kinds need (stubs: the ``stub`` kind; coverage:
``replace``/``wrap`` under ``--coverage``), and NumPy's own ``numpy.char``/
``numpy.rec`` are not imported for the names taken from them.
Each of those still loads where it is needed (the stub and coverage tests in
tests/runtime and tests/cli run those scenarios).
"""
from __future__ import annotations

import importlib.util
import json
import sys

from npatch_testutil import clean_env, run_npatch

#: the npatch modules a child imports to start a plan and apply numpy-compat's ops
START_PATH = {"npatch", "npatch.conditions", "npatch.errors", "npatch.extensions",
              "npatch.library", "npatch.library.numpy_compat", "npatch.plan",
              "npatch.planfile", "npatch.runtime", "npatch.runtime.errors", "npatch.runtime.finder",
              "npatch.runtime.kinds_attr", "npatch.runtime.kinds_module", "npatch.runtime.launcher",
              "npatch.runtime.ops", "npatch.runtime.resolve", "npatch.runtime.session"}

CHILD = """
import json, sys
before = set(sys.modules)
import numpy as np
print(json.dumps([sorted(n for n in sys.modules if n.split(".")[0] == "npatch"),
                  sorted(n for n in set(sys.modules) - before if n in ("numpy.char", "numpy.rec", "numpy.strings")),
                  np.float is float]))
"""


def test_a_numpy_child_under_mmcv_npu_imports_only_the_start_path(tmp_path):
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = run_npatch("apply", "mmcv-npu", "--", sys.executable, "-c", CHILD, env=env)
    assert proc.returncode == 0, proc.stderr
    npatch_modules, numpy_extra, restored = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = START_PATH | ({"npatch.pep440", "npatch.distributions"} if importlib.util.find_spec("mx_driving") else set())
    assert set(npatch_modules) == expected, sorted(set(npatch_modules) ^ expected)
    assert "npatch.runtime.launcher_parent" not in npatch_modules  # the launcher's parent side
    assert numpy_extra == [] and restored


REPLACING = """
[manifest]
name = "replacing"

[[patch]]
name = "swap"
target = "npt_weight_tgt:f"
replace = "npt_weight_repl:g"

[[patch]]
name = "around"
target = "npt_weight_tgt:h"
wrap = "npt_weight_repl:around"

[[patch]]
name = "made"
target = "npt_weight_tgt:new"
replace = "npt_weight_repl:g"
on-missing = "create"
"""

REPLACING_CHILD = """
import json, sys
import npt_weight_tgt as t
print(json.dumps([t.f(), t.h(), t.new(), "npatch.runtime.coverage" in sys.modules]))
"""


def _replacing(tmp_path):
    (tmp_path / "npt_weight_tgt.py").write_text("def f():\n    return 'f'\n\ndef h():\n    return 'h'\n")
    (tmp_path / "npt_weight_repl.py").write_text(
        "def g():\n    return 'g'\n\ndef around(original, options):\n"
        "    def wrapper():\n        return 'w' + original()\n    return wrapper\n")
    (tmp_path / "m.toml").write_text(REPLACING)
    return clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=str(tmp_path))


def test_a_child_that_replaces_and_wraps_does_not_import_coverage_without_the_flag(tmp_path):
    env = _replacing(tmp_path)
    proc = run_npatch("apply", "m.toml", "--", sys.executable, "-c", REPLACING_CHILD, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == ["g", "wh", "g", False]


def test_under_coverage_the_same_child_counts_each_call(tmp_path):
    env = _replacing(tmp_path)
    proc = run_npatch("apply", "--coverage", "cov.json", "m.toml", "--", sys.executable, "-c", REPLACING_CHILD,
                      cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == ["g", "wh", "g", True]
    report = json.loads((tmp_path / "cov.json").read_text())
    calls = {op["name"]: (op["status"], op["calls"]) for op in report["ops"]}
    assert calls == {"swap": ("applied", 1), "around": ("applied", 1), "made": ("applied", 1)}, calls
