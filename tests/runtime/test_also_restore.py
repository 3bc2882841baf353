"""`also` re-export paths restore to the original, even when the re-export
copied the replacement (the package imported its submodule after the op applied)."""
from __future__ import annotations

import json
import sys

from npatch_testutil import run_npatch, run_python


def test_reexport_made_after_the_patch_restores_to_the_original(tmp_path):
    pkg = tmp_path / "reexp_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .sub import f\n")
    (pkg / "sub.py").write_text("def f():\n    return 'original'\n")
    (tmp_path / "reexp_repl.py").write_text("def f():\n    return 'patched'\n")
    code = """
        import sys
        from npatch.plan import Op, Plan, Target
        plan = Plan(ops=(Op(kind="replace", name="f", source="reexp_repl:f",
                            targets=(Target("reexp_pkg.sub", "f"), Target("reexp_pkg", "f"))),))
        with plan.apply() as session:
            import reexp_pkg, reexp_pkg.sub
            inside = (reexp_pkg.f(), reexp_pkg.sub.f())
            print([s.status for s in session.statuses()])
        print(inside, (reexp_pkg.f(), reexp_pkg.sub.f()))
    """
    done = run_python(code, cwd=tmp_path, env=None)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "('patched', 'patched') ('original', 'original')"


def test_an_also_target_imported_later_next_to_a_rebound_copy(tmp_path):
    # the first target is patched at start with rebind (a GlobalUndo joins the undo
    # stack); the `also` module, imported later, defines its own f: applying there
    # must not mistake the rebound global for an attribute undo
    (tmp_path / "rb_first.py").write_text("def f():\n    return 'first'\n")
    (tmp_path / "rb_user.py").write_text("from rb_first import f\n")
    (tmp_path / "rb_also.py").write_text("def f():\n    return 'also'\n")
    (tmp_path / "rb_repl.py").write_text("def f():\n    return 'patched'\n")
    code = """
        import rb_first, rb_user
        from npatch.plan import Op, Plan, Target
        plan = Plan(ops=(Op(kind="replace", name="f", source="rb_repl:f", rebind=True,
                            targets=(Target("rb_first", "f"), Target("rb_also", "f"))),))
        with plan.apply(strict=True) as session:
            import rb_also
            inside = (rb_first.f(), rb_user.f(), rb_also.f())
            print([s.status for s in session.statuses()])
        print(inside, (rb_first.f(), rb_user.f(), rb_also.f()))
    """
    done = run_python(code, cwd=tmp_path, env=None)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "('patched', 'patched', 'patched') ('first', 'first', 'also')"


def _reexporting_package(tmp_path):
    pkg = tmp_path / "twice_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .ser import load\n")   # as torch/__init__ takes torch.serialization.load
    (pkg / "ser.py").write_text("def load(x):\n    return ('load', x)\n")
    (tmp_path / "twice_hooks.py").write_text(
        "CALLS = []\n"
        "def make(original, options):\n"
        "    def wrapper(x):\n"
        "        CALLS.append('wrap')\n"
        "        return ('wrapped',) + original(x)\n"
        "    return wrapper\n"
        "def repl(x):\n"
        "    return ('repl', x)\n"
        "def pred(x):\n"
        "    CALLS.append('guard')\n"
        "    return x == 1\n")


def test_a_reexport_of_a_wrapped_function_is_not_wrapped_twice(tmp_path):
    """cuda-to-cpu's torch.load wraps torch.serialization:load, also torch:load:
    torch/__init__ copies the wrapper made when torch.serialization finished, and
    the `also` target then wrapped that wrapper again (each call ran it twice, and
    --coverage counted 2 per call). The re-export holds the op's own wrapper."""
    _reexporting_package(tmp_path)
    code = """
        import twice_hooks
        from npatch.plan import Op, Plan, Target
        targets = (Target("twice_pkg.ser", "load"), Target("twice_pkg", "load"))
        plan = Plan(ops=(Op(kind="wrap", name="w", source="twice_hooks:make", targets=targets),
                         Op(kind="replace", name="g", source="twice_hooks:repl", guard="twice_hooks:pred",
                            targets=targets, priority=1)))
        with plan.apply(strict=True) as session:
            import twice_pkg, twice_pkg.ser
            print(twice_pkg.load(1), twice_pkg.load(2), twice_pkg.load is twice_pkg.ser.load)
            print(twice_hooks.CALLS)
            print([s.status for s in session.statuses()])
        print(twice_pkg.load(2), twice_pkg.ser.load(2), twice_pkg.load is twice_pkg.ser.load)
    """
    done = run_python(code, cwd=tmp_path, env=None)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "('repl', 1) ('wrapped', 'load', 2) True",
        "['guard', 'guard', 'wrap']",
        "['applied', 'applied']",
        "('load', 2) ('load', 2) True",
    ]


def test_coverage_counts_one_call_of_a_reexported_wrapper_once(tmp_path):
    _reexporting_package(tmp_path)
    (tmp_path / "m.toml").write_text(
        '[manifest]\nname = "twice"\n[[patch]]\nname = "w"\ntarget = "twice_pkg.ser:load"\n'
        'also = ["twice_pkg:load"]\nwrap = "twice_hooks:make"\n')
    done = run_npatch("apply", "--coverage", "cov.json", "m.toml", "--", sys.executable, "-c",
                      "import twice_pkg, twice_hooks; twice_pkg.load(1); print(twice_hooks.CALLS)", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "['wrap']", done.stderr
    ops = json.loads((tmp_path / "cov.json").read_text())["ops"]
    assert [(op["name"], op["calls"]) for op in ops] == [("w", 1)]
