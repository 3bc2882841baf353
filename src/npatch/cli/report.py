"""``npatch report``: read a ``--coverage`` (or ``--report``) file; record a minimal manifest.

An op counts as *exercised* when it applied somewhere in the run and either
its function was called (``calls > 0``) or its calls cannot be counted (a
value, a class, an alias, a stub, a ``call`` op: applying was its effect).
Everything else (applied but never called, waiting for a module the run
never imported, skipped, disabled, failed) was not exercised.
"""
from __future__ import annotations

import sys

from npatch.cli.registry import command
from npatch.cli.record import verdict
from npatch.errors import NpatchError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from npatch.cli.registry import Handler


@command("report", help="show a --coverage file as a table or tree; --record a minimal manifest from it",
         description=(
             "Show what a run under `npatch apply --coverage FILE` used: each op's status and\n"
             "how many times its replacement or wrapper was called (summed over every\n"
             "process), and the device-API errors no op handled.  --tree draws the\n"
             "`npatch show` tree with the counts.  --record NEW.toml writes a manifest\n"
             "that includes the run's manifests and disables every op the run did not\n"
             "exercise (--standalone: copies just the exercised ops), commented with counts.\n\n"
             "Examples:\n"
             "  npatch apply cuda-to-cpu --coverage cov.json -- python train.py\n"
             "  npatch report cov.json\n"
             "  npatch report cov.json --tree\n"
             "  npatch report cov.json --record minimal.toml"))
def setup_report(parser: argparse.ArgumentParser) -> Handler:
    parser.add_argument("file", metavar="FILE", help="a file written by `npatch apply --coverage FILE`")
    parser.add_argument("--tree", action="store_true", help="draw the manifest tree annotated with counts")
    parser.add_argument("--record", metavar="NEW.toml", help="write a manifest of the ops this run exercised (never over a file an "
                        "earlier --record did not write)")
    parser.add_argument("--standalone", action="store_true",
                        help="with --record: copy the exercised ops instead of including the manifests")
    return run_report


def run_report(args: argparse.Namespace) -> int:
    data = load(args.file)
    if args.standalone and not args.record:
        raise UsageError("--standalone goes with --record NEW.toml")
    if args.record:
        from npatch.cli.record import record_manifest
        from npatch.cli.writing import write_text

        text, kept, dropped, notes = record_manifest(data, args.record, standalone=args.standalone)
        write_text(args.record, text, "--record")
        for note in notes:
            print(f"npatch: warning: {note}", file=sys.stderr)
        print(f"wrote {args.record}: {kept} op(s) kept, {dropped} disabled or left out")
        return 0
    print(render_tree(data) if args.tree else render_table(data))
    return 0


def load(path: str) -> dict[str, Any]:
    """The report in ``path``; a one-line error for a missing, damaged or foreign file."""
    import json

    from npatch.outfiles import read_input

    try:
        text = read_input(path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        where = f"{path}:{exc.lineno}:{exc.colno}" if isinstance(exc, json.JSONDecodeError) else path
        raise NpatchError(f"{where}: not a JSON report: {getattr(exc, 'msg', exc)}") from None
    if not isinstance(data, dict) or not isinstance(data.get("ops"), list):
        raise NpatchError(f"{path}: not a report of `npatch apply --coverage` (no \"ops\" list)")
    if not data.get("summary", {}).get("processes"):
        raise NpatchError(f"{path}: no process finished under the plan (the run is still going, or "
                          "its Python processes did not start the plan)")
    return data


def _count(op: dict[str, Any]) -> str:
    calls = op.get("calls")
    return "-" if calls is None else str(calls)


def render_table(data: dict[str, Any]) -> str:
    """A summary, every op with its calls, then the unhandled device-API errors."""
    ops = data["ops"]
    lines = [_summary(data), ""]
    name_w = max([len(op["name"]) for op in ops] + [2])
    kind_w = max([len(op.get("kind") or "") for op in ops] + [4])
    lines.append(f"{'calls':>7}  {'status':<8}  {'op':<{name_w}}  {'kind':<{kind_w}}  target")
    for op in ops:
        lines.append(f"{_count(op):>7}  {op['status']:<8}  {op['name']:<{name_w}}  "
                     f"{op.get('kind') or '':<{kind_w}}  {op.get('target') or ''}".rstrip())
    lines += [""] + _unhandled_lines(data)
    return "\n".join(lines)


def _summary(data: dict[str, Any]) -> str:
    ops = data["ops"]
    processes = data.get("processes", [])
    exercised = sum(1 for op in ops if verdict(op)[0])
    called = sum(1 for op in ops if op.get("status") == "applied" and op.get("calls"))
    never = sum(1 for op in ops if op.get("status") == "applied" and op.get("calls") == 0)
    statuses: dict[str, int] = {}
    for op in ops:
        statuses[op["status"]] = statuses.get(op["status"], 0) + 1
    counted = ", ".join(f"{n} {s}" for s, n in statuses.items())
    head = f"{len(processes)} process(es): " + "; ".join(
        " ".join(p.get("argv", [])[:3]) + (f" (rank {p['rank']})" if p.get("rank") is not None else "")
        for p in processes[:4]) + ("; ..." if len(processes) > 4 else "")
    if not data.get("coverage"):
        return f"{head}\n{len(ops)} ops: {counted} (a --report file: no call counts; use --coverage)"
    return (f"{head}\n{len(ops)} ops: {counted}\n"
            f"exercised: {exercised} ({called} called, {exercised - called} applied without a count); "
            f"applied but never called: {never}")


def _unhandled_lines(data: dict[str, Any]) -> list[str]:
    if not data.get("coverage"):
        return []
    items = data.get("unhandled", [])
    if not items:
        return ["device-API errors no op handled: none"]
    lines = [f"device-API errors no op handled: {sum(i['count'] for i in items)}"]
    for item in items:
        state = "uncaught" if item.get("uncaught") else "caught by the program"
        lines.append(f"  {item['where']}: {item['api']}: {item['error']} "
                     f"(x{item['count']}, {state})")
    return lines


def render_tree(data: dict[str, Any]) -> str:
    """The ``npatch show`` tree of each plan in the run, each op prefixed by its calls."""
    from npatch.cli.info import render_tree as show_tree
    from npatch.plan import ManifestInfo, Op, Plan, Target

    by_plan: dict[str, list[dict[str, Any]]] = {}
    for op in data["ops"]:
        by_plan.setdefault(op.get("plan", ""), []).append(op)
    manifests = data.get("manifests", {})
    parts = [_summary(data)]
    for plan_hash, ops in by_plan.items():
        infos = tuple(ManifestInfo(m["name"], m["path"], m.get("description", ""), tuple(m.get("includes", ())),
                                   tuple(m.get("disabled", ()))) for m in manifests.get(plan_hash, ()))
        if not infos:  # a --report file: one flat group per manifest name
            names = dict.fromkeys(op.get("manifest") or "(plan)" for op in ops)
            infos = tuple(ManifestInfo(name, "?") for name in names)
        notes = {op["name"]: f"{_count(op):>6} {op['status']:<8}" for op in ops}
        plan = Plan(manifests=infos, ops=tuple(
            Op(kind=op.get("kind") or "?", name=op["name"], manifest=op.get("manifest") or "(plan)",
               targets=tuple(Target.parse(t["target"]) for t in op.get("targets", ())) or (
                   Target.parse(op.get("target") or "?"),)) for op in ops))
        parts.append(show_tree(plan, note=lambda op: notes.get(op.name, "")))
    return "\n\n".join(parts + ["\n".join(_unhandled_lines(data))]).rstrip()


__all__ = ["setup_report", "run_report", "load", "render_table", "render_tree"]
