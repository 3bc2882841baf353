"""``npatch apply`` and ``npatch run``: programs under a plan.

Both take manifests, ``--disable``, ``--set``, ``--strict``, ``--report`` and
``-v`` in any order, then the program.  ``apply`` needs ``--`` before the
command because the command has options of its own; ``run`` accepts it and
also finds the program without it, at the first ``-m`` or ``*.py`` word.

On the way to a cached plan this module imports only
:mod:`npatch.plancache`, :mod:`npatch.runtime.launcher` and its parent side
(:mod:`npatch.runtime.launcher_parent`): no compiler.
:func:`fast_apply` parses a well-formed ``apply`` command line without
argparse, for a ``main`` that wants to skip building the whole parser.
"""
from __future__ import annotations

import sys

from npatch.cli.hot import VALUED as _VALUED
from npatch.cli.hot import Options, parse_fast
from npatch.cli.registry import command, parse_sets
from npatch.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from npatch.cli.registry import Handler

_EPILOG = """\
Examples:
  npatch apply cuda-to-cpu -- python train.py
  npatch apply cuda-to-cpu -v --report run.json -- python train.py
  npatch apply cuda-to-cpu --coverage cov.json -- python train.py
  npatch run cuda-to-cpu train.py

When the plan is not cached yet, the manifests get the static check of
`npatch compile` (names and call signatures, executing nothing); what it
finds is printed as warnings before the program starts (again on each cache
hit), and --strict does not start the program.

Every Python process the command starts applies the plan too: the
launcher puts a bootstrap `sitecustomize` first on PYTHONPATH and the plan
file in NPATCH_PLAN.  `python -I`, `-E` and `-S` skip it.  Plans are
cached in $XDG_CACHE_HOME/npatch (or ~/.cache/npatch), checked against the
manifests' content on every use.  With --report, --coverage or -v each
process adds its record at exit, also one leaving with os._exit (a bare
os.fork child, a multiprocessing fork worker); not one killed by a signal,
one that execs, or one whose C code calls _exit(2) itself.  Exit status:
the command's own; 2 for a usage error, 1 for an invalid manifest.
"""


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--disable", action="append", default=[], metavar="NAME",
                        help="switch off an op (or an included manifest's op) by name; repeatable")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override an option of the manifests; repeatable")
    parser.add_argument("--strict", action="store_true",
                        help="a problem the static check finds keeps the program from starting; any op "
                             "that fails stops it (non-zero exit) instead of a warning")
    parser.add_argument("--report", metavar="FILE",
                        help="write a JSON report of every op in every process at exit")
    parser.add_argument("--coverage", metavar="FILE",
                        help="write the report with run coverage to FILE: how often each replaced or wrapped "
                             "function was called and the device-API errors no op handled (`npatch report FILE`)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="print each process's status tree to stderr at exit")


def _setup(parser: argparse.ArgumentParser, usage: str, program_help: str) -> None:
    import argparse

    parser.usage = usage
    parser.epilog = _EPILOG
    _add_options(parser)
    # argparse would eat the program's options: take the rest as it is and
    # parse the part before the program ourselves (see _split)
    parser.add_argument("rest", nargs=argparse.REMAINDER, metavar="MANIFEST...", help=program_help)


@command("apply", help="run a command with manifests applied in it and every Python child",
         description="Run COMMAND with the plan of MANIFEST... applied in every Python process it starts.")
def setup_apply(parser: argparse.ArgumentParser) -> Handler:
    _setup(parser, "%(prog)s [options] MANIFEST... -- COMMAND [ARG...]",
           "manifests (paths, built-in or entry-point names, or one saved plan.json), `--`, the command")

    def handler(args: argparse.Namespace) -> int:
        manifests, cmd = _split(parser, args, program_start=None)
        return apply(manifests, cmd, args)

    return handler


@command("run", help="run a Python script or module in this process with manifests applied",
         description="Apply the plan of MANIFEST... in this process, then run SCRIPT (or -m MODULE) as "
                     "__main__, without exec; child processes get the plan as under `apply`.")
def setup_run(parser: argparse.ArgumentParser) -> Handler:
    _setup(parser, "%(prog)s [options] MANIFEST... [--] (SCRIPT.py | FOLDER | ZIP | -m MODULE) [ARG...]",
           "manifests, then the script or `-m module` and its arguments")

    def handler(args: argparse.Namespace) -> int:
        manifests, program = _split(parser, args, program_start=_program_start)
        if program[0] == "-m" and len(program) < 2:
            raise UsageError("`-m` needs a module name")
        return run(manifests, program, args)

    return handler


def _program_start(words: list[str]) -> int | None:
    """Where the program starts in ``run`` words without ``--``: the first
    ``-m``, ``*.py``, ``*.pyz`` or folder with a ``__main__.py`` that is not
    the value of an option."""
    import os

    for index, word in enumerate(words):
        if index and words[index - 1] in _VALUED:
            continue
        if word == "-m" or word.endswith((".py", ".pyz")):
            return index
        if word and os.path.isfile(os.path.join(word, "__main__.py")):
            return index
    return None


def _split(parser: argparse.ArgumentParser, args: argparse.Namespace,
           program_start: object) -> tuple[list[str], list[str]]:
    """Manifests and options before the program, and the program's words
    (a ``--`` after where ``run``'s program starts is one of its arguments)."""
    import argparse

    words = list(args.rest)
    start = program_start(words) if callable(program_start) else None
    cut = words.index("--") if "--" in words else None
    if cut is not None and (start is None or cut < start):
        front, program = words[:cut], words[cut + 1:]
    elif start is not None:
        front, program = words[:start], words[start:]
    elif program_start is None:
        raise UsageError(f"missing `--` before the command: {parser.prog} MANIFEST... -- COMMAND [ARG...]")
    else:
        raise UsageError(f"no program to run: {parser.prog} MANIFEST... SCRIPT.py|FOLDER|-m MODULE [ARG...]")
    if not program:
        raise UsageError(f"no command after `--`: {parser.prog} MANIFEST... -- COMMAND [ARG...]")
    front_parser = argparse.ArgumentParser(prog=parser.prog, add_help=False)
    _add_options(front_parser)
    front_parser.add_argument("manifests", nargs="*")
    front_parser.parse_args(front, namespace=args)
    if not args.manifests:
        raise UsageError(f"no manifest given before the program: {parser.prog} MANIFEST... -- COMMAND")
    return args.manifests, program


def fast_apply(argv: list[str]) -> int | None:
    """``npatch apply`` for the words after ``apply``, without argparse
    (whose import and parser building cost several ms per launch).

    Handles only the well-formed, unabbreviated form; returns ``None`` for
    anything else (help, a mistake, an abbreviated option) so that the
    caller falls back to the full parser and its messages.  (A cache hit
    without anything to report takes :func:`npatch.cli.hot.launch_cached`
    before this.)
    """
    parsed = parse_fast(argv)
    return None if parsed is None else apply(*parsed)


def _plan(manifests: list[str], args: argparse.Namespace | Options, *, environment: bool = False):
    from npatch.plancache import compiled_plan

    from npatch.errors import STATIC_CHECK_MARK, NpatchError

    cached = compiled_plan(manifests, parse_sets(args.set), list(args.disable), environment=environment)
    if cached.notes:
        sys.stderr.write(cached.notes)
    found = cached.notes.count(STATIC_CHECK_MARK + "\n")
    if found and args.strict:
        raise NpatchError(f"the static check found {found} problem{'s' * (found > 1)} in the manifests; "
                          "--strict does not start the program (`npatch compile` shows them)")
    return cached


def apply(manifests: list[str], cmd: list[str], args: argparse.Namespace | Options) -> int:
    """Compile (or find) the plan and exec ``cmd`` under it."""
    from npatch.runtime import launcher_parent

    problem = launcher_parent.python_flag_problem(cmd)
    if problem and args.strict:
        raise UsageError(f"{problem} (--strict)")
    if problem:
        print(f"npatch: warning: {problem}", file=sys.stderr)
    cached = _plan(manifests, args, environment=True)
    report = _report_file(args)
    env = launcher_parent.child_environ(cached.path or None, strict=args.strict, report=report, verbose=bool(args.verbose),
                                 data=cached.inline, coverage=bool(args.coverage))
    if cached.temporary:        # the plan lives in a directory removed at exit: wait for the command
        return _run_and_wait(cmd, env)
    return launcher_parent.exec_command(cmd, env)


#: what npatch passes on to the command it waits for (SIGKILL and SIGSTOP cannot be caught)
_FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
#: ``si_code`` of a signal the kernel sent: Ctrl-C or Ctrl-\\ at the terminal, which the command gets too
_SI_KERNEL = 0x80


def _run_and_wait(cmd: list[str], env: dict[str, str]) -> int:
    """Run ``cmd`` as a child, passing on the signals sent to npatch (a
    terminal's Ctrl-C and Ctrl-\\ reach the command directly: they are not
    sent twice), and return its status the way a shell reports it."""
    import signal
    import subprocess

    from npatch.runtime.launcher_parent import start_failed

    try:
        child = subprocess.Popen(cmd, env=env)
    except OSError as exc:
        return start_failed(cmd, exc)
    forwarded = {getattr(signal, name) for name in _FORWARDED}
    terminal = {signal.SIGINT, signal.SIGQUIT}
    if hasattr(signal, "sigwaitinfo"):
        # an inherited SIG_IGN would discard the SIGCHLD waited for (set after
        # Popen: the command keeps the disposition it inherited)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        watched = forwarded | {signal.SIGCHLD}
        signal.pthread_sigmask(signal.SIG_BLOCK, watched)
        while child.poll() is None:
            info = signal.sigwaitinfo(watched)
            if info.si_signo in forwarded and not (info.si_signo in terminal and info.si_code == _SI_KERNEL):
                child.send_signal(info.si_signo)
    else:  # no siginfo (macOS): a terminal's signal cannot be told from kill's, so those two are not passed on
        for number in forwarded:
            signal.signal(number, signal.SIG_IGN if number in terminal
                          else lambda signum, _frame: child.send_signal(signum))
        child.wait()
    code = child.returncode
    return 128 - code if code < 0 else code


def _report_file(args: argparse.Namespace | Options) -> str | None:
    """The report file (``--coverage FILE`` is a report with counts), written empty now."""
    if args.coverage and args.report and args.coverage != args.report:
        raise UsageError("--coverage FILE writes the report with counts: give --report or --coverage, not both")
    path = args.coverage or args.report
    if not path:
        return None
    from npatch.runtime.launcher_parent import prepare_report

    return prepare_report(path, "--coverage" if args.coverage else "--report")


def run(manifests: list[str], program: list[str], args: argparse.Namespace | Options) -> int:
    """Compile (or find) the plan, apply it here and run the program as ``__main__``."""
    import os

    from npatch.runtime import launcher_parent

    if program[0] != "-m" and not os.path.isfile(program[0]):
        if not os.path.isdir(program[0]):
            raise UsageError(f"script not found: {program[0]}")
        if not os.path.isfile(os.path.join(program[0], "__main__.py")):
            raise UsageError(f"no __main__.py in the folder {program[0]}")
    plan_path = _plan(manifests, args).path
    report = _report_file(args)
    return launcher_parent.run_program(plan_path, program, strict=args.strict, report=report,
                                verbose=bool(args.verbose), coverage=bool(args.coverage))


__all__ = ["setup_apply", "setup_run", "fast_apply", "apply", "run"]
