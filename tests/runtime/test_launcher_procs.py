"""Every Python process under ``npatch apply``: children, ranks, start-up hooks.

The bootstrap ``sitecustomize`` must reach multiprocessing spawn and
forkserver children and torchrun ranks, keep the user's own
``sitecustomize``, run once per process, and cost nothing in a process that
never imports a target (the deferred start).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from npatch_testutil import torchrun
from test_launcher import MANIFEST, PY, SHOW, env, manifest, npatch, ok, write  # noqa: F401 - fixtures

BOOTSTRAP = str(Path(__import__("npatch.runtime.launcher").runtime.launcher.BOOTSTRAP_DIR))


def test_multiprocessing_spawn_and_forkserver_children_apply_the_plan(tmp_path, env, manifest):
    script = write(tmp_path / "mp.py", """
        import multiprocessing as mp, sys

        def child(queue):
            import colorsys
            queue.put(repr(colorsys.rgb_to_yiq))

        if __name__ == "__main__":
            print("start method", mp.get_start_method(allow_none=True))  # npatch must not have set one
            for method in ("spawn", "forkserver"):
                ctx = mp.get_context(method)
                queue = ctx.Queue()
                proc = ctx.Process(target=child, args=(queue,))
                proc.start()
                print(method, queue.get(timeout=120))
                proc.join(120)
                assert proc.exitcode == 0
    """)
    report = tmp_path / "r.json"
    proc = ok(npatch("apply", "--report", report, manifest, "--", PY, script, env=env))
    assert "start method None" in proc.stdout
    assert "spawn 42" in proc.stdout and "forkserver 42" in proc.stdout
    data = json.loads(report.read_text())
    spawned = [p for p in data["processes"] if p["sessions"][0]["counts"]["applied"] == 1]
    assert spawned, data["processes"]  # the spawn child reported its applied op


def test_torchrun_ranks_apply_the_plan(tmp_path, env, manifest):
    pytest.importorskip("torch.distributed")
    script = write(tmp_path / "ddp.py", """
        import colorsys, os
        import torch
        import torch.distributed as dist

        dist.init_process_group("gloo")
        applied = torch.tensor([1 if colorsys.rgb_to_yiq == 42 else 0])
        dist.all_reduce(applied)
        print(f"rank {dist.get_rank()} of {dist.get_world_size()}: applied on {int(applied)} ranks")
        dist.destroy_process_group()
    """)
    report = tmp_path / "r.json"
    # the rendezvous store listens on a port the system gives it (a port picked here and
    # closed again could be taken before torchrun binds it)
    launcher = [*torchrun(), "--standalone", "--local-addr", "127.0.0.1", "--nnodes", "1", "--nproc_per_node", "2"]
    proc = ok(npatch("apply", "--report", report, manifest, "--", *launcher, script, env=env, timeout=600))
    assert proc.stdout.count("applied on 2 ranks") == 2, proc.stdout + proc.stderr
    data = json.loads(report.read_text())
    ranks = {p["rank"]: p for p in data["processes"] if p["rank"] is not None}
    assert set(ranks) == {"0", "1"}
    for record in ranks.values():
        statuses = {op["name"]: op["status"] for op in record["sessions"][0]["ops"]}
        assert statuses == {"yiq": "applied", "never": "waiting"}
    yiq = next(op for op in data["ops"] if op["name"] == "yiq")
    assert yiq["status"] == "applied" and len(yiq["processes"]) >= 3  # the launcher and both ranks


def test_user_sitecustomize_still_runs_once(tmp_path, env, manifest):
    write(tmp_path / "site1/sitecustomize.py", """
        import os, sys
        sys.stderr.write(f"user sitecustomize in {sys.orig_argv[1:3]}\\n")
        MARK = "user"
    """)
    code = "import sitecustomize, colorsys; print(sitecustomize.MARK, colorsys.rgb_to_yiq)"
    proc = ok(npatch("apply", manifest, "--", PY, "-c", code, env=dict(env, PYTHONPATH=str(tmp_path / "site1"))))
    assert "user 42" in proc.stdout
    # once in the launcher (a Python process too, with the same pid after exec), once in the command
    assert proc.stderr.count("user sitecustomize in ['-m', 'npatch']") == 1
    assert proc.stderr.count("user sitecustomize in ['-c', ") == 1


def _other_bootstrap(root: Path) -> str:
    """The bootstrap folder of a second npatch installation (another checkout) under ``root``."""
    folder = root / "other" / "npatch" / "runtime" / "bootstrap"
    folder.mkdir(parents=True)
    (folder / "sitecustomize.py").write_text(Path(BOOTSTRAP, "sitecustomize.py").read_text())
    return str(folder)


USER_SITE = """
    import sys
    sys.stderr.write("user sitecustomize ran\\n")
    MARK = "user"
"""
COUNT = ("import sitecustomize, colorsys; from npatch.runtime import launcher; "
         "print(sitecustomize.MARK, colorsys.rgb_to_yiq, len(launcher.SESSIONS))")


def test_two_installations_bootstraps_on_the_path_run_the_user_sitecustomize_once(tmp_path, env, manifest):
    """``npatch apply`` under a PYTHONPATH that already holds another
    checkout's bootstrap: each bootstrap took the other for the user's
    ``sitecustomize`` and ran it, without end (RecursionError), and the
    user's never ran.  Every npatch bootstrap on the path is passed over."""
    write(tmp_path / "site1/sitecustomize.py", USER_SITE)
    path = os.pathsep.join([_other_bootstrap(tmp_path), str(tmp_path / "site1")])
    proc = ok(npatch("apply", manifest, "--", PY, "-c", COUNT, env=dict(env, PYTHONPATH=path)))
    assert proc.stdout.split() == ["user", "42", "1"], proc.stderr
    assert proc.stderr.count("user sitecustomize ran") == 2  # the launcher's own process, and the command


@pytest.mark.parametrize("order", ["other first", "a link to the other"])
def test_any_order_of_bootstraps_boots_the_plan_once(tmp_path, env, manifest, order):
    """The other installation's bootstrap first on the path (it starts the
    plan with the npatch it imports, once), or reached through a link whose
    name is no bootstrap's: the user's ``sitecustomize`` runs once, after."""
    ok(npatch("apply", manifest, "--", PY, "-c", "pass", env=env))
    (plan,) = (tmp_path / "cache" / "npatch" / "plans").glob("*.json")
    write(tmp_path / "site1/sitecustomize.py", USER_SITE)
    other = _other_bootstrap(tmp_path)
    if order == "a link to the other":
        (tmp_path / "boot").symlink_to(other)
        other = str(tmp_path / "boot")
    path = os.pathsep.join([other, BOOTSTRAP, other, str(tmp_path / "site1")])
    import subprocess

    proc = subprocess.run([PY, "-c", COUNT], env=dict(env, PYTHONPATH=path, NPATCH_PLAN=str(plan)),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.split() == ["user", "42", "1"], proc.stderr
    assert proc.stderr.count("user sitecustomize ran") == 1


def test_failing_user_sitecustomize_is_reported_like_python_does(tmp_path, env, manifest):
    write(tmp_path / "site2/sitecustomize.py", "raise RuntimeError('user hook broke')\n")
    proc = ok(npatch("apply", manifest, "--", PY, "-c", SHOW, env=dict(env, PYTHONPATH=str(tmp_path / "site2"))))
    assert "yiq 42" in proc.stdout
    assert "Error in sitecustomize" in proc.stderr and "user hook broke" in proc.stderr


def test_bootstrap_never_runs_twice(tmp_path, env, manifest):
    code = f"""
import importlib, runpy, sys, sitecustomize
importlib.reload(sitecustomize)
runpy.run_path({os.path.join(BOOTSTRAP, "sitecustomize.py")!r})
from npatch.runtime import launcher, session
launcher.boot()
import colorsys
print(len(launcher.SESSIONS), len(session.SESSIONS), colorsys.rgb_to_yiq)
"""
    proc = ok(npatch("apply", "-v", manifest, "--", PY, "-c", code, env=env))
    assert proc.stdout.split() == ["1", "1", "42"]
    assert proc.stderr.count("npatch: pid") == 1


def test_no_recursion_from_children_started_while_booting(tmp_path, env, manifest):
    # a Python child started during the boot sees NPATCH_BOOTING and stays out
    ok(npatch("apply", manifest, "--", PY, "-c", "pass", env=env))
    (plan,) = (tmp_path / "cache" / "npatch" / "plans").glob("*.json")
    child_env = dict(env, PYTHONPATH=BOOTSTRAP, NPATCH_PLAN=str(plan), NPATCH_BOOTING="1")
    import subprocess

    proc = subprocess.run([PY, "-c", SHOW], env=child_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "yiq 42" not in proc.stdout
    proc = subprocess.run([PY, "-c", "import os; " + SHOW + "; print(os.environ.get('NPATCH_BOOTING'))"],
                          env=dict(child_env, NPATCH_BOOTING=""), capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["yiq", "42", "None"]


def test_nested_apply_adds_plans(tmp_path, env, manifest):
    inner = write(tmp_path / "inner.toml", '[manifest]\nname = "inner"\n[[patch]]\nname = "hls"\n'
                                           'target = "colorsys:rgb_to_hls"\nvalue = 7\n')
    code = "import colorsys; print(colorsys.rgb_to_yiq, colorsys.rgb_to_hls)"
    proc = ok(npatch("apply", manifest, "--", PY, "-m", "npatch", "apply", inner, "--", PY, "-c", code, env=env))
    assert proc.stdout.split() == ["42", "7"]


@pytest.mark.parametrize("start", ["deferred", "eager", "inner-eager"])
def test_nested_apply_the_inner_plan_wins_however_the_plans_start(tmp_path, env, manifest, start):
    """Plans start in NPATCH_PLAN's order, outermost first, so the inner
    ``npatch apply``'s patch of a target both patch is the one left, as in a
    process applying them one after the other.  Before, the deferred start
    started the newest plan first (its finder was first on ``sys.meta_path``)
    and the outer one won; the eager one (``--report``) let the inner win."""
    inner = write(tmp_path / "inner.toml", '[manifest]\nname = "inner"\n[[patch]]\nname = "yiq"\n'
                                           'target = "colorsys:rgb_to_yiq"\nvalue = 7\n')
    if start == "inner-eager":  # a target already imported at start-up: the inner plan starts at once
        inner.write_text(inner.read_text() + '[[patch]]\nname = "os"\ntarget = "os:npatch_marker"\nvalue = 1\n')
    report = ["--report", str(tmp_path / "r.json")] if start == "eager" else []
    code = "import colorsys; print(colorsys.rgb_to_yiq)"
    proc = ok(npatch("apply", manifest, "--", PY, "-m", "npatch", "apply", *report, inner, "--", PY, "-c", code,
                     env=env))
    assert proc.stdout.split() == ["7"]


def test_interpreter_without_npatch_runs_without_the_plan(tmp_path, env, manifest):
    ok(npatch("apply", manifest, "--", PY, "-c", "pass", env=env))
    (plan,) = (tmp_path / "cache" / "npatch" / "plans").glob("*.json")
    write(tmp_path / "shadow/npatch/__init__.py", "raise ImportError('simulated: npatch not installed here')\n")
    child_env = dict(env, PYTHONPATH=os.pathsep.join([BOOTSTRAP, str(tmp_path / "shadow")]), NPATCH_PLAN=str(plan))
    import subprocess

    proc = subprocess.run([PY, "-c", "print('ran')"], env=child_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "ran" in proc.stdout and "cannot import npatch" in proc.stderr
    proc = subprocess.run([PY, "-c", "print('ran')"], env=dict(child_env, NPATCH_STRICT="1"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "ran" not in proc.stdout


# -- the deferred start -----------------------------------------------------------
DEFERRED = """
[manifest]
name = "d"

[[patch]]
name = "minidom"
target = "xml.dom.minidom:parseString"
value = "patched"

[[patch]]
name = "marker"
target = "{module}:npatch_marker"
value = 7
on-missing = "create"
"""


def test_deferred_start_loads_nothing_until_a_target_is_imported(tmp_path, env):
    m = write(tmp_path / "d.toml", DEFERRED.format(module="colorsys"))
    code = """
import sys
before = sorted(m for m in sys.modules if m.startswith("npatch"))
print("before", "npatch.runtime.session" in before, "npatch.plan" in before)
import xml                      # a parent package of a target: starts the plan
print("after xml", "npatch.runtime.session" in sys.modules)
import xml.dom.minidom, colorsys
print(xml.dom.minidom.parseString, colorsys.npatch_marker)
"""
    out = ok(npatch("apply", m, "--", PY, "-c", code, env=env)).stdout.splitlines()
    assert out == ["before False False", "after xml True", "patched 7"]


def test_target_already_imported_at_start_up(tmp_path, env):
    m = write(tmp_path / "d.toml", DEFERRED.format(module="sys"))
    proc = ok(npatch("apply", m, "--", PY, "-c", "import sys; print(sys.npatch_marker)", env=env))
    assert proc.stdout.strip() == "7"


def test_threads_importing_targets_while_the_plan_starts(tmp_path, env):
    for i in range(8):
        write(tmp_path / f"tpkg{i}/__init__.py", "import time\ntime.sleep(0.01)\nVALUE = 0\n")
    m = write(tmp_path / "t.toml", "[manifest]\nname = \"t\"\n" + "".join(
        f'[[patch]]\nname = "v{i}"\ntarget = "tpkg{i}:VALUE"\nvalue = {i + 1}\n' for i in range(8)))
    code = """
import importlib, threading
results = {}
barrier = threading.Barrier(8)
def work(i):
    barrier.wait()
    results[i] = importlib.import_module(f"tpkg{i}").VALUE
threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join(60)
assert not any(t.is_alive() for t in threads), "deadlock"
print(sorted(results.values()))
"""
    proc = ok(npatch("apply", m, "--", PY, "-c", code, env=env, cwd=tmp_path, timeout=120))
    assert proc.stdout.strip() == str(list(range(1, 9)))


def test_deferred_plan_started_while_another_plan_is_active(tmp_path, env):
    # the outer plan starts at once (its target `sys` is imported), so npatch's
    # finder is already first on sys.meta_path when the inner plan starts on `colorsys`
    outer = write(tmp_path / "outer.toml", DEFERRED.format(module="sys"))
    inner = write(tmp_path / "inner.toml", '[manifest]\nname = "inner"\n[[patch]]\nname = "hls"\n'
                                           'target = "colorsys:rgb_to_hls"\nvalue = 9\n')
    code = "import sys, colorsys; print(sys.npatch_marker, colorsys.rgb_to_hls)"
    proc = ok(npatch("apply", outer, "--", PY, "-m", "npatch", "apply", inner, "--", PY, "-c", code, env=env))
    assert proc.stdout.split() == ["7", "9"]


def test_bootstrap_of_a_deferred_plan_imports_almost_nothing(tmp_path, env, manifest):
    """The child-side cost budget, checked as imports (no timing in tests):
    without ``site`` (whose .pth files may import anything), the bootstrap of
    a process that never imports a target loads none of these."""
    ok(npatch("apply", manifest, "--", PY, "-c", "pass", env=env))
    (plan,) = (tmp_path / "cache" / "npatch" / "plans").glob("*.json")
    src = str(Path(__import__("npatch").__file__).parents[1])
    code = f"""
import sys
sys.path[:0] = [{BOOTSTRAP!r}, {src!r}]
before = set(sys.modules)
import sitecustomize
new = sorted(set(sys.modules) - before)
heavy = [m for m in new if m.split(".")[0] in ("typing", "dataclasses", "json", "logging", "hashlib",
                                                 "inspect", "re", "npatch") and m not in
         ("npatch", "npatch.log", "npatch.runtime", "npatch.runtime.launcher")]
print(heavy, "npatch.runtime.launcher" in new)
"""
    import subprocess

    proc = subprocess.run([PY, "-S", "-c", code], env=dict(env, NPATCH_PLAN=str(plan)),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[] True"
