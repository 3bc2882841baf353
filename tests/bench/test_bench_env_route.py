"""bench/env_route.py runs end to end (one round, no torch): every arm starts a worker."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from npatch_testutil import clean_env

REPO = Path(__file__).resolve().parents[2]


def test_env_route_bench_smoke(tmp_path):
    out = subprocess.run([sys.executable, str(REPO / "bench" / "env_route.py"), "--rounds", "1", "--torch-rounds", "0"],
                         cwd=REPO, env=clean_env(NPATCH_BENCH_CACHE=str(tmp_path)), capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "FAILED" not in out.stdout
    for arm in ("plain", "apply route", "env inline", "env reference"):
        assert f"  {arm} " in out.stdout, out.stdout
