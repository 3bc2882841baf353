"""Two installations of the same npatch version share one user cache
(``~/.cache/npatch``: two checkouts, two virtual environments).  A built-in
manifest is named, not given by path, so each must get the plan compiled
from its own files, never the other's (seen: a stale 118-op cuda-to-cpu plan
ran after the manifest had grown to 193 ops in another checkout)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import npatch
import pytest
from npatch_testutil import clean_env, run_python

SRC = Path(npatch.__file__).resolve().parent


def _install_copy(root: Path, extra_op: bool) -> Path:
    """A copy of this npatch at another path; with ``extra_op`` its numpy-compat has one more op."""
    site = root / "site"
    shutil.copytree(SRC, site / "npatch", ignore=shutil.ignore_patterns("__pycache__"))
    if extra_op:
        manifest = site / "npatch" / "manifests" / "numpy-compat.toml"
        manifest.write_text(manifest.read_text() + '\n[[patch]]\nname = "extra.op"\n'
                            'target = "textwrap:npatch_extra"\nvalue = 1\non-missing = "create"\n')
    return site


def _ops(site: Path, cache: Path, tmp: Path, name: str) -> int:
    report = tmp / f"{name}.json"
    result = run_python(
        "import sys, runpy; sys.argv = ['npatch', 'apply', 'numpy-compat', '--report', sys.argv[1], '--', "
        "sys.executable, '-c', 'pass']; runpy.run_module('npatch', run_name='__main__')",
        str(report), env=clean_env(PYTHONPATH=str(site), XDG_CACHE_HOME=str(cache)), cwd=tmp)
    assert result.returncode == 0, result.stderr
    return len(json.loads(report.read_text())["ops"])


def test_each_installation_gets_the_plan_of_its_own_builtin_manifests(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    plain = _install_copy(tmp_path / "a", extra_op=False)
    grown = _install_copy(tmp_path / "b", extra_op=True)
    first = _ops(plain, cache, tmp_path, "a1")
    assert _ops(grown, cache, tmp_path, "b1") == first + 1
    assert _ops(plain, cache, tmp_path, "a2") == first          # and back: each keeps its own entry
    assert _ops(grown, cache, tmp_path, "b2") == first + 1


WARNED = '''
[manifest]
name = "w"
[[patch]]
name = "p"
target = "colorsys:no_such_function"
value = 1
'''


def _apply_notes(site: Path, cache: Path, tmp: Path) -> str:
    """stderr of ``npatch apply w.toml`` run from ``site`` (the compiler's notes, fresh or cached)."""
    result = run_python(
        "import sys, runpy; sys.argv = ['npatch', 'apply', 'w.toml', '--', sys.executable, '-c', 'pass']; "
        "runpy.run_module('npatch', run_name='__main__')",
        env=clean_env(PYTHONPATH=str(site), XDG_CACHE_HOME=str(cache)), cwd=tmp)
    assert result.returncode == 0, result.stderr
    return result.stderr


def _upgrade(site: Path, path: str, old: str, new: str) -> None:
    """Install a changed ``npatch/<path>`` in place, as an upgrade or a ``git pull`` does (a new file)."""
    file = site / "npatch" / path
    text = file.read_text()
    assert old in text
    file.unlink()
    file.write_text(text.replace(old, new))


@pytest.mark.parametrize("path,old,new", [
    ("compiler/static.py", "is not defined in {where}", "is not defined in the {where}"),  # the compiler itself
    ("dsl/locate.py", "\n__all__", "\n# upgraded\n__all__"),                                # what it imports
    ("grammar/npatch.lark", "%ignore", "// upgraded\n%ignore"),                                # what it reads
])
def test_an_upgraded_npatch_compiles_again_instead_of_repeating_old_notes(tmp_path, path, old, new):
    """The cache key names npatch's own code, not only its version: an
    installation upgraded in place (same version string: a checkout after
    ``git pull``, an editable install) compiles again, so the warnings it
    prints are its own, not those its old code cached."""
    (tmp_path / "w.toml").write_text(WARNED)
    cache = tmp_path / "cache"
    site = _install_copy(tmp_path / "a", extra_op=False)
    before = _apply_notes(site, cache, tmp_path)
    assert "is not defined in module colorsys" in before and before == _apply_notes(site, cache, tmp_path)
    keys = {p.name for p in (cache / "npatch" / "keys").iterdir()}
    _upgrade(site, path, old, new)
    after = _apply_notes(site, cache, tmp_path)
    assert {p.name for p in (cache / "npatch" / "keys").iterdir()} > keys, "no new cache entry: the old one was used"
    if path == "compiler/static.py":
        assert "is not defined in the module colorsys" in after, after


def test_an_upgrade_of_the_runtime_alone_keeps_the_cached_plan(tmp_path):
    """Code that does not compile (the runtime, the CLI) is not in the key: changing it is still a hit."""
    (tmp_path / "w.toml").write_text(WARNED)
    cache = tmp_path / "cache"
    site = _install_copy(tmp_path / "a", extra_op=False)
    before = _apply_notes(site, cache, tmp_path)
    keys = {p.name for p in (cache / "npatch" / "keys").iterdir()}
    _upgrade(site, "runtime/report.py", "\n__all__", "\n# upgraded\n__all__")
    assert _apply_notes(site, cache, tmp_path) == before
    assert {p.name for p in (cache / "npatch" / "keys").iterdir()} == keys
