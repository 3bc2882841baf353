"""An op holds on all its targets or on none: when one `also` path fails, the
targets already patched are put back (newest first) and those still waiting
never apply.  Each case runs `npatch apply` on a program, as a user does."""
from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from npatch_testutil import clean_env, run_npatch

FILES = {
    "rb_a.py": "def f():\n    return 'original'\n",
    "rb_b.py": "def f():\n    return 'original'\n",
    "rb_pkg/__init__.py": "from .sub import f\n",
    "rb_pkg/sub.py": "def f():\n    return 'original'\n",
    "rb_repl.py": "def f():\n    return 'patched'\n",
    "rb_boom.py": "def f():\n    return 'original'\nraise RuntimeError('boom')\n",
    "rb_boom_pkg/__init__.py": "from .sub import f\n",
    "rb_boom_pkg/sub.py": "def f():\n    return 'original'\nraise ImportError('no backend')\n",
}


def _run(tmp_path: Path, targets: list[str], program: str, extra: str = "") -> tuple[list[str], dict]:
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    also = ", ".join(f'"{t}"' for t in targets[1:])
    (tmp_path / "m.toml").write_text(textwrap.dedent(f"""
        [manifest]
        name = "m"

        [[patch]]
        name = "p"
        target = "{targets[0]}"
        also = [{also}]
        replace = "rb_repl:f"
        {extra}
        """))
    (tmp_path / "prog.py").write_text(textwrap.dedent(program))
    done = run_npatch("apply", "m.toml", "--report", "r.json", "--", sys.executable, "prog.py",
                      cwd=tmp_path, env=clean_env())
    assert done.returncode == 0, done.stderr
    ((session,),) = [process["sessions"] for process in json.loads((tmp_path / "r.json").read_text())["processes"]]
    (op,) = session["ops"]
    return done.stdout.splitlines(), op


def test_a_failing_also_path_in_the_same_module_rolls_back_the_op(tmp_path: Path) -> None:
    lines, op = _run(tmp_path, ["rb_pkg.sub:f", "rb_pkg:f", "rb_pkg:no_such_name"],
                     "import rb_pkg, rb_pkg.sub\nprint(rb_pkg.f(), rb_pkg.sub.f())\n")
    assert lines == ["original original"]
    assert op["status"] == "failed"
    statuses = {t["target"]: (t["status"], t["reason"]) for t in op["targets"]}
    assert statuses["rb_pkg:no_such_name"][0] == "failed"
    assert statuses["rb_pkg.sub:f"] == statuses["rb_pkg:f"] == (
        "failed", "rolled back: the op failed on rb_pkg:no_such_name")


def test_a_path_failing_later_rolls_back_what_applied_earlier(tmp_path: Path) -> None:
    """Another timing: the first target is patched (and used) before the failing one's module is imported."""
    lines, op = _run(tmp_path, ["rb_a:f", "rb_b:g"],
                     "import rb_a\nprint(rb_a.f())\nimport rb_b\nprint(rb_a.f(), rb_b.f())\n")
    assert lines == ["patched", "original original"]
    assert op["status"] == "failed"
    assert [(t["target"], t["status"]) for t in op["targets"]] == [("rb_a:f", "failed"), ("rb_b:g", "failed")]
    assert op["targets"][0]["reason"] == "rolled back: the op failed on rb_b:g"


def test_a_path_failing_first_keeps_the_waiting_ones_from_applying(tmp_path: Path) -> None:
    """Another shape: the failing path comes first; the others' modules are imported afterwards."""
    lines, op = _run(tmp_path, ["rb_a:nothing", "rb_b:f", "rb_pkg.sub:f"],
                     "import rb_a, rb_b, rb_pkg\nprint(rb_b.f(), rb_pkg.sub.f())\n")
    assert lines == ["original original"]
    assert [t["status"] for t in op["targets"]] == ["failed", "failed", "failed"]
    assert op["targets"][1]["reason"] == "not applied: the op failed on rb_a:nothing"


def test_on_missing_ignore_keeps_the_other_paths(tmp_path: Path) -> None:
    """Documented: with on-missing = "ignore" a missing path is skipped, not a failure."""
    lines, op = _run(tmp_path, ["rb_a:f", "rb_b:g"], "import rb_a, rb_b\nprint(rb_a.f(), rb_b.f())\n",
                     extra='on-missing = "ignore"')
    assert lines == ["patched original"]
    assert op["status"] == "applied"


def test_a_target_module_whose_import_raises_rolls_back_what_applied_earlier(tmp_path: Path) -> None:
    """The import of one target's module fails: the `also` path already patched is put back."""
    lines, op = _run(tmp_path, ["rb_a:f", "rb_boom:f"], """
        import rb_a
        print(rb_a.f())
        try:
            import rb_boom
        except RuntimeError as exc:
            print('import failed:', exc)
        print(rb_a.f())
        """)
    assert lines == ["patched", "import failed: boom", "original"]
    assert op["status"] == "failed"
    statuses = {t["target"]: (t["status"], t["reason"]) for t in op["targets"]}
    assert statuses["rb_boom:f"] == ("failed", "importing 'rb_boom' raised RuntimeError: boom")
    assert statuses["rb_a:f"] == ("failed", "rolled back: the op failed on rb_boom:f")


def test_a_failed_import_retried_does_not_half_apply_the_op(tmp_path: Path) -> None:
    """The failing module is imported again (an optional backend tried twice), then a waiting path's module."""
    lines, op = _run(tmp_path, ["rb_a:f", "rb_boom_pkg.sub:f", "rb_b:f"], """
        import rb_a
        for _ in range(2):
            try:
                import rb_boom_pkg
            except ImportError as exc:
                print('import failed:', exc)
        import rb_b
        print(rb_a.f(), rb_b.f())
        """)
    assert lines == ["import failed: no backend", "import failed: no backend", "original original"]
    assert [t["status"] for t in op["targets"]] == ["failed", "failed", "failed"]
    assert op["targets"][0]["reason"] == "rolled back: the op failed on rb_boom_pkg.sub:f"
    assert op["targets"][2]["reason"] == "not applied: the op failed on rb_boom_pkg.sub:f"


def test_a_failed_import_of_two_paths_in_one_module_warns_once(tmp_path: Path) -> None:
    """Two paths of the op in the failing module: one failure, the other path not applied."""
    lines, op = _run(tmp_path, ["rb_boom:f", "rb_boom:g", "rb_a:f"], """
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            try:
                import rb_boom
            except RuntimeError:
                pass
        import rb_a
        print(rb_a.f(), len([w for w in caught if w.category.__name__ == 'NpatchWarning']))
        """)
    assert lines == ["original 1"]
    assert [(t["status"], t["reason"]) for t in op["targets"]] == [
        ("failed", "importing 'rb_boom' raised RuntimeError: boom"),
        ("failed", "not applied: the op failed on rb_boom:f"),
        ("failed", "not applied: the op failed on rb_boom:f")]
