"""The plan's records: what ``@dataclass(frozen=True)`` promised, without dataclasses.

The records are hand-rolled (see ``npatch.plan.Record``) so that a child
process loading a plan does not import ``dataclasses``/``inspect``/``typing``;
these tests pin the behaviour the rest of npatch relies on, and that loading
a plan really stays free of those imports.
"""
from __future__ import annotations

import copy
import json
import marshal
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import npatch
from npatch.plan import ManifestInfo, Op, Origin, Plan, PlanError, Target
from npatch_testutil import clean_env


def make_op(**changes):
    fields = dict(kind="replace", name="p", targets=(Target("pkg.mod", "f"), Target("pkg", "f")),
                  source="json:loads", when=("call", "installed", (("str", "torch"),)), when_text="installed('torch')",
                  options=(("size", (1, 2)),), origin=Origin("m.toml", 3, 1, "patch[0]"))
    return Op(**{**fields, **changes})


def test_positional_keyword_and_default_construction():
    assert Target("a.b") == Target(module="a.b") == Target("a.b", "")
    assert Origin("m.toml", 1, 2, "k") == Origin(file="m.toml", line=1, col=2, key="k")
    op = make_op()
    assert (op.priority, op.on_missing, op.force, op.value) == (0, "warn", False, None)
    with pytest.raises(TypeError, match="missing required argument.*name"):
        Op(kind="replace", targets=())
    with pytest.raises(TypeError, match="unexpected keyword argument 'tagret'"):
        Op(kind="replace", name="p", targets=(), tagret=1)
    with pytest.raises(TypeError, match="multiple values for argument 'module'"):
        Target("a", module="b")
    with pytest.raises(TypeError, match="takes 2 positional arguments, got 3"):
        Target("a", "b", "c")


def test_frozen_equal_hashable_and_replace():
    op = make_op()
    with pytest.raises(AttributeError, match="frozen"):
        op.name = "q"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="frozen"):
        del op.name  # type: ignore[misc]
    assert op == make_op() and hash(op) == hash(make_op())
    assert op != make_op(priority=1) and op != object()
    moved = op.replace(priority=5, when=None)
    assert (moved.priority, moved.when, moved.name) == (5, None, "p") and op.priority == 0
    assert Target("a", "b") != Origin("a", 1, 1, "b")  # different record types never compare equal
    assert repr(Target("a", "b")) == "Target(module='a', qualname='b')"
    assert pickle.loads(pickle.dumps(op)) == op and copy.deepcopy(op) == op


def test_a_subclass_keeps_its_bases_fields():
    class Located(Target):
        line: int = 0

    assert Located._fields == ("module", "qualname", "line")
    located = Located("pkg", line=3)
    assert (located.module, located.qualname, located.line) == ("pkg", "", 3)
    assert located != Target("pkg")


def test_json_round_trip_keeps_types_and_leaves_defaults_out():
    plan = Plan(manifests=(ManifestInfo("m", "m.toml"),), options=(("device", "cpu"),), ops=(make_op(),))
    data = plan.to_dict()
    assert data["ops"][0].keys() == {"kind", "name", "targets", "source", "when", "when_text", "options", "origin"}
    loaded = Plan.from_json(plan.to_json())
    assert loaded == plan and loaded.content_hash == plan.content_hash
    assert loaded.ops[0].when == ("call", "installed", (("str", "torch"),))  # lists frozen back to tuples
    assert isinstance(loaded.ops[0].targets[1], Target) and loaded.ops[0].origin.line == 3
    valued = Plan(ops=(make_op(kind="value", source=None, value=[1, {"a": [2]}]),))
    assert Plan.from_json(valued.to_json()).ops[0].value == [1, {"a": [2]}]  # user data stays as JSON gave it


def test_marshal_round_trip_and_damaged_copies():
    plan = Plan(manifests=(ManifestInfo("m", "m.toml"),), ops=(make_op(), make_op(name="v", kind="value", value=[1])))
    assert Plan.from_marshal(plan.to_marshal()) == plan
    for damaged, message in [(b"", "damaged"), (plan.to_marshal()[:-3], "damaged"),
                             (marshal.dumps(("other", {})), "expected 'npatch-plan-1'"),
                             (marshal.dumps(42), "damaged")]:
        with pytest.raises(PlanError, match=message):
            Plan.from_marshal(damaged)


FROZEN_CHILD = r'''
import json, sys
from npatch.plan import Plan
from_marshal = Plan.from_marshal(open(sys.argv[1], "rb").read())
from_json = Plan.load(sys.argv[2])
ops = list(from_marshal.ops)
print(json.dumps([ops == list(from_json.ops), [type(op.when).__name__ for op in ops],
                  [type(op.options).__name__ for op in ops], repr(ops[1].options), repr(ops[1].value)]))
'''


def test_a_marshalled_op_holds_its_condition_and_options_frozen_as_written(tmp_path):
    """The marshal form stores an op's condition and options already frozen: a child reads them
    as they are, and gets the same records as from the JSON plan; ``value`` stays user data."""
    plan = Plan(ops=(make_op(), make_op(name="v", kind="value", value=[1, {"a": [2]}], when=None,
                                        options=(("table", {"k": (1, 2)}), ("flag", True)))))
    (tmp_path / "plan.marshal").write_bytes(plan.to_marshal())
    (tmp_path / "plan.json").write_text(plan.to_json())
    written = [op for run in marshal.loads(plan.to_marshal())[3] for op in marshal.loads(run)]
    assert written[0]["when"] == ("call", "installed", (("str", "torch"),)) and written[1]["value"] == [1, {"a": [2]}]
    proc = subprocess.run([sys.executable, "-c", FROZEN_CHILD, str(tmp_path / "plan.marshal"), str(tmp_path / "plan.json")],
                          capture_output=True, text=True, env=clean_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    same, whens, options, table, value = json.loads(proc.stdout.strip().splitlines()[-1])
    assert same and whens == ["tuple", "NoneType"] and options == ["tuple", "tuple"]
    assert table == "(('table', {'k': (1, 2)}), ('flag', True))" and value == "[1, {'a': [2]}]"


def test_a_plan_that_is_not_an_object_is_a_plan_error():
    with pytest.raises(PlanError, match="a JSON object was expected, not list"):
        Plan.from_json("[1]")


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["ops"][0].pop("name"), "Op lacks name"),
    (lambda d: d["ops"][0].update(tagret="x"), "Op has no field tagret"),
    (lambda d: d["ops"][0]["targets"][0].pop("module"), "Target lacks module"),
    (lambda d: d.update(schema=99), "plan schema 99 is not supported"),
    (lambda d: d.update(ops=[1]), "malformed plan"),
])
def test_damaged_plans_are_plan_errors(mutate, message):
    data = json.loads(Plan(ops=(make_op(),)).to_json())
    mutate(data)
    with pytest.raises(PlanError, match=message):
        Plan.from_dict(data)


def test_loading_a_plan_imports_neither_dataclasses_nor_typing(tmp_path):
    # -S: no site start-up, whose .pth files may import typing before any user code
    path = tmp_path / "plan.json"
    path.write_text(Plan(ops=(make_op(),)).to_json())
    code = f"""
import sys
sys.path.insert(0, {str(Path(npatch.__file__).parents[1])!r})
from npatch.plan import Plan
plan = Plan.load({str(path)!r})
assert plan.ops[0].name == "p"
print(sorted(m for m in ("dataclasses", "inspect", "typing", "lark", "tomli", "libcst") if m in sys.modules))
"""
    proc = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_loaded_plans_ops_decode_when_read_and_behave_like_the_tuple():
    ops = tuple(make_op(name=f"p{i}", priority=i) for i in range(50))
    plan = Plan(ops=ops)
    loaded = Plan.from_json(plan.to_json())
    assert sum(op is not None for op in loaded.ops._done) == 0  # nothing decoded by loading
    assert loaded.ops[7] == ops[7] and loaded.ops[7] is loaded.ops[7]
    assert sum(op is not None for op in loaded.ops._done) == 1
    assert loaded == plan and plan == loaded and hash(loaded) == hash(plan)
    assert loaded.ops == ops and ops == loaded.ops and loaded.ops[-2:] == ops[-2:]
    assert loaded.ops + (ops[0],) == ops + (ops[0],) and (ops[0],) + loaded.ops == (ops[0],) + ops
    assert loaded.canonical_json() == plan.canonical_json() and loaded.op("p3") == ops[3]
    assert Plan.from_marshal(loaded.to_marshal()) == plan and pickle.loads(pickle.dumps(loaded)) == plan


def test_a_damaged_op_deep_inside_fails_as_a_plan_error_when_read():
    data = json.loads(Plan(ops=(make_op(),)).to_json())
    data["ops"][0]["origin"] = {"file": "m.toml"}
    loaded = Plan.from_dict(data)
    with pytest.raises(PlanError, match="malformed plan: Origin lacks"):
        loaded.ops[0]


@pytest.mark.parametrize("damaged", [{"module": "m", "qual": "x"}, ["m"], {}])
def test_ops_naming_one_target_share_its_record_and_a_damaged_target_still_fails(damaged):
    ops = (make_op(name="a", targets=(Target("m", "f"), Target("m"))), make_op(name="b", targets=(Target("m", "f"),)))
    for loaded in (Plan.from_json(Plan(ops=ops).to_json()), Plan.from_marshal(Plan(ops=ops).to_marshal())):
        assert loaded.ops == ops and loaded.ops[0].targets[0] is loaded.ops[1].targets[0]
    data = json.loads(Plan(ops=ops).to_json())
    data["ops"][1]["targets"] = [damaged]
    with pytest.raises(PlanError, match="malformed plan"):
        Plan.from_dict(data).ops[1]
