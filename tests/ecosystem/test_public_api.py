"""Issue 15 item 5: a small, explicit public API.

``dir(npatch)`` is its ``__all__``; ``load`` and ``apply`` take explicit,
typed keywords; ``repr(plan)`` is one short line and ``str(plan)`` lists the
ops; every module of the package declares what it exports.  Checked in a
fresh interpreter, as a user's ``import npatch`` sees it.
"""
from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import npatch
from npatch_testutil import run_python

SRC = Path(npatch.__file__).parent


def test_dir_of_npatch_is_its_short_all():
    code = """
        import json, npatch, npatch.compiler, npatch.plan  # submodules imported meanwhile stay out of dir()
        print(json.dumps({"dir": dir(npatch), "all": npatch.__all__,
                          "missing": [n for n in npatch.__all__ if not hasattr(npatch, n)]}))
    """
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["dir"] == sorted(got["all"])
    assert got["missing"] == []
    assert len(got["all"]) <= 12
    assert not {"TYPE_CHECKING", "annotations", "compiler", "plan", "_os"} & set(got["dir"])


def test_load_and_apply_have_explicit_typed_keywords():
    import inspect

    for func, expected in [(npatch.load, {"resolve", "sets", "disable", "paths", "strict"}),
                           (npatch.apply, {"sets", "disable", "strict", "rebind", "label"})]:
        params = inspect.signature(func).parameters
        keywords = {n for n, p in params.items() if p.kind is p.KEYWORD_ONLY}
        assert keywords == expected, func.__name__
        assert not any(p.kind is p.VAR_KEYWORD for p in params.values()), func.__name__
        assert all(p.annotation is not p.empty for n, p in params.items()), func.__name__
        assert [name for name in keywords if f"``{name}``" not in func.__doc__] == [], func.__name__


def test_apply_patches_and_restores(tmp_path):
    (tmp_path / "m.toml").write_text('[manifest]\nname = "api"\n\n[[patch]]\nname = "p"\n'
                                     'target = "npt_api_mod:f"\nvalue = 7\n')
    (tmp_path / "npt_api_mod.py").write_text("f = 1\n")
    code = """
        import npatch, npt_api_mod
        with npatch.apply("m.toml", label="mine") as session:
            print(npt_api_mod.f, session.label)
        print(npt_api_mod.f)
    """
    proc = run_python(code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["7", "mine", "1"]


def test_repr_of_a_plan_is_one_line_and_str_lists_the_ops():
    plan = npatch.load("cuda-to-cpu")
    text = repr(plan)
    assert "\n" not in text and len(text) < 200
    assert text.startswith("<Plan cuda-to-cpu: ") and f"{len(plan.ops)} ops" in text
    assert plan.content_hash[:12] in text
    listing = str(plan).splitlines()
    assert listing[0] == text
    assert sum(1 for line in listing if any(f" {op.name}: " in line for op in plan.ops[:3])) == 3
    assert len(listing) >= len(plan.ops) + 1


def _declares_all(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return True
    return False


def test_every_module_declares_its_exports():
    """As packaging and pluggy do: a module is private (leading underscore) or
    says what it exports.  Two files are not importable modules of the API:
    ``__main__`` and the bootstrap's ``sitecustomize``; ``library.py_compat.imp``
    stands in for the removed stdlib ``imp`` module, which had no ``__all__``."""
    exempt = {"__main__.py", "runtime/bootstrap/sitecustomize.py", "library/py_compat/imp.py"}
    undeclared = [str(p.relative_to(SRC)) for p in sorted(SRC.rglob("*.py"))
                  if str(p.relative_to(SRC)) not in exempt
                  and not (p.name.startswith("_") and p.name != "__init__.py") and not _declares_all(p)]
    assert undeclared == [], undeclared
