"""``npatch diff`` (static rewrites as a diff, or written in place) and
``npatch test`` (run the rules' examples).  The rewrite layer, and with it
libcst, is imported only when one of these commands runs."""
from __future__ import annotations

import argparse
import sys

from npatch.cli.registry import command
from npatch.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from npatch.cli.registry import Handler


def _load_plan(spec: str):
    from npatch.compiler import load_plan

    return load_plan([spec])


def _manifest_name(plan, spec: str) -> str:
    return plan.manifests[0].name if plan.manifests else spec


@command(
    "diff",
    help="static rewrites ([[rewrite]] rules) as a unified diff",
    description=(
        "Apply a manifest's [[rewrite]] rules to Python files and print a unified diff\n"
        "(`git apply` accepts it), or write the files in place.\n\n"
        "  npatch diff cuda-to-npu src/                  print the diff\n"
        "  npatch diff cuda-to-npu src/ --check          exit 1 when something would change\n"
        "  npatch diff cuda-to-npu src/ --write -j 8     rewrite files, 8 processes\n"
        "  npatch diff cuda-to-npu src/ --report r.csv   every change and unsupported-API use\n\n"
        "Directories are searched for *.py files, skipping hidden directories. Globs\n"
        "(--include/--exclude, and a rule's include/exclude) match paths relative to the\n"
        "current directory; a glob without '/' matches a file name anywhere.\n\n"
        "Exit codes: 0 done; 1 with --check when files would change, or when a file\n"
        "could not be read, parsed or written; 2 usage error.\n\n"
        "--write never follows a symlink out of the given paths, never opens a FIFO,\n"
        "socket or device, keeps owner, group and mode, and refuses (exit 1) a file\n"
        "changed since it was read, a read-only file or a hard-linked one (--force\n"
        "writes those: a hard-linked file in place, so every link sees it)."
    ),
)
def setup_diff(parser: argparse.ArgumentParser) -> Handler:
    parser.add_argument("manifest", help="manifest path or built-in name (e.g. cuda-to-npu)")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the files in place (atomically)")
    mode.add_argument("--check", action="store_true", help="exit 1 if any file would change")
    parser.add_argument("--force", action="store_true",
                        help="with --write: also write read-only files, and hard-linked files in place")
    parser.add_argument("-j", "--jobs", type=int, metavar="N",
                        help="worker processes (default: the number of CPUs)")
    parser.add_argument("--include", action="append", default=[], metavar="GLOB",
                        help="only files matching GLOB (repeatable)")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="skip files matching GLOB (repeatable)")
    parser.add_argument("--report", metavar="FILE",
                        help="write changes and unsupported-API uses to FILE (.csv or .json)")
    return _diff


def _diff(args: argparse.Namespace) -> int:
    from npatch.rewrite.output import report_format, summary, write_changes, write_report
    from npatch.rewrite.runner import discover, run, select_rewrites

    if args.report:
        from npatch.outfiles import check_writable

        report_format(args.report)
        args.report = check_writable(args.report, "--report")
    from npatch.rewrite_kinds import glob_problem

    for option, pattern in [("--include", p) for p in args.include] + [("--exclude", p) for p in args.exclude]:
        problem = glob_problem(pattern)
        if problem:
            raise UsageError(f"{option}: {problem}")
    plan = _load_plan(args.manifest)
    if not plan.rewrites:
        raise UsageError(f"{args.manifest}: the manifest has no [[rewrite]] rules")
    on, off = select_rewrites(plan.rewrites, plan.options_dict)
    files = discover(args.paths, tuple(args.include), tuple(args.exclude))
    result = run(on, files, jobs=args.jobs, positions=bool(args.report), progress=sys.stderr)
    result.off_by_condition = off
    if args.force and not args.write:
        raise UsageError("--force only makes sense with --write")
    written = write_changes(result, force=args.force) if args.write else None
    if written is None:
        for outcome in result.changed:
            sys.stdout.write(outcome.diff)
        sys.stdout.flush()
    if args.report:
        write_report(args.report, result, _manifest_name(plan, args.manifest))
    print(summary(result, written=written, check=args.check), file=sys.stderr)
    failed = bool(result.errors) or bool(written and (written.refused or written.failed))
    return 1 if failed or (args.check and result.changed) else 0


@command(
    "test",
    help="run the examples and valid snippets of a manifest's rewrite rules",
    description=(
        "Run every [[rewrite]] rule on its `examples` (before -> after) and `valid`\n"
        "snippets (must not change), and report per rule: validated, or the cases\n"
        "that are missing (not rewritten), wrong (rewritten differently) or noisy\n"
        "(a valid snippet changed). Exit 1 when any case fails.\n\n"
        "Example:\n  npatch test cuda-to-npu"
    ),
)
def setup_test(parser: argparse.ArgumentParser) -> Handler:
    parser.add_argument("manifest", help="manifest path or built-in name")
    parser.add_argument("-v", "--verbose", action="store_true", help="list passing cases too")
    return _test


def _test(args: argparse.Namespace) -> int:
    from npatch.rewrite.testing import check_rewrites, format_results

    plan = _load_plan(args.manifest)
    if not plan.rewrites:
        print(f"{args.manifest}: no [[rewrite]] rules to test")
        return 0
    results = check_rewrites(plan.rewrites)
    print(format_results(results, verbose=args.verbose))
    return 1 if any(r.status == "failed" for r in results) else 0


__all__ = ["setup_diff", "setup_test"]
