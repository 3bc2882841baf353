"""``npatch show``, ``explain``, ``list`` and ``schema``: read-only views."""
from __future__ import annotations

import argparse
import json

from npatch.cli.registry import command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from npatch.cli.registry import Handler
from npatch.cli.compile import add_manifest_arguments, compile_from_args


@command("show", "draw the tree manifest -> includes -> ops",
         "Draw the manifests, their includes and the ops each contributes, in\n"
         "application order; paths are not checked (`npatch compile` does).\n\n"
         "Example:\n  npatch show mmcv-npu")
def _show(parser: argparse.ArgumentParser) -> Handler:
    add_manifest_arguments(parser)
    return run_show


def run_show(args: argparse.Namespace) -> int:
    print(render_tree(compile_from_args(args).plan))
    return 0


def render_tree(plan, note=None) -> str:
    """The include tree, each manifest followed by its ops, drawn like the
    ``-v`` status tree (:func:`npatch.runtime.report.format_tree`); ``note(op)``
    is put before each op (``npatch report --tree``: its calls and status)."""
    by_path = {m.path: m for m in plan.manifests}
    included = {child for m in plan.manifests for child in m.includes}
    roots = [m for m in plan.manifests if m.path not in included]
    lines: list[str] = []

    def ops_of(name: str) -> list[str]:
        rows = [(f"{note(op)} " if note else "") + f"{op.kind:<8} {_op_text(op)}"
                for op in plan.ops if op.manifest == name]
        rows += [f"rewrite  {r.id}  ({r.kind})" for r in plan.rewrites if r.manifest == name]
        return rows

    def walk(info, prefix: str, last: bool, top: bool) -> None:
        label = f"{info.name}  ({info.path})" + (f"  - {info.description}" if info.description else "")
        lines.append(label if top else f"{prefix}{'└── ' if last else '├── '}{label}")
        child_prefix = "" if top else prefix + ("    " if last else "│   ")
        children = [by_path[p] for p in info.includes if p in by_path]
        rows = ops_of(info.name)
        items = [("m", c) for c in children] + [("o", r) for r in rows]
        for index, (kind, item) in enumerate(items):
            is_last = index == len(items) - 1
            if kind == "m":
                walk(item, child_prefix, is_last, False)
            else:
                lines.append(f"{child_prefix}{'└── ' if is_last else '├── '}{item}")

    for root in roots:
        walk(root, "", True, True)
    if plan.disabled:
        lines.append(f"disabled: {', '.join(plan.disabled)}")
    return "\n".join(lines)


def _op_text(op) -> str:
    """``name  ->  targets``; an alias says what it maps: ``alias:old -> new``."""
    targets = ", ".join(str(t) for t in op.targets)
    if op.kind == "alias":
        named = op.name if op.name == f"alias:{targets}" else f"{op.name}: {targets}"
        return f"{named} -> {op.source}"
    return f"{op.name}  ->  {targets}"


@command("explain", "say which ops would apply here, and why the others would not",
         "Evaluate every condition in this environment (installed packages, versions,\n"
         "environment variables, options) and say, for each op, whether it would\n"
         "apply and, if not, which part of its condition is false, that the module\n"
         "a stub or alias without force names really exists, that none of its target\n"
         "modules is installed here (the run reports it `waiting`), or what a `call` op's\n"
         "skip check says (that check is asked as the run asks it: it imports the\n"
         "call function's module and the op's installed target module; nothing is\n"
         "applied).\n\n"
         "Example:\n  npatch explain mmcv-npu --set allow_internal_format=true")
def _explain(parser: argparse.ArgumentParser) -> Handler:
    add_manifest_arguments(parser)
    return run_explain


def run_explain(args: argparse.Namespace) -> int:
    import os
    import sys

    from npatch.conditions import evaluate, explain
    from npatch.dsl.discovery import BUILTIN_DIR
    from npatch.opkinds import LAZY_KINDS
    from npatch.runtime.kinds_module import skip_here
    from npatch.runtime.resolve import describe

    result = compile_from_args(args)
    plan = result.plan
    options = plan.options_dict
    # a user's own modules: where the compile's checks look for them too (the current directory, the
    # folders of the user's manifests: not npatch's own, whose `tables` folder is no package of anyone's)
    folders = {os.path.dirname(os.path.realpath(s)) for s in result.sources} - {os.path.realpath(BUILTIN_DIR)}
    sys.path += [root for root in ("", *sorted(folders)) if root not in sys.path]
    # the modules the plan's stubs and aliases make (with the names under them)
    served = tuple(t.module for op in plan.ops if op.kind not in LAZY_KINDS and evaluate(op.when, options)
                   for t in op.targets)
    applying = waiting = 0
    for op in plan.ops:
        why = "; ".join(explain(op.when, options))
        applies = evaluate(op.when, options)
        absent = _never_imported(op, served) if applies and op.kind in LAZY_KINDS else ""
        try:
            skips = skip_here(op) if applies and not absent else ""
        except Exception as exc:  # the run would fail on it the same way: say so, not a traceback
            skips = ""
            why = "; ".join(filter(None, (why, f"its skip check could not be asked: {describe(exc)}")))
        if absent:
            waiting += 1
            print(f"waiting  {op.name}  ({op.kind} {op.target})  because {absent}")
        elif applies and not skips:
            applying += 1
            print(f"apply    {op.name}  ({op.kind} {op.target})  [{why}]")
        else:
            print(f"skip     {op.name}  ({op.kind} {op.target})  because {skips or why}")
    for name in plan.disabled:
        print(f"disabled {name}")
    waits = f"{waiting} would wait for a module not installed here; " if waiting else ""
    print(f"{applying} of {len(plan.ops)} ops would apply here; {waits}{len(plan.disabled)} disabled")
    return 0


def _never_imported(op, served: tuple[str, ...]) -> str:
    """Why ``op`` would only wait here (the run reports it ``waiting``): none of
    its target modules, or not its ``during`` module, is installed here or made
    by the plan's own stubs and aliases (``served``); else ``""``."""
    import sys

    from npatch.conditions import module_spec

    def missing(module: str) -> bool:
        return (module not in sys.modules and module_spec(module) is None
                and not any(module == s or module.startswith(s + ".") for s in served))

    if op.during and missing(op.during):
        return f"it applies only while {op.during!r} is imported, and {op.during} is not installed here"
    modules = list(dict.fromkeys(t.module for t in op.targets))
    if all(map(missing, modules)):
        return f"{', '.join(modules)} not installed here: nothing can import it, the op waits"
    return ""


@command("list", "list the manifests that can be named",
         "List built-in manifests and those installed packages provide through the\n"
         "`npatch.manifests` entry-point group.\n\nExample:\n  npatch list --ops")
def _list(parser: argparse.ArgumentParser) -> Handler:
    parser.add_argument("--ops", action="store_true", help="also list the op kinds and condition functions")
    return run_list


def run_list(args: argparse.Namespace) -> int:
    from npatch.dsl.discovery import list_manifests
    from npatch.dsl.manifest import load_manifest
    from npatch.errors import NpatchError

    for available in list_manifests():
        try:
            description = load_manifest(available.path).description
        except NpatchError:
            description = "(invalid: run `npatch compile` on it)"
        print(f"{available.name:<20} {available.origin:<24} {description}")
    if args.ops:
        print()
        print(render_extensions())
    return 0


def render_extensions() -> str:
    """Op kinds and condition functions: the built-ins, then those installed
    packages provide through entry points (loaded here, so a broken one shows)."""
    from npatch.conditions import FUNCTIONS
    from npatch.extensions import CONDITIONS_GROUP, OPS_GROUP, load_all
    from npatch.opkinds import BUILTIN_OP_KINDS
    from npatch.runtime.ops import OP_KINDS

    rows = load_all([OP_KINDS, FUNCTIONS])
    provided = {(group, name) for group, name, _dist, problem in rows if not problem}
    builtin_kinds = sorted(n for n in BUILTIN_OP_KINDS if (OPS_GROUP, n) not in provided)
    builtin_functions = sorted(n for n in FUNCTIONS if (CONDITIONS_GROUP, n) not in provided)
    lines = ["op kinds (built-in):            " + ", ".join(builtin_kinds),
             "condition functions (built-in): " + ", ".join(f"{n}()" for n in builtin_functions)]
    for group, title, suffix in ((OPS_GROUP, "op kinds", ""), (CONDITIONS_GROUP, "condition functions", "()")):
        found = [row for row in rows if row[0] == group]
        lines.append(f"{title} from installed packages ({group}):" + ("" if found else " none"))
        for _group, name, dist, problem in found:
            lines.append(f"  {name + suffix:<28} {dist}" + (f"  [{problem}]" if problem else ""))
    return "\n".join(lines)


@command("schema", "print the JSON Schema of manifests (for editors)",
         "Print the JSON Schema of the manifest language, generated from the same\n"
         "model the compiler validates with. Save it and point a TOML editor at it:\n\n"
         "  npatch schema > npatch.schema.json\n"
         "  # first line of a manifest:\n"
         "  #:schema ./npatch.schema.json\n\n"
         "--markdown prints the manifest reference instead.")
def _schema(parser: argparse.ArgumentParser) -> Handler:
    parser.add_argument("--markdown", action="store_true", help="print the manifest reference as Markdown")
    return run_schema


def run_schema(args: argparse.Namespace) -> int:
    from npatch.dsl.schema import json_schema, markdown_reference

    print(markdown_reference() if args.markdown else json.dumps(json_schema(), indent=2))
    return 0


__all__ = ["run_show", "render_tree", "run_explain", "run_list", "render_extensions", "run_schema"]
