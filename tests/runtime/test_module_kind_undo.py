"""Exact undo of the ``alias``, ``stub`` and ``call`` kinds (and of a
``replace`` that creates its attribute): each records its
undo before it changes anything, so an op that fails half-way, or a
KeyboardInterrupt at any moment of ``start()``/``stop()``, leaves
``sys.modules``, the parent packages' attributes and what a ``call`` changed
exactly as they were (the very module objects), or a remainder that a second
``stop()`` restores.

Every scenario runs in a fresh interpreter.
"""
from __future__ import annotations

import textwrap

from npatch_testutil import clean_env, run_python
from rt_helpers import assert_interrupts_land
from tree_helpers import expect_lines, write_files

FILES = {
    "npt_pkg/__init__.py": "",
    "npt_pkg/old.py": "X = 1\n",
    "npt_pkg/gone.py": "Y = 2\n",
    "npt_new.py": "Z = 3\n",
    "npt_calls.py": """
        def half_way(module, options):
            module.FIRST = "changed"
            raise RuntimeError("half-way")

        def sets(module, options):
            module.SET = "changed"

            def undo():
                del module.SET
            return undo
    """,
    # a package whose attribute ``locked`` cannot be set again once it is there
    "npt_ro/__init__.py": """
        import sys, types

        class _ReadOnly(types.ModuleType):
            def __setattr__(self, name, value):
                if name == "locked" and "locked" in self.__dict__:
                    raise AttributeError("npt_ro.locked is read-only")
                super().__setattr__(name, value)

        sys.modules[__name__].__class__ = _ReadOnly
    """,
    "npt_ro/locked.py": "W = 4\n",
}

MANIFEST = """
[manifest]
name = "m"

[[alias]]
target = "npt_pkg.old"
source = "npt_new"
replace = true

[[stub]]
module = "npt_pkg.gone"
force = true

[[stub]]
module = "npt_fresh"

[[alias]]
target = "npt_pkg.fresh_alias"
source = "npt_new"

[[patch]]
name = "sets"
target = "npt_pkg"
call = "npt_calls:sets"
"""

SNAPSHOT = """
import sys

def snapshot():
    # the scenario's modules (npatch imports modules of its own while it starts)
    import npt_pkg
    return {k: v for k, v in sys.modules.items() if k.startswith("npt_")}, dict(vars(npt_pkg))

def same(a, b):
    return a.keys() == b.keys() and all(a[k] is b[k] for k in a)
"""


def _run(tmp_path, code: str, manifest: str = MANIFEST):
    write_files(tmp_path, {**FILES, "m.toml": manifest, "scenario.py": SNAPSHOT + textwrap.dedent(code)})
    env = clean_env(PYTHONPATH=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = run_python(f"exec(open({str(tmp_path / 'scenario.py')!r}).read())", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_alias_stub_and_call_restore_the_very_objects(tmp_path):
    proc = _run(tmp_path, """
        import npatch, npt_pkg.old, npt_pkg.gone, npt_new, npt_calls
        modules, attrs = snapshot()
        old, gone = npt_pkg.old, npt_pkg.gone
        with npatch.apply("m.toml"):
            import npt_fresh, npt_pkg.fresh_alias
            print("INSIDE", sys.modules["npt_pkg.old"] is npt_new, npt_pkg.old is npt_new,
                  type(sys.modules["npt_pkg.gone"]).__name__, type(npt_pkg.gone).__name__,
                  type(npt_fresh).__name__, npt_pkg.fresh_alias is npt_new, npt_pkg.SET)
        after_modules, after_attrs = snapshot()
        print("MODULES", same(modules, after_modules), sys.modules["npt_pkg.old"] is old,
              sys.modules["npt_pkg.gone"] is gone, "npt_fresh" in sys.modules, "npt_pkg.fresh_alias" in sys.modules)
        print("ATTRS", same(attrs, after_attrs), npt_pkg.old is old, npt_pkg.gone is gone, hasattr(npt_pkg, "SET"))
    """)
    expect_lines(proc.stdout, "INSIDE True True StubModule StubModule StubModule True changed",
                 "MODULES True True True False False", "ATTRS True True True False")


def test_an_alias_or_stub_whose_parent_refuses_the_attribute_changes_nothing(tmp_path):
    # installing sets sys.modules first, then the parent's attribute, which raises
    for table in ("[[alias]]\ntarget = 'npt_ro.locked'\nsource = 'npt_new'\nreplace = true",
                  "[[stub]]\nmodule = 'npt_ro.locked'\nforce = true"):
        proc = _run(tmp_path, """
            import npatch, warnings, npt_ro.locked, npt_new
            from npatch.runtime.errors import PatchError
            locked = npt_ro.locked
            before = snapshot()[0]
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                session = npatch.apply("m.toml")
            print("FAILED", [s.status for s in session.statuses()], "read-only" in str(caught[0].message))
            print("UNCHANGED", same(before, snapshot()[0]), sys.modules["npt_ro.locked"] is locked)
            session.stop()
            print("AFTER", same(before, snapshot()[0]), npt_ro.locked is locked)
            try:
                npatch.apply("m.toml", strict=True)
            except PatchError:
                print("STRICT", same(before, snapshot()[0]), npt_ro.locked is locked)
        """, manifest=f'[manifest]\nname = "m"\n\n{table}\n')
        expect_lines(proc.stdout, "FAILED ['failed'] True", "UNCHANGED True True", "AFTER True True",
                     "STRICT True True")


def test_a_call_that_raises_half_way_is_reported_and_the_rest_restored(tmp_path):
    # what the function changed before it raised is its own to undo (it returned
    # no undo): npatch records nothing for it, and the ops around it restore
    manifest = MANIFEST + """
[[patch]]
name = "half-way"
target = "npt_pkg"
call = "npt_calls:half_way"
"""
    proc = _run(tmp_path, """
        import npatch, warnings, npt_pkg.old, npt_new, npt_calls
        modules, attrs = snapshot()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with npatch.apply("m.toml") as session:
                status = {s.name: s.status for s in session.statuses()}
        print("STATUS", status["half-way"], status["sets"], "RuntimeError: half-way" in str(caught[0].message))
        after_modules, after_attrs = snapshot()
        print("MODULES", same(modules, after_modules))
        print("ATTRS", sorted(set(after_attrs) - set(attrs)), npt_pkg.FIRST)
    """, manifest=manifest)
    expect_lines(proc.stdout, "STATUS failed applied True", "MODULES True", "ATTRS ['FIRST'] changed")


INTERRUPT = r'''
import random, signal, sys, time, types
from npatch.plan import Op, Plan, Target
from npatch.runtime.session import Session, SESSIONS, _APPLIED
from npatch.runtime.finder import FINDER

N = 2000
package = types.ModuleType("npt_many")
package.__path__ = []
sys.modules["npt_many"] = package
for i in range(N):
    module = types.ModuleType("npt_many.m%d" % i)
    sys.modules[module.__name__] = module
    setattr(package, "m%d" % i, module)
source = types.ModuleType("npt_source")
sys.modules["npt_source"] = source

def call(module, options):
    name = options["name"]
    old = module.__dict__[name]
    module.__dict__[name] = -1  # one store, then nothing but the return

    def undo():
        module.__dict__[name] = old
    return undo

source.call = call
KIND = {kind!r}
if KIND == "call":
    ops = tuple(Op(kind="call", name="op%d" % i, targets=(Target("npt_many"),), source="npt_source:call",
                   options=(("name", "m%d" % i),)) for i in range(N))
elif KIND == "served":  # names imported only while the session is active: the finder serves them
    ops = tuple(Op(kind="alias" if i % 2 else "stub", name="op%d" % i, targets=(Target("npt_many.lazy%d" % i),),
                   source="npt_source") for i in range(N))
elif KIND == "create":  # replace with on-missing = create: the attribute is new
    ops = tuple(Op(kind="replace", name="op%d" % i, targets=(Target("npt_many", "new%d" % i),),
                   source="npt_source:call", on_missing="create") for i in range(N))
else:
    ops = tuple(Op(kind=KIND, name="op%d" % i, targets=(Target("npt_many.m%d" % i),), source="npt_source",
                   force=True) for i in range(N))
plan = Plan(ops=ops)

def same(a, b):
    return a.keys() == b.keys() and all(a[k] is b[k] for k in a)

def imports():
    if KIND == "served":
        import importlib
        for i in range(N):
            importlib.import_module("npt_many.lazy%d" % i)

ours, attrs = {{k: v for k, v in sys.modules.items() if k.startswith("npt_")}}, dict(vars(package))
session = Session(plan).start()
imports()
session.stop()
assert same(ours, {{k: v for k, v in sys.modules.items() if k.startswith("npt_")}}) and same(attrs, vars(package))
modules = dict(sys.modules)  # with what npatch imported to start (nothing more from here on)

def intact():
    return same(modules, dict(sys.modules)) and same(attrs, vars(package))

def timed():  # what the timer below covers: start(), imports() and stop()
    session = Session(plan)
    began = time.perf_counter()
    session.start()
    imports()
    session.stop()
    return time.perf_counter() - began
span = min(timed() for _ in range(3))  # the quickest warm run: one stalled run would push every delay past the end
signal.signal(signal.SIGALRM, signal.default_int_handler)  # SIGINT's own handler
rng = random.Random({seed})
stats = {{"start": 0, "import": 0, "stop": 0, "none": 0}}
for run in range({runs}):
    session = Session(plan)
    stage = "start"
    try:  # the timer is set inside: a tiny delay may fire before the next line
        signal.setitimer(signal.ITIMER_REAL, rng.uniform(0, span))
        session.start()
        stage = "import"
        imports()
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


def _interrupt(kind: str, seed: int, runs: int = 80) -> None:
    assert_interrupts_land(INTERRUPT.format(kind=kind, seed=seed, runs=runs), runs)


def test_sigint_during_alias_ops_start_and_stop():
    _interrupt("alias", seed=4)


def test_sigint_during_stub_ops_start_and_stop():
    _interrupt("stub", seed=5)


def test_sigint_during_call_ops_start_and_stop():
    _interrupt("call", seed=6)


def test_sigint_while_alias_and_stub_modules_are_served_at_import():
    _interrupt("served", seed=8)


def test_sigint_during_replace_ops_that_create_start_and_stop():
    _interrupt("create", seed=7)
