"""stop() against another thread's import, and KeyboardInterrupt at any moment.

* A thread inside an import that is applying an op while another thread
  calls ``stop()``: once both finish, nothing of the plan is left.
* SIGINT (KeyboardInterrupt) at a random moment of ``start()``/``stop()`` of
  a 3,000-op plan: after it propagates, an interrupted ``start()`` has left
  nothing applied, and a second ``stop()`` finishes any restore it cut short.

Each scenario runs in a fresh interpreter.
"""
from __future__ import annotations

import textwrap

from npatch_testutil import clean_env, run_python
from rt_helpers import assert_interrupts_land

RACE = r'''
import importlib, sys, threading, time
sys.path.insert(0, {root!r})
from npatch.plan import Op, Plan, Target
from npatch.runtime.session import Session, _APPLIED
from npatch.runtime.finder import FINDER

left = 0
for i in range({runs}):
    name = "npt_race%d" % i
    open({root!r} + "/" + name + ".py", "w").write("def f():\n    return 'original'\n")
    importlib.invalidate_caches()  # a file added within one mtime tick of the last is not in importlib's cache
    gate, entered = threading.Event(), threading.Event()
    import npt_race_src
    npt_race_src.GATE, npt_race_src.ENTERED = gate, entered
    ops = ({kind_ops})
    session = Session(Plan(ops=ops)).start()
    result = {{}}
    def importer():
        import importlib
        result["module"] = importlib.import_module(name)
    worker = threading.Thread(target=importer)
    worker.start()
    entered.wait(10)  # the worker is inside the op's apply (loading its source)
    stopper = threading.Thread(target=session.stop)
    stopper.start()
    while session._phase == "active" and stopper.is_alive():  # until stop() has begun: the apply is still held
        time.sleep(0.001)
    gate.set()
    worker.join(10)
    stopper.join(10)
    module = result["module"]
    if module.f() != "original" or getattr(module, "EXTRA", None) is not None:
        left += 1
assert not _APPLIED and FINDER not in sys.meta_path
print("LEFT", left)
'''

SOURCE = '''
import threading
GATE = ENTERED = None


def make(original, options):
    ENTERED.set()
    GATE.wait(10)  # held inside the apply until the other thread has called stop()

    def f():
        return "patched"
    return f
'''


def _race(tmp_path, kind_ops: str, runs: int = 6):
    (tmp_path / "npt_race_src.py").write_text(textwrap.dedent(SOURCE))
    code = RACE.format(root=str(tmp_path), runs=runs, kind_ops=kind_ops)
    return run_python(code, cwd=tmp_path, env=clean_env(), timeout=300)


def test_stop_during_another_threads_apply_leaves_nothing(tmp_path):
    proc = _race(tmp_path, 'Op(kind="wrap", name="w", targets=(Target(name, "f"),), source="npt_race_src:make"),')
    assert proc.returncode == 0, proc.stderr
    assert "LEFT 0" in proc.stdout, proc.stdout


def test_stop_during_apply_with_a_second_op_after_it(tmp_path):
    # the op held in its apply is followed by another on the same module: neither may stay
    proc = _race(tmp_path, 'Op(kind="wrap", name="w", targets=(Target(name, "f"),), source="npt_race_src:make"), '
                           'Op(kind="value", name="v", targets=(Target(name, "EXTRA"),), value=1),')
    assert proc.returncode == 0, proc.stderr
    assert "LEFT 0" in proc.stdout, proc.stdout


def test_stop_during_apply_of_two_ops_on_one_attribute(tmp_path):
    # priorities stack two changes on f; the held one is the second
    proc = _race(tmp_path, 'Op(kind="value", name="v", targets=(Target(name, "f"),), value=1), '
                           'Op(kind="wrap", name="w", targets=(Target(name, "f"),), source="npt_race_src:make", priority=1),')
    assert proc.returncode == 0, proc.stderr
    assert "LEFT 0" in proc.stdout, proc.stdout


INTERRUPT = r'''
import random, signal, sys, time, types
from npatch.plan import Op, Plan, Target
from npatch.runtime.session import Session, SESSIONS, _APPLIED
from npatch.runtime.finder import FINDER

N = 3000
module = types.ModuleType("npt_many")
for i in range(N):
    setattr(module, "a%d" % i, i)
sys.modules["npt_many"] = module
ops = tuple(Op(kind={kind!r}, name="op%d" % i, targets=(Target("npt_many", "a%d" % i),), value=-1,
               source="operator:neg") for i in range(N))
plan = Plan(ops=ops)
original = dict(vars(module))

def intact():
    return dict(vars(module)) == original

def timed():  # what the timer below covers: start() and stop()
    session = Session(plan)
    began = time.perf_counter()
    session.start().stop()
    return time.perf_counter() - began
span = min(timed() for _ in range(3))  # the quickest run: one stalled run would push every delay past the end
signal.signal(signal.SIGALRM, signal.default_int_handler)  # SIGINT's own handler
rng = random.Random({seed})
stats = {{"start": 0, "stop": 0, "none": 0}}
for run in range({runs}):
    session = Session(plan)
    stage = "start"
    try:  # the timer is set inside: a tiny delay may fire before the next line
        signal.setitimer(signal.ITIMER_REAL, rng.uniform(0, span))
        session.start()
        stage = "stop"
        session.stop()
        stage = "none"
        signal.setitimer(signal.ITIMER_REAL, 0)
    except KeyboardInterrupt:
        signal.setitimer(signal.ITIMER_REAL, 0)
        if stage == "start":
            assert intact(), "interrupted start() left changes"
        session.stop()
    stats[stage] += 1
    assert intact(), "a second stop() did not finish the restore (%s)" % stage
    assert not SESSIONS and not _APPLIED and FINDER not in sys.meta_path
print("STATS", stats)
'''


def _interrupt(kind: str, seed: int, runs: int = 40) -> None:
    assert_interrupts_land(INTERRUPT.format(kind=kind, seed=seed, runs=runs), runs)


def test_sigint_during_value_ops_start_and_stop():
    _interrupt("value", seed=1)


def test_sigint_during_replace_ops_start_and_stop():
    _interrupt("replace", seed=2)


def test_sigint_during_delete_ops_start_and_stop():
    _interrupt("delete", seed=3)
