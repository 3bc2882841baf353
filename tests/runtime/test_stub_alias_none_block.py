"""``sys.modules[name] = None`` is a program's own veto on an import: a
``force = true`` stub or a ``replace = true`` alias of that name does not
lift it (force/replace win over an *installed* module, README "Aliases and
stubs"); the import stays halted and restore leaves the ``None`` entry
exactly as it was.  Each scenario runs in a fresh interpreter.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from npatch_testutil import clean_env

MANIFESTS = {
    "stub": '[manifest]\nname = "s"\n\n[[stub]]\nmodule = "{name}"\nforce = true\n',
    "alias": '[manifest]\nname = "a"\n\n[[alias]]\ntarget = "{name}"\nsource = "json"\nreplace = true\n',
}

PROGRAM = """
import sys
sys.modules[{name!r}] = None
import npatch
with npatch.apply({manifest!r}):
    try:
        __import__({name!r})
    except ImportError as exc:
        print("halted:", exc)
    else:
        print("imported")
print("after:", {name!r} in sys.modules, sys.modules.get({name!r}, "absent"))
"""


@pytest.mark.parametrize("kind", ["stub", "alias"])
@pytest.mark.parametrize("name", ["colorsys", "npt_never_installed"])
def test_force_and_replace_leave_a_none_block_alone(tmp_path: Path, kind: str, name: str) -> None:
    manifest = tmp_path / "m.toml"
    manifest.write_text(MANIFESTS[kind].format(name=name))
    code = textwrap.dedent(PROGRAM.format(name=name, manifest=str(manifest)))
    proc = subprocess.run([sys.executable, "-c", code], env=clean_env(), capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"halted: import of {name} halted; None in sys.modules" in proc.stdout, proc.stdout + proc.stderr
    assert "after: True None" in proc.stdout
