"""`npatch diff cuda-to-npu` over the whole installed torch package: zero internal errors.

    python bench/diff_torch.py            # all of torch, -j (CPUs); about 2 min of CPU on 2 cores x 2
    python bench/diff_torch.py -j 4 --package mmdet

The tree is copied to a temporary directory and rewritten there with
``--write`` (never the installed files), then every rewritten file is compiled
with the running Python: a rule that produced invalid code shows up as well as
a walker that crashed ("internal error").  Prints the counts and exits 1 when
any file had an internal error or a rewritten file no longer compiles.  The
test suite runs the same check on a slice of torch
(tests/rewrite/test_syntax.py); this is the full run.
"""
from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default="torch")
    parser.add_argument("--manifest", default="cuda-to-npu")
    parser.add_argument("-j", "--jobs", type=int)
    args = parser.parse_args()
    spec = importlib.util.find_spec(args.package)
    if spec is None or not spec.submodule_search_locations:
        print(f"{args.package} is not an installed package", file=sys.stderr)
        return 2
    source = Path(next(iter(spec.submodule_search_locations)))
    with tempfile.TemporaryDirectory(prefix="npatch-diff-bench-") as tmp:
        tree = Path(tmp) / args.package
        shutil.copytree(source, tree, ignore=shutil.ignore_patterns("*.so", "*.pyc", "__pycache__", "*.a", "*.h"))
        before = {p: p.read_bytes() for p in tree.rglob("*.py")}
        command = [sys.executable, "-m", "npatch", "diff", args.manifest, args.package, "--write"]
        if args.jobs:
            command += ["-j", str(args.jobs)]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=tmp, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        internal = [line for line in done.stderr.splitlines() if "internal error" in line]
        changed = [p for p, data in before.items() if p.read_bytes() != data]
        broken = []
        for path in changed:
            try:
                compile(path.read_bytes(), str(path), "exec")
            except SyntaxError as exc:
                broken.append(f"{path.relative_to(tmp)}: {exc}")
    print(f"{args.package}: {len(before)} files, {len(changed)} rewritten, {len(internal)} internal errors, "
          f"{len(broken)} rewritten files that do not compile, exit {done.returncode}, {seconds:.1f} s")
    print(done.stderr.splitlines()[0] if done.stderr else "(no summary)")
    for line in [*internal, *broken][:50]:
        print(" ", line.strip())
    return 1 if internal or broken or done.returncode not in (0, 1) else 0


if __name__ == "__main__":
    sys.exit(main())
