"""replace / wrap of a property keep it a property (README: "kept in the
original's descriptor kind"): wrap wraps the getter, replace installs a
property whose getter is the replacement; the setter and deleter stay, and
restore puts back the very property object.  Fresh interpreter each time."""
from __future__ import annotations

import textwrap

from rt_helpers import op, plan, run_plan, statuses

TARGET = '''
class C:
    def __init__(self):
        self._v = 1

    @property
    def prop(self):
        "the doc"
        return self._v

    @prop.setter
    def prop(self, value):
        self._v = value


class Leaf(C):
    pass


ORIGINAL = C.__dict__["prop"]
'''

SOURCES = '''
def getter(self):
    return "replaced:%s" % self._v


def make_wrapper(original, options):
    def wrapper(self):
        return "wrapped(%s)" % original(self)
    return wrapper


def is_one(self):
    return self._v == 1


ready_made = property(lambda self: "own property")
'''


def _write(tmp_path):
    (tmp_path / "npt_prop_target.py").write_text(textwrap.dedent(TARGET))
    (tmp_path / "npt_prop_sources.py").write_text(textwrap.dedent(SOURCES))


CHECK = '''
import npt_prop_target as t
c = t.C()
raw = t.C.__dict__["prop"]
print("KIND", type(raw).__name__, "DOC", raw.__doc__)
print("GET", c.prop)
c.prop = 7
print("SET", c.prop)
'''

AFTER = '''
SESSION.stop()
print("RESTORED", t.C.__dict__["prop"] is t.ORIGINAL, "prop" in t.Leaf.__dict__, t.C().prop)
'''


def test_replace_of_property_installs_a_property_with_the_replacement_as_getter(tmp_path):
    _write(tmp_path)
    p = plan(op("replace", "npt_prop_target:C.prop", source="npt_prop_sources:getter"))
    proc = run_plan(tmp_path, p, CHECK + AFTER)
    assert proc.returncode == 0, proc.stderr
    assert "KIND property DOC the doc" in proc.stdout
    assert "GET replaced:1" in proc.stdout and "SET replaced:7" in proc.stdout
    assert "RESTORED True False 1" in proc.stdout


def test_wrap_of_property_wraps_the_getter(tmp_path):
    _write(tmp_path)
    p = plan(op("wrap", "npt_prop_target:C.prop", source="npt_prop_sources:make_wrapper"))
    proc = run_plan(tmp_path, p, CHECK + AFTER)
    assert proc.returncode == 0, proc.stderr
    assert "KIND property" in proc.stdout and "GET wrapped(1)" in proc.stdout and "SET wrapped(7)" in proc.stdout
    assert "RESTORED True False 1" in proc.stdout


def test_inherited_property_patched_on_subclass_only(tmp_path):
    _write(tmp_path)
    p = plan(op("wrap", "npt_prop_target:Leaf.prop", source="npt_prop_sources:make_wrapper"))
    code = ('import npt_prop_target as t\nprint("LEAF", type(t.Leaf.__dict__["prop"]).__name__, t.Leaf().prop, '
            't.C().prop)\n') + AFTER
    proc = run_plan(tmp_path, p, code)
    assert proc.returncode == 0, proc.stderr
    assert "LEAF property wrapped(1) 1" in proc.stdout
    assert "RESTORED True False 1" in proc.stdout


def test_guarded_replace_of_property_and_a_ready_made_property(tmp_path):
    _write(tmp_path)
    p = plan(op("replace", "npt_prop_target:C.prop", source="npt_prop_sources:getter", guard="npt_prop_sources:is_one"),
             op("replace", "npt_prop_target:Leaf.prop", source="npt_prop_sources:ready_made"))
    code = CHECK + 'print("LEAF", t.Leaf().prop)\n' + AFTER
    proc = run_plan(tmp_path, p, code)
    assert proc.returncode == 0, proc.stderr
    assert set(statuses(proc.report).values()) == {"applied"}
    # the guard is true for _v == 1 only: after the setter, the original getter answers
    assert "GET replaced:1" in proc.stdout and "SET 7" in proc.stdout and "LEAF own property" in proc.stdout
    assert "RESTORED True False 1" in proc.stdout
