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
