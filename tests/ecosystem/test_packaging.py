"""The wheel built from this repository, installed into a fresh virtual environment.

A ``.lark`` grammar or a manifest missing from the wheel is a classic
packaging bug (PITFALLS, TOML 2): the source tree hides it, only an installed
wheel shows it.  The venv has no system site-packages, no torch; pip fetched
lark, libcst, tomli, packaging and numpy from PyPI.
"""
from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

from npatch_testutil import REPO

BUILTINS = sorted(p.stem for p in (REPO / "src" / "npatch" / "manifests").glob("*.toml"))


def test_wheel_ships_grammar_manifests_bootstrap_and_entry_points(wheels):
    with zipfile.ZipFile(wheels["npatch"]) as wheel:
        names = set(wheel.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        declared = wheel.read(entry_points).decode()
    assert "npatch/grammar/npatch.lark" in names
    assert "npatch/runtime/bootstrap/sitecustomize.py" in names
    assert "npatch/manifests/tables/device-apis.toml" in names          # npatch scan's API table
    shipped = sorted(Path(n).stem for n in names if re.fullmatch(r"npatch/manifests/[^/]+\.toml", n))
    assert shipped == BUILTINS
    assert "cuda-to-cpu" in shipped and "numpy-compat" in shipped
    assert re.search(r"^npatch = npatch\.cli:main$", declared, re.M)
    assert re.search(r"^\[pytest11\]\nnpatch = npatch\.pytest_plugin$", declared, re.M)
    assert not any("/tests/" in n or n.startswith("tests/") for n in names)


def test_fresh_venv_lists_compiles_and_applies(venv, tmp_path):
    where = venv.run(venv.bin("python"), "-c",
                     "import npatch, lark, libcst, tomli, sys; print(sys.prefix); print(npatch.__file__)")
    assert where.returncode == 0, where.stderr
    prefix, npatch_file = where.stdout.split()
    assert Path(prefix) == venv.root and npatch_file.startswith(str(venv.root))

    listing = venv.run(venv.bin("npatch"), "list")
    assert listing.returncode == 0, listing.stderr
    listed = re.findall(r"^(\S+)\s+built-in\b", listing.stdout, re.M)
    assert sorted(listed) == BUILTINS

    compiled = venv.run(venv.bin("npatch"), "compile", "cuda-to-cpu", "-o", str(tmp_path / "plan.json"))
    assert compiled.returncode == 0, compiled.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["ops"] and plan["manifests"][0]["name"] == "cuda-to-cpu"

    code = "import numpy; print(numpy.float is float, numpy.int is int, numpy.object is object, numpy.str is str)"
    applied = venv.run(venv.bin("npatch"), "apply", "numpy-compat", "--", venv.bin("python"), "-c", code)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == "True True True True"

    bare = venv.run(venv.bin("python"), "-c", "import numpy; numpy.float")
    assert bare.returncode == 1 and "has no attribute 'float'" in bare.stderr

    schema = venv.run(venv.bin("npatch"), "schema")
    assert schema.returncode == 0 and json.loads(schema.stdout)["title"] == "npatch manifest"
