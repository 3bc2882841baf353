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
