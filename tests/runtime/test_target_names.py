"""A target names something: ``json:`` (the module itself) is no attribute to change.

The compiler refuses it at its line (tests/compiler/test_bad_manifests.py has
the located cases); here, as users run it, in a fresh interpreter.
"""
from __future__ import annotations

import json

from rt_helpers import op, plan, run_plan, statuses

from npatch_testutil import run_npatch


def test_apply_refuses_module_only_target_at_its_line(tmp_path):
    manifest = tmp_path / "m.toml"
    manifest.write_text('[manifest]\nname = "t"\n\n[[patch]]\nname = "p"\ntarget = "json:"\nvalue = 1\n')
    proc = run_npatch("apply", str(manifest), "--", "python", "-c",
                      "import json; print('EMPTY', '' in vars(json))", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{manifest}:6:10: " in proc.stderr and "'json:' names the module 'json' itself" in proc.stderr
    assert "Traceback" not in proc.stderr and "EMPTY" not in proc.stdout


def test_check_refuses_module_only_replace_and_register(tmp_path):
    manifest = tmp_path / "m.toml"
    manifest.write_text('[manifest]\nname = "t"\n\n[[patch]]\nname = "p"\ntarget = "os.path:"\n'
                        'replace = "json:dumps"\n\n[[register]]\nregistry = "json:"\nname = "X"\nobject = "json:dumps"\n')
    proc = run_npatch("compile", str(manifest), "-o", str(tmp_path / "plan.json"), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{manifest}:6:10: " in proc.stderr and f"{manifest}:10:12: " in proc.stderr
    assert "Traceback" not in proc.stderr


def test_hand_written_plan_with_empty_qualname_changes_nothing(tmp_path):
    # a plan.json not made by the compiler: the op fails, json keeps no '' entry
    the_plan = plan(op("value", "json:", value=1, name="empty"), op("delete", "shlex:quote", also=["shlex:"], name="d"))
    code = "import json, shlex\nprint('EMPTY', '' in vars(json), '' in vars(shlex))\n"
    proc = run_plan(tmp_path, the_plan, code)
    assert proc.returncode == 0, proc.stderr
    assert "EMPTY False False" in proc.stdout
    assert statuses(proc.report)["empty"] == "failed"
    assert statuses(proc.report)["d"] == "failed"  # shlex:quote deleted, shlex: not: a partial op reads failed
    assert "names no attribute" in json.dumps(proc.report)
