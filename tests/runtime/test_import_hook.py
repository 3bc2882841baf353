"""Runtime scenarios in a fresh interpreter: the import hook, as users run it."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from rt_helpers import clean_env, op, plan, run_plan, statuses

TARGET = """
class Base:
    @staticmethod
    def s():
        return "Base.s"

def f():
    return "f"

VALUE = 1
"""


def write(root, relpath, text):
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def check(proc):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_target_imported_after_apply_and_never_imported(tmp_path):
    write(tmp_path, "lazy/__init__.py", "")
    write(tmp_path, "lazy/late.py", TARGET)
    write(tmp_path, "neverpkg/__init__.py", "raise RuntimeError('must not be imported')\n")
    write(tmp_path, "neverpkg/sub.py", TARGET)
    write(tmp_path, "repl.py", "def f():\n    return 'repl'\n")
    p = plan(op("replace", "lazy.late:f", name="late", source="repl:f"),
             op("value", "lazy.late:Base.s", name="late-s", value=5),
             op("replace", "neverpkg.sub:f", name="never", source="repl:f"))
    proc = check(run_plan(tmp_path, p, """
        import sys
        assert 'lazy' not in sys.modules and 'lazy.late' not in sys.modules
        assert 'repl' not in sys.modules      # sources load when their op applies
        print('WAITING', [o['status'] for o in SESSION.report_dict()['ops']])
        import lazy.late
        assert lazy.late.f() == 'repl' and lazy.late.Base.s == 5
        assert type(lazy.late.__loader__).__name__ == 'SourceFileLoader'
        assert lazy.late.__spec__.loader is lazy.late.__loader__
        assert 'neverpkg' not in sys.modules and 'neverpkg.sub' not in sys.modules
        SESSION.stop()
        assert lazy.late.f() == 'f' and lazy.late.Base.s() == 'Base.s'
        assert not any(type(f).__module__.startswith('npatch') for f in sys.meta_path)
    """))
    assert "WAITING ['waiting', 'waiting', 'waiting']" in proc.stdout
    assert statuses(proc.report) == {"late": "applied", "late-s": "applied", "never": "waiting"}
    never = [o for o in proc.report["ops"] if o["name"] == "never"][0]
    assert never["reason"] == "neverpkg.sub not imported"


def test_already_imported_target_is_patched_at_once(tmp_path):
    write(tmp_path, "early.py", TARGET)
    write(tmp_path, "repl.py", "def f():\n    return 'repl'\n")
    write(tmp_path, "sitecustomize.py", "import early\n")  # imported before the plan starts
    proc = check(run_plan(tmp_path, plan(op("replace", "early:f", name="early", source="repl:f")), """
        import early
        assert early.f() == 'repl'
    """))
    assert statuses(proc.report) == {"early": "applied"}


def test_alias_stub_and_patch_in_one_plan(tmp_path):
    write(tmp_path, "app/__init__.py", "")
    write(tmp_path, "app/npu_impl.py", "def kernel():\n    return 'npu'\n")
    write(tmp_path, "app/user.py", """
        from app._ext import fast_op            # a stub
        from app.cuda_impl import kernel         # an alias of app.npu_impl
        def run():
            return kernel()
    """)
    write(tmp_path, "repl.py", "def run():\n    return 'patched'\n")
    p = plan(op("alias", "app.cuda_impl", name="alias", source="app.npu_impl"),
             op("stub", "app._ext", name="stub", value="error", manifest="demo"),
             op("replace", "app.user:run", name="patch", source="repl:run"),
             op("replace", "app.cuda_impl:kernel", name="via-alias", source="repl:run"))
    proc = check(run_plan(tmp_path, p, """
        import sys
        import app.user
        assert app.user.run() == 'patched'
        import app.cuda_impl, app.npu_impl
        assert app.cuda_impl is app.npu_impl and app.npu_impl.kernel() == 'patched'
        try:
            app.user.fast_op()
        except NotImplementedError as exc:
            print('STUB', exc)
        SESSION.stop()
        assert 'app.cuda_impl' not in sys.modules and 'app._ext' not in sys.modules
        assert not hasattr(sys.modules['app'], 'cuda_impl') and not hasattr(sys.modules['app'], '_ext')
        assert app.npu_impl.kernel() == 'npu'
    """))
    assert statuses(proc.report) == {"alias": "applied", "stub": "applied", "patch": "applied",
                                     "via-alias": "applied"}
    assert "stub 'stub' in manifest 'demo'" in proc.stdout


def test_import_error_inside_target_is_reported_as_that_error(tmp_path):
    # real mmcv-lite: `import mmcv.ops` fails with "No module named 'mmcv._ext'"
    write(tmp_path, "repl.py", "def nms(*a):\n    return 'nms'\n")
    p = plan(op("replace", "mmcv.ops:nms", name="nms", source="repl:nms"))
    proc = check(run_plan(tmp_path, p, """
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            try:
                import mmcv.ops
            except ModuleNotFoundError as exc:     # the user's own error, unchanged
                print('USER-ERROR', exc)
        print('WARNINGS', [str(w.message) for w in caught if w.category.__name__ == 'NpatchWarning'])
    """))
    assert "USER-ERROR No module named 'mmcv._ext'" in proc.stdout
    entry = proc.report["ops"][0]
    assert entry["status"] == "failed"
    assert entry["reason"] == "importing 'mmcv.ops' raised ModuleNotFoundError: No module named 'mmcv._ext'"
    assert "No module named 'mmcv._ext'" in proc.stdout.split("WARNINGS", 1)[1]


def test_strict_failure_fails_the_import_and_the_program(tmp_path):
    write(tmp_path, "target.py", TARGET)
    p = plan(op("replace", "target:f", name="bad", source="repl_missing_module:f"))
    proc = run_plan(tmp_path, p, "import target\n", strict=True)
    assert proc.returncode == 1
    assert "PatchError: npatch: replace 'bad' on target:f failed: module 'repl_missing_module'" in proc.stderr
    # not strict: a warning, and the program goes on
    proc = check(run_plan(tmp_path, p, "import target\nprint('RAN', target.f())\n"))
    assert "RAN f" in proc.stdout and "NpatchWarning" in proc.stderr
    assert statuses(proc.report) == {"bad": "failed"}


def test_namespace_package(tmp_path):
    write(tmp_path, "nsroot/nspkg/mod.py", TARGET)
    write(tmp_path, "repl.py", "def f():\n    return 'repl'\n")
    p = plan(op("value", "nspkg:FLAG", name="ns", value=True, on_missing="create"),
             op("replace", "nspkg.mod:f", name="mod", source="repl:f"))
    proc = check(run_plan(tmp_path, p, """
        import sys, importlib
        sys.path.insert(0, 'nsroot')
        import nspkg.mod
        assert nspkg.FLAG is True and nspkg.mod.f() == 'repl'
        assert nspkg.__file__ is None and type(nspkg.__loader__).__name__ == 'NamespaceLoader'
        assert nspkg.__spec__.loader is nspkg.__loader__ and list(nspkg.__path__)
        importlib.reload(nspkg)
        assert nspkg.FLAG is True
        SESSION.stop()
        assert not hasattr(nspkg, 'FLAG') and nspkg.mod.f() == 'f'
    """))
    assert statuses(proc.report) == {"ns": "applied", "mod": "applied"}


def test_reload_reapplies_and_lazy_loader_applies_on_first_access(tmp_path):
    write(tmp_path, "target.py", TARGET + "\ncounter = [0]\n")
    write(tmp_path, "lazytarget.py", TARGET)
    write(tmp_path, "repl.py", "def f():\n    return 'repl'\n")
    p = plan(op("replace", "target:f", name="reload", source="repl:f"),
             op("replace", "lazytarget:f", name="lazy", source="repl:f"))
    proc = check(run_plan(tmp_path, p, """
        import importlib, importlib.util, sys
        import target
        assert target.f() == 'repl'
        importlib.reload(target)
        assert target.f() == 'repl'
        spec = importlib.util.find_spec('lazytarget')
        loader = importlib.util.LazyLoader(spec.loader)
        spec.loader = loader
        module = importlib.util.module_from_spec(spec)
        sys.modules['lazytarget'] = module
        loader.exec_module(module)
        print('BEFORE-ACCESS', [o['status'] for o in SESSION.report_dict()['ops']])
        assert module.f() == 'repl'
        assert type(module.__loader__).__name__ == 'SourceFileLoader'
        SESSION.stop()
        assert target.f() == 'f' and module.f() == 'f'
        importlib.reload(target)
        assert target.f() == 'f'
    """))
    assert "BEFORE-ACCESS ['applied', 'waiting']" in proc.stdout
    assert statuses(proc.report) == {"reload": "applied", "lazy": "applied"}


def test_python_dash_m_runs_main_with_its_real_loader(tmp_path):
    write(tmp_path, "tool/__init__.py", "")
    write(tmp_path, "tool/helper.py", TARGET)
    write(tmp_path, "tool/__main__.py", """
        import sys
        from tool import helper
        print('MAIN', helper.f(), type(__loader__).__name__, type(__spec__.loader).__name__)
    """)
    write(tmp_path, "repl.py", "def f():\n    return 'repl'\n")
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan(op("replace", "tool.helper:f", source="repl:f"),
                              op("value", "tool:MARK", value=1),
                              op("value", "tool.__main__:MARK", value=1)).to_json())
    write(tmp_path, "sitecustomize.py", f"""
        from npatch.plan import Plan
        from npatch.runtime.session import Session
        Session(Plan.from_json(open({str(plan_file)!r}).read())).start()
    """)
    proc = check(subprocess.run([sys.executable, "-m", "tool"], cwd=tmp_path, capture_output=True, text=True,
                                env=clean_env(PYTHONPATH=str(tmp_path)), timeout=120))
    assert "MAIN repl SourceFileLoader SourceFileLoader" in proc.stdout
    # runpy.run_module, which python -m uses, behaves the same from inside a program
    p = plan(op("replace", "tool.helper:f", name="helper", source="repl:f"),
             op("value", "tool.__main__:MARK", name="main", value=1))
    proc = check(run_plan(tmp_path, p, """
        import runpy
        runpy.run_module('tool', run_name='__main__')
    """))
    assert "MAIN repl SourceFileLoader SourceFileLoader" in proc.stdout
    assert statuses(proc.report) == {"helper": "applied", "main": "waiting"}
    assert "ran as the main program" in proc.report["ops"][1]["reason"]


def test_rebind_replaces_from_import_copies_and_warns_without(tmp_path):
    write(tmp_path, "target.py", TARGET)
    write(tmp_path, "consumer.py", "from target import f\nfrom target import f as alias_f\n")
    write(tmp_path, "repl.py", "def f():\n    return 'repl'\n")
    write(tmp_path, "sitecustomize.py", "import consumer\n")
    code = """
        import consumer, target, warnings
        print('COPY', consumer.f(), consumer.alias_f())
        SESSION.stop()
        print('AFTER', consumer.f() , consumer.f is target.f)
    """
    p = plan(op("replace", "target:f", name="f", source="repl:f", rebind=True))
    proc = check(run_plan(tmp_path, p, code))
    assert "COPY repl repl" in proc.stdout and "AFTER f True" in proc.stdout
    assert "NpatchWarning" not in proc.stderr
    proc = check(run_plan(tmp_path, plan(op("replace", "target:f", name="f", source="repl:f")), code))
    assert "COPY f f" in proc.stdout
    assert proc.stderr.count("NpatchWarning") == 1
    assert "target:f, patched by 'f': consumer, consumer (as alias_f)" in proc.stderr
    # the session-wide switch does the same as the per-op flag
    proc = check(run_plan(tmp_path, plan(op("replace", "target:f", name="f", source="repl:f")), code, rebind=True))
    assert "COPY repl repl" in proc.stdout


STALE_MANIFEST = """
    [manifest]
    name = "m"

    [[patch]]
    name = "other"
    target = "{module}:g"
    value = 1
    on-missing = "create"

    [[patch]]
    name = "f"
    target = "{module}:{name}"
    replace = "repl:{name}"
"""


@pytest.mark.parametrize("how", ["api", "apply", "apply -v"])
def test_the_stale_copies_warning_points_at_the_manifest_line(tmp_path, how):
    """It pointed inside npatch (``launcher.py:NNN: NpatchWarning`` + ``return session.start()``).
    Under ``npatch apply`` the copy is the standard library's own: posixpath, imported at
    start-up, holds ``from genericpath import *`` copies."""
    from npatch_testutil import run_npatch

    write(tmp_path, "target.py", TARGET)
    write(tmp_path, "consumer.py", "from target import f\n")
    write(tmp_path, "repl.py", "def f():\n    return 'repl'\n\ndef isdir(s):\n    return False\n")
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=str(tmp_path))
    if how == "api":
        manifest = write(tmp_path, "m.toml", STALE_MANIFEST.format(module="target", name="f"))
        proc = subprocess.run([sys.executable, "-c", "import consumer, npatch\nwith npatch.apply('m.toml'):\n    pass"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        expected = "target:f, patched by 'f': consumer;"
    else:
        manifest = write(tmp_path, "m.toml", STALE_MANIFEST.format(module="genericpath", name="isdir"))
        proc = run_npatch("apply", str(manifest), *how.split()[1:], "--", sys.executable, "-c",
                          "import genericpath", cwd=tmp_path, env=env)
        expected = "genericpath:isdir, patched by 'f': posixpath"
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "NpatchWarning" in line]
    assert len(lines) == 1 and lines[0].startswith(f"{manifest}:10: NpatchWarning: "), proc.stderr
    assert expected in lines[0]


def test_eight_threads_import_patched_modules_at_once(tmp_path):
    n = 8
    for i in range(n):
        # each replacement module imports the next target, so hooks import while others import
        write(tmp_path, f"thr/t{i}.py", "import time\ntime.sleep(0.05)\n" + TARGET)
        write(tmp_path, f"thr/r{i}.py", f"""
            import time
            import thr.t{(i + 1) % n}
            time.sleep(0.02)
            def f():
                return 'r{i}'
        """)
    write(tmp_path, "thr/__init__.py", "")
    p = plan(*(op("replace", f"thr.t{i}:f", name=f"t{i}", source=f"thr.r{i}:f") for i in range(n)))
    proc = check(run_plan(tmp_path, p, f"""
        import importlib, threading
        results, errors = {{}}, []
        barrier = threading.Barrier({n} * 2)
        def work(i):
            try:
                barrier.wait()
                results[i] = importlib.import_module(f'thr.t{{i % {n}}}').f()
            except BaseException as exc:
                errors.append(repr(exc))
        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range({n} * 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), 'deadlock'
        assert not errors, errors
        assert results == {{i: f'r{{i % {n}}}' for i in range({n} * 2)}}, results
    """, timeout=120))
    assert set(statuses(proc.report).values()) == {"applied"}


def test_rebind_follows_a_replace_wrap_chain_and_spares_the_source_module(tmp_path):
    write(tmp_path, "target.py", TARGET)
    write(tmp_path, "consumer.py", "from target import f\n")
    # the replacement keeps the original under its own name and calls it
    write(tmp_path, "repl.py", """
        from target import f as _original
        def f():
            return 'repl+' + _original()
        def make_wrapper(original, options):
            def wrapper():
                return 'wrap(' + original() + ')'
            return wrapper
    """)
    write(tmp_path, "sitecustomize.py", "import consumer, repl\n")
    p = plan(op("replace", "target:f", name="replace", source="repl:f", rebind=True),
             op("wrap", "target:f", name="wrap", source="repl:make_wrapper", rebind=True))
    proc = check(run_plan(tmp_path, p, """
        import consumer, target, repl
        print('CALLS', target.f(), consumer.f(), consumer.f is target.f)
        SESSION.stop()
        print('AFTER', consumer.f(), repl._original is target.f)
    """))
    assert "CALLS wrap(repl+f) wrap(repl+f) True" in proc.stdout
    assert "AFTER f True" in proc.stdout
