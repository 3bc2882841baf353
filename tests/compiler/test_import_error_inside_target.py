"""PITFALLS runtime 7: ``pkgutil.resolve_name("pkg.sub.X")`` hides a real
ImportError inside ``pkg/sub.py`` as "module 'pkg' has no attribute 'sub'".
npatch names the real cause, for the colon and the dotted form, at compile
time (``--resolve import``) and at run time (the program's own import fails
with its own error, npatch adds no traceback)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch


def _project(tmp_path: Path, target: str) -> Path:
    pkg = tmp_path / "npt_pkgx"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "sub.py").write_text("import npt_missing_dep_xyz\n\n\nclass X:\n    def f(self):\n        return 1\n")
    manifest = tmp_path / "m.toml"
    manifest.write_text(f'[manifest]\nname = "m"\n\n[[patch]]\nname = "p"\ntarget = "{target}"\nvalue = 1\n')
    return manifest


@pytest.mark.parametrize("target", ["npt_pkgx.sub:X.f", "npt_pkgx.sub.X.f"])
def test_compile_names_the_import_error_inside_the_target_module(tmp_path, target):
    manifest = _project(tmp_path, target)
    proc = run_npatch("compile", str(manifest), "--resolve", "import", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert f"{manifest}:6:10: patch[0].target: error:" in proc.stderr
    assert "No module named 'npt_missing_dep_xyz'" in proc.stderr and "has no attribute" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_at_run_time_the_program_sees_its_own_import_error(tmp_path):
    manifest = _project(tmp_path, "npt_pkgx.sub:X.f")
    code = "try:\n    import npt_pkgx.sub\nexcept ImportError as e:\n    print('caught', e.name)\n"
    env = clean_env(PYTHONPATH=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = run_npatch("apply", str(manifest), "--", sys.executable, "-c", code, cwd=tmp_path, env=env)
    assert proc.returncode == 0 and "caught npt_missing_dep_xyz" in proc.stdout, proc.stderr
    assert "Traceback" not in proc.stderr
