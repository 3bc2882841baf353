"""The deferred start is the eager start.

``npatch apply`` without ``-v``/``--report`` starts a cached plan at the
first import of a module it names (``_Deferred`` in the launcher); with them
it starts at once.  Both must give the same process: the same status for
every op, the same objects at every target, and every module executed once.

A deferred plan starts inside the import of its first target; evaluating a
condition there (``version()`` imports ``importlib.metadata``, ``email``,
``csv``...; ``python_version`` imports ``platform``) used to import that very
target, which the outer import then executed a second time: the wrap landed
on the first copy and the program got the second (``platform.machine``
unwrapped, two ``platform`` modules).

Executions are counted by an audit hook on ``exec`` of ``<module>`` code,
installed before ``site`` runs the bootstrap (``python -S`` + ``site.main()``).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from npatch.compiler import compile_manifests
from npatch.plancache import trigger_modules
from npatch_testutil import REPO, clean_env, run_npatch

# the probe: count module executions from before the bootstrap, import the
# plan's modules in the given order, print what a user could observe
PROBE = r"""
import sys
COUNTS = {}
def _hook(event, args):
    if event == "exec" and getattr(args[0], "co_name", None) == "<module>":
        COUNTS[args[0].co_filename] = COUNTS.get(args[0].co_filename, 0) + 1
sys.addaudithook(_hook)
import site
site.main()  # runs the bootstrap sitecustomize: the plan starts here (eager) or waits (deferred)
import importlib, json
order, targets = json.loads(sys.argv[1]), json.loads(sys.argv[2])
imported = {}
for name in order:
    try:
        importlib.import_module(name)
        imported[name] = True
    except Exception as exc:
        imported[name] = type(exc).__name__

def describe(path):
    module, _, qualname = path.partition(":")
    obj = sys.modules.get(module)
    if obj is None:
        return "not imported"
    for part in qualname.split(".") if qualname else ():
        try:
            obj = getattr(obj, part)
        except Exception as exc:
            return "error " + type(exc).__name__
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return repr(obj)
    return (f"{type(obj).__module__}.{type(obj).__qualname__} "
            f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}")

from npatch.runtime.launcher import SESSIONS
statuses = {s.name: [s.status, s.reason] for _, session in SESSIONS for s in session.statuses()}
files = {name: getattr(m, "__file__", None) for name, m in list(sys.modules.items())}
executions = {name: COUNTS.get(f, 0) for name, f in files.items() if isinstance(f, str) and f.endswith(".py")}
twice = sorted(name for name, n in executions.items() if n > 1)
print("PROBE " + json.dumps({"imported": imported, "statuses": statuses, "twice": twice,
                              "objects": {t: describe(t) for t in targets},
                              "executions": {n: executions.get(n) for n in order}}))
"""

WRAPPERS = """
def make(original, options):
    def wrapper(*args, **kwargs):
        return original(*args, **kwargs)
    wrapper.__qualname__ = "wrapper_of_" + getattr(original, "__name__", "?")
    return wrapper
"""

# synthetic plans whose conditions import what their targets name
SYNTHETIC = {
    "random-version": ('random:seed', "version('torch') >= '2.0'", ["random", "tempfile"]),
    "platform-pyver": ('platform:machine', "python_version >= '3.8'", ["platform"]),
    "zipfile-version": ('zipfile:is_zipfile', "version('numpy') >= '1.0'", ["zipfile"]),
    "email-version": ('email.utils:formatdate', "version('torch_npu_absent') != '1.0'", ["email.utils"]),
    "csv-providing": ('csv:reader', "version('mmcv') >= '2.0'", ["tempfile", "csv"]),
    "datetime-installed": ('calendar:monthrange', "installed('torch') and importable('json')", ["calendar"]),
    "textwrap-false": ('textwrap:dedent', "version('torch') < '1.0'", ["textwrap"]),
    # evaluated when the session starts, the op read at the import
    "shlex-importable": ('shlex:quote', "importable('json') and version('numpy') >= '1.0'", ["shlex"]),
    "shlex-importable-false": ('shlex:quote', "not importable('shlex')", ["shlex"]),
}


def _synthetic(tmp_path: Path, key: str) -> Path:
    target, when, _ = SYNTHETIC[key]
    path = tmp_path / f"{key}.toml"
    path.write_text(f'[manifest]\nname = "{key}"\n\n[[patch]]\nname = "w"\ntarget = "{target}"\n'
                    f'wrap = "npt_wrappers:make"\nwhen = "{when}"\n')
    return path


def _run(tmp_path: Path, manifest: str | None, order: list[str], targets: list[str], eager: bool) -> dict:
    """The probe under ``npatch apply`` (``-v`` when ``eager``), or without npatch (``manifest`` None)."""
    env = clean_env(PYTHONPATH=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    probe = [sys.executable, "-S", "-c", PROBE.replace("from npatch.runtime.launcher import SESSIONS", "SESSIONS = []")
             if manifest is None else PROBE, json.dumps(order), json.dumps(targets)]
    if manifest is None:
        proc = subprocess.run(probe, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    else:
        proc = run_npatch("apply", *(["-v"] if eager else []), manifest, "--", *probe, cwd=tmp_path, env=env,
                          timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert proc.returncode == 0 and lines, proc.stdout + proc.stderr
    return json.loads(lines[0][len("PROBE "):])


def _compare(tmp_path: Path, manifest: str, order: list[str], deferred_runs: int = 2,
             baseline: dict | None = None) -> dict:
    plan = compile_manifests([manifest]).plan
    targets = sorted({str(t) for op in plan.ops for t in op.targets if t.qualname})
    # a first deferred run compiles and caches the plan; later runs use the cache, as users' do
    deferred = [_run(tmp_path, manifest, order, targets, eager=False) for _ in range(deferred_runs)]
    eager = _run(tmp_path, manifest, order, targets, eager=True)
    # what executes twice without npatch (cv2 runs its cv2.mat_wrapper twice itself) is all that may
    allowed = set((baseline or {}).get("twice", ()))
    for run in [*deferred, eager]:
        assert set(run["twice"]) <= allowed, f"{manifest}: executed twice: {run['twice']}"
        assert all(n in (None, 1) for name, n in run["executions"].items() if name not in allowed), run["executions"]
    for run in deferred:
        assert run["statuses"] == eager["statuses"], manifest
        assert run["objects"] == eager["objects"], manifest
        assert run["imported"] == eager["imported"], manifest
    return eager


@pytest.fixture
def wrappers(tmp_path: Path) -> Path:
    (tmp_path / "npt_wrappers.py").write_text(WRAPPERS)
    return tmp_path


@pytest.mark.parametrize("key", sorted(SYNTHETIC))
def test_synthetic_plan_with_condition_deferred_equals_eager(wrappers, key):
    manifest = _synthetic(wrappers, key)
    target, when, order = SYNTHETIC[key]
    eager = _compare(wrappers, str(manifest), order)
    expected = "skipped" if key.endswith("-false") else "applied"
    assert eager["statuses"]["w"][0] == expected, eager
    if expected == "applied":
        assert "wrapper_of_" in eager["objects"][target], eager["objects"]


def test_random_wrap_keeps_tempfile_random_one_class(wrappers):
    manifest = _synthetic(wrappers, "random-version")
    code = ("import tempfile, random; print('SAME', tempfile._Random is random.Random, "
            "random.seed.__qualname__)")
    env = clean_env(PYTHONPATH=str(wrappers), XDG_CACHE_HOME=str(wrappers / "cache"))
    for flags in ([], [], ["-v"]):
        proc = run_npatch("apply", *flags, str(manifest), "--", sys.executable, "-c", code, cwd=wrappers, env=env)
        assert "SAME True wrapper_of_seed" in proc.stdout, proc.stdout + proc.stderr


BUILTIN = sorted(p.stem for p in (REPO / "src" / "npatch" / "manifests").glob("*.toml"))
#: manifests no other one includes: together they hold every op of every built-in manifest
TOP_LEVEL = ["cuda-to-cpu", "cuda-to-npu", "mmcv-lite", "mmcv-npu", "mmcv-npu-v1", "py-compat"]


def _order(name: str) -> list[str]:
    plan = compile_manifests([name]).plan
    return trigger_modules(plan) or sorted({t.module for op in plan.ops for t in op.targets})


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> dict:
    """The probe without npatch, importing every module any built-in manifest names."""
    order = sorted({module for name in TOP_LEVEL for module in _order(name)})
    return _run(tmp_path_factory.mktemp("baseline"), None, order, [], eager=False)


def test_top_level_manifests_include_every_builtin():
    included = {m.name for name in TOP_LEVEL for m in compile_manifests([name]).plan.manifests}
    assert included == set(BUILTIN)


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_builtin_manifest_deferred_equals_eager(tmp_path, name, baseline):
    _compare(tmp_path, name, _order(name), deferred_runs=1, baseline=baseline)
