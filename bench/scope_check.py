"""The import table against libcst's ``ScopeProvider``, on every node the rules ask about.

    python bench/scope_check.py                  # all of torch, cuda-to-npu
    python bench/scope_check.py --package mmdet --limit 50

Every file of the package goes through the rewrite engine (in this process,
in the order found) with a :class:`~npatch.rewrite.importscope.ScopeCheck`:
libcst's scope answers, as before the import table existed, and wherever the
table can answer too, both answers are compared (see that class for what
"equal" means).  Printed: files with metadata, files the table answers,
nodes and bindings compared, and every difference (exit 1 if any).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

from npatch.compiler import load_plan
from npatch.rewrite.engine import Engine
from npatch.rewrite.importscope import ScopeCheck
from npatch.rewrite.rules import build_rules
from npatch.rewrite.runner import select_rewrites


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default="torch")
    parser.add_argument("--manifest", default="cuda-to-npu")
    parser.add_argument("--limit", type=int, help="only the first N files")
    args = parser.parse_args()
    root = Path(next(iter(importlib.util.find_spec(args.package).submodule_search_locations)))
    plan = load_plan([args.manifest])
    on, _ = select_rewrites(plan.rewrites, plan.options_dict)
    check = ScopeCheck()
    engine = Engine(build_rules(on), scope_check=check)
    files = sorted(root.rglob("*.py"))[: args.limit]
    start = time.perf_counter()
    errors = 0
    for path in files:
        display = path.relative_to(root.parent).as_posix()
        errors += engine.process(str(path), display, path.read_bytes()).error is not None
    summary = {"package": args.package, "files": len(files), "errors": errors, **check.summary(),
               "seconds": round(time.perf_counter() - start, 1)}
    print(json.dumps(summary, indent=1))
    for line in check.differences[:200]:
        print(" ", line, file=sys.stderr)
    return 1 if check.differences else 0


if __name__ == "__main__":
    sys.exit(main())
