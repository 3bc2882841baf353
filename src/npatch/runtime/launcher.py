"""Processes under a plan: the boot of each child (the parent side, which builds its
environment and execs the command, is :mod:`npatch.runtime.launcher_parent`).

``npatch apply M -- CMD`` compiles (or finds in the cache) a plan file, then
execs CMD with this environment, which every Python descendant inherits
(torchrun ranks, ``multiprocessing`` spawn and forkserver children, plain
``subprocess`` calls)::

    PYTHONPATH      the bootstrap directory first: its ``sitecustomize``
                    runs at start-up in every Python process
    NPATCH_PLAN     plan file(s), ``os.pathsep``-separated: a nested
                    ``npatch apply`` adds its plan to the inherited ones
    NPATCH_PLAN_DATA  a plan in the variable itself, set by ``npatch env`` for
                    processes on other nodes (:mod:`npatch.runtime.shipped`);
                    started before the plan files.  Also read by the
                    ``npatch.pth`` of npatch's installation, which boots it
                    without ``PYTHONPATH`` (:func:`boot_from_site`)
    NPATCH_STRICT   "1": a failing op stops the process
    NPATCH_REPORT   file that receives the JSON report of all processes
    NPATCH_VERBOSE  "1": each process prints its status tree at exit
    NPATCH_COVERAGE "1": the report also counts calls and device-API errors
                    (:mod:`npatch.runtime.coverage`)

In each process :func:`boot` (called by the bootstrap ``sitecustomize``)
starts one session per plan file.  When nothing asks for a report, a plan
whose ops all wait for imports is not even loaded: a tiny meta-path finder
watches the module names listed next to the plan (see
:func:`npatch.plancache.trigger_modules`) and starts the real session on
the first import of one of them, so a process that never imports a target
pays a set lookup per import and nothing else.  A plan that starts starts
the older plans still waiting first: plans start in ``NPATCH_PLAN``'s
order, deferred or not, and the newest wins where two patch one target.

Reports: every process that booted adds its record to ``REPORT`` at exit
(its atexit hook is registered first, so it runs after the program's own),
under a lock on the report's directory.  The last
process to exit, normally the top one, leaves a report covering every
process; no process has to know which one is the parent.  A process that
leaves with ``os._exit``, where no atexit hook runs, writes its record first:
such a process's ``os._exit`` is :func:`_exit`.  That covers the children of
a bare ``os.fork`` and ``multiprocessing``'s ``fork`` workers (a torch
DataLoader's), which it ends that way; forked children count their own
calls from zero (:func:`_forked`).  A process killed by a signal, one that
``exec``s, and one whose C code calls ``_exit(2)`` itself (a C extension, not
``os._exit``) write nothing.
"""
import os
import sys
from stat import S_ISREG  # loaded at interpreter start-up: no import for a child

# the environment contract and read_file live in the package, which the parent side imports alone
from npatch.runtime import (BOOTSTRAP_DIR, ENV_DATA, ENV_PLAN, ENV_REPORT, ENV_STRICT, ENV_VERBOSE, json_stamp,
                            read_file)

# no `from __future__ import annotations` on the bootstrap path: importing __future__ costs
# a child ~0.7 M instructions; annotations naming what only a type checker imports are quoted
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~7 ms to import: too much for every child process
    from typing import Any

#: set while this process boots: a Python child started by the boot itself
#: (a condition, a user hook) must not boot again and recurse (OpenTelemetry #1050)
ENV_BOOTING = "NPATCH_BOOTING"
#: exit status of a process stopped by a strict failure during start-up
STRICT_EXIT = 1

#: (plan file, session) for every plan started in this process
SESSIONS: "list[tuple[str, Any]]" = []
_BOOTED = False
_FINISH_REGISTERED = False
#: the pid whose report part _finish wrote (a forked child finishes on its own)
_FINISHED_IN = 0
#: identities of the plans started or waiting in this process (see _start_source)
_IDENTITIES: set[str] = set()
#: the deferred plans still waiting, oldest first: a plan that starts starts these older
#: ones first, so that plans start in their order whatever imports come first, and the
#: newest wins where two patch one target, as under the eager start
_WAITING: "list[_Deferred]" = []
#: while :func:`boot` starts plans at interpreter start-up: the directory Python
#: will put first on ``sys.path`` for the program, not there yet; a replacement's
#: module is also looked for there (:func:`npatch.runtime.resolve.import_object`)
STARTUP_PATH: str | None = None


def boot_from_site() -> None:
    """Boot from ``npatch.pth`` (site-packages), which calls this only when
    ``NPATCH_PLAN_DATA`` is set.

    ``.pth`` lines run while ``site`` is still adding site directories: a
    ``--system-site-packages`` venv's system directory, or a later ``.pth``'s
    paths, are not on ``sys.path`` yet, and a condition such as
    ``installed("torch")`` would be evaluated too early.  So during start-up
    the boot waits for the end of ``site``'s work: it runs just before
    ``sitecustomize``, where the ``PYTHONPATH`` bootstrap boots too (and then
    finds the process booted).  A ``.pth`` processed later, by a program's
    ``site.addsitedir()``, boots at once.
    """
    import site

    main = getattr(site, "main", None)
    frame = sys._getframe(1)
    while frame is not None and frame.f_code is not getattr(main, "__code__", None):
        frame = frame.f_back
    original = getattr(site, "execsitecustomize", None)
    if frame is None or original is None:
        boot()
        return

    def execsitecustomize() -> None:
        site.execsitecustomize = original
        boot()
        original()

    site.execsitecustomize = execsitecustomize


def boot() -> None:
    """Start the plans named in the environment; called by the bootstrap
    (``sitecustomize`` on ``PYTHONPATH``, or ``npatch.pth``).

    Runs once per process: later calls (the other route, a re-imported
    ``sitecustomize``) do nothing.  Never raises: a problem is one line on stderr, and under
    ``NPATCH_STRICT`` the process stops with status :data:`STRICT_EXIT`
    (an exception cannot leave ``sitecustomize``: Python would only print it).
    """
    global _BOOTED
    if _BOOTED:
        return
    _BOOTED = True
    environ = os.environ
    plans = environ.get(ENV_PLAN)
    shipped = environ.get(ENV_DATA)
    if not (plans or shipped) or environ.get(ENV_BOOTING):
        return
    environ[ENV_BOOTING] = str(os.getpid())
    global STARTUP_PATH
    STARTUP_PATH = _program_path()
    if _strict() and not environ.get(ENV_VERBOSE):
        from npatch.runtime.errors import install_concise_hook

        install_concise_hook()
    try:
        if shipped:  # the launcher's plan (npatch env) is the outer one
            try:
                start_shipped(shipped)
            except Exception as exc:  # noqa: BLE001 - the user's program must still run
                _boot_failed(exc)
        if plans:
            try:
                start_plans([p for p in plans.split(os.pathsep) if p], deferred=True)
            except Exception as exc:  # noqa: BLE001
                _boot_failed(exc)
    finally:
        environ.pop(ENV_BOOTING, None)
        STARTUP_PATH = None


def _program_path() -> str | None:
    """``sys.path[0]`` as Python will set it for the program (from ``sys.argv``
    as ``site`` sees it); ``None`` when Python adds none (``-P``, ``-I``)."""
    if getattr(sys.flags, "safe_path", False) or sys.flags.isolated or not sys.argv:
        return None
    first = sys.argv[0]
    if first in ("-c", "-", ""):
        return ""
    try:
        return main_path(first)
    except OSError:  # a working directory that was removed: Python itself copes, and so must the boot
        return None


def main_path(program: str, by_main: bool | None = None) -> str:
    """The ``sys.path[0]`` Python gives ``program`` (``-m``: the working directory);
    ``by_main``: what :func:`is_archive_or_folder` says of it, when already asked."""
    if program == "-m":
        return os.getcwd()
    if by_main is None:
        by_main = is_archive_or_folder(program)
    return os.path.abspath(program) if by_main else os.path.dirname(os.path.realpath(program))


def is_archive_or_folder(program: str) -> bool:
    """A program Python runs by its ``__main__`` (a folder or a zip file), not as a script;
    its own path is then ``sys.path[0]``."""
    if os.path.isdir(program):
        return True
    import zipimport

    try:
        zipimport.zipimporter(program)
    except (zipimport.ZipImportError, OSError):
        return False
    return True


def _strict() -> bool:
    return os.environ.get(ENV_STRICT) == "1"


def _boot_failed(exc: BaseException) -> None:
    from npatch.errors import NpatchError

    text = str(exc) if isinstance(exc, NpatchError) else f"{type(exc).__name__}: {exc}"
    if _strict():
        if os.environ.get(ENV_VERBOSE):  # -v keeps the traceback
            import traceback

            traceback.print_exception(exc)
        print(f"npatch: error: {text}", file=sys.stderr)
        _finish()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(STRICT_EXIT)
    print(f"npatch: warning: {text} (the program runs without the plan)", file=sys.stderr)


def start_plans(paths: list[str], *, deferred: bool) -> None:
    """Start a session for each plan file, oldest (outermost) first.

    ``deferred``: a plan with a module list and no report or tree requested
    waits for the first import of one of those modules.
    """
    for path in paths:
        name = os.path.basename(path)
        identity = name[:-5] if name.endswith(".json") else path  # cached plan files are named by their hash
        _start_source(path, identity, lambda path=path: _read_modules(path), None, deferred)
    if os.environ.get("NPATCH_COVERAGE") == "1" and os.environ.get(ENV_REPORT):
        from npatch.runtime.coverage import start_probe
        from npatch.runtime.session import Session

        start_probe(lambda plan, label: Session(plan, label=label).start())


def start_shipped(value: str) -> None:
    """Start the plan carried by ``NPATCH_PLAN_DATA`` (see :mod:`npatch.runtime.shipped`)."""
    from npatch.runtime.shipped import decode

    shipped = decode(value, ENV_DATA)
    _start_source(shipped.label, shipped.plan_hash, lambda: shipped.modules, shipped.load, deferred=True)


def _start_source(label: str, identity: str, modules: "Any", load: "Any", deferred: bool) -> None:
    """Start one plan now, or wait for its first module when ``deferred``
    and nothing asks for a report (``modules()`` is then read).

    ``identity`` (the plan's hash where known): a plan that arrives twice,
    in ``NPATCH_PLAN_DATA`` and as a file of ``npatch apply``, starts once.
    """
    global _FINISH_REGISTERED
    reporting = bool(os.environ.get(ENV_REPORT) or os.environ.get(ENV_VERBOSE))
    if reporting and not _FINISH_REGISTERED:
        import atexit

        from npatch.runtime import reportfiles  # noqa: F401 - bound before any plan can patch json

        atexit.register(_finish)  # registered before the program's own handlers: runs after them
        os.register_at_fork(after_in_child=_forked)
        os._exit = _exit
        _FINISH_REGISTERED = True
    if identity in _IDENTITIES:
        return
    _IDENTITIES.add(identity)
    names = None if reporting or not deferred else modules()
    if names is None or not names.isdisjoint(sys.modules):
        for older in list(_WAITING):
            older.start()
        start_plan(label, load)
    else:
        waiting = _Deferred(label, names, load)
        _WAITING.append(waiting)
        sys.meta_path.insert(0, waiting)


def _read_modules(plan_path: str) -> frozenset[str] | None:
    data = read_file(plan_path[: -len(".json")] + ".modules", lambda info: S_ISREG(info.st_mode))
    try:
        return None if data is None else frozenset(data.decode("utf-8").split())
    except ValueError:
        return None


def start_plan(path: str, load: "Any" = None) -> "Any":
    """Load one plan (the file ``path``, or what ``load()`` returns, labelled
    ``path``) and start its session (imports the runtime)."""
    from npatch.runtime.session import Session

    session = Session(read_plan(path) if load is None else load(), strict=_strict())
    SESSIONS.append((path, session))
    return session.start()


def _owned_regular(info: os.stat_result) -> bool:
    """:func:`npatch.outfiles.owned_regular`'s test, here so that a child
    reading its marshal copy imports no other module (tests/runtime/test_child_import_weight.py)."""
    return S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o022


def read_plan(path: str) -> "Any":
    """A plan file written by the launcher: its ``marshal`` copy when there is
    a usable one (no ``json`` import), else the JSON."""
    from npatch.errors import PlanLoadError
    from npatch.plan import Plan, PlanError

    if path.endswith(".json"):
        data = read_file(path[: -len(".json")] + ".marshal", _owned_regular)  # else someone else's: not trusted
        try:
            if data is not None and data.endswith(json_stamp(os.stat(path))):  # made from the JSON as it is
                return Plan.from_marshal(data, fallback=lambda: _load_json(path).ops)
        except (OSError, PlanError):
            pass  # none (a plan file of the user's), or damaged: the JSON is the plan of record
    try:
        return _load_json(path)
    except OSError as exc:
        raise PlanLoadError(f"cannot read plan {path}: {exc.strerror}") from None
    except PlanError as exc:
        raise PlanLoadError(f"{path}: {exc}") from None


def _load_json(path: str) -> "Any":
    """The JSON plan at ``path`` (:meth:`npatch.plan.Plan.load`: a cached one,
    named by its content hash, must still hash to its name, so a plan changed
    after the launcher verified it is refused, not run)."""
    from npatch.plan import Plan

    return Plan.load(path)


#: the standard-library modules starting a plan imports (npatch's runtime, the
#: condition evaluator, ``platform`` for ``python_version``, ``re`` for
#: versions), beyond what a bare interpreter has loaded: a deferred plan does
#: not start while one of them is being imported (see :class:`_Deferred`);
#: ``tests/runtime/test_deferred_eager.py`` recomputes the list
START_IMPORTS = frozenset((
    "__future__", "collections", "contextlib", "copyreg", "enum", "functools", "importlib", "importlib._abc",
    "importlib.machinery", "importlib.util", "itertools", "keyword", "operator", "platform", "re",
    "re._casefix", "re._compiler", "re._constants", "re._parser", "reprlib", "types", "warnings"))


#: npatch's modules that a start never imports: the built-in manifests' replacement modules, which
#: import targets themselves (a target imported inside them must start a second plan there)
_NOT_STARTING = ("npatch.library.",)


class _Deferred:
    """A meta-path finder that starts one plan at the first import it needs.

    It sees only names in ``modules``; at the first one it starts the
    session, leaves ``sys.meta_path``, and hands this import to npatch's
    shared finder: the import machinery has already asked that finder
    (first on ``sys.meta_path`` when another plan is active) or passed the
    place where the new session inserted it.

    Not while a module the start imports is itself being imported (``json``
    imports ``functools``, which imports ``collections``, a target of
    py-compat): the start would find that module half executed, fail to
    import what needs it (``contextlib``, ``npatch.conditions``) and import
    those again later, executing them twice.  The plan then starts as soon
    as that import ends (:func:`_when_imported`), which is where the eager
    start stands: it imports those modules before its session is active, and
    so patches what they imported as already imported.
    """

    def __init__(self, path: str, modules: "frozenset[str]", load: "Any" = None) -> None:
        from _thread import RLock

        self.path = path
        self.modules = modules
        self.load = load
        self.lock = RLock()
        self.state = 0  # 0 waiting, 1 starting (in the thread holding the lock), 2 started
        self.held = False  # a target was imported while the start could not run: start at the first chance

    def __repr__(self) -> str:
        return f"<npatch deferred plan {self.path!r}: {len(self.modules)} module(s)>"

    def find_spec(self, name: str, path: "Any" = None, target: "Any" = None) -> "Any":
        before = sys.modules.get(name)
        if name not in self.modules:
            if self.held and self.lock.acquire(blocking=False):  # never wait here: any import passes by
                try:
                    if self.state == 0 and self.start():
                        return _imported_by_start(name, before)
                finally:
                    self.lock.release()
            return None
        with self.lock:
            if self.state == 1:  # the session's own start-up imports this name
                return None
            if self.state == 0 and not self.start():
                return None  # the import goes on without the plan, which starts when it can
        from npatch.runtime.finder import FINDER

        spec = _imported_by_start(name, before)
        return spec if spec is not None else FINDER.find_spec(name, path, target)

    def start(self) -> bool:
        """Start the plan unless a module its start imports is being imported
        (then wait for the end of those imports); False if it did not start."""
        with self.lock:
            if self.state != 0:
                return self.state == 2
            busy = _being_imported()
            if busy:
                self.held = True
                for spec in busy:
                    _when_imported(spec, self.start)
                return False
            for older in _WAITING[:_WAITING.index(self)]:
                older.start()
            self.state = 1
            try:
                start_plan(self.path, self.load)
            except Exception as exc:  # noqa: BLE001
                if _strict():
                    raise
                _boot_failed(exc)
            finally:
                self.state = 2
                self.held = False
                _WAITING.remove(self)
                try:
                    sys.meta_path.remove(self)
                except ValueError:
                    pass
            return True

    def invalidate_caches(self) -> None:
        return None


def _imported_by_start(name: str, before: "Any") -> "Any":
    """A spec that hands back ``name``'s module when starting the plan imported
    (and patched) it, where ``before`` was in ``sys.modules``: not a second
    execution; ``None`` otherwise."""
    module = sys.modules.get(name)
    if module is None or module is before or getattr(module, "__spec__", None) is None:
        return None
    from npatch.runtime.finder import loaded_spec

    return loaded_spec(module)


def _being_imported() -> "list[Any]":
    """The specs of the modules a start imports (:data:`START_IMPORTS`, npatch's
    own) whose import is under way, in any thread: a start in another thread
    would wait for that import while holding the finder's lock, which the
    importing thread may need for a target it imports (a deadlock)."""
    modules = sys.modules
    names = [name for name in START_IMPORTS if name in modules]
    names += [name for name in list(modules) if name.startswith("npatch.") and not name.startswith(_NOT_STARTING)]
    specs = [getattr(modules.get(name), "__spec__", None) for name in names]
    return [spec for spec in specs if getattr(spec, "_initializing", False)]


def _when_imported(spec: "Any", then: "Any") -> None:
    """Call ``then()`` when the import that executes ``spec``'s module ends.

    The import system marks that end on the spec (``_initializing`` back to
    False, the module in ``sys.modules``, before its importer goes on): the
    spec's class becomes a subclass that notices it, then goes back.  A
    submodule is bound on its parent first, as the import system does next.
    """
    calls = type(spec).__dict__.get("_npatch_calls")
    if calls is None:
        original, calls = type(spec), []

        def __setattr__(self: "Any", name: str, value: "Any") -> None:
            original.__setattr__(self, name, value)
            if name == "_initializing" and not value and type(self).__dict__.get("_npatch_calls") is calls:
                self.__class__ = original
                parent, _, child = self.name.rpartition(".")
                module = sys.modules.get(self.name)
                if parent in sys.modules and module is not None:
                    try:
                        setattr(sys.modules[parent], child, module)
                    except AttributeError:
                        pass  # the import system only warns there, after us
                for call in calls:
                    call()

        try:
            spec.__class__ = type(original.__name__, (original,),
                                  {"__slots__": (), "__setattr__": __setattr__, "_npatch_calls": calls})
        except TypeError:  # not a class of the import system's kind: the plan starts at the next import
            return
    if then not in calls:
        calls.append(then)


def _forked() -> None:
    """In a forked child: count its own calls from zero (it reports them at
    its exit, by atexit or by :func:`_exit`)."""
    coverage = sys.modules.get("npatch.runtime.coverage")
    if coverage is not None:
        coverage.forget_counts()


#: the real ``os._exit``, taken before any plan could patch it
_OS_EXIT = os._exit


def _exit(status: int) -> None:
    """``os._exit`` in a process that reports: its record first, since no atexit
    hook runs (a bare ``os.fork`` child leaving so; ``multiprocessing`` ends its
    fork workers so, after their own finalizers), then the real one."""
    _finish()
    _OS_EXIT(status)


def _finish() -> None:
    """At exit: this process's status tree and report part, then the merge (once per process)."""
    global _FINISHED_IN
    if not SESSIONS or _FINISHED_IN == os.getpid():
        return
    _FINISHED_IN = os.getpid()
    environ = os.environ
    try:
        if environ.get(ENV_VERBOSE):
            from npatch.runtime.reportfiles import print_trees

            print_trees(SESSIONS)
        report = environ.get(ENV_REPORT)
        if report:
            from npatch.runtime.reportfiles import add_process

            add_process(report, SESSIONS)
    except Exception as exc:  # noqa: BLE001 - at exit, a report problem must not change the exit status
        print(f"npatch: warning: cannot write the report: {exc}", file=sys.stderr)


def start_here(plan_path: str) -> None:
    """Start the plan in this process, which then needs no bootstrap
    (``npatch run``: :func:`npatch.runtime.launcher_parent.run_program`)."""
    global _BOOTED
    _BOOTED = True
    try:
        start_plans([plan_path], deferred=False)
    except Exception as exc:  # noqa: BLE001
        _boot_failed(exc)


__all__ = ["BOOTSTRAP_DIR", "ENV_PLAN", "ENV_STRICT", "ENV_REPORT", "ENV_VERBOSE", "ENV_DATA", "ENV_BOOTING",
           "STRICT_EXIT", "START_IMPORTS", "SESSIONS", "boot_from_site", "boot", "start_plans", "start_shipped",
           "start_plan", "read_plan", "start_here", "is_archive_or_folder",
           "main_path"]
