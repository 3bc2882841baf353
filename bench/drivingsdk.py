"""Run a program under the DrivingSDK patcher, the closest existing tool to npatch.

The patcher ships in the ``mx-driving`` wheel (``mx_driving/patcher/``, pure
Python).  The wheel's package ``__init__`` needs an Ascend NPU (``torch_npu``
and the compiled ``mx_driving._C``), so we load the ``patcher`` subpackage on
its own: ``mx_driving`` becomes an empty package whose ``__path__`` points at
the unpacked wheel, and the NPU-only modules the patcher imports are stubbed.
Stubs are inserted here, not imported, so their cost is not charged to the
patcher.  Then the documented entry point runs, as a training script would::

    from mx_driving.patcher import default_patcher
    default_patcher.apply()

Usage: ``python drivingsdk.py WHEEL_DIR PROGRAM.py`` (``WHEEL_DIR`` holds the
unpacked ``mx_driving/``), or ``import drivingsdk; drivingsdk.load(WHEEL_DIR)``
to get the ``mx_driving.patcher`` module (the per-call benchmark does).
"""
from __future__ import annotations

import os
import runpy
import sys
import types

#: modules this file creates; benchmarks leave them out of "modules imported"
STUBS = ("torch_npu", "torch_npu.utils", "torch_npu.utils._error_code", "mx_driving", "mx_driving._C")


class _ErrCode:
    """Stand-in for ``torch_npu.utils._error_code.ErrCode`` (an enum there)."""

    NOT_SUPPORT = "NOT_SUPPORT"
    PARAM = "PARAM"
    VALUE = "VALUE"
    TYPE = "TYPE"
    UNAVAIL = "UNAVAIL"
    INTERNAL = "INTERNAL"


def _stub(name: str, **attrs: object) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


def load(wheel_dir: str) -> types.ModuleType:
    """Stub the NPU-only imports and import ``mx_driving.patcher`` from ``wheel_dir``."""
    npu = _stub("torch_npu", __path__=[])
    npu.utils = _stub("torch_npu.utils", __path__=[])
    npu.utils._error_code = _stub("torch_npu.utils._error_code", ErrCode=_ErrCode,
                                  pta_error=lambda code: f" [ERR {code}]")
    package = _stub("mx_driving", __path__=[os.path.join(wheel_dir, "mx_driving")])
    package._C = _stub("mx_driving._C")
    from mx_driving import patcher

    return patcher


def main() -> None:
    wheel_dir, program = sys.argv[1], sys.argv[2]
    patcher = load(wheel_dir)
    patcher.default_patcher.apply()
    sys.argv = sys.argv[2:]
    sys.path[0] = os.path.dirname(os.path.abspath(program))
    runpy.run_path(program, run_name="__main__")


if __name__ == "__main__":
    main()
