"""Aliases of packages: one module per file under both names (issue 10, items 1 and 3).

Every scenario runs in a fresh interpreter; ``counter.runs`` counts how often
each module body executed (each must run once).
"""
from __future__ import annotations

import sys

from npatch_testutil import clean_env, run_npatch
from rt_helpers import op, plan, run_plan, statuses
from tree_helpers import COUNTER, apply_scenario, expect_lines, line_of, write_files

ALIAS = """
[manifest]
name = "m"

[[alias]]
target = "old"
source = "new"
"""

NEW_PKG = {
    "new/__init__.py": "import counter; counter.count(__name__)\n",
    "new/sub.py": "import counter; counter.count(__name__)\nclass K:\n    pass\n",
    "new/later.py": "import counter; counter.count(__name__)\nclass L:\n    pass\n",
    "new/deep/__init__.py": "",
    "new/deep/leaf.py": "import counter; counter.count(__name__)\nclass D:\n    pass\n",
}


def _ok(proc) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_submodule_of_an_aliased_package_is_the_real_one(tmp_path):
    out = _ok(apply_scenario(tmp_path, ALIAS, """
        import sys, counter
        import old.sub
        from old.sub import K as K1
        from new.sub import K as K2
        import new.sub
        print("SAME", old.sub is new.sub, K1 is K2, sys.modules["old.sub"] is sys.modules["new.sub"])
        print("ISINSTANCE", isinstance(K1(), K2), isinstance(K2(), K1))
        print("NAME", K1.__module__, old.sub.__name__, old.sub.__spec__.name)
        print("RUNS", sorted(counter.runs.items()))
    """, NEW_PKG))
    expect_lines(out,
                 "SAME True True True", "ISINSTANCE True True", "NAME new.sub new.sub new.sub",
                 "RUNS [('new', 1), ('new.sub', 1)]")


def test_submodules_imported_later_through_either_name_are_shared(tmp_path):
    out = _ok(apply_scenario(tmp_path, ALIAS, """
        import sys, counter, importlib
        import old
        import new.later                     # through the real name first
        import old.later
        print("LATER", old.later is new.later, sys.modules["old.later"] is new.later)
        sub = importlib.import_module("old.sub")   # through the alias first
        print("SUB", sub is sys.modules["new.sub"], new.sub is sub, old.sub is sub)
        from old.deep.leaf import D as D1
        from new.deep.leaf import D as D2
        print("DEEP", D1 is D2, sys.modules["old.deep.leaf"] is sys.modules["new.deep.leaf"],
              sys.modules["old.deep"] is sys.modules["new.deep"])
        print("RUNS", sorted(counter.runs.items()))
    """, NEW_PKG))
    expect_lines(out,
                 "LATER True True", "SUB True True True", "DEEP True True True",
                 "RUNS [('new', 1), ('new.deep.leaf', 1), ('new.later', 1), ('new.sub', 1)]")


def test_restore_removes_exactly_the_alias_entries(tmp_path):
    write_files(tmp_path, {"counter.py": COUNTER,
                           **NEW_PKG, "oldish.py": "X = 1\n"})
    proc = run_plan(tmp_path, plan(op("alias", "old", source="new")), """
        import sys, importlib.util, oldish
        import old.sub, old.deep.leaf
        import new.later
        before = sorted(n for n in sys.modules if n == "old" or n.startswith("old."))
        sys.modules["old_user"] = sys.modules["oldish"]      # not the alias's
        SESSION.stop()
        after = sorted(n for n in sys.modules if n == "old" or n.startswith("old"))
        import new
        print("BEFORE", before)
        print("AFTER", after)
        print("REAL", new.sub is sys.modules["new.sub"], new.deep.leaf.D.__module__, hasattr(new, "later"))
        print("GONE", importlib.util.find_spec("old"))
    """)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    expect_lines(proc.stdout,
                 "BEFORE ['old', 'old.deep', 'old.deep.leaf', 'old.sub']", "AFTER ['old_user', 'oldish']",
                 "REAL True new.deep.leaf True", "GONE None")


def test_namespace_package_source(tmp_path):
    files = {"new/sub.py": "import counter; counter.count(__name__)\nclass K:\n    pass\n"}  # no __init__
    out = _ok(apply_scenario(tmp_path, ALIAS, """
        import counter
        from old.sub import K as K1
        from new.sub import K as K2
        import old, new
        print("NS", K1 is K2, old is new, old.__spec__.origin)
        print("RUNS", sorted(counter.runs.items()))
    """, files))
    expect_lines(out, "NS True True None", "RUNS [('new.sub', 1)]")


def test_reload_through_the_alias_updates_both_names(tmp_path):
    out = _ok(apply_scenario(tmp_path, ALIAS, """
        import importlib, counter
        import old.sub, new.sub
        first = old.sub.K
        mod = importlib.reload(old.sub)
        print("RELOAD", mod is new.sub, old.sub.K is new.sub.K, old.sub.K is not first)
        print("RUNS", sorted(counter.runs.items()))
    """, NEW_PKG))
    expect_lines(out, "RELOAD True True True", "RUNS [('new', 1), ('new.sub', 2)]")


def test_pickle_through_both_names(tmp_path):
    out = _ok(apply_scenario(tmp_path, ALIAS, """
        import pickle
        from old.sub import K
        from new.sub import K as K2
        obj = pickle.loads(pickle.dumps(K()))
        print("ROUND", type(obj) is K2)
        legacy = b"cold.sub\\nK\\nq\\x00)\\x81q\\x01."   # a pickle written when the class lived in old.sub
        print("LEGACY", type(pickle.loads(legacy)) is K)
    """, NEW_PKG))
    expect_lines(out, "ROUND True", "LEGACY True")


def test_alias_in_an_included_manifest_and_nested_aliases(tmp_path):
    write_files(tmp_path, {"inner.toml": """
        [manifest]
        name = "inner"

        [[alias]]
        target = "old"
        source = "new"
    """})
    outer = """
        [manifest]
        name = "outer"
        include = ["inner.toml"]

        [[alias]]
        target = "old.extra"
        source = "other"
    """
    files = {**NEW_PKG, "other.py": "import counter; counter.count(__name__)\nclass O:\n    pass\n"}
    out = _ok(apply_scenario(tmp_path, outer, """
        import counter, sys
        from old.extra import O
        import other
        from old.sub import K
        import new.sub
        print("NESTED", O is other.O, K is new.sub.K, sys.modules["old.extra"] is other)
        print("RUNS", sorted(counter.runs.items()))
    """, files))
    expect_lines(out, "NESTED True True True", "RUNS [('new', 1), ('new.sub', 1), ('other', 1)]")


def test_compat_inject_module_alias_shares_submodules(tmp_path):
    write_files(tmp_path, {"counter.py": COUNTER,
                           **NEW_PKG})
    proc = run_plan(tmp_path, plan(), """
        import sys, counter
        from npatch.compat import inject_module_alias, inject_module_aliases_batch, restore_module_aliases
        print(inject_module_alias("new", "old"))
        inject_module_aliases_batch([("new.deep", "older")])
        from old.sub import K as K1
        from new.sub import K as K2
        from older.leaf import D as D1
        from new.deep.leaf import D as D2
        print("COMPAT", K1 is K2, D1 is D2)
        print("RUNS", sorted(counter.runs.items()))
        restore_module_aliases()
        print("LEFT", sorted(n for n in sys.modules if n.startswith(("old", "older"))))
    """)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    expect_lines(proc.stdout,
                 "COMPAT True True", "RUNS [('new', 1), ('new.deep.leaf', 1), ('new.sub', 1)]", "LEFT []")


def test_missing_submodule_of_an_alias_is_a_plain_module_not_found(tmp_path):
    out = _ok(apply_scenario(tmp_path, ALIAS, """
        import importlib.util
        print("SPEC", importlib.util.find_spec("old.nothing"))
        print("ORIGIN", importlib.util.find_spec("old.sub").origin == importlib.util.find_spec("new.sub").origin)
        try:
            import old.nothing
        except ModuleNotFoundError as exc:
            print("MISSING", exc.name)
    """, NEW_PKG))
    expect_lines(out, "SPEC None", "ORIGIN True", "MISSING old.nothing")


# -- item 3: aliases fail like imports ----------------------------------------------------------
def test_alias_with_a_missing_source_raises_module_not_found(tmp_path):
    manifest = ALIAS.replace('"new"', '"not_installed_pkg"')
    proc = apply_scenario(tmp_path, manifest, """
        try:
            import old
        except ImportError as exc:
            print("CAUGHT", type(exc).__mro__[1].__name__, isinstance(exc, ModuleNotFoundError), exc.name)
            print("MSG", exc)
        import importlib
        try:
            importlib.import_module("old.sub")
        except ModuleNotFoundError as exc:
            print("SUB", exc.name)
        print("DONE")
    """)
    out = _ok(proc)
    assert "CAUGHT" in out and "True old" in out
    msg = next(line for line in out.splitlines() if line.startswith("MSG"))
    assert "alias:old" in msg and "'m'" in msg and "not_installed_pkg" in msg
    assert f"m.toml:{line_of(tmp_path / 'm.toml', '[[alias]]')}" in msg
    assert "SUB old" in out and "DONE" in out
    assert "Traceback" not in proc.stderr


def test_missing_alias_source_under_strict_still_raises_an_import_error(tmp_path):
    manifest = ALIAS.replace('"new"', '"not_installed_pkg"')
    out = _ok(apply_scenario(tmp_path, manifest, """
        try:
            import old
        except ImportError as exc:
            print("CAUGHT", type(exc).__name__)
    """, None, "--strict"))
    assert "CAUGHT NpatchAliasError" in out


def test_alias_source_with_a_broken_import_raises_its_own_error(tmp_path):
    files = {"new/__init__.py": "import not_installed_dependency\n"}
    out = _ok(apply_scenario(tmp_path, ALIAS, """
        try:
            import old
        except ModuleNotFoundError as exc:
            print("INNER", exc.name)
    """, files))
    assert "INNER not_installed_dependency" in out


def test_alias_session_report_says_failed(tmp_path):
    proc = run_plan(tmp_path, plan(op("alias", "old", name="a", source="nowhere_pkg")), """
        try:
            import old
        except ModuleNotFoundError:
            pass
    """)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert statuses(proc.report) == {"a": "failed"}
    assert "NpatchAliasError" in proc.report["ops"][0]["reason"]
    assert "NpatchWarning" not in proc.stderr  # the import raised; no second message


def test_python_dash_m_through_an_alias_runs_the_source_code(tmp_path):
    files = {**NEW_PKG, "new/tool.py": "print('TOOL', __name__, __spec__.name)\n",
             "new/__main__.py": "print('PKGMAIN', __name__)\n"}
    write_files(tmp_path, {"counter.py": COUNTER, **files, "m.toml": ALIAS})
    env = clean_env(PYTHONPATH=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    outs = []
    for module in ("old.tool", "old"):
        proc = run_npatch("apply", str(tmp_path / "m.toml"), "--", sys.executable, "-m", module, cwd=tmp_path, env=env)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
        outs.append(proc.stdout.strip())
    assert outs == ["TOOL __main__ old.tool", "PKGMAIN __main__"]


def test_alias_cycle_in_a_plan_built_in_code_raises_instead_of_a_phantom_module(tmp_path):
    the_plan = plan(op("alias", "selfish", name="self", source="selfish"),
                    op("alias", "ping", name="ping", source="pong"), op("alias", "pong", name="pong", source="ping"))
    proc = run_plan(tmp_path, the_plan, """
        import importlib
        for name in ("selfish", "ping", "pong"):
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as exc:
                print("CYCLE", name, exc.name, "leads back to itself" in str(exc))
            else:
                print("PHANTOM", name)
    """)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[:3] == ["CYCLE selfish selfish True", "CYCLE ping ping True",
                                           "CYCLE pong pong True"]


def test_serving_aliases_and_stubs_imports_nothing_heavy(tmp_path):
    manifest = ALIAS + '\n[[stub]]\nmodule = "apex"\n'
    out = _ok(apply_scenario(tmp_path, manifest, """
        import sys
        import old.sub, old.deep.leaf, apex.amp
        from apex.parallel import DDP
        heavy = ("subprocess", "json", "dataclasses", "npatch.compiler", "npatch.dsl", "npatch.runtime.report")
        print("HEAVY", [n for n in heavy if n in sys.modules])
    """, NEW_PKG))
    assert "HEAVY []" in out


def test_threads_importing_both_names_at_once_share_one_module(tmp_path):
    files = {**NEW_PKG, "new/slow.py": "import counter, time\ncounter.count(__name__)\ntime.sleep(0.2)\nclass S:\n    pass\n"}
    out = _ok(apply_scenario(tmp_path, ALIAS, """
        import threading, importlib, counter
        import old
        barrier = threading.Barrier(8)
        got = []
        def worker(i):
            barrier.wait()
            got.append(importlib.import_module("old.slow" if i % 2 else "new.slow").S)
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads: t.start()
        for t in threads: t.join()
        print("THREADS", len(got), len(set(map(id, got))), counter.runs.get("new.slow"))
    """, files))
    assert "THREADS 8 1 1" in out
