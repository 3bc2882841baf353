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
    ("replace", "replace", "replaced replaced"),          # the re-export copied the replacement
    ("replace", "wrap", "export(replaced) replaced"),
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


@pytest.mark.parametrize("export_how", ["replace", "wrap"])
@pytest.mark.parametrize("helpers_when", ["before", "after"])
def test_a_replacement_held_by_its_own_package_is_not_taken_for_a_copy(tmp_path, export_how, helpers_when):
    """The replacement is a library's own object (``npt_own.api:func``, also
    imported by ``npt_own.helpers``), with a second op on it there: restore
    leaves npt_own its own function, imported before or after the first op
    applied; it never gets the patched target's original."""
    manifest = ('[manifest]\nname = "m"\n\n[[patch]]\nname = "source"\ntarget = "npt_rx.impl:func"\n'
                'replace = "npt_own.api:func"\n\n'
                + _op("export", "npt_own.helpers:func", export_how).replace("npt_rx_repl", "npt_own.api"))
    early = "import npt_own.helpers\n" if helpers_when == "before" else ""
    late = "" if early else "import npt_own.helpers\n"
    write_files(tmp_path, {**FILES, "m.toml": manifest,
                           "npt_own/__init__.py": "",
                           "npt_own/api.py": """
        def func():
            return 'own'

        def wrap(original, options):
            def wrapper():
                return f"{options['tag']}({original()})"
            return wrapper
    """,
                           "npt_own/helpers.py": "from .api import func\n",
                           "scenario.py": f"""
import npatch
{early}session = npatch.apply("m.toml")
import npt_rx.impl
{late}import npt_own.api
print("DURING", npt_rx.impl.func(), npt_own.helpers.func())
session.stop()
print("AFTER", npt_rx.impl.func(), npt_own.helpers.func(), npt_own.helpers.func is npt_own.api.func)
"""})
    proc = subprocess.run([sys.executable, "scenario.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=clean_env(PYTHONPATH=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache")))
    assert proc.returncode == 0, proc.stderr
    expect_lines(proc.stdout, "AFTER orig own True")


@pytest.mark.parametrize("how, after", [("replace", "replaced"), ("wrap", "source(orig)")])
def test_a_copy_the_program_makes_during_the_session_is_its_own(tmp_path, how, after):
    """No op on the re-export: ``npt_rx`` imported during the session copies
    the patched function, and that copy is the program's reference, kept by
    stop() (docs/design.md, as monkeypatch keeps one); the target itself is
    restored.  Imported before the session, rebind replaces the copy and
    stop() puts the original back."""
    write_files(tmp_path, {**FILES, "m.toml": '[manifest]\nname = "m"\n\n' + _op("source", "npt_rx.impl:func", how),
                           "r.toml": '[manifest]\nname = "r"\n\n' + _op("source", "npt_rx.impl:func", how)
                           + "rebind = true\n",
                           "scenario.py": """
import npatch
session = npatch.apply("m.toml")
import npt_rx
session.stop()
print("DURING-COPY", npt_rx.func(), npt_rx.impl.func())
npt_rx.func = npt_rx.impl.func
session = npatch.apply("r.toml")
print("REBOUND", npt_rx.func())
session.stop()
print("BEFORE-COPY", npt_rx.func(), npt_rx.impl.func(), npt_rx.func is npt_rx.impl.func)
"""})
    proc = subprocess.run([sys.executable, "scenario.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=clean_env(PYTHONPATH=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache")))
    assert proc.returncode == 0, proc.stderr
    expect_lines(proc.stdout, f"DURING-COPY {after} orig", f"REBOUND {after}", "BEFORE-COPY orig orig True")
