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

A deferred plan can also start inside the import of a module its own start
imports: ``json`` imports ``functools``, which imports ``collections``, a
target of py-compat.  The start then found ``functools`` half executed:
``contextlib`` and ``npatch.conditions`` failed to import and were executed
again by the next condition, ``linecache`` and ``tokenize`` twice by the
warnings about it.  Only an interpreter that had not imported ``functools``
before the bootstrap showed it (a fresh virtual environment; the system
Python's ``.pth`` files import it): the ``bare`` runs below start the
bootstrap without ``site``'s ``.pth`` files, so every interpreter shows it.

Executions are counted by an audit hook on ``exec`` of ``<module>`` code,
installed before ``site`` runs the bootstrap (``python -S`` + ``site.main()``,
or, ``bare``, only the paths and ``sitecustomize`` of ``site``).
"""
from __future__ import annotations

import json
import os
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
START_UP
import importlib
imported = {}
def load(name, barrier=None):
    if barrier is not None:
        barrier.wait()
    try:
        importlib.import_module(name)
        imported[name] = True
    except Exception as exc:
        imported[name] = type(exc).__name__
for step in sys.argv[1].split():  # "a+b": a and b imported at once by two threads
    names = step.split("+")
    if len(names) == 1:
        load(names[0])
        continue
    import threading
    barrier = threading.Barrier(len(names))
    threads = [threading.Thread(target=load, args=(name, barrier)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "deadlock"
import json
order, targets = [n for step in sys.argv[1].split() for n in step.split("+")], sys.argv[2].split()

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
#: the start-up of the probe: ``site`` in full, .pth files included (they may import anything) ...
SITE = "import site\nsite.main()  # runs the bootstrap sitecustomize: the plan starts here (eager) or waits (deferred)"
#: ... or bare: the same paths, no .pth file executed, then the bootstrap sitecustomize as site runs it
BARE = "import os, site\nsys.path.extend(sys.argv[3].split(os.pathsep))\nsite.execsitecustomize()"

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
    # first imported inside the import of modules the start imports (json > re > enum > functools)
    "keyword-in-functools": ('keyword:iskeyword', "python_version >= '3.8'", ["json", "keyword"]),
    "collections-package": ('collections:namedtuple', "version('numpy') >= '1.0'", ["json", "collections"]),
    "re-submodule": ('re._parser:parse', "importable('json') and python_version >= '3.8'", ["json", "re"]),
    "threads-keyword": ('keyword:iskeyword', "version('torch') >= '2.0'", ["json+keyword+inspect"]),
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


def _run(tmp_path: Path, manifest: str | None, order: list[str], targets: list[str], eager: bool,
         bare: bool = False) -> dict:
    """The probe under ``npatch apply`` (``-v`` when ``eager``), or without npatch (``manifest`` None);
    ``bare``: started without the .pth files of this environment."""
    env = clean_env(PYTHONPATH=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    code = PROBE.replace("START_UP", BARE if bare else SITE)
    if manifest is None:
        code = code.replace("from npatch.runtime.launcher import SESSIONS", "SESSIONS = []")
    paths = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    probe = [sys.executable, "-S", "-c", code, " ".join(order), " ".join(targets), paths]
    if manifest is None:
        proc = subprocess.run(probe, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    else:
        proc = run_npatch("apply", *(["-v"] if eager else []), manifest, "--", *probe, cwd=tmp_path, env=env,
                          timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert proc.returncode == 0 and lines, proc.stdout + proc.stderr
    return json.loads(lines[0][len("PROBE "):])


def _compare(tmp_path: Path, manifest: str, order: list[str], deferred_runs: int = 2,
             baseline: dict | None = None, bare: bool = False) -> dict:
    plan = compile_manifests([manifest]).plan
    targets = sorted({str(t) for op in plan.ops for t in op.targets if t.qualname})
    # a first deferred run compiles and caches the plan; later runs use the cache, as users' do
    deferred = [_run(tmp_path, manifest, order, targets, eager=False, bare=bare) for _ in range(deferred_runs)]
    eager = _run(tmp_path, manifest, order, targets, eager=True, bare=bare)
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


@pytest.mark.parametrize("bare", [False, True], ids=["site", "bare"])
@pytest.mark.parametrize("key", sorted(SYNTHETIC))
def test_synthetic_plan_with_condition_deferred_equals_eager(wrappers, key, bare):
    manifest = _synthetic(wrappers, key)
    target, when, order = SYNTHETIC[key]
    eager = _compare(wrappers, str(manifest), order, bare=bare)
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
    """``json`` (which imports modules a start imports), then the modules the manifest names."""
    plan = compile_manifests([name]).plan
    return ["json", *(trigger_modules(plan) or sorted({t.module for op in plan.ops for t in op.targets}))]


def _baseline(tmp_path: Path, bare: bool) -> dict:
    """The probe without npatch, importing every module any built-in manifest names."""
    order = sorted({module for name in TOP_LEVEL for module in _order(name)})
    return _run(tmp_path, None, order, [], eager=False, bare=bare)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> dict:
    return _baseline(tmp_path_factory.mktemp("baseline"), bare=False)


@pytest.fixture(scope="module")
def bare_baseline(tmp_path_factory) -> dict:
    return _baseline(tmp_path_factory.mktemp("bare_baseline"), bare=True)


def test_top_level_manifests_include_every_builtin():
    included = {m.name for name in TOP_LEVEL for m in compile_manifests([name]).plan.manifests}
    assert included == set(BUILTIN)


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_builtin_manifest_deferred_equals_eager(tmp_path, name, baseline):
    _compare(tmp_path, name, _order(name), deferred_runs=1, baseline=baseline)


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_builtin_manifest_deferred_equals_eager_without_pth(tmp_path, name, bare_baseline):
    _compare(tmp_path, name, _order(name), deferred_runs=1, baseline=bare_baseline, bare=True)


def test_start_imports_lists_what_a_start_imports():
    """What the deferred finder waits for (``launcher.START_IMPORTS``) holds every
    Python module that starting a plan and evaluating ``python_version`` and
    versions imports in a bare interpreter, beyond what booting imported."""
    code = """
import sys
sys.path.insert(0, sys.argv[1])
import npatch.runtime.launcher
before = set(sys.modules)
import npatch.runtime.session, npatch.conditions, npatch.pep440
npatch.pep440.parse("1.0")
npatch.conditions.VARIABLES["python_version"]()
for name in sorted(set(sys.modules) - before):
    spec = getattr(sys.modules[name], "__spec__", None)
    if not name.startswith("npatch") and spec is not None and spec.name == name and spec.origin != "built-in":
        print(name)
"""
    from npatch.runtime.launcher import START_IMPORTS

    proc = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(REPO / "src")], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    imported = set(proc.stdout.split())
    assert {"functools", "collections", "contextlib", "platform"} <= imported  # the check sees the start
    assert imported <= START_IMPORTS, sorted(imported - START_IMPORTS)
