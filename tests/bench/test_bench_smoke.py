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
            "## 4. Compile and plan load", "## 5. Static diff throughput", "## 6. Static check on a cache miss",
            "## 7. Children under the built-in manifests", "## 8. Migration tax per call",
            "## 9. `npatch diff cuda-to-npu` over all of torch")


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


def test_the_readme_speed_table_is_the_runs_own() -> None:
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import report
    finally:
        sys.path.remove(str(REPO / "bench"))
    readme = (REPO / "README.md").read_text()
    results = {"meta": {"date": "D", "commit": "C", "cpu_count": 2, "load_at_start": [1.0]},
               "targets": [{"what": "w", "value": 4.0, "unit": "ms", "limit": 3, "sense": "<=", "status": "MISS",
                            "resolved": True, "error": 0.1, "why": "because"}]}
    table = report.readme_table(results)
    again = report.replace_readme_table(report.replace_readme_table(readme, table), table)
    assert again.count(report.README_START) == 1 and "| w | 4ms ± 0.1 | **MISS** (≤ 3ms) | because |" in again
    assert again.replace(table, "") == readme.replace(readme[readme.index(report.README_START):
                                                             readme.index(report.README_END) + len(report.README_END)], "")
