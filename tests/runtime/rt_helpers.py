"""Helpers for runtime tests (imported by the test modules, not a conftest).

Unit-level tests run in-process on throwaway packages written to tmp_path
(each test gets its own package name, removed from ``sys.modules`` after);
runtime scenarios run in a fresh interpreter (:func:`run_plan`).
"""
from __future__ import annotations

import ast
import importlib
import itertools
import json
import sys
import textwrap
from pathlib import Path

import pytest

from npatch.plan import Op, Plan, Target
from npatch_testutil import clean_env, run_python

_counter = itertools.count()



class Throwaway:
    """A package written under tmp_path with a unique name (``self.name``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = f"npt_pkg{next(_counter)}_{id(self) % 10007}"
        (root / self.name).mkdir()
        (root / self.name / "__init__.py").write_text("")

    def write(self, relpath: str, text: str) -> Path:
        """Write ``relpath`` (relative to the package) with dedented text, importable at once:
        importlib's cache of a folder it listed is kept while the folder's mtime is unchanged,
        and a file added within one tick of the file system's clock leaves it unchanged."""
        path = self.root / self.name / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        importlib.invalidate_caches()
        return path

    def mod(self, sub: str = "") -> str:
        return f"{self.name}.{sub}" if sub else self.name


@pytest.fixture
def pkg(tmp_path: Path):
    """A throwaway package on sys.path; every module of it is forgotten after the test."""
    from npatch.runtime.finder import FINDER
    from npatch.runtime.session import SESSIONS

    throwaway = Throwaway(tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        yield throwaway
    finally:
        leaked = list(SESSIONS)
        for session in reversed(leaked):
            session.stop()
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == throwaway.name or n.startswith(throwaway.name + ".")]:
            del sys.modules[name]
        assert not leaked, f"test left sessions active: {leaked}"
        assert FINDER not in sys.meta_path


def op(kind: str, target: str, **fields) -> Op:
    """An Op from a ``module:qualname`` string; the name defaults to kind:target."""
    targets = tuple(Target.parse(t) for t in ([target] + list(fields.pop("also", ()))))
    fields.setdefault("name", f"{kind}:{target}")
    if "options" in fields and isinstance(fields["options"], dict):
        fields["options"] = tuple(sorted(fields["options"].items()))
    return Op(kind=kind, targets=targets, **fields)


def plan(*ops: Op, **fields) -> Plan:
    return Plan(ops=tuple(ops), **fields)


def run_plan(tmp_path: Path, the_plan: Plan, code: str, *, strict: bool = False, rebind: bool = False,
             python_args: tuple[str, ...] = (), timeout: float = 300):
    """Run ``code`` in a fresh interpreter with ``tmp_path`` on PYTHONPATH and
    ``the_plan`` loaded from JSON into ``SESSION`` (started) beforehand.

    The child prints ``REPORT <json>`` of the session at the end, and the
    parsed report is attached to the result as ``.report``.
    """
    plan_file = tmp_path / f"plan{next(_counter)}.json"
    plan_file.write_text(the_plan.to_json())
    prologue = f"""
import json as _json, sys as _sys
from npatch.plan import Plan as _Plan
from npatch.runtime.session import Session as _Session
SESSION = _Session(_Plan.from_json(open({str(plan_file)!r}).read()), strict={strict}, rebind={rebind}).start()
"""
    epilogue = "\nprint('REPORT', _json.dumps(SESSION.report_dict()))\n"
    script = tmp_path / f"scenario{next(_counter)}.py"
    script.write_text(textwrap.dedent(prologue) + textwrap.dedent(code) + epilogue)
    import subprocess

    proc = subprocess.run([sys.executable, *python_args, str(script)], cwd=tmp_path,
                          env=clean_env(PYTHONPATH=str(tmp_path)), capture_output=True, text=True,
                          timeout=timeout)
    proc.report = None
    for line in proc.stdout.splitlines():
        if line.startswith("REPORT "):
            proc.report = json.loads(line[len("REPORT "):])
    return proc


def statuses(report: dict) -> dict[str, str]:
    return {entry["name"]: entry["status"] for entry in report["ops"]}




#: the start of a child that loads the saved plan ``sys.argv[1]`` (JSON or marshal) and records every
#: condition evaluated in ``evaluated`` (tests of what a start reads and evaluates)
PLAN_CHILD_PREAMBLE = """
import sys
import npatch.conditions as conditions
from npatch.plan import Plan

evaluated = []
real = conditions.evaluate
def spy(when, options=None):
    evaluated.append(repr(when))
    return real(when, options)
conditions.evaluate = spy

plan = Plan.load(sys.argv[1]) if sys.argv[1].endswith('.json') else Plan.from_marshal(open(sys.argv[1], 'rb').read())
"""


__all__ = ["Throwaway", "op", "plan", "run_plan", "statuses", "run_python", "clean_env", "PLAN_CHILD_PREAMBLE"]


def assert_interrupts_land(code: str, runs: int) -> None:
    """Run an interrupt stress script (it prints ``STATS`` and a dict of where
    each of ``runs`` interrupts landed) in a fresh interpreter: it must end
    well, and the interrupts must land somewhere (``none`` is a miss)."""
    proc = run_python(code, env=clean_env(), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "STATS" in proc.stdout
    stats = ast.literal_eval(proc.stdout.split("STATS", 1)[1].strip())
    assert stats["none"] < runs, stats
