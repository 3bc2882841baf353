"""A replacement from a third package that the patched package itself
imported before any op (``npt_rx.compat`` does ``from npt_own.api import func``),
with a second op on it there: stop() must leave npt_rx.compat the function it had,
not put the first op's original (npt_rx.impl's func) there."""
from __future__ import annotations

import subprocess
import sys

import pytest

from npatch_testutil import clean_env
from tree_helpers import expect_lines, write_files

OWN = """
def func():
    return 'own'

def wrap(original, options):
    def wrapper():
        return f"{options['tag']}({original()})"
    return wrapper
"""


@pytest.mark.parametrize("export_how", ["replace", "wrap"])
@pytest.mark.parametrize("imported", ["before", "during"])
def test_library_reference_to_a_third_packages_function_is_kept(tmp_path, export_how, imported):
    second = (f'[[patch]]\nname = "export"\ntarget = "npt_rx.compat:func"\n'
              + ('replace = "npt_own.api:func"\n' if export_how == "replace"
                 else 'wrap = "npt_own.api:wrap"\noptions = { tag = "export" }\n'))
    manifest = ('[manifest]\nname = "m"\n\n[[patch]]\nname = "source"\ntarget = "npt_rx.impl:func"\n'
                'replace = "npt_own.api:func"\n\n' + second)
    early = "import npt_rx.compat\n" if imported == "before" else ""
    late = "" if early else "import npt_rx.compat\n"
    write_files(tmp_path, {"m.toml": manifest,
                           "npt_rx/__init__.py": "",
                           "npt_rx/impl.py": "def func():\n    return 'orig'\n",
                           "npt_rx/compat.py": "from npt_own.api import func\n",
                           "npt_own/__init__.py": "", "npt_own/api.py": OWN,
                           "scenario.py": f"""
import npatch
{early}session = npatch.apply("m.toml")
import npt_rx.impl
{late}import npt_own.api
session.stop()
print("AFTER", npt_rx.impl.func(), npt_rx.compat.func(), npt_rx.compat.func is npt_own.api.func)
"""})
    proc = subprocess.run([sys.executable, "scenario.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=clean_env(PYTHONPATH=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache")))
    assert proc.returncode == 0, proc.stderr
    expect_lines(proc.stdout, "AFTER orig own True")
