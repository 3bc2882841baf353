"""The undo half of a session loads only when a change is put back, and imports nothing new then.

``npatch.runtime.session_undo`` (stop, roll-back, reload, the end of a
``during`` op) is imported the first time a session restores a change, so a
child that never stops its plan does not load it.  That import can happen
anywhere: inside an import (a module that stops the plan as it executes, a
reload, a failed ``also`` target, a ``during`` module that finished), at
interpreter exit, inside a failing ``start()``.  Wherever it happens it must
import nothing but itself: a standard-library module imported there could
execute a module a plan patches, half-way through that plan (the reverted
lazy import that imported ``functools`` -> ``collections``).

Each scenario runs in a fresh interpreter started with ``-S`` (no site:
nothing pre-imported beyond what Python and npatch themselves load, as in a
fresh venv).  A finder first on ``sys.meta_path`` notes every module the
import system looks for, with the module whose code asked; the undo half must
have asked for none (other parts of a scenario may: a warning's display
imports ``linecache``).
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import npatch
from npatch_testutil import clean_env

PRELUDE = """
import sys
from npatch.plan import Op, Plan, Target
from npatch.runtime.session import Session

ASKED = []  # (module looked for, module whose code imports it)


class Probe:
    def find_spec(self, name, path=None, target=None):
        frame = sys._getframe(1)
        while frame.f_code.co_filename.startswith("<frozen importlib"):
            frame = frame.f_back
        ASKED.append((name, frame.f_globals.get("__name__")))
        return None


sys.meta_path.insert(0, Probe())


def op(kind, *targets, **fields):
    return Op(kind=kind, name=kind, targets=tuple(Target.parse(t) for t in targets), **fields)


def undo_half():
    \"""Whether the undo half is loaded, and what its own code imported.\"""
    loaded = "npatch.runtime.session_undo" in sys.modules
    return loaded, sorted(name for name, by in ASKED if by == "npatch.runtime.session_undo")


REPLACE = op("replace", "npt_target:f", source="npt_source:g")
"""

SCENARIOS = {
    "stop": """
        import npt_target
        SESSION = Session(Plan(ops=(REPLACE,))).start()
        assert npt_target.f() == "patched" and "npatch.runtime.session_undo" not in sys.modules
        SESSION.stop()
        print("RESULT", npt_target.f(), *undo_half())
    """,
    "stop inside an import": """
        import npt_target
        SESSION = Session(Plan(ops=(REPLACE,))).start()
        assert "npatch.runtime.session_undo" not in sys.modules
        import npt_stopper  # its body stops SESSION while its own import is under way
        print("RESULT", npt_stopper.SEEN, *undo_half())
    """,
    "stop at exit": """
        import atexit
        import npt_target
        SESSION = Session(Plan(ops=(REPLACE,))).start()
        assert npt_target.f() == "patched"
        atexit.register(lambda: print("RESULT", npt_target.f(), *undo_half()))
        atexit.register(SESSION.stop)  # registered last: runs first
    """,
    "reload": """
        import importlib
        import npt_target
        SESSION = Session(Plan(ops=(REPLACE,))).start()
        importlib.reload(npt_target)  # restored before it executes again, patched again after
        assert npt_target.f() == "patched"
        SESSION.stop()
        print("RESULT", npt_target.f(), *undo_half())
    """,
    "during": """
        SESSION = Session(Plan(ops=(op("value", "npt_target:VALUE", value="during", during="npt_during"),))).start()
        import npt_target
        import npt_during
        assert npt_during.SEEN == "during"
        print("RESULT", npt_target.VALUE, *undo_half())
        SESSION.stop()
    """,
    "roll back inside a failing import": """
        import npt_target
        both = op("replace", "npt_target:f", "npt_broken:f", source="npt_source:g")
        SESSION = Session(Plan(ops=(both,))).start()
        assert npt_target.f() == "patched"
        try:
            import npt_broken
        except ImportError:
            pass
        print("RESULT", npt_target.f(), *undo_half())
        SESSION.stop()
    """,
    "strict start that fails": """
        import npt_target
        from npatch.runtime.errors import PatchError
        try:
            Session(Plan(ops=(REPLACE, op("value", "npt_target:MISSING.deeper", value=1))), strict=True).start()
        except PatchError:
            pass
        print("RESULT", npt_target.f(), *undo_half())
    """,
}

MODULES = {
    "npt_target.py": "VALUE = 'real'\n\ndef f():\n    return 'original'\n",
    "npt_source.py": "def g():\n    return 'patched'\n",
    "npt_stopper.py": "import __main__, npt_target\n__main__.SESSION.stop()\nSEEN = npt_target.f()\n",
    "npt_during.py": "import npt_target\nSEEN = npt_target.VALUE\n",
    "npt_broken.py": "raise ImportError('npt_broken cannot be imported')\n",
}


def run_bare(tmp_path: Path, code: str) -> subprocess.CompletedProcess:
    """``python -S -c code`` with npatch's source folder and tmp_path on the path."""
    for name, text in MODULES.items():
        (tmp_path / name).write_text(text)
    path = os.pathsep.join([str(Path(npatch.__file__).parent.parent), str(tmp_path)])
    return subprocess.run([sys.executable, "-S", "-c", textwrap.dedent(PRELUDE) + textwrap.dedent(code)],
                          cwd=tmp_path, env=clean_env(PYTHONPATH=path), capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_undo_half_loads_alone_when_a_change_is_put_back(tmp_path, scenario):
    proc = run_bare(tmp_path, SCENARIOS[scenario])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    expected = "real" if scenario == "during" else "original"
    assert result == [f"RESULT {expected} True []"], proc.stdout + proc.stderr


def test_a_session_that_is_never_stopped_does_not_load_it(tmp_path):
    proc = run_bare(tmp_path, """
        import npt_target
        session = Session(Plan(ops=(REPLACE,))).start()
        session.statuses()
        session.report_dict()
        print("RESULT", npt_target.f(), *undo_half())
    """)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "RESULT patched False []" in proc.stdout.splitlines()
