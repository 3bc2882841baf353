"""``npatch scan``: where a code base uses device-specific APIs, and whether
manifests cover each use.  The scan layer is imported only when it runs."""
from __future__ import annotations

import argparse
import sys

from npatch.cli.registry import command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from npatch.cli.registry import Handler


@command(
    "scan",
    help="list device-specific code and whether manifests cover it",
    description=(
        "Find every use of a device-specific API (torch.cuda, .cuda(), 'cuda' devices,\n"
        "nccl, device_ids=, CUDA-only packages and kernels, torch.load without\n"
        "map_location, NumPy and standard-library names removed in current releases)\n"
        "in Python files, with names resolved through imports, and give each use its\n"
        "status against the manifests: handled at run time (which op), rewritten\n"
        "statically (which [[rewrite]] rule), known unsupported (why), or not covered.\n"
        "Nothing is imported or run; what counts as device-specific is the table\n"
        "npatch/manifests/tables/device-apis.toml (--table adds entries).\n\n"
        "  npatch scan src/                              uses, and a summary\n"
        "  npatch scan train.py -m cuda-to-cpu           against a manifest\n"
        "  npatch scan src/ -m torch-npu -m cuda-to-npu --format csv > uses.csv\n\n"
        "Exit codes: 0 every use is covered (handled, rewritten or known unsupported);\n"
        "1 uses remain not covered, or a file could not be read or parsed, or a\n"
        "manifest is invalid; 2 usage error."
    ),
)
def setup_scan(parser: argparse.ArgumentParser) -> Handler:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    parser.add_argument("-m", "--manifest", action="append", default=[], metavar="M",
                        help="manifest to check coverage against (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a declared option of the manifests (repeatable)")
    parser.add_argument("--format", choices=("text", "json", "csv"), default="text",
                        help="text (default), json (uses and summary), csv (uses; summary on stderr)")
    parser.add_argument("--table", action="append", default=[], metavar="FILE",
                        help="another API table (TOML, like the built-in one; repeatable)")
    parser.add_argument("--path", action="append", default=[], metavar="DIR",
                        help="extra source directory searched first when names are compared "
                             "where they are defined (repeatable)")
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="worker processes (default 1)")
    parser.add_argument("--include", action="append", default=[], metavar="GLOB",
                        help="only files matching GLOB (repeatable)")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="skip files matching GLOB (repeatable)")
    return _scan


def _scan(args: argparse.Namespace) -> int:
    from npatch.cli.registry import parse_sets, source_dirs
    from npatch.errors import UsageError
    from npatch.rewrite.runner import discover
    from npatch.scan import scan_files
    from npatch.scan.coverage import Coverage
    from npatch.scan.output import FORMATS
    from npatch.scan.table import load_tables

    if args.jobs < 1:
        raise UsageError(f"-j needs a positive number of processes, got {args.jobs}")
    source_dirs(args.path)
    sets = parse_sets(args.set)
    if sets and not args.manifest:
        raise UsageError("--set needs a manifest (-m)")
    apis = load_tables(args.table)
    plan = None
    if args.manifest:
        from npatch.compiler import load_plan

        plan = load_plan(args.manifest, sets=sets)
    files = discover(args.paths, tuple(args.include), tuple(args.exclude))
    result = scan_files(files, apis, jobs=args.jobs, progress=sys.stderr)
    result.uses = Coverage(plan, apis, args.path).assess(result.uses)
    names = [m.name for m in plan.manifests] if plan is not None else []
    FORMATS[args.format](result, names, sys.stdout, sys.stderr)
    sys.stdout.flush()
    uncovered = any(u.status == "uncovered" for u in result.uses)
    return 1 if uncovered or result.errors else 0


__all__ = ["setup_scan"]
