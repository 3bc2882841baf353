"""The compat API (DrivingSDK patcher and verl-npu alias shapes) and ``npatch.load``.

Each scenario runs in a fresh interpreter on throwaway packages written to
tmp_path, plus one brake on a real PyTorch training loop.
"""
from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

from npatch_testutil import clean_env, run_python

PKG = {
    "cpkg/__init__.py": """
        VALUE = 1
        class K:
            @staticmethod
            def s():
                return "orig s"
            @classmethod
            def c(cls):
                return "orig c"
        def f():
            return "orig f"
    """,
    "cpkg/sub.py": "def g():\n    return 'orig g'\n",
    "other/__init__.py": "",
    "src_mod.py": "X = 'source'\n",
}


def tree(root: Path) -> Path:
    for rel, text in PKG.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def run(root: Path, code: str):
    proc = run_python(code, cwd=tree(root), env=clean_env(PYTHONPATH=str(root)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_signatures_mirror_the_originals():
    from npatch import compat

    def params(obj):
        return [(p.name, p.default) for p in inspect.signature(obj).parameters.values()]

    empty = inspect.Parameter.empty
    assert params(compat.Patch) == [("func", empty), ("options", None), ("priority", 0),
                                    ("patch_failure_warning", True)]
    assert params(compat.Patcher) == [("module_patches", empty), ("blacklist", empty),
                                      ("allow_internal_format", False)]
    assert params(compat.PatcherBuilder.add_module_patch)[:2] == [("self", empty), ("module_name", empty)]
    assert params(compat.PatcherBuilder.with_profiling) == [("self", empty), ("path", empty), ("level", 0)]
    assert params(compat.PatcherBuilder.build) == [("self", empty), ("allow_internal_format", False)]
    assert params(compat.inject_module_alias) == [("source_module_name", empty), ("target_module_name", empty)]
    import npatch

    assert npatch.PatcherBuilder is compat.PatcherBuilder and npatch.Patch is compat.Patch


def test_patcher_is_lazy_ordered_and_restores_everything(tmp_path):
    proc = run(tmp_path, """
        import sys, warnings
        from npatch.compat import Patch, Patcher, PatcherBuilder

        order = []
        def safe_first(module, options):
            order.append("first")
            module.VALUE = options["v"]
            module.K.s = staticmethod(lambda: "new s")
            module.K.c = classmethod(lambda cls: "new c")
            module.K.added = 1
            module.f = lambda: "new f"
            module.brand_new = 2
        safe_first.__name__ = "first"   # a Patch is named after its function
        def second(module, options):
            order.append("second")
        def off(module, options):
            module.VALUE = "must not happen"
        def sub_patch(module, options):
            module.g = lambda: "new g"

        builder = (PatcherBuilder()
                   .add_module_patch("cpkg", Patch(second, priority=2), Patch(safe_first, {"v": 5}, priority=1))
                   .add_module_patch("cpkg", Patch(off))
                   .add_module_patch("cpkg.sub", Patch(sub_patch))
                   .disable_patches("off"))
        patcher = builder.build()
        with patcher as applied:
            assert applied is patcher and patcher.is_applied
            assert "cpkg" not in sys.modules          # lazy: nothing imported by npatch
            import cpkg, cpkg.sub
            K = cpkg.K
            print("in", cpkg.VALUE, K.s(), K.c(), K.added, cpkg.f(), cpkg.brand_new, cpkg.sub.g(), order)
            print("status", sorted((s.name, s.status) for s in patcher.statuses()))
        raw = K.__dict__
        print("out", cpkg.VALUE, K.s(), K.c(), hasattr(K, "added"), cpkg.f(), hasattr(cpkg, "brand_new"),
              cpkg.sub.g(), type(raw["s"]).__name__, type(raw["c"]).__name__, patcher.is_applied)
    """)
    lines = proc.stdout.splitlines()
    assert lines[0] == "in 5 new s new c 1 new f 2 new g ['first', 'second']"
    assert lines[1] == ("status [('first', 'applied'), ('off', 'disabled'), ('second', 'applied'), "
                        "('sub_patch', 'applied')]")
    assert lines[2] == "out 1 orig s orig c False orig f False orig g staticmethod classmethod False"


def test_patch_failures_warn_or_skip(tmp_path):
    proc = run(tmp_path, """
        import warnings
        from npatch.compat import Patch, Patcher
        from npatch.errors import NpatchWarning

        def loud(module, options):
            module.VALUE = "half done"
            raise ValueError("loud failure")
        def quiet(module, options):
            raise ValueError("quiet failure")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with Patcher({"cpkg": [Patch(loud)], "cpkg.sub": [Patch(quiet, patch_failure_warning=False)]},
                         set()) as patcher:
                import cpkg, cpkg.sub
                print("value", cpkg.VALUE)   # the failed function's partial change is undone
                print(sorted((s.name, s.status, s.reason) for s in patcher.statuses()))
        print([str(w.message) for w in caught if issubclass(w.category, NpatchWarning)])
    """)
    value, statuses, warned = proc.stdout.splitlines()
    assert value == "value 1"
    assert "('loud', 'failed'" in statuses and "loud failure" in statuses
    assert "('quiet', 'skipped'" in statuses and "quiet failure" in statuses
    assert "loud failure" in warned and "quiet failure" not in warned


def test_same_function_on_two_modules_and_already_imported(tmp_path):
    proc = run(tmp_path, """
        import cpkg, other
        from npatch.compat import Patch, PatcherBuilder

        def mark(module, options):
            module.marked = options.get("n", 0)
        patcher = (PatcherBuilder().add_module_patch("cpkg", Patch(mark, {"n": 1}))
                   .add_module_patch("other", Patch(mark, {"n": 2})).build(allow_internal_format=True))
        patcher.apply()
        patcher.apply()   # a second apply changes nothing
        print(cpkg.marked, other.marked, [s.name for s in patcher.statuses()], patcher.plan().options)
        patcher.restore()
        print(hasattr(cpkg, "marked"), hasattr(other, "marked"))
    """)
    assert proc.stdout.splitlines() == [
        "1 2 ['mark@cpkg', 'mark@other'] (('allow_internal_format', True),)", "False False"]


def test_brake_and_profiling_are_the_manifest_wrap_ops(tmp_path):
    proc = run(tmp_path, """
        from npatch.compat import PatcherBuilder

        patcher = PatcherBuilder().brake_at(7).with_profiling("prof", level=1).disable_patches("profile").build()
        plan = patcher.plan()
        print(sorted({op.source for op in plan.ops}))
        print({op.name.split(":")[0]: op.options_dict.get("step", op.options_dict.get("level")) for op in plan.ops})
        print(sorted(plan.disabled) == sorted(op.name for op in plan.ops if op.name.startswith("profile:")))
    """)
    sources, options, disabled = proc.stdout.splitlines()
    assert sources == "['npatch.library.training:brake_wrapper', 'npatch.library.training:profile_wrapper']"
    assert options == "{'brake': 7, 'profile': 1}" and disabled == "True"


def test_brake_stops_a_torch_training_loop(tmp_path):
    proc = run_python("""
        import torch
        from npatch.compat import PatcherBuilder

        with PatcherBuilder().brake_at(3).build():
            model = torch.nn.Linear(2, 1)
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            for step in range(1, 11):
                opt.zero_grad()
                model(torch.ones(1, 2)).sum().backward()
                opt.step()
                print("step", step, flush=True)
        print("not reached")
    """, env=clean_env())
    assert proc.returncode == 0, proc.stderr
    # step 3 ends when opt.step() returns: the brake stops the program there, with status 0
    assert proc.stdout.splitlines() == ["step 1", "step 2"]
    assert "brake at step 3" in proc.stderr


def test_module_aliases(tmp_path):
    proc = run(tmp_path, """
        import sys, warnings
        from npatch.compat import inject_module_alias, inject_module_aliases_batch, restore_module_aliases

        print(inject_module_alias("src_mod", "other.alias"), "src_mod" in sys.modules)
        import other.alias
        print(other.alias is sys.modules["src_mod"], other.alias.X)
        print(inject_module_alias("src_mod", "cpkg"))          # an existing target is kept
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            print(inject_module_alias("no_such_source", "other.x"), inject_module_alias("src_mod", "nopkg.x"))
        print(len(caught))
        try:
            inject_module_aliases_batch([("src_mod", "other.b1"), ("no_such_source", "other.b2")])
        except RuntimeError as exc:
            print(exc)
        import other.b1
        restore_module_aliases()
        print("other.alias" in sys.modules, hasattr(other, "alias"), "other.b1" in sys.modules)
    """)
    assert proc.stdout.splitlines() == [
        "True True", "True source", "True", "False False", "2",
        "Failed to bootstrap module alias from 'no_such_source' to 'other.b2'.",
        "False False False",
    ]


def test_load_and_apply_a_manifest_in_code(tmp_path):
    (tmp_path / "m.toml").write_text(textwrap.dedent("""
        [manifest]
        name = "m"
        [[patch]]
        name = "f"
        target = "cpkg:f"
        replace = "src_mod:X"
    """))
    proc = run(tmp_path, """
        import npatch
        plan = npatch.load("m.toml")
        with plan.apply() as session:
            import cpkg
            print(cpkg.f, [s.status for s in session.statuses()])
        print(cpkg.f())
    """)
    assert proc.stdout.splitlines() == ["source ['applied']", "orig f"]
