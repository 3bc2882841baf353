"""Two installations of the same npatch version share one user cache
(``~/.cache/npatch``: two checkouts, two virtual environments).  A built-in
manifest is named, not given by path, so each must get the plan compiled
from its own files, never the other's (seen: a stale 118-op cuda-to-cpu plan
ran after the manifest had grown to 193 ops in another checkout)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import npatch
from npatch_testutil import clean_env, run_python

SRC = Path(npatch.__file__).resolve().parent


def _install_copy(root: Path, extra_op: bool) -> Path:
    """A copy of this npatch at another path; with ``extra_op`` its numpy-compat has one more op."""
    site = root / "site"
    shutil.copytree(SRC, site / "npatch", ignore=shutil.ignore_patterns("__pycache__"))
    if extra_op:
        manifest = site / "npatch" / "manifests" / "numpy-compat.toml"
        manifest.write_text(manifest.read_text() + '\n[[patch]]\nname = "extra.op"\n'
                            'target = "textwrap:npatch_extra"\nvalue = 1\non-missing = "create"\n')
    return site


def _ops(site: Path, cache: Path, tmp: Path, name: str) -> int:
    report = tmp / f"{name}.json"
    result = run_python(
        "import sys, runpy; sys.argv = ['npatch', 'apply', 'numpy-compat', '--report', sys.argv[1], '--', "
        "sys.executable, '-c', 'pass']; runpy.run_module('npatch', run_name='__main__')",
        str(report), env=clean_env(PYTHONPATH=str(site), XDG_CACHE_HOME=str(cache)), cwd=tmp)
    assert result.returncode == 0, result.stderr
    return len(json.loads(report.read_text())["ops"])


def test_each_installation_gets_the_plan_of_its_own_builtin_manifests(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    plain = _install_copy(tmp_path / "a", extra_op=False)
    grown = _install_copy(tmp_path / "b", extra_op=True)
    first = _ops(plain, cache, tmp_path, "a1")
    assert _ops(grown, cache, tmp_path, "b1") == first + 1
    assert _ops(plain, cache, tmp_path, "a2") == first          # and back: each keeps its own entry
    assert _ops(grown, cache, tmp_path, "b2") == first + 1
