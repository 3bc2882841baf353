"""`npatch explain` says what the run does, with the run's own words.

Each case runs `npatch explain` and then the program under `npatch apply
--report`, both as a user does, and compares explain's verdict and reason per
op with the report's status and reason.
"""
from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from npatch_testutil import clean_env, run_npatch


def _explained(stdout: str) -> dict[str, tuple[str, str]]:
    """op name -> ("apply" | "skip" | "waiting", the reason a skip gives)."""
    verdicts = {}
    for line in stdout.splitlines()[:-1]:
        verdict, name, rest = line.split(None, 2)
        if verdict in ("apply", "skip", "waiting"):
            verdicts[name] = (verdict, rest.partition(")  because ")[2] if verdict == "skip" else "")
    return verdicts


def _ran(report: Path) -> dict[str, tuple[str, str]]:
    ops = json.loads(report.read_text())["ops"]
    return {op["name"]: ("skip" if op["status"] == "skipped" else "apply" if op["status"] == "applied"
                         else op["status"], op["reason"] if op["status"] == "skipped" else "") for op in ops}


def _compare(manifest: str, program: str, cwd: Path, env: dict[str, str] | None = None) -> dict:
    env = env or clean_env()
    explained = run_npatch("explain", manifest, cwd=cwd, env=env)
    assert explained.returncode == 0 and "Traceback" not in explained.stderr, explained.stderr
    ran = run_npatch("apply", manifest, "--report", str(cwd / "run.json"), "--", sys.executable, "-c", program,
                     cwd=cwd, env=env)
    assert ran.returncode == 0, ran.stderr
    said, done = _explained(explained.stdout), _ran(cwd / "run.json")
    assert said == done, {name: (said.get(name), done.get(name)) for name in {*said, *done}
                          if said.get(name) != done.get(name)}
    return said


def test_numpy_compat_names_numpy_2_has_are_skipped_by_explain_as_by_the_run(tmp_path: Path) -> None:
    """explain said 'apply' for numpy.bool and numpy.long on NumPy 2; the run skips them."""
    import numpy

    said = _compare("numpy-compat", "import numpy", tmp_path)
    for name in ("bool", "long"):
        assert said[f"numpy.{name}"] == ("skip", f"numpy {numpy.__version__} has {name!r} already"), said
    assert said["numpy.int"] == ("apply", "")


CALLS = '''
import os
from npatch.runtime.kinds_module import skips_when


def has_marker(module, options):
    return f"{module.__name__} has {options['name']} already" if hasattr(module, options["name"]) else ""


@skips_when(has_marker)
def set_marker(module, options):
    with open(os.environ["NPATCH_T_CALLED"], "a") as log:
        log.write(options["name"] + "\\n")
    setattr(module, options["name"], True)
    return lambda: delattr(module, options["name"])


def no_check(module, options):
    with open(os.environ["NPATCH_T_CALLED"], "a") as log:
        log.write("no_check\\n")
'''

MANIFEST = '''
[manifest]
name = "c"

[[patch]]
name = "exists"
target = "target_mod"
call = "calls:set_marker"
options = { name = "present" }

[[patch]]
name = "absent"
target = "target_mod"
call = "calls:set_marker"
options = { name = "fresh" }

[[patch]]
name = "unchecked"
target = "target_mod"
call = "calls:no_check"

[[stub]]
module = "wave"
'''


def _project(tmp_path: Path, target_source: str) -> tuple[Path, dict[str, str]]:
    (tmp_path / "calls.py").write_text(textwrap.dedent(CALLS))
    (tmp_path / "target_mod").mkdir()
    (tmp_path / "target_mod" / "__init__.py").write_text(target_source)
    (tmp_path / "c.toml").write_text(MANIFEST)
    return tmp_path, clean_env(NPATCH_T_CALLED=str(tmp_path / "called.log"), PYTHONPATH=str(tmp_path))


def test_a_declared_skip_check_is_asked_by_explain_and_the_function_is_not_run(tmp_path: Path) -> None:
    project, env = _project(tmp_path, "present = 1\n")
    said = _compare("c.toml", "import target_mod, wave", project, env)
    assert said["exists"] == ("skip", "target_mod has present already")
    assert said["absent"] == said["unchecked"] == ("apply", "")
    import wave

    assert said["stub:wave"][1] == f"wave really exists ({wave.__file__}); the real module wins (force = true " \
                                   "stubs it anyway)"
    # explain asked the checks, and ran no call function: only the run did
    assert (project / "called.log").read_text().splitlines() == ["fresh", "no_check"]


def test_the_target_package_shape_and_a_check_that_fails(tmp_path: Path) -> None:
    """A target module that sets the name while it executes (another timing: the check
    sees it only once the module ran) and a skip check that raises: explain says
    so instead of a traceback, and the run fails that op the same way."""
    project, env = _project(tmp_path, "import sys\nsetattr(sys.modules[__name__], 'fresh', 2)\n")
    said = _compare("c.toml", "import target_mod, wave", project, env)
    assert said["absent"] == ("skip", "target_mod has fresh already")
    assert said["exists"] == ("apply", "")
    (project / "calls.py").write_text(textwrap.dedent(CALLS).replace('hasattr(module, options["name"])',
                                                                      "1 / 0"))
    explained = run_npatch("explain", "c.toml", cwd=project, env=env)
    assert explained.returncode == 0 and "Traceback" not in explained.stderr, explained.stderr
    assert "apply    exists  (call target_mod)  [no condition; its skip check could not be asked: ZeroDivisionError: " \
           "division by zero]" in explained.stdout
    ran = run_npatch("apply", "c.toml", "--", sys.executable, "-c", "import target_mod", cwd=project, env=env)
    assert "call 'exists' on target_mod failed: ZeroDivisionError: division by zero" in ran.stderr, ran.stderr


WAITING = '''
[manifest]
name = "w"

[[patch]]
name = "ghost"
target = "no_such_pkg_npt:f"
value = 1

[[patch]]
name = "half"
target = "colorsys:rgb_to_yiq"
also = ["no_such_pkg_npt.sub:g"]
value = 42

[[patch]]
name = "while-ghost"
target = "colorsys:rgb_to_hsv"
during = "no_such_pkg_npt"
value = 43

[[stub]]
module = "ghostpkg_npt"

[[patch]]
name = "under-stub"
target = "ghostpkg_npt.sub:f"
value = 44

[[patch]]
name = "local"
target = "local_mod_npt:f"
value = 45
'''


def test_an_op_whose_modules_are_not_installed_waits_in_explain_as_in_the_run(tmp_path: Path) -> None:
    """explain said 'apply' for an op on a module not installed here; the run leaves it `waiting`.
    Variations: an `also` path not installed (the op still applies), a `during` module not
    installed, a module made by the plan's own stub, a module of the user's in the current directory."""
    (tmp_path / "w.toml").write_text(WAITING)
    (tmp_path / "local_mod_npt.py").write_text("f = 0\n")
    said = _compare("w.toml", "import colorsys, ghostpkg_npt.sub, local_mod_npt", tmp_path)
    assert said == {"ghost": ("waiting", ""), "half": ("apply", ""), "while-ghost": ("waiting", ""),
                    "stub:ghostpkg_npt": ("apply", ""), "under-stub": ("apply", ""), "local": ("apply", "")}
    lines = run_npatch("explain", "w.toml", cwd=tmp_path).stdout.splitlines()
    assert "waiting  ghost  (value no_such_pkg_npt:f)  because no_such_pkg_npt not installed here: nothing can " \
           "import it, the op waits" in lines
    assert lines[-1] == "4 of 6 ops would apply here; 2 would wait for a module not installed here; 0 disabled"
