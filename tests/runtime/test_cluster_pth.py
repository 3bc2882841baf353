"""``npatch.pth``: the plan of ``npatch env`` boots from npatch's own installation.

The wheel (built here with ``pip wheel``, as a user or a cluster image would)
is installed into a fresh venv at another path; processes of that venv get
nothing but ``PATH`` and the variables ``npatch env`` printed on this side
(``env -i``): no ``PYTHONPATH``, no path of this checkout.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from npatch_testutil import REPO, clean_env
from test_launcher import MANIFEST, PY, SHOW, npatch, ok, write

PTH_LINE_START = "import os; 'NPATCH_PLAN_DATA' in os.environ and "


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> dict:
    """A venv at another path with npatch installed from its wheel: another node."""
    root = tmp_path_factory.mktemp("node")
    env = clean_env(XDG_CACHE_HOME=str(root / "cache"))
    built = subprocess.run([PY, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(REPO)],
                           env=env, capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (root / "dist").glob("npatch-*.whl")
    venv = root / "other place" / "venv"  # a space in the path, as a user's home may have
    ok(subprocess.run([PY, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                      env=env, capture_output=True, text=True, timeout=300))
    python = venv / "bin" / "python"
    ok(subprocess.run([PY, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
                       str(wheel)], env=env, capture_output=True, text=True, timeout=600))
    manifest = write(root / "m.toml", MANIFEST)
    variables = json.loads(ok(npatch("env", manifest, "--format", "json", env=env)).stdout)
    return {"root": root, "wheel": wheel, "python": python, "variables": variables, "manifest": manifest}


def there(node: dict, *args: str, variables: dict | None = None, cwd: Path | None = None
          ) -> subprocess.CompletedProcess:
    """``args`` run by the other node's python with only PATH and ``variables`` (``env -i``)."""
    environ = {"PATH": os.environ["PATH"], **(node["variables"] if variables is None else variables)}
    return subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in environ.items()), str(node["python"]), *args],
                          capture_output=True, text=True, timeout=300, cwd=cwd or node["root"])


def test_the_wheel_ships_npatch_pth_at_its_root(node):
    names = zipfile.ZipFile(node["wheel"]).namelist()
    assert "npatch.pth" in names
    text = zipfile.ZipFile(node["wheel"]).read("npatch.pth").decode()
    assert text.count("\n") == 1 and text.startswith(PTH_LINE_START)  # one line: one lookup, then nothing


def test_this_installation_lists_npatch_pth_too():
    # the install the test suite runs (editable here: `pip install -e .`) carries it as well
    from importlib import metadata

    files = [str(f) for f in metadata.distribution("npatch").files or ()]
    assert "npatch.pth" in files, files


def test_npatch_env_names_no_path_of_this_machine(node):
    assert set(node["variables"]) == {"NPATCH_PLAN_DATA"}


def test_a_bare_process_at_another_path_applies_the_plan(node):
    proc = there(node, "-c", SHOW + "; import npatch; print(npatch.__file__)")
    assert proc.returncode == 0, proc.stderr
    yiq, value, where = proc.stdout.split(maxsplit=2)
    assert (yiq, value) == ("yiq", "42") and proc.stderr == ""
    assert where.strip().startswith(str(node["python"].parent.parent)), where  # the other installation's npatch


def test_without_the_variables_no_npatch_module_is_imported(node):
    proc = there(node, "-X", "importtime", "-c", "import sys; print(sorted(m for m in sys.modules if 'npatch' in m))",
                 variables={})
    assert proc.returncode == 0 and proc.stdout.split() == ["[]"], proc.stdout + proc.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line]
    assert "site" in imported and not [m for m in imported if "npatch" in m]


def test_a_users_sitecustomize_runs_once_after_the_plan(node, tmp_path):
    site_dir = write(tmp_path / "site" / "sitecustomize.py", """
        import colorsys
        print("user sitecustomize", colorsys.rgb_to_yiq)
    """).parent
    proc = there(node, "-c", SHOW, variables=dict(node["variables"], PYTHONPATH=str(site_dir)))
    assert proc.stdout.split() == ["user", "sitecustomize", "42", "yiq", "42"], proc.stderr


def test_a_condition_sees_the_system_site_packages(node, tmp_path):
    # the .pth runs while site still adds directories: numpy lives in the system
    # site-packages of this --system-site-packages venv, added after the venv's own;
    # NPATCH_VERBOSE starts the session at boot, so the condition is evaluated then
    manifest = write(tmp_path / "when.toml", MANIFEST.replace('value = 42', 'value = 42\nwhen = "installed(\'numpy\')"'))
    variables = json.loads(ok(npatch("env", manifest, "--format", "json", "-v",
                                     env=clean_env(XDG_CACHE_HOME=str(tmp_path / "c")))).stdout)
    proc = there(node, "-c", SHOW, variables=variables)
    assert proc.stdout.split() == ["yiq", "42"], proc.stderr


def test_both_routes_in_one_process_boot_once(node, tmp_path):
    # npatch apply's PYTHONPATH bootstrap and npatch.pth, another plan each: each starts once
    second = write(tmp_path / "m2.toml", MANIFEST.replace("rgb_to_yiq", "rgb_to_hls").replace('"m"', '"m2"'))
    site_dir = write(tmp_path / "site" / "sitecustomize.py", "print('user sitecustomize')\n").parent
    code = ("import colorsys; from npatch.runtime import launcher; "
            "print(colorsys.rgb_to_yiq, colorsys.rgb_to_hls, len(launcher.SESSIONS))")
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "c"), PYTHONPATH=str(site_dir), **node["variables"])
    proc = ok(subprocess.run([str(node["python"]), "-m", "npatch", "apply", str(second), "--", str(node["python"]),
                              "-c", code], env=env, capture_output=True, text=True, timeout=300))
    # one line from `npatch apply`'s own process, one from the child, then the child's plans
    assert proc.stdout.split() == ["user", "sitecustomize"] * 2 + ["42", "42", "2"], proc.stderr


def test_python_S_skips_the_plan_and_I_keeps_it(node):
    # -S: no site module, no .pth; -I ignores PYTHON* variables, not NPATCH_PLAN_DATA
    skipped = there(node, "-S", "-c", "import colorsys, sys; print(colorsys.rgb_to_yiq.__name__, 'npatch' in sys.modules)")
    assert skipped.stdout.split() == ["rgb_to_yiq", "False"], skipped.stderr
    isolated = there(node, "-I", "-c", SHOW)
    assert isolated.stdout.split() == ["yiq", "42"], isolated.stderr


def test_a_site_dir_added_later_boots_at_once(node):
    # `python -S` then site.addsitedir(): the .pth runs outside site's start-up
    code = ("import site, sys; site.addsitedir(sys.argv[1]); import colorsys; print(colorsys.rgb_to_yiq)")
    purelib = ok(there(node, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", variables={})).stdout
    proc = there(node, "-S", "-c", code, purelib.strip())
    assert proc.stdout.split() == ["42"], proc.stderr
