"""A stub or an alias is served under its parent package, which Python
imports first: ``[[stub]] module = "absent_pkg.sub"`` with no ``absent_pkg``
anywhere cannot be imported ("No module named 'absent_pkg'").  ``npatch
compile`` says so at the ``module`` (or ``target``) key, with file:line:col:
an error where the parent is certainly missing, a warning where it is only
not installed here; a parent the plan itself stubs or aliases is fine.

Scenarios run the CLI in a fresh interpreter, as users do.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch

HEAD = '[manifest]\nname = "m"\n\n'


def compile_(tmp_path: Path, body: str, *args: str):
    manifest = tmp_path / "m.toml"
    manifest.write_text(HEAD + body)
    return manifest, run_npatch("compile", str(manifest), *args, cwd=tmp_path, env=clean_env())


def test_a_stub_under_an_absent_package_is_flagged_at_its_module_key(tmp_path):
    manifest, proc = compile_(tmp_path, '[[stub]]\nmodule = "npt_absent_pkg.sub"\n')
    assert f"{manifest}:5:10: stub[0].module: warning:" in proc.stderr, proc.stderr
    assert "'npt_absent_pkg' is not installed here" in proc.stderr
    assert "stub 'npt_absent_pkg' instead" in proc.stderr
    assert "Traceback" not in proc.stderr
    manifest, proc = compile_(tmp_path, '[[stub]]\nmodule = "npt_absent_pkg.sub"\n', "--strict")
    assert proc.returncode == 1, proc.stderr


def test_an_alias_under_a_missing_subpackage_is_an_error(tmp_path):
    manifest, proc = compile_(tmp_path, '[[alias]]\ntarget = "json.npt_nothere.sub"\nsource = "json"\n')
    assert proc.returncode == 1
    assert f"{manifest}:5:10: alias[0].target: error:" in proc.stderr, proc.stderr
    assert "'json.npt_nothere'" in proc.stderr


@pytest.mark.parametrize("parent", ['[[stub]]\nmodule = "npt_absent_pkg"\n',
                                    '[[alias]]\ntarget = "npt_absent_pkg"\nsource = "json"\n'])
def test_a_parent_served_by_the_plan_is_fine(tmp_path, parent):
    _manifest, proc = compile_(tmp_path, parent + '\n[[stub]]\nmodule = "npt_absent_pkg.sub.deeper"\n')
    assert proc.returncode == 0, proc.stderr
    assert "npt_absent_pkg" not in proc.stderr


def test_a_stub_under_an_installed_package_is_fine(tmp_path):
    _manifest, proc = compile_(tmp_path, '[[stub]]\nmodule = "json.npt_fake"\n')
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr
