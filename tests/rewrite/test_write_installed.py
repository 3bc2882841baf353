"""``npatch diff . --write`` in a project rewrites the project, not the
libraries installed inside it.

A virtual environment in the project (``venv/``, not hidden, with its
``pyvenv.cfg``) or any ``site-packages`` / ``dist-packages`` directory below
a given path was walked like source, so ``--write`` edited the installed
torch, mmcv... the project runs on.  Such a directory is skipped with a note;
naming it (or a directory inside it) still rewrites it.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from npatch_testutil import run_npatch

SOURCE = "import torch\nx = torch.zeros(1).cuda()\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for folder in ("src", "venv/lib/python3.11/site-packages/lib1", "env2/lib/python3.11/site-packages/lib2",
                   "vendor/dist-packages/lib3", "site-packages/lib4"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "a.py").write_text(SOURCE)
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (tmp_path / "env2" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (tmp_path / "venv" / "tool.py").write_text(SOURCE)       # even a file at the environment's top
    return tmp_path


def test_write_in_a_project_leaves_its_installed_packages_alone(project):
    result = run_npatch("diff", "cuda-to-npu", ".", "--write", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "npu()" in (project / "src" / "a.py").read_text()
    untouched = [p for p in project.rglob("a.py") if p.parent.name != "src"] + [project / "venv" / "tool.py"]
    assert len(untouched) == 5 and all(p.read_text() == SOURCE for p in untouched)
    for skipped in ("venv", "env2", "vendor/dist-packages", "site-packages"):
        assert f"skipped {skipped}: installed packages" in result.stderr, result.stderr


def test_named_installed_code_is_still_rewritten(project):
    lib = project / "venv" / "lib" / "python3.11" / "site-packages" / "lib1"
    result = run_npatch("diff", "cuda-to-npu", str(lib), "--write", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "npu()" in (lib / "a.py").read_text()
