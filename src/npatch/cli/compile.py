"""``npatch compile``: validate manifests, resolve their paths, print or save the plan."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from npatch.cli.registry import command, source_dirs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from npatch.cli.registry import Handler


def add_manifest_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every command that compiles shares."""
    parser.add_argument("manifests", nargs="+", metavar="MANIFEST",
                        help="a .toml file, a built-in name (`npatch list`), or an entry-point name")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a declared option (repeatable)")
    parser.add_argument("--disable", action="append", default=[], metavar="NAME",
                        help="switch off an op by name (repeatable)")


RESOLVE_HELP = (
    "Resolve modes (--resolve):\n"
    "  static   (default) find each module's source file and check with ast that\n"
    "           the name exists and that a replace or guard function accepts every\n"
    "           call its target accepts (parameters of the `def`s); executes nothing.\n"
    "           Names from C extensions or from packages not installed here (an\n"
    "           NPU manifest on an x86 box) are counted as unverifiable\n"
    "  import   import each target module (under the plan's aliases and stubs) and\n"
    "           check the attribute and the signatures of the function objects\n"
    "  none     syntax and structure only\n"
    "Both checking modes search the manifest's directory and the current\n"
    "directory first, then each --path, then the installed packages.\n"
)


@command(
    "compile", "validate manifests, check every path, print the plan",
    "Validate manifests, merge their includes, check every dotted path and print\n"
    "a summary of the plan.\n\n"
    + RESOLVE_HELP +
    "\nExamples:\n"
    "  npatch compile cuda-to-cpu\n"
    "  npatch compile mmcv-npu -v\n"
    "  npatch compile my.toml --path src --strict\n"
    "  npatch compile my.toml -o plan.json && npatch apply plan.json -- python train.py\n\n"
    "Exit status: 0 ok, 1 invalid manifest or a failed check, 2 usage error.",
)
def _setup(parser: argparse.ArgumentParser) -> Handler:
    add_manifest_arguments(parser)
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the plan as JSON to FILE (`-`: standard output; only when the compile has no "
                             "errors)")
    parser.add_argument("--resolve", choices=("static", "import", "none"), default="static",
                        help="how to check paths and signatures (default: static)")
    parser.add_argument("--path", action="append", default=[], metavar="DIR",
                        help="a source directory searched after the manifest's and the current one (repeatable)")
    parser.add_argument("--strict", action="store_true",
                        help="a path into a package not installed here (or not found) is an error")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every unverifiable path and note")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text: a summary with diagnostics; json: the plan and diagnostics")
    return run_compile


def compile_from_args(args: argparse.Namespace, **extra: object):
    """Compile what :func:`add_manifest_arguments` parsed (manifests, --set, --disable)."""
    from npatch.cli.registry import parse_sets
    from npatch.compiler import compile_manifests

    return compile_manifests(args.manifests, sets=parse_sets(args.set), disable=args.disable, **extra)


def run_compile(args: argparse.Namespace) -> int:
    from npatch.errors import UsageError
    from npatch.outfiles import check_writable, refuse_foreign, write_file

    piped = args.output == "-"      # the plan on stdout, what else is said on stderr
    if piped and args.format == "json":
        raise UsageError("-o - and --format json both print on standard output: give one of them")
    output = check_writable(args.output, "-o") if args.output and not piped else None
    if output:
        refuse_foreign(output, "-o")

    result = compile_from_args(args, resolve=args.resolve, paths=source_dirs(args.path), strict=args.strict)
    plan = result.plan
    if output and not result.errors:
        write_file(output, (plan.to_json(indent=2) + "\n").encode("utf-8"))
    if piped and not result.errors:
        sys.stdout.write(plan.to_json(indent=2) + "\n")
    if args.format == "json":
        out = {"plan": plan.to_dict(), "hash": plan.content_hash,
               "diagnostics": [{"severity": d.severity, "code": d.code, "message": d.message, "op": d.op,
                                "origin": str(d.origin) if d.origin else None} for d in result.diagnostics]}
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        for diagnostic in result.diagnostics:
            if diagnostic.severity != "info" or args.verbose:
                print(diagnostic, file=sys.stderr)
        summary = sys.stderr if piped else sys.stdout
        counts = {}
        for op in plan.ops:
            counts[op.kind] = counts.get(op.kind, 0) + 1
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no ops"
        print(f"{', '.join(m.name for m in plan.manifests)}: {len(plan.ops)} ops ({kinds}), "
              f"{len(plan.rewrites)} rewrites, {len(plan.disabled)} disabled; resolve={result.resolve}: "
              f"{len(result.errors)} errors; plan {plan.content_hash[:12]}"
              + (f" -> {args.output}" if args.output and not result.errors else ""), file=summary)
        note = unverifiable_summary(result.by_code("unverifiable"), args.verbose)
        if note:
            print(note, file=summary)
    if (output or piped) and result.errors:  # a plan that failed its checks is never handed on
        count = len(result.errors)
        earlier = " (the file there is an earlier plan)" if output and Path(output).exists() else ""
        print(f"npatch compile: {args.output} not written: {count} error{'s' * (count != 1)}{earlier}",
              file=sys.stderr)
    return 1 if result.errors else 0


def unverifiable_summary(found: list, verbose: bool) -> str:
    """One line for the paths that could not be checked here (``""`` if none)."""
    from npatch.dsl.discovery import BUILTIN_DIR

    if not found:
        return ""
    groups: dict[str, int] = {}
    own = False
    for diagnostic in found:
        if diagnostic.off_here:
            group = "in ops whose condition is false here"
        elif diagnostic.package:
            group = f"in {diagnostic.package} (not installed here)"
            own = own or (diagnostic.origin is not None and Path(diagnostic.origin.file).parent != BUILTIN_DIR)
        else:
            group = "from C extensions or names defined at run time"
        groups[group] = groups.get(group, 0) + 1
    hint = "" if verbose else "; -v lists them"
    if own:
        hint += "; if one is your own code, pass --path DIR"
    return f"{len(found)} unverifiable: {', '.join(f'{n} {g}' for g, n in sorted(groups.items()))}{hint}"


__all__ = ["add_manifest_arguments", "RESOLVE_HELP", "compile_from_args", "run_compile", "unverifiable_summary"]
