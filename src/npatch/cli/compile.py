"""``npatch compile``: validate manifests, resolve their paths, print or save the plan."""
from __future__ import annotations

import argparse
import json
import sys

from npatch.cli import command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from npatch.cli import Handler


def add_manifest_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every command that compiles shares."""
    parser.add_argument("manifests", nargs="+", metavar="MANIFEST",
                        help="a .toml file, a built-in name (`npatch list`), or an entry-point name")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a declared option (repeatable)")
    parser.add_argument("--disable", action="append", default=[], metavar="NAME",
                        help="switch off an op by name (repeatable)")


@command(
    "compile", "validate manifests and print the plan",
    "Validate manifests, merge their includes, resolve every dotted path and print\n"
    "the plan.\n\n"
    "Resolve modes:\n"
    "  import   import each target module and check the attribute; check that a\n"
    "           replacement accepts every call its target accepts\n"
    "  static   find source files (on sys.path and --path) and check names with ast;\n"
    "           executes nothing; names from C extensions are reported unverifiable\n"
    "  none     syntax only (default)\n\n"
    "Examples:\n"
    "  npatch compile cuda-to-cpu\n"
    "  npatch compile mmcv-npu --resolve static --path /tmp/torch_npu_src\n"
    "  npatch compile my.toml -o plan.json && npatch apply plan.json -- python x.py\n\n"
    "Exit status: 0 ok, 1 invalid manifest or unresolved path, 2 usage error.",
)
def _setup(parser: argparse.ArgumentParser) -> Handler:
    add_manifest_arguments(parser)
    parser.add_argument("-o", "--output", metavar="FILE", help="write the plan as JSON to FILE")
    parser.add_argument("--resolve", choices=("import", "static", "none"), default="none",
                        help="how to check that paths exist (default: none)")
    parser.add_argument("--path", action="append", default=[], metavar="DIR",
                        help="extra source directory searched first by --resolve static (repeatable)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text: a summary with diagnostics; json: the plan and diagnostics")
    return run_compile


def compile_from_args(args: argparse.Namespace, **extra: object):
    """Compile what :func:`add_manifest_arguments` parsed (manifests, --set, --disable)."""
    from npatch.cli import parse_sets
    from npatch.compiler import compile_manifests

    return compile_manifests(args.manifests, sets=parse_sets(args.set), disable=args.disable, **extra)


def run_compile(args: argparse.Namespace) -> int:
    from npatch.outfiles import check_writable, write_file

    output = check_writable(args.output, "-o") if args.output else None
    result = compile_from_args(args, resolve=args.resolve, paths=args.path)
    plan = result.plan
    if output:
        write_file(output, (plan.to_json(indent=2) + "\n").encode("utf-8"))
    if args.format == "json":
        out = {"plan": plan.to_dict(), "hash": plan.content_hash,
               "diagnostics": [{"severity": d.severity, "code": d.code, "message": d.message, "op": d.op,
                                "origin": str(d.origin) if d.origin else None} for d in result.diagnostics]}
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        for diagnostic in result.diagnostics:
            if diagnostic.severity != "info" or diagnostic.code == "unverifiable":
                print(diagnostic, file=sys.stderr)
        counts = {}
        for op in plan.ops:
            counts[op.kind] = counts.get(op.kind, 0) + 1
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no ops"
        unverifiable = len(result.by_code("unverifiable"))
        print(f"{', '.join(m.name for m in plan.manifests)}: {len(plan.ops)} ops ({kinds}), "
              f"{len(plan.rewrites)} rewrites, {len(plan.disabled)} disabled; resolve={result.resolve}: "
              f"{len(result.errors)} errors, {unverifiable} unverifiable; plan {plan.content_hash[:12]}"
              + (f" -> {args.output}" if args.output else ""))
    return 1 if result.errors else 0
