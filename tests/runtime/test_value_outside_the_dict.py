"""A target whose value an object's class keeps elsewhere than the object's
``__dict__``: a property of a module's class (``torch.backends.cudnn`` is a
``CudnnModule`` whose ``enabled``/``benchmark`` set a C flag), or a class's
own ``__setattr__`` (``torch.backends.cuda.matmul.allow_tf32``).  The op
sets it that way, and restore must set the old value back the same way.
The undo looked only in the ``__dict__``, found nothing, and "restored" by
a ``delattr`` that failed quietly: after ``stop()`` cuDNN stayed off and
TF32 on.

Every scenario runs in a fresh interpreter.
"""
from __future__ import annotations

import subprocess
import sys

from npatch_testutil import clean_env
from tree_helpers import expect_lines, write_files

FILES = {
    "npt_flags.py": """
        import sys, types

        _state = {"fast": True}

        class _Flags(types.ModuleType):
            @property
            def fast(self):
                return _state["fast"]

            @fast.setter
            def fast(self, value):
                _state["fast"] = bool(value)

        sys.modules[__name__].__class__ = _Flags

        class _Knobs:
            def __getattr__(self, name):
                return _state[name]

            def __setattr__(self, name, value):
                _state[name] = value

        _state["slow"] = 1
        knobs = _Knobs()
    """,
    "npt_flags_repl.py": "def getter(self):\n    return 'replaced'\n",
    "m.toml": """
        [manifest]
        name = "m"

        [[patch]]
        name = "fast"
        target = "npt_flags:fast"
        value = false

        [[patch]]
        name = "slow"
        target = "npt_flags:knobs.slow"
        value = 2

        [[patch]]
        name = "tf32"
        target = "torch.backends.cuda:matmul.allow_tf32"
        value = true

        [[patch]]
        name = "cudnn-off"
        target = "torch.backends.cudnn:enabled"
        value = false

        [[patch]]
        name = "cudnn-benchmark"
        target = "torch.backends.cudnn:benchmark"
        value = true
    """,
    "scenario.py": """
        import npatch, npt_flags, torch, torch.backends.cudnn as cudnn
        def flags():
            return (npt_flags.fast, npt_flags._state["fast"], npt_flags.knobs.slow, cudnn.enabled,
                    torch._C._get_cudnn_enabled(), cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32)
        before = flags()
        session = npatch.apply("m.toml", strict=True)
        print("DURING", flags())
        session.stop()
        print("RESTORED", flags() == before, "fast" in vars(npt_flags), "enabled" in vars(cudnn))
    """,
}


def test_a_value_kept_outside_the_dict_is_set_and_restored_the_same_way(tmp_path):
    write_files(tmp_path, FILES)
    proc = subprocess.run([sys.executable, "scenario.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=clean_env(PYTHONPATH=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache")))
    assert proc.returncode == 0, proc.stderr
    expect_lines(proc.stdout, "DURING (False, False, 2, False, False, True, True)", "RESTORED True False False")
