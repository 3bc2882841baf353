"""Property: any sequence of sessions started and stopped restores every raw
class-dict entry to the very object it was (``is``), descriptors included.

Classes Base <- Mid <- Leaf get random attributes (plain function,
staticmethod, classmethod, property, plain value, or nothing) under a few
names; sessions apply random replace / wrap / value / delete ops to random
(class, name) pairs, and are stopped LIFO or from the middle (which stops
the newer ones first).  After each stop the classes must be exactly as they
were before that session started.
"""
from __future__ import annotations

import sys
import types
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from npatch.plan import Op, Plan, Target
from npatch.runtime.session import SESSIONS, Session

NAMES = ("a", "b", "c")
CLASSES = ("Base", "Mid", "Leaf")
ENTRY_KINDS = ("absent", "plain", "static", "class", "property", "value")
OP_KINDS = ("replace", "wrap", "value", "delete")
MODULE = "npt_property_target"
SOURCES = "npt_property_sources"


def _install_sources() -> None:
    if SOURCES in sys.modules:
        return
    sources = types.ModuleType(SOURCES)

    def replacement(*args, **kwargs):
        return "replacement"

    def make_wrapper(original, options):
        def wrapper(*args, **kwargs):
            return original(*args, **kwargs)

        return wrapper

    sources.replacement = replacement
    sources.static_replacement = staticmethod(replacement)
    sources.make_wrapper = make_wrapper
    sys.modules[SOURCES] = sources


def _entry(kind: str, label: str):
    def func(*args):
        return label

    return {
        "plain": func,
        "static": staticmethod(func),
        "class": classmethod(func),
        "property": property(func),
        "value": object(),
    }[kind]


def _build(layout: dict[tuple[str, str], str]) -> types.ModuleType:
    module = types.ModuleType(MODULE)
    bases: tuple[type, ...] = ()
    for cls_name in CLASSES:
        namespace = {name: _entry(layout[cls_name, name], f"{cls_name}.{name}")
                     for name in NAMES if layout[cls_name, name] != "absent"}
        cls = type(cls_name, bases or (object,), namespace)
        setattr(module, cls_name, cls)
        bases = (cls,)
    return module


def _snapshot(module: types.ModuleType) -> dict:
    out = {}
    for cls_name in CLASSES:
        for key, value in vars(getattr(module, cls_name)).items():
            out[cls_name, key] = value
    out["module"] = dict(vars(module))
    return out


def _assert_identical(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for key, value in before.items():
        if key == "module":
            assert value.keys() == after[key].keys()
            assert all(after[key][k] is v for k, v in value.items())
        else:
            assert after[key] is value, key


layouts = st.fixed_dictionaries({(c, n): st.sampled_from(ENTRY_KINDS) for c in CLASSES for n in NAMES})
op_specs = st.tuples(st.sampled_from(OP_KINDS), st.sampled_from(CLASSES), st.sampled_from(NAMES),
                     st.sampled_from(("replacement", "static_replacement")))
actions = st.lists(
    st.one_of(
        st.tuples(st.just("start"), st.lists(op_specs, min_size=1, max_size=4)),
        st.tuples(st.just("stop"), st.integers(min_value=0, max_value=3)),
    ),
    min_size=1, max_size=8,
)


def _plan(specs) -> Plan:
    ops = []
    for i, (kind, cls_name, name, source) in enumerate(specs):
        fields = {"source": f"{SOURCES}:{source}"}
        if kind == "wrap":
            fields = {"source": f"{SOURCES}:make_wrapper"}
        elif kind == "value":
            fields = {"value": i}
        elif kind == "delete":
            fields = {}
        ops.append(Op(kind=kind, name=f"op{i}", targets=(Target(MODULE, f"{cls_name}.{name}"),),
                      on_missing="ignore", **fields))
    return Plan(ops=tuple(ops))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layout=layouts, steps=actions)
def test_any_apply_restore_sequence_restores_every_raw_entry(layout, steps):
    _install_sources()
    module = _build(layout)
    sys.modules[MODULE] = module
    original = _snapshot(module)
    active: list[tuple[Session, dict]] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for step in steps:
                if step[0] == "start":
                    before = _snapshot(module)
                    active.append((Session(_plan(step[1])).start(), before))
                elif active:
                    index = step[1] % len(active)
                    session, before = active[index]
                    session.stop()  # stops the newer sessions first
                    del active[index:]
                    _assert_identical(before, _snapshot(module))
            while active:
                session, before = active.pop()
                session.stop()
                _assert_identical(before, _snapshot(module))
    finally:
        for session in reversed(list(SESSIONS)):
            session.stop()
        del sys.modules[MODULE]
    _assert_identical(original, _snapshot(module))
