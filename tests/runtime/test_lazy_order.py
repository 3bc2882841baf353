"""Ops prepared at different times still apply in plan (priority) order.

Since issue 16 a session prepares most ops at their module's first import,
but some at start (ops whose condition calls ``importable()``, aliases,
stubs).  Work waiting on one module must still run in plan order: a `wrap`
of priority 10 goes around a `replace` of priority 0 whichever of the two was
prepared first (found by review: the wrap was lost, ``rep`` instead of
``W(rep)``).  Each case runs under ``npatch apply`` in a fresh interpreter.
"""
from __future__ import annotations

import sys

import pytest

from npatch_testutil import clean_env, run_npatch, run_python

HELPERS = '''
def rep():
    return "rep"

def wrapper(original, options):
    return lambda: "W(" + original() + ")"

def wrapper2(original, options):
    return lambda: "V(" + original() + ")"
'''

EAGER = "importable('json')"  # prepared at start
LAZY = "env('NPT_ORDER', 'on') == 'on'"  # prepared at the module's first import


def _patch(name: str, action: str, priority: int, when: str | None) -> str:
    cond = f'when = "{when}"\n' if when else ""
    return (f'[[patch]]\nname = "{name}"\ntarget = "npt_order_tgt:f"\n{action}\n'
            f"priority = {priority}\n{cond}\n")


def _setup(tmp_path, patches: list[str]) -> dict[str, str]:
    """The target module, the helpers and ``m.toml`` in ``tmp_path``; the environment to run them in."""
    (tmp_path / "npt_order_tgt.py").write_text('def f():\n    return "orig"\n')
    (tmp_path / "npt_order_helpers.py").write_text(HELPERS)
    (tmp_path / "m.toml").write_text('[manifest]\nname = "order"\n\n' + "".join(patches))
    return clean_env(PYTHONPATH=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))


def _run(tmp_path, patches: list[str], program: str) -> str:
    env = _setup(tmp_path, patches)
    proc = run_npatch("apply", "m.toml", "--", sys.executable, "-c", program, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


CALL = "import npt_order_tgt; print(npt_order_tgt.f())"


@pytest.mark.parametrize("replace_when, wrap_when", [
    (None, EAGER),     # the review's case: the later op prepared first
    (EAGER, None),
    (EAGER, EAGER),
    (LAZY, EAGER),
    (None, None),
])
def test_a_wrap_goes_around_a_replace_of_lower_priority(tmp_path, replace_when, wrap_when):
    patches = [_patch("a", 'replace = "npt_order_helpers:rep"', 0, replace_when),
               _patch("b", 'wrap = "npt_order_helpers:wrapper"', 10, wrap_when)]
    assert _run(tmp_path, patches, CALL) == "W(rep)"


def test_three_ops_prepared_at_three_times_apply_in_priority_order(tmp_path):
    patches = [_patch("c", 'wrap = "npt_order_helpers:wrapper2"', 20, LAZY),
               _patch("a", 'replace = "npt_order_helpers:rep"', 0, EAGER),
               _patch("b", 'wrap = "npt_order_helpers:wrapper"', 10, None)]
    assert _run(tmp_path, patches, CALL) == "V(W(rep))"


def test_order_survives_a_reload(tmp_path):
    patches = [_patch("a", 'replace = "npt_order_helpers:rep"', 0, None),
               _patch("b", 'wrap = "npt_order_helpers:wrapper"', 10, EAGER)]
    program = ("import importlib, npt_order_tgt; importlib.reload(npt_order_tgt); "
               "import npt_order_tgt; print(npt_order_tgt.f())")
    assert _run(tmp_path, patches, program) == "W(rep)"


def test_a_module_imported_before_the_plan_starts_keeps_the_order(tmp_path):
    """The module is imported by a .pth-like early import: here, by the program
    before a nested in-process apply of the same plan."""
    env = _setup(tmp_path, [_patch("a", 'replace = "npt_order_helpers:rep"', 0, LAZY),
                            _patch("b", 'wrap = "npt_order_helpers:wrapper"', 10, EAGER)])
    program = ("import npt_order_tgt, npatch\n"
               "with npatch.load('m.toml').apply():\n"
               "    print(npt_order_tgt.f())\n"
               "print(npt_order_tgt.f())\n")
    proc = run_python(program, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["W(rep)", "orig"]


def test_an_index_that_leaves_an_op_out_is_refused(tmp_path):
    """A hand-edited index that drops an op: the op would silently never apply
    (found by review); loading the file refuses it and says why."""
    env = _setup(tmp_path, [_patch("a", 'replace = "npt_order_helpers:rep"', 0, LAZY),
                            _patch("b", 'wrap = "npt_order_helpers:wrapper"', 10, LAZY)])
    proc = run_npatch("compile", "m.toml", "-o", "plan.json", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "plan.json").read_text()
    assert '"npt_order_tgt":[0,1]' in text
    for edited, message in [('"npt_order_tgt":[1]', "1 op(s) in no module's list"),
                            ('"npt_order_tgt":[0,1,7]', "out of range")]:
        (tmp_path / "edited.json").write_text(text.replace('"npt_order_tgt":[0,1]', edited))
        code = ("import sys\nfrom npatch.plan import Plan, PlanError\n"
                "try:\n    Plan.load('edited.json')\nexcept PlanError as exc:\n    print(exc)\n")
        loaded = run_python(code, cwd=tmp_path, env=env)
        assert message in loaded.stdout, (loaded.stdout, loaded.stderr)
        applied = run_npatch("apply", "edited.json", "--", sys.executable, "-c", "pass", cwd=tmp_path, env=env)
        assert applied.returncode != 0 and message in applied.stderr and "Traceback" not in applied.stderr
