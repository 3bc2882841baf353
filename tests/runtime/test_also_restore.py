"""`also` re-export paths restore to the original, even when the re-export
copied the replacement (the package imported its submodule after the op applied)."""
from __future__ import annotations

from npatch_testutil import run_python


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
