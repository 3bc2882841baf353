"""Issue 16 items 2 and 3: a saved plan is read an op at a time, and an op's
condition is evaluated when its module is first imported, not at start.

Each scenario runs in a fresh interpreter: the plan is saved by
``npatch compile -o`` (the indexed JSON) or by the launcher's cache (the
marshal copy), loaded, started, and the child reports which ops were decoded
and which conditions were evaluated.
"""
from __future__ import annotations

import json
import sys

import pytest

from npatch_testutil import clean_env, run_npatch, run_python
from rt_helpers import PLAN_CHILD_PREAMBLE

MANIFEST = """\
[manifest]
name = "lazy"

[[patch]]
name = "on-x"
target = "npt_lazy_x:f"
replace = "npt_lazy_repl:g"
when = "env('NPATCH_TEST_X', 'yes') == 'yes'"

[[patch]]
name = "on-y"
target = "npt_lazy_y:f"
replace = "npt_lazy_repl:g"
when = "env('NPATCH_TEST_Y', 'yes') == 'yes'"

[[patch]]
name = "off-y"
target = "npt_lazy_y:h"
replace = "npt_lazy_repl:g"
when = "installed('npatch-no-such-distribution')"
"""

CHILD = PLAN_CHILD_PREAMBLE + """loaded = 'json' in sys.modules
from npatch.runtime.session import Session
session = Session(plan).start()
steps = {'start': (sum(op is not None for op in plan.ops._done), len(evaluated))}
import npt_lazy_y
steps['import y'] = (sum(op is not None for op in plan.ops._done), len(evaluated))
import json
print(json.dumps({'json_imported_by_load': loaded, 'steps': steps,
                  'y_patched': npt_lazy_y.f() == 'patched', 'y_h_kept': npt_lazy_y.h() == 'h',
                  'x_condition_seen': any('NPATCH_TEST_X' in w for w in evaluated),
                  'statuses': {s.name: s.status for s in session.statuses()}}))
"""


@pytest.fixture
def saved(tmp_path):
    (tmp_path / "m.toml").write_text(MANIFEST)
    (tmp_path / "npt_lazy_x.py").write_text("def f():\n    return 'x'\n")
    (tmp_path / "npt_lazy_y.py").write_text("def f():\n    return 'y'\n\ndef h():\n    return 'h'\n")
    (tmp_path / "npt_lazy_repl.py").write_text("def g():\n    return 'patched'\n")
    proc = run_npatch("compile", "m.toml", "--resolve", "none", "-o", "plan.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return tmp_path


def _child(tmp_path, plan_file: str) -> dict:
    proc = run_python(CHILD, plan_file, cwd=tmp_path, env=clean_env(PYTHONPATH=str(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _check(out: dict) -> None:
    # nothing decoded and no condition evaluated before a module of the plan is imported
    assert out["steps"]["start"] == [0, 0]
    # importing npt_lazy_y reads its two ops and evaluates their two conditions; npt_lazy_x's stays unread
    assert out["steps"]["import y"] == [2, 2]
    assert out["y_patched"] and out["y_h_kept"]
    assert not out["x_condition_seen"]
    # a report still tells every op's fate (the condition of a never-imported op is evaluated for it)
    assert out["statuses"] == {"on-x": "waiting", "on-y": "applied", "off-y": "skipped"}


def test_a_saved_json_plan_decodes_and_evaluates_an_op_only_when_its_module_is_imported(saved):
    out = _child(saved, str(saved / "plan.json"))
    assert out["json_imported_by_load"] is False  # the index is read by json's C scanner alone
    _check(out)


def test_the_marshal_copy_children_read_is_just_as_lazy(saved):
    proc = run_python("import sys\nfrom npatch.plan import Plan\nopen(sys.argv[2], 'wb').write("
                      "Plan.load(sys.argv[1]).to_marshal())", str(saved / "plan.json"), str(saved / "plan.marshal"))
    assert proc.returncode == 0, proc.stderr
    _check(_child(saved, str(saved / "plan.marshal")))


def test_under_npatch_apply_a_child_that_never_imports_x_never_evaluates_its_condition(saved):
    # the launcher's path: deferred start, cached marshal copy, conditions at the first import
    code = ("import npatch.conditions as c\nseen = []\nreal = c.evaluate\n"
            "c.evaluate = lambda w, o=None: (seen.append(repr(w)), real(w, o))[1]\n"
            "import npt_lazy_y\nprint('Y', npt_lazy_y.f(), any('NPATCH_TEST_X' in w for w in seen), len(seen))")
    env = clean_env(PYTHONPATH=str(saved), XDG_CACHE_HOME=str(saved / "cache"))
    proc = run_npatch("apply", "m.toml", "--", sys.executable, "-c", code, cwd=saved, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Y patched False 2" in proc.stdout


def test_an_edited_plan_file_is_read_in_full_and_still_right(saved):
    path = saved / "plan.json"
    text = path.read_text()
    assert text.lstrip().startswith('{\n  "index": {')
    path.write_text(text.replace('"npt_lazy_repl:g"', '"npt_lazy_repl:g"   ', 1))  # offsets no longer match
    code = ("import sys\nfrom npatch.plan import Plan\np = Plan.load(sys.argv[1])\n"
            "print(type(p.ops).__name__, [op.name for op in p.ops], sorted(p.ops_by_module()[0]))")
    proc = run_python(code, str(path))
    assert proc.returncode == 0, proc.stderr
    assert "['on-x', 'on-y', 'off-y'] ['npt_lazy_x', 'npt_lazy_y']" in proc.stdout


def test_ops_whose_condition_asks_the_import_system_wait_and_their_condition_is_listed_for_start(tmp_path):
    from npatch.plan import Op, Plan, Target

    probe = ["call", "importable", [["str", "m9"]]]
    ops = (Op(kind="replace", name="a", targets=(Target("m1", "f"),), source="s:g", when=probe),
           Op(kind="replace", name="b", targets=(Target("m2", "f"),), source="s:g",
              when=["call", "version", [["str", "torch"]]]),
           Op(kind="stub", name="c", targets=(Target("m3"),)),
           Op(kind="replace", name="d", targets=(Target("m2", "h"),), source="s:g", when=probe))
    loaded = Plan.load(str(_saved(tmp_path, Plan(ops=ops))))
    expected = ({"m1": [0], "m2": [1, 3]}, [2], [[probe, [0, 3]]])
    assert loaded.ops_by_module() == expected == Plan(ops=ops).ops_by_module()
    assert Plan.from_marshal(loaded.to_marshal()).ops_by_module() == expected


def _saved(tmp_path, plan):
    path = tmp_path / "p.json"
    path.write_text(plan.to_json(indent=2))
    return path
