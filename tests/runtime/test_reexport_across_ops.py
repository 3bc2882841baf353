"""Two ops of one plan on one function under two names: one on the module
that defines it (``pkg.impl:func``), one on a package that re-exports it
(``pkg:func``, copied by ``from .impl import func`` after the first op
applied, or cached by a lazy ``__getattr__``).  The second op finds the first
op's wrapper or replacement where it looks: restore must put the original
there, not leave a stopped session's wrapper in the program.

Every scenario runs in a fresh interpreter.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from npatch_testutil import clean_env
from tree_helpers import expect_lines, write_files

LAZY_INIT = """
import importlib, sys, types

class _Lazy(types.ModuleType):
    def __getattr__(self, name):
        if name != "func":
            raise AttributeError(name)
        value = importlib.import_module(".impl", self.__name__).func
        setattr(self, name, value)        # cached, as transformers' _LazyModule does
        return value

lazy = _Lazy(__name__)
lazy.__dict__.update({k: v for k, v in globals().items() if k.startswith("__")})
sys.modules[__name__] = lazy
"""

FILES = {
    "npt_rx/__init__.py": "from .impl import func\n",
    "npt_rx/impl.py": "def func():\n    return 'orig'\n",
    "npt_lazy/__init__.py": LAZY_INIT,
    "npt_lazy/impl.py": "def func():\n    return 'orig'\n",
    "npt_rx_repl.py": """
        def func():
            return 'replaced'

        def wrap(original, options):
            def wrapper():
                return f"{options['tag']}({original()})"
            return wrapper
    """,
}


def _op(name: str, target: str, how: str) -> str:
    if how == "replace":
        return f'[[patch]]\nname = "{name}"\ntarget = "{target}"\nreplace = "npt_rx_repl:func"\n'
    return f'[[patch]]\nname = "{name}"\ntarget = "{target}"\nwrap = "npt_rx_repl:wrap"\noptions = {{ tag = "{name}" }}\n'


@pytest.mark.parametrize("package", ["npt_rx", "npt_lazy"])
@pytest.mark.parametrize("source_how, export_how, during", [
    ("wrap", "replace", "replaced source(orig)"),       # the re-export's op replaces the copied wrapper
    ("wrap", "wrap", "export(source(orig)) source(orig)"),
])
def test_restore_puts_the_original_under_both_names(tmp_path, package, source_how, export_how, during):
    manifest = ('[manifest]\nname = "m"\n\n' + _op("source", f"{package}.impl:func", source_how) + "\n"
                + _op("export", f"{package}:func", export_how))
    write_files(tmp_path, {**FILES, "m.toml": manifest, "scenario.py": f"""
import npatch
session = npatch.apply("m.toml")
import {package}
print("DURING", {package}.func(), {package}.impl.func())
session.stop()
print("AFTER", {package}.func(), {package}.impl.func())
"""})
    proc = subprocess.run([sys.executable, "scenario.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=clean_env(PYTHONPATH=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache")))
    assert proc.returncode == 0, proc.stderr
    expect_lines(proc.stdout, f"DURING {during}", "AFTER orig orig")
