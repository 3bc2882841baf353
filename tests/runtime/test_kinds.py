"""Every op kind applied and restored exactly, in-process on throwaway modules."""
from __future__ import annotations

import importlib
import sys
import warnings

import pytest
from rt_helpers import op, pkg, plan  # noqa: F401 - pkg is a fixture

from npatch.errors import NpatchError, NpatchWarning
from npatch.runtime.errors import NpatchStubError, PatchError
from npatch.runtime.finder import FINDER
from npatch.runtime.ops import OP_KINDS
from npatch.runtime.report import format_tree
from npatch.runtime.session import Session

TARGET = """
class Base:
    def f(self):
        return "Base.f"

    @staticmethod
    def s():
        return "Base.s"

    @classmethod
    def c(cls):
        return "Base.c:" + cls.__name__

    @property
    def p(self):
        return "Base.p"


class Mid(Base):
    pass


class Leaf(Mid):
    def f(self):
        return "Leaf.f"


def g(x):
    return "g" + str(x)


VERSION = "1.0"
"""

REPL = """
calls = []

def f(self):
    return "repl.f"

def s():
    return "repl.s"

def c(cls):
    return "repl.c:" + cls.__name__

def g(x):
    return "repl.g" + str(x)

def make_wrapper(original, options):
    def wrapper(*args, **kwargs):
        return options.get("prefix", "w") + "(" + original(*args, **kwargs) + ")"
    return wrapper

def positive(x):
    return x > 0

def setup(module, options):
    calls.append((module.__name__, options))
    module.SETUP = options.get("value")
    def undo():
        del module.SETUP
        calls.append("undone")
    return undo

def setup_no_undo(module, options):
    calls.append(module.__name__)
"""


@pytest.fixture
def mods(pkg):
    pkg.write("target.py", TARGET)
    pkg.write("repl.py", REPL)
    return pkg


def snapshot(module):
    """Raw dict entries of every class and module global, to compare with ``is``."""
    out = {("module", k): v for k, v in vars(module).items()}
    for cls in (module.Base, module.Mid, module.Leaf):
        out.update({(cls.__name__, k): v for k, v in vars(cls).items()})
    return out


def assert_same(before, after):
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert after[key] is value, key


def test_every_builtin_kind_is_registered():
    assert {"replace", "wrap", "value", "delete", "call", "register", "alias", "stub"} <= set(OP_KINDS)


def test_replace_installs_the_object_itself_and_restores(mods):
    t = importlib.import_module(mods.mod("target"))
    repl = importlib.import_module(mods.mod("repl"))
    before = snapshot(t)
    p = plan(op("replace", f"{t.__name__}:g", source=f"{repl.__name__}:g"),
             op("replace", f"{t.__name__}:Leaf.f", source=f"{repl.__name__}:f"))
    with Session(p) as session:
        assert t.g is repl.g
        assert vars(t.Leaf)["f"] is repl.f
        assert t.Leaf().f() == "repl.f"
        assert [s.status for s in session.statuses()] == ["applied", "applied"]
    assert_same(before, snapshot(t))


def test_replace_keeps_staticmethod_and_classmethod(mods):
    t = importlib.import_module(mods.mod("target"))
    repl = importlib.import_module(mods.mod("repl"))
    before = snapshot(t)
    p = plan(op("replace", f"{t.__name__}:Base.s", source=f"{repl.__name__}:s"),
             op("replace", f"{t.__name__}:Base.c", source=f"{repl.__name__}:c"))
    with Session(p):
        assert isinstance(vars(t.Base)["s"], staticmethod)
        assert isinstance(vars(t.Base)["c"], classmethod)
        assert t.Leaf.s is repl.s  # zero per-call overhead: the function itself
        assert t.Leaf().s() == "repl.s"
        assert t.Leaf.c() == "repl.c:Leaf"
    assert_same(before, snapshot(t))


def test_inherited_attribute_is_set_on_the_subclass_and_deleted_after(mods):
    t = importlib.import_module(mods.mod("target"))
    repl = importlib.import_module(mods.mod("repl"))
    before = snapshot(t)
    p = plan(op("replace", f"{t.__name__}:Mid.s", source=f"{repl.__name__}:s"),
             op("wrap", f"{t.__name__}:Mid.c", source=f"{repl.__name__}:make_wrapper"))
    with Session(p):
        assert "s" in vars(t.Mid) and isinstance(vars(t.Mid)["s"], staticmethod)
        assert t.Base.s() == "Base.s"
        assert t.Leaf.s() == "repl.s"
        assert t.Leaf.c() == "w(Base.c:Leaf)"
        assert t.Base.c() == "Base.c:Base"
    assert "s" not in vars(t.Mid) and "c" not in vars(t.Mid)
    assert_same(before, snapshot(t))
    assert t.Leaf.s() == "Base.s"


def test_wrap_gets_original_and_options(mods):
    t = importlib.import_module(mods.mod("target"))
    p = plan(op("wrap", f"{t.__name__}:g", source=f"{mods.mod('repl')}:make_wrapper", options={"prefix": "P"}),
             op("wrap", f"{t.__name__}:Base.p", source=f"{mods.mod('repl')}:make_wrapper"),
             op("wrap", f"{t.__name__}:Base.s", source=f"{mods.mod('repl')}:make_wrapper"))
    before = snapshot(t)
    with Session(p) as session:
        assert t.g(1) == "P(g1)"
        assert t.Leaf.s() == "w(Base.s)"
        # a property is handed over as is; a wrapper of a property must return a descriptor
        status = {s.name: s for s in session.statuses()}
        assert status[f"wrap:{t.__name__}:Base.p"].status == "applied"
    assert_same(before, snapshot(t))


def test_guard_runs_replacement_only_when_true(mods):
    t = importlib.import_module(mods.mod("target"))
    p = plan(op("replace", f"{t.__name__}:g", source=f"{mods.mod('repl')}:g", guard=f"{mods.mod('repl')}:positive"))
    original = t.g
    with Session(p):
        assert t.g(1) == "repl.g1"
        assert t.g(-1) == "g-1"
        assert t.g.__wrapped__ is original
    assert t.g is original


def test_value_sets_and_creates_and_restores(mods):
    t = importlib.import_module(mods.mod("target"))
    before = snapshot(t)
    p = plan(op("value", f"{t.__name__}:VERSION", value="2.0"),
             op("value", f"{t.__name__}:NEW", value=[1, 2], on_missing="create"),
             op("value", f"{t.__name__}:Leaf.s", value=None))
    with Session(p):
        assert t.VERSION == "2.0"
        assert t.NEW == [1, 2]
        assert t.Leaf.s is None and t.Base.s() == "Base.s"
    assert not hasattr(t, "NEW")
    assert_same(before, snapshot(t))
    with pytest.warns(NpatchWarning, match=r"target not found: .*'NEW'"):  # on-missing = warn: nothing made
        with Session(plan(op("value", f"{t.__name__}:NEW", value=1))) as session:
            assert session.statuses()[0].status == "failed" and not hasattr(t, "NEW")


def test_delete_and_restore(mods):
    t = importlib.import_module(mods.mod("target"))
    before = snapshot(t)
    with Session(plan(op("delete", f"{t.__name__}:Leaf.f"), op("delete", f"{t.__name__}:g"))):
        assert t.Leaf().f() == "Base.f"
        assert not hasattr(t, "g")
    assert_same(before, snapshot(t))


def test_delete_of_inherited_attribute_fails_naming_the_base(mods):
    t = importlib.import_module(mods.mod("target"))
    with pytest.warns(NpatchWarning, match="inherited from 'Base'"):
        with Session(plan(op("delete", f"{t.__name__}:Leaf.s"))) as session:
            assert session.statuses()[0].status == "failed"
    assert t.Leaf.s() == "Base.s"


def test_call_runs_once_and_its_undo_on_restore(mods):
    t = importlib.import_module(mods.mod("target"))
    repl = importlib.import_module(mods.mod("repl"))
    p = plan(op("call", t.__name__, source=f"{repl.__name__}:setup", options={"value": 7}),
             op("call", t.__name__, name="plain", source=f"{repl.__name__}:setup_no_undo"))
    with Session(p):
        assert t.SETUP == 7
    assert not hasattr(t, "SETUP")
    assert repl.calls == [(t.__name__, {"value": 7}), t.__name__, "undone"]


def test_register_adds_overrides_and_restores_with_mmengine_registry(mods):
    mods.write("registry.py", """
        from mmengine.registry import Registry
        MODELS = Registry("npatch-test-models")

        @MODELS.register_module()
        class Existing:
            pass
    """)
    mods.write("impl.py", """
        class Replacement:
            pass

        class Fresh:
            pass
    """)
    reg = importlib.import_module(mods.mod("registry"))
    impl = importlib.import_module(mods.mod("impl"))
    original = reg.MODELS.get("Existing")
    p = plan(op("register", f"{reg.__name__}:MODELS", source=f"{impl.__name__}:Replacement", value="Existing",
                force=True),
             op("register", f"{reg.__name__}:MODELS", name="fresh", source=f"{impl.__name__}:Fresh", value="Fresh"),
             op("register", f"{reg.__name__}:MODELS", name="kept", source=f"{impl.__name__}:Fresh", value="Existing"))
    with Session(p) as session:
        assert reg.MODELS.get("Existing") is impl.Replacement
        assert reg.MODELS.build({"type": "Fresh"}).__class__ is impl.Fresh
        assert {s.name: s.status for s in session.statuses()}["kept"] == "skipped"
    assert reg.MODELS.get("Existing") is original
    assert reg.MODELS.get("Fresh") is None
    assert set(reg.MODELS.module_dict) == {"Existing"}


def test_alias_gives_the_live_source_module_and_is_removed(mods):
    mods.write("source.py", "X = 1\n")
    source = importlib.import_module(mods.mod("source"))
    alias = mods.mod("alias_target")
    with Session(plan(op("alias", alias, source=source.__name__))) as session:
        assert session.statuses()[0].status == "waiting"
        imported = importlib.import_module(alias)
        assert imported is source
        assert getattr(sys.modules[mods.name], "alias_target") is source
        assert session.statuses()[0].status == "applied"
    assert alias not in sys.modules
    assert not hasattr(sys.modules[mods.name], "alias_target")


def test_alias_keeps_a_real_module_unless_forced(mods):
    mods.write("source.py", "X = 1\n")
    mods.write("real.py", "X = 'real'\n")
    real_name, source_name = mods.mod("real"), mods.mod("source")
    with Session(plan(op("alias", real_name, source=source_name))) as session:
        assert importlib.import_module(real_name).X == "real"
        assert session.statuses()[0].status == "skipped"
    del sys.modules[real_name]
    delattr(sys.modules[mods.name], "real")
    with Session(plan(op("alias", real_name, source=source_name, force=True))):
        assert importlib.import_module(real_name).X == 1
    assert real_name not in sys.modules
    # already imported and forced: replaced at once, put back after
    real = importlib.import_module(real_name)
    with Session(plan(op("alias", real_name, source=source_name, force=True))):
        assert sys.modules[real_name] is sys.modules[source_name]
        assert getattr(sys.modules[mods.name], "real") is sys.modules[source_name]
    assert sys.modules[real_name] is real
    assert getattr(sys.modules[mods.name], "real") is real


def test_stub_attributes_raise_naming_manifest_and_stub(mods):
    name = mods.mod("_ext")
    p = plan(op("stub", name, name="no-ext", value="error", manifest="mmcv-lite"))
    with Session(p):
        ext = importlib.import_module(name)
        fn = ext.nms  # attribute access works, so `from x import nms` works
        with pytest.raises(NpatchStubError, match=r"stub 'no-ext' in manifest 'mmcv-lite'") as info:
            fn(1, 2)
        assert isinstance(info.value, NotImplementedError) and isinstance(info.value, NpatchError)
        assert importlib.util.find_spec(name) is not None
        assert ext.__path__ == []  # a package: names under it are stubs too (test_stub_packages.py)
        with pytest.raises(AttributeError):
            ext.__wrapped__  # dunder probes (copy, pickle, inspect) stay plain AttributeErrors
    assert name not in sys.modules


def test_stub_none_policy_and_real_module_wins(mods):
    mods.write("real.py", "X = 'real'\n")
    stub_none, real = mods.mod("ghost"), mods.mod("real")
    p = plan(op("stub", stub_none, value="none"), op("stub", real))
    with Session(p) as session:
        assert importlib.import_module(stub_none).anything is None
        assert importlib.import_module(real).X == "real"
        assert [s.status for s in session.statuses()] == ["applied", "skipped"]
        assert "really exists" in session.statuses()[1].reason
    del sys.modules[real]
    with Session(plan(op("stub", real, force=True))):
        assert importlib.import_module(real).X is not None
        assert type(sys.modules[real].X).__name__ == "StubObject"  # the stub, not the real X


def test_target_missing_policies(mods):
    t = importlib.import_module(mods.mod("target"))
    src = f"{mods.mod('repl')}:g"
    with pytest.warns(NpatchWarning, match=r"target not found: .*'nope'"):
        with Session(plan(op("replace", f"{t.__name__}:nope", source=src))) as session:
            assert session.statuses()[0].status == "failed"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with Session(plan(op("replace", f"{t.__name__}:nope", source=src, on_missing="ignore"))) as session:
            assert session.statuses()[0].status == "skipped"
    with pytest.raises(PatchError, match="nope"):
        Session(plan(op("replace", f"{t.__name__}:nope", source=src, on_missing="error"))).start()


def test_source_errors_name_the_real_cause(mods):
    t = importlib.import_module(mods.mod("target"))
    mods.write("broken.py", "import npatch_no_such_module_xyz\n")
    p = plan(op("replace", f"{t.__name__}:g", name="broken", source=f"{mods.mod('broken')}:g"),
             op("replace", f"{t.__name__}:VERSION", name="noattr", source=f"{mods.mod('repl')}:nothing"))
    with pytest.warns(NpatchWarning) as record:
        with Session(p) as session:
            reasons = {s.name: s.reason for s in session.statuses()}
    assert "No module named 'npatch_no_such_module_xyz'" in reasons["broken"]
    assert "has no attribute 'nothing'" in reasons["noattr"]
    assert len(record) == 2


def test_strict_start_raises_and_leaves_nothing_applied(mods):
    t = importlib.import_module(mods.mod("target"))
    before = snapshot(t)
    p = plan(op("value", f"{t.__name__}:VERSION", value="9"),
             op("replace", f"{t.__name__}:g", source=f"{mods.mod('repl')}:missing"))
    with pytest.raises(PatchError, match="missing") as info:
        Session(p, strict=True).start()
    assert info.value.op == f"replace:{t.__name__}:g"
    assert_same(before, snapshot(t))
    assert FINDER not in sys.meta_path


def test_condition_false_is_skipped_and_disabled_is_disabled(mods):
    t = importlib.import_module(mods.mod("target"))
    p = plan(op("value", f"{t.__name__}:VERSION", name="cond", value="9",
                when=("call", "option", (("str", "flag"),)), when_text="option('flag')"),
             op("value", f"{t.__name__}:VERSION", name="off", value="8"),
             op("value", f"{t.__name__}:VERSION", name="on", value="7",
                when=("not", ("call", "option", (("str", "flag"),)))),
             options=(("flag", False),), disabled=("off",))
    with Session(p) as session:
        assert t.VERSION == "7"
        got = {s.name: (s.status, s.reason) for s in session.statuses()}
    assert got["cond"] == ("skipped", "condition is false: \"option('flag')\"")
    assert got["off"][0] == "disabled" and got["on"][0] == "applied"
    assert t.VERSION == "1.0"


def test_same_plan_twice_changes_nothing_and_nested_sessions_restore_lifo(mods):
    t = importlib.import_module(mods.mod("target"))
    before = snapshot(t)
    wrap = plan(op("wrap", f"{t.__name__}:g", source=f"{mods.mod('repl')}:make_wrapper"))
    outer = Session(wrap).start()
    first = t.g
    inner = Session(wrap).start()  # e.g. a sitecustomize that runs twice
    assert t.g is first and t.g(1) == "w(g1)"
    assert inner.statuses()[0].reason == "already applied by an earlier session"
    other = Session(plan(op("value", f"{t.__name__}:VERSION", value="x"))).start()
    with pytest.warns(NpatchWarning, match="newer sessions"):
        outer.stop()  # stops `other` and `inner` first
    assert not inner.active and not other.active
    assert_same(before, snapshot(t))


def test_nested_sessions_stack_on_the_same_attribute(mods):
    t = importlib.import_module(mods.mod("target"))
    before = snapshot(t)
    with Session(plan(op("wrap", f"{t.__name__}:g", source=f"{mods.mod('repl')}:make_wrapper",
                         options={"prefix": "A"}))):
        with Session(plan(op("wrap", f"{t.__name__}:g", source=f"{mods.mod('repl')}:make_wrapper",
                             options={"prefix": "B"}))):
            assert t.g(1) == "B(A(g1))"
        assert t.g(1) == "A(g1)"
    assert_same(before, snapshot(t))


def test_lazy_target_applies_after_import_and_reload(mods):
    name = mods.mod("target")
    repl = importlib.import_module(mods.mod("repl"))
    with Session(plan(op("replace", f"{name}:g", source=f"{repl.__name__}:g"))) as session:
        assert name not in sys.modules and session.statuses()[0].status == "waiting"
        t = importlib.import_module(name)
        assert t.g is repl.g
        assert type(t.__loader__).__name__ == "SourceFileLoader"
        assert t.__spec__.loader is t.__loader__
        importlib.reload(t)
        assert t.g is repl.g
    assert t.g(1) == "g1"
    importlib.reload(t)
    assert t.g(1) == "g1"


def test_format_tree_and_report(mods):
    t = importlib.import_module(mods.mod("target"))
    p = plan(op("value", f"{t.__name__}:VERSION", name="v", value="2", manifest="m1"),
             op("value", f"{mods.name}.never:X", name="w", value="2", manifest="m1"),
             op("value", f"{t.__name__}:VERSION", name="d", value="3", manifest="m2"), disabled=("d",))
    with Session(p, label="demo") as session:
        tree = format_tree(session.statuses())
        report = session.report_dict()
    assert tree.splitlines()[0] == "npatch: 3 op(s): 1 applied, 1 waiting, 1 disabled"
    assert "├── m1" in tree and "└── m2" in tree
    assert report["label"] == "demo" and report["plan"] == p.content_hash
    assert report["counts"]["applied"] == 1
    assert [o["status"] for o in report["ops"]] == ["applied", "waiting", "disabled"]
    import json

    json.dumps(report)


def test_plan_apply_is_a_started_session(mods):
    t = importlib.import_module(mods.mod("target"))
    p = plan(op("value", f"{t.__name__}:VERSION", value="2.0"))
    with p.apply(label="api") as session:
        assert isinstance(session, Session) and session.active and session.label == "api"
        assert t.VERSION == "2.0"
    assert t.VERSION == "1.0" and not session.active


def test_unrelated_imports_are_not_touched(mods):
    t_name = mods.mod("target")
    with Session(plan(op("value", f"{t_name}:VERSION", value="2.0"))):
        assert FINDER in sys.meta_path and t_name in FINDER.names
        assert FINDER.find_spec("json", None) is None
        repl = importlib.import_module(mods.mod("repl"))
        assert type(repl.__loader__).__name__ == "SourceFileLoader"


def test_broken_condition_fails_the_op_not_the_session(mods):
    t = importlib.import_module(mods.mod("target"))
    p = plan(op("value", f"{t.__name__}:VERSION", name="bad", value="9", when=("nonsense",)),
             op("value", f"{t.__name__}:VERSION", name="good", value="8"))
    with pytest.warns(NpatchWarning, match="condition"):
        with Session(p) as session:
            got = {s.name: s.status for s in session.statuses()}
    assert got == {"bad": "failed", "good": "applied"}
    with pytest.raises(PatchError, match="condition"):
        Session(p, strict=True).start()
    assert t.VERSION == "1.0"
