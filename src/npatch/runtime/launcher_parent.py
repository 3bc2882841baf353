"""The parent side of :mod:`npatch.runtime.launcher`: what the ``npatch apply``
process does before it execs the command (the child's environment, the
command's checks, the report file), and ``npatch run``'s in-process start.

A child never imports this module: its boot needs only the launcher's
child side (``tests/runtime/test_child_import_weight.py``); nor does this
module import the child side, except for ``npatch run``, which starts the
plan in its own process (a cached ``npatch apply`` imports no more than it needs).
"""
import os
import sys

from npatch.runtime import BOOTSTRAP_DIR, ENV_DATA, ENV_PLAN, ENV_REPORT, ENV_STRICT, ENV_VERBOSE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def child_environ(plan_path: str | None, *, strict: bool = False, report: str | None = None,
                  verbose: bool = False, environ: dict[str, str] | None = None,
                  data: str | None = None, coverage: bool = False) -> dict[str, str]:
    """The environment that puts a process and its descendants under ``plan_path``
    (or, when no file could hold the plan, under ``data``, an inline
    ``NPATCH_PLAN_DATA`` value: see :func:`npatch.plancache.compiled_plan`).

    Settings not given are inherited, so a nested ``npatch apply`` keeps the
    outer report and strictness and adds its plan after the outer ones.
    """
    env = dict(os.environ if environ is None else environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p != BOOTSTRAP_DIR]
    env["PYTHONPATH"] = os.pathsep.join([BOOTSTRAP_DIR] + [p for p in paths if p])
    if data is not None:
        env[ENV_DATA] = data
    if plan_path is not None:
        plans = [p for p in env.get(ENV_PLAN, "").split(os.pathsep) if p]
        if plan_path not in plans:
            plans.append(plan_path)
        env[ENV_PLAN] = os.pathsep.join(plans)
    if strict:
        env[ENV_STRICT] = "1"
    if report:
        env[ENV_REPORT] = report
    if verbose:
        env[ENV_VERBOSE] = "1"
    if coverage:
        env["NPATCH_COVERAGE"] = "1"
    return env


def exec_command(argv: list[str], env: dict[str, str]) -> int:
    """Replace this process with ``argv`` (its exit status becomes ours);
    returns only when the command cannot be started, with a shell's status."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        return start_failed(argv, exc)
    return 0  # pragma: no cover - execvpe does not return


def start_failed(argv: list[str], exc: OSError) -> int:
    """Say why ``argv`` could not start, as a shell does; the status a shell
    gives: 127 when there is no such command, 126 when there is one that
    cannot run (a folder, a script whose ``#!`` interpreter is missing)."""
    import shutil

    path = argv[0] if os.sep in argv[0] else shutil.which(argv[0])
    if path and os.path.isdir(path):
        why = "is a directory"
    elif not isinstance(exc, FileNotFoundError):
        why = f"cannot run: {exc.strerror}"
    elif path and os.path.isfile(path):    # the file is there: its #! line names what is missing
        why = f"bad interpreter {_interpreter(path)}: {exc.strerror}"
    else:
        print(f"npatch: {argv[0]}: command not found", file=sys.stderr)
        return 127
    print(f"npatch: {argv[0]}: {why}", file=sys.stderr)
    return 126


def _interpreter(path: str) -> str:
    """The interpreter the ``#!`` line of the file at ``path`` names (``?`` if none can be read)."""
    try:
        with open(path, "rb") as file:
            line = file.readline(4096)
    except OSError:
        return "?"
    words = line[2:].split() if line.startswith(b"#!") else []
    return os.fsdecode(words[0]) if words else "?"


_FLAG_EFFECTS = {
    "I": "isolated mode ignores PYTHONPATH",
    "E": "ignores PYTHON* environment variables, PYTHONPATH included",
    "S": "skips the site module, which runs sitecustomize",
}


def python_flag_problem(argv: list[str]) -> str | None:
    """Why ``argv`` (a ``python`` command) will not run the bootstrap, if it will not.

    Only the interpreter's own flags before the script, ``-c`` or ``-m``
    are looked at; a Python child that another program starts with these
    flags cannot be detected here.
    """
    name = os.path.basename(argv[0])
    if name.endswith(".exe"):
        name = name[:-4]
    version = name[6:] if name.startswith("python") else None
    if version is None or version.replace(".", "").strip("0123456789") not in ("", "m", "d"):
        return None
    args = iter(argv[1:])
    for arg in args:
        if arg == "-" or not arg.startswith("-") or arg.startswith("--"):
            if arg.startswith("--"):
                continue
            return None
        for index, letter in enumerate(arg[1:], 1):
            if letter in "cm":
                return None
            if letter in "XW":
                if index == len(arg) - 1:
                    next(args, None)
                break
            if letter in _FLAG_EFFECTS:
                return f"`{name} -{letter}` {_FLAG_EFFECTS[letter]}: the plan is not applied in that process"
    return None


def prepare_report(path: str, option: str = "--report") -> str:
    """Absolute report path, with an empty report written, so the file
    always reflects this run (:func:`npatch.runtime.reportfiles.prepare`: a
    usage error naming ``option`` when it cannot be written)."""
    from npatch.runtime.reportfiles import prepare

    return prepare(path, option)


# -- in-process: npatch run --------------------------------------------------------
def run_program(plan_path: str, program: list[str], *, strict: bool = False, report: str | None = None,
                verbose: bool = False, coverage: bool = False) -> int:
    """Apply the plan here, then run ``program`` (``script.py ARGS`` or
    ``-m module ARGS``) as ``__main__``, as ``python`` would.

    Children get the same environment as under ``apply``.  Returns the
    program's exit status; a SystemExit propagates unchanged.
    """
    from npatch.runtime.launcher import SESSIONS, STRICT_EXIT, is_archive_or_folder, main_path, start_here

    os.environ.update(child_environ(plan_path, strict=strict, report=report, verbose=verbose, coverage=coverage))
    by_main = program[0] != "-m" and is_archive_or_folder(program[0])
    try:
        sys.path[0] = main_path(program[0], by_main)
    except OSError:  # a removed working directory: python adds no entry for it, and the program runs
        pass
    start_here(plan_path)
    code = _run_main(program, by_main)
    if strict and code == 0:
        failed = [s for _, session in SESSIONS for s in session.statuses() if s.status == "failed"]
        if failed:
            names = ", ".join(s.name for s in failed)
            print(f"npatch: error: --strict: {len(failed)} op(s) failed: {names}", file=sys.stderr)
            return STRICT_EXIT
    return code


def _run_main(program: list[str], by_main: bool) -> int:
    """Run ``program`` as ``__main__``; ``by_main``: it is a folder or zip file run by its ``__main__``."""
    import runpy

    if program[0] == "-m":
        sys.argv = [program[1], *program[2:]]
        run = lambda: runpy.run_module(program[1], run_name="__main__", alter_sys=True)  # noqa: E731
    else:
        sys.argv = list(program)
        if by_main:
            run = lambda: _run_main_module(program[0])  # noqa: E731
        else:
            run = lambda: runpy.run_path(program[0], run_name="__main__")  # noqa: E731
    try:
        run()
    except (SystemExit, KeyboardInterrupt):
        raise
    except _NoMain as exc:
        print(f"npatch: error: {exc}", file=sys.stderr)
        return 1
    except BaseException as exc:  # noqa: BLE001 - reported like the interpreter would
        tb = _user_traceback(exc.__traceback__)
        if isinstance(exc, ImportError) and tb.tb_next is None and tb.tb_frame.f_globals.get("__name__") == "runpy":
            print(f"npatch: error: {exc}", file=sys.stderr)  # runpy found no module to run: no traceback (as python -m)
            return 1
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)  # the hook prints exc.__traceback__
        return 1
    return 0


class _NoMain(Exception):
    pass


def _run_main_module(program: str) -> None:
    """Run the ``__main__`` of a folder or zip file (``sys.path[0]`` already) as
    python does: ``sys.argv[0]`` and ``sys.path`` as given, a fresh ``__main__``.
    (``runpy.run_path`` would set ``sys.argv[0]`` and ``sys.path[0]`` to the path
    as typed, where python makes ``sys.path[0]`` absolute.)"""
    import types
    from importlib.machinery import PathFinder

    spec = PathFinder.find_spec("__main__", [sys.path[0]])
    if spec is None or spec.loader is None:
        raise _NoMain(f"can't find '__main__' module in {program!r}")
    code = spec.loader.get_code("__main__")  # type: ignore[attr-defined]
    module = types.ModuleType("__main__")
    module.__dict__.update(__spec__=spec, __file__=spec.origin, __loader__=spec.loader, __package__="",
                           __cached__=spec.cached, __builtins__=__builtins__)
    sys.modules["__main__"] = module
    exec(code, module.__dict__)


def _user_traceback(tb: "Any") -> "Any":
    """The traceback without the frames of this module and runpy in front of the program's."""
    ours = {__name__, "runpy"}
    while tb is not None and tb.tb_next is not None and tb.tb_frame.f_globals.get("__name__") in ours:
        tb = tb.tb_next
    return tb


__all__ = ["child_environ", "exec_command", "start_failed", "python_flag_problem", "prepare_report", "run_program"]
