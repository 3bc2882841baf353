"""Issue 16 item 2: an op whose condition asks the import system waits, unread,
for its module like any other op; only its condition is evaluated at start.

``importable()`` must answer as of the session's start: later it would see
the plan's own stubs and aliases, or a ``sys.path`` the program changed.  So
the session evaluates each such condition once when it starts, keeps the
verdict, and reads the op itself only at its module's first import (never,
when the verdict is false).  Every scenario runs in a fresh interpreter, as
users run it, under ``npatch apply`` (deferred start) and ``npatch apply -v``
(the start at once), which must agree.
"""
from __future__ import annotations

import json
import sys

import pytest

from npatch.compiler import compile_manifests
from npatch_testutil import clean_env, run_npatch, run_python
from rt_helpers import PLAN_CHILD_PREAMBLE

MODULES = {
    "npt_sc_a.py": "def f():\n    return 'a'\n",
    "npt_sc_b.py": "def f():\n    return 'b'\n",
    "npt_sc_c.py": "def f():\n    return 'c'\n",
    "npt_sc_present.py": "",
    "npt_sc_repl.py": "def g():\n    return 'patched'\n",
    "npt_sc_old/__init__.py": "",
    "npt_sc_old/sub.py": "",
    "later/npt_sc_late.py": "",
}

COUNTS = """\
[manifest]
name = "counts"

[[patch]]
name = "probe-true"
target = "npt_sc_a:f"
replace = "npt_sc_repl:g"
when = "importable('npt_sc_present')"

[[patch]]
name = "probe-false"
target = "npt_sc_b:f"
replace = "npt_sc_repl:g"
when = "importable('npt_sc_absent')"

[[patch]]
name = "plain"
target = "npt_sc_c:f"
replace = "npt_sc_repl:g"
"""

# the child: start the saved plan, then import the three targets one by one,
# telling after each step how many ops were decoded and conditions evaluated
CHILD = PLAN_CHILD_PREAMBLE + """from npatch.runtime.session import Session
session = Session(plan).start()
steps = [(sum(op is not None for op in plan.ops._done), len(evaluated))]
import npt_sc_c
steps.append((sum(op is not None for op in plan.ops._done), len(evaluated)))
import npt_sc_b
steps.append((sum(op is not None for op in plan.ops._done), len(evaluated)))
import npt_sc_a
steps.append((sum(op is not None for op in plan.ops._done), len(evaluated)))
import json
print(json.dumps({'steps': steps, 'calls': [npt_sc_a.f(), npt_sc_b.f(), npt_sc_c.f()],
                  'statuses': {s.name: s.status for s in session.statuses()}}))
"""


@pytest.fixture
def tree(tmp_path):
    for name, text in MODULES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize("form", ["json", "marshal"])
def test_an_importable_condition_is_evaluated_at_start_and_its_op_read_at_its_import(tree, form):
    (tree / "m.toml").write_text(COUNTS)
    proc = run_npatch("compile", "m.toml", "--resolve", "none", "-o", "plan.json", cwd=tree)
    assert proc.returncode == 0, proc.stderr
    plan_file = tree / "plan.json"
    if form == "marshal":
        proc = run_python("import sys\nfrom npatch.plan import Plan\nopen(sys.argv[2], 'wb').write("
                          "Plan.load(sys.argv[1]).to_marshal())", str(plan_file), str(tree / "plan.marshal"))
        assert proc.returncode == 0, proc.stderr
        plan_file = tree / "plan.marshal"
    proc = run_python(CHILD, str(plan_file), cwd=tree, env=clean_env(PYTHONPATH=str(tree)))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # start: no op read, the two importable() conditions evaluated
    # import c: its op read (no condition); import b: its false op is never read;
    # import a: its op read, its condition's verdict taken from the start
    assert out["steps"] == [[0, 2], [1, 2], [1, 2], [2, 2]]
    assert out["calls"] == ["patched", "b", "patched"]
    assert out["statuses"] == {"probe-true": "applied", "probe-false": "skipped", "plain": "applied"}


# what importable() answers later is not what it answered at start: each
# manifest's ops must see the start's answer (name, manifest, program, statuses)
VARIATIONS = {
    # a stub of the same plan makes the name importable once the session has started
    "stubbed-by-the-plan": ("""
[[stub]]
name = "stub"
module = "npt_sc_stubbed"

[[patch]]
name = "if-importable"
target = "npt_sc_a:f"
replace = "npt_sc_repl:g"
when = "importable('npt_sc_stubbed')"

[[patch]]
name = "if-not-importable"
target = "npt_sc_b:f"
replace = "npt_sc_repl:g"
when = "not importable('npt_sc_stubbed')"
""", "import npt_sc_stubbed, npt_sc_a, npt_sc_b",
        {"stub": "applied", "if-importable": "skipped", "if-not-importable": "applied"}),
    # the program puts the module on sys.path after the start (its first import of a
    # module of the plan), before importing the targets
    "installed-mid-run": ("""
[[patch]]
name = "plain"
target = "npt_sc_c:f"
replace = "npt_sc_repl:g"

[[patch]]
name = "if-importable"
target = "npt_sc_a:f"
replace = "npt_sc_repl:g"
when = "importable('npt_sc_late')"

[[patch]]
name = "if-not-importable"
target = "npt_sc_b:f"
replace = "npt_sc_repl:g"
when = "not importable('npt_sc_late')"
""", "import npt_sc_c, sys; sys.path.insert(0, 'later'); import npt_sc_late, npt_sc_a, npt_sc_b",
        {"plain": "applied", "if-importable": "skipped", "if-not-importable": "applied"}),
    # a package under a name the plan's alias creates: not there at start
    "under-an-alias": ("""
[[alias]]
name = "alias"
target = "npt_sc_new"
source = "npt_sc_old"

[[patch]]
name = "if-importable"
target = "npt_sc_a:f"
replace = "npt_sc_repl:g"
when = "importable('npt_sc_new.sub')"

[[patch]]
name = "if-importable-present"
target = "npt_sc_c:f"
replace = "npt_sc_repl:g"
when = "importable('npt_sc_old.sub')"
""", "import npt_sc_new.sub, npt_sc_a, npt_sc_c",
        {"alias": "applied", "if-importable": "skipped", "if-importable-present": "applied"}),
}

PROGRAM = """
{program}
from npatch.runtime.launcher import SESSIONS
import json
print("STATUSES " + json.dumps({{s.name: s.status for _, session in SESSIONS for s in session.statuses()}}))
"""


@pytest.mark.parametrize("key", sorted(VARIATIONS))
def test_a_condition_evaluated_at_start_keeps_the_starts_answer(tree, key):
    body, program, expected = VARIATIONS[key]
    (tree / "m.toml").write_text(f'[manifest]\nname = "{key}"\n{body}')
    env = clean_env(PYTHONPATH=str(tree), XDG_CACHE_HOME=str(tree / "cache"))
    code = PROGRAM.format(program=program)
    seen = []
    for flags in ([], [], ["-v"]):  # compiles; from the cache (deferred start); the start at once
        proc = run_npatch("apply", *flags, "m.toml", "--", sys.executable, "-c", code, cwd=tree, env=env)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("STATUSES ")]
        assert proc.returncode == 0 and lines, proc.stdout + proc.stderr
        seen.append(json.loads(lines[0][len("STATUSES "):]))
    assert seen == [expected] * 3


FAILING = """
import sys, warnings
from npatch.plan import Op, Plan, Target
from npatch.runtime.session import Session
from npatch.runtime.errors import PatchError

bad = ["and", ["call", "importable", [["str", "json"]]],
       ["cmp", ">=", ["call", "version", [["str", "npatch"]]], ["str", "not a version"]]]
plan = Plan(ops=(Op(kind="replace", name="bad", targets=(Target("npt_sc_a", "f"),), source="npt_sc_repl:g",
                    when=bad),))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    session = Session(plan).start()
print("WARNED AT START", [str(w.message) for w in caught])
import npt_sc_a
print("STATUS", [(s.status, s.reason) for s in session.statuses()], npt_sc_a.f())
session.stop()
try:
    Session(plan, strict=True).start()
except PatchError as exc:
    print("STRICT RAISES FROM START", exc)
"""


def test_a_condition_that_raises_at_start_fails_its_ops_at_start_as_before(tree):
    proc = run_python(FAILING, cwd=tree, env=clean_env(PYTHONPATH=str(tree)))
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    why = "'not a version' is not a valid version for >= (PEP 440: not a valid version)"
    # the warning comes from start(), before the target is imported; the op stays failed, the target unpatched
    assert lines["WARNED"].startswith("AT START [\"npatch: replace 'bad' on npt_sc_a:f failed: condition ")
    assert why in lines["WARNED"], proc.stdout
    assert lines["STATUS"].startswith("[('failed', \"condition ") and lines["STATUS"].endswith(" a"), proc.stdout
    assert lines["STRICT"].startswith("RAISES FROM START npatch: replace 'bad'") and why in lines["STRICT"]


# under a built-in manifest: what a child decodes is what its imports need
BUILTIN_CHILD = """
import json, sys
import {program}
from npatch.planfile import tree_key
from npatch.runtime.launcher import SESSIONS
out = []
for _, session in SESSIONS:
    plan = session.plan
    modules, eager, conditions = plan.ops_by_module()
    decoded = [n for n, op in enumerate(plan.ops._done) if op is not None]
    false = {{n for when, numbers in conditions if session._verdicts[tree_key(when)] is False for n in numbers}}
    needed = {{n for name, numbers in modules.items() if name in sys.modules for n in numbers}} | set(eager)
    out.append({{"decoded": decoded, "false": sorted(false & set(decoded)), "unneeded": sorted(set(decoded) - needed),
                "evaluated": len(session._verdicts), "distinct": len(conditions)}})
print("CHILD " + json.dumps(out))
"""


@pytest.mark.parametrize("manifest", ["mmcv-npu", "torch-npu", "cuda-to-cpu", "mmcv-lite"])
@pytest.mark.parametrize("program", ["numpy", "torch"])
def test_a_child_under_a_builtin_manifest_reads_only_the_ops_of_what_it_imports(tmp_path, manifest, program):
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = run_npatch("apply", manifest, "--", sys.executable, "-c", BUILTIN_CHILD.format(program=program), env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("CHILD ")]
    assert proc.returncode == 0 and lines, proc.stdout + proc.stderr
    for session in json.loads(lines[0][len("CHILD "):]):
        assert session["false"] == [] and session["unneeded"] == [], session
        # the start-time conditions, once each, and at most one per condition of what was read
        assert session["distinct"] <= session["evaluated"] <= session["distinct"] + len(session["decoded"])
    if manifest == "mmcv-npu" and program == "numpy":  # numpy-compat's ops and none other
        plan = compile_manifests([manifest]).plan
        numpy_ops = [n for n, op in enumerate(plan.ops) if any(t.module == "numpy" for t in op.targets)]
        assert json.loads(lines[0][len("CHILD "):])[0]["decoded"] == numpy_ops


OWN_MODULE = """
[manifest]
name = "own"

[[patch]]
name = "if-installed"
target = "npt_sc_a:f"
replace = "npt_sc_repl:g"
when = "installed('npt_sc_a')"

[[patch]]
name = "if-not-installed"
target = "npt_sc_b:f"
replace = "npt_sc_repl:g"
when = "not installed('npt_sc_b')"

[[patch]]
name = "if-other-installed"
target = "npt_sc_c:f"
replace = "npt_sc_repl:g"
when = "installed('npt_sc_absent')"
"""


@pytest.mark.parametrize("flags", [[], ["-v"]], ids=["deferred", "at-once"])
def test_a_condition_on_the_module_being_imported_takes_the_import_systems_answer(tree, flags):
    """An op's ``installed()``/``importable()`` of its own module, evaluated as that module
    is first imported, answers what the import system finds there (a module with no
    distribution metadata counts as installed: it is findable); another module's is asked."""
    (tree / "m.toml").write_text(OWN_MODULE)
    env = clean_env(PYTHONPATH=str(tree), XDG_CACHE_HOME=str(tree / "cache"))
    code = "import npt_sc_a, npt_sc_b, npt_sc_c; print('calls', npt_sc_a.f(), npt_sc_b.f(), npt_sc_c.f())"
    proc = run_npatch("apply", *flags, "m.toml", "--", sys.executable, "-c", code, cwd=tree, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "calls patched b c" in proc.stdout, proc.stdout + proc.stderr
