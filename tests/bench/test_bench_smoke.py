"""The benchmark harness runs end to end and reports every section.

Only that it runs: timings on a shared machine are noise, so nothing here
looks at a number.  ``--smoke`` is one round of everything on the smallest
inputs; ``--no-install`` keeps the test off the network (rows for peers that
are not installed are skipped with a note); ``--no-write`` leaves
docs/benchmarks.md and bench/results/ alone.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SECTIONS = ("## Targets", "## 1. Start-up", "## 2. Per-call overhead", "## 3. Import-hook overhead",
            "## 4. Compile and plan load", "## 5. Static diff throughput", "## 6. Static check on a cache miss")


def test_run_smoke_emits_every_section() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NPATCH_")}
    out = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--smoke", "--no-write", "--no-install"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    for header in SECTIONS:
        assert header in out.stdout, f"{header!r} missing from:\n{out.stdout}"
    assert "npatch apply (200-op plan, cached)" in out.stdout
    check = out.stdout[out.stdout.index("## 6. Static check on a cache miss"):]
    assert "torch-npu: check adds (static - none)" in check and "mmcv-npu: apply miss" in check, check
    assert "targets met" in out.stderr
