"""A target naming a metaclass attribute through the class (``Base.mattr``
where ``mattr`` lives on ``type(Base)``) is not an attribute of the class's
MRO: both the static check of ``npatch compile`` and the runtime say "not
found", and both say to target the metaclass (``Meta.mattr``) instead.

Scenarios run the CLI in a fresh interpreter, as users do.
"""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch

SOURCE = """
class Meta(type):
    mattr = 1


class Base(metaclass=Meta):
    pass


class Sub(Base):
    pass


class Plain:
    pass
"""

MANIFEST = """
[manifest]
name = "m"

[[patch]]
name = "p"
target = "npt_metamod:{target}"
value = 2
"""


def setup(tmp_path: Path, target: str) -> Path:
    (tmp_path / "npt_metamod.py").write_text(textwrap.dedent(SOURCE))
    manifest = tmp_path / "m.toml"
    manifest.write_text(MANIFEST.lstrip("\n").format(target=target))
    return manifest


@pytest.mark.parametrize("target", ["Base.mattr", "Sub.mattr"])
def test_static_check_hints_at_the_metaclass(tmp_path, target):
    manifest = setup(tmp_path, target)
    proc = run_npatch("compile", str(manifest), cwd=tmp_path, env=clean_env())
    assert proc.returncode == 1
    assert f"{manifest}:6:10: patch[0].target: error:" in proc.stderr
    assert "'mattr' is an attribute of the metaclass Meta of" in proc.stderr
    assert "target npt_metamod:Meta.mattr" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("target", ["Base.mattr", "Sub.mattr"])
def test_runtime_hints_at_the_metaclass(tmp_path, target):
    manifest = setup(tmp_path, target)
    code = "import npt_metamod; print('mattr', npt_metamod.Meta.mattr)"
    proc = run_npatch("apply", str(manifest), "--", sys.executable, "-c", code, cwd=tmp_path, env=clean_env())
    assert proc.returncode == 0 and "mattr 1" in proc.stdout, proc.stderr
    (failed,) = [line for line in proc.stderr.splitlines() if "target not found" in line]
    assert "is an attribute of the metaclass Meta" in failed and "target Meta.mattr" in failed, proc.stderr


def test_a_plain_missing_attribute_gets_no_metaclass_hint(tmp_path):
    manifest = setup(tmp_path, "Plain.mattr")
    proc = run_npatch("compile", str(manifest), cwd=tmp_path, env=clean_env())
    assert proc.returncode == 1 and "'mattr' is not defined in class Plain" in proc.stderr
    assert "metaclass" not in proc.stderr
