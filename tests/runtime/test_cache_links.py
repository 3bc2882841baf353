"""A symbolic link on the way to a manifest that is pointed elsewhere must
never give a stale cache hit: the entry depends on every path the compiler
followed, as it named it, not only on the real file it reached (seen: an
include ``inc.toml -> a.toml`` pointed at ``b.toml`` kept running a.toml's plan).

Each scenario runs ``npatch apply`` in a fresh interpreter, as a user does.
A second run that must be a hit runs with ``tomllib`` unimportable: a hit
never imports the compiler, a miss fails.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from npatch.plancache import SETTLED_NS, Entry
from npatch_testutil import clean_env

PY = sys.executable
INNER = '[manifest]\nname = "{name}"\n\n[[patch]]\nname = "{name}_p"\ntarget = "json:{target}"\nreplace = "json:{by}"\n'
SHOW = "import json\nprint('CO', json.dumps.__code__.co_name, json.loads.__code__.co_name)\n"


def _inner(path: Path, by: str, name: str = "inner", target: str = "dumps") -> None:
    path.write_text(INNER.format(name=name, target=target, by=by))


def _outer(path: Path, *includes: str) -> None:
    path.write_text(f'[manifest]\nname = "outer"\ninclude = {list(includes)!r}\n'.replace("'", '"'))


def _relink(link: Path, target: str) -> None:
    os.unlink(link)
    os.symlink(target, link)


def _apply(root: Path, manifest: str = "m.toml", compiler: bool = True, cache: str = "cache") -> str:
    """The program's output under ``npatch apply manifest`` run in ``root``;
    ``compiler=False``: with the compiler unable to run (a hit must not need it)."""
    (root / "t.py").write_text(SHOW)
    path = [str(root / "no-compiler")] if not compiler else []
    if not compiler:
        (root / "no-compiler").mkdir(exist_ok=True)
        for name in ("tomllib", "tomli"):
            (root / "no-compiler" / f"{name}.py").write_text("raise ImportError('a cache hit must not compile')\n")
    env = clean_env(PYTHONPATH=os.pathsep.join(path + [str(root)]), XDG_CACHE_HOME=str(root / cache))
    proc = subprocess.run([PY, "-m", "npatch", "apply", manifest, "--", PY, "t.py"],
                          cwd=root, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_retargeted_include_link_is_a_miss(tmp_path):
    _outer(tmp_path / "m.toml", "inc.toml")
    _inner(tmp_path / "a.toml", "loads")
    _inner(tmp_path / "b.toml", "load")
    os.symlink("a.toml", tmp_path / "inc.toml")
    assert "CO loads loads\n" in _apply(tmp_path)
    assert "CO loads loads\n" in _apply(tmp_path, compiler=False)  # the link unchanged: a hit
    _relink(tmp_path / "inc.toml", "b.toml")
    assert "CO load loads\n" in _apply(tmp_path)


def test_an_entry_with_stamps_still_sees_the_link_move(tmp_path):
    """Once its files have settled a hit checks them by their stat alone: the
    entry it writes back with their stamps keeps the paths named."""
    _outer(tmp_path / "m.toml", "inc.toml")
    _inner(tmp_path / "a.toml", "loads")
    _inner(tmp_path / "b.toml", "load")
    os.symlink("a.toml", tmp_path / "inc.toml")
    assert "CO loads loads\n" in _apply(tmp_path)
    time.sleep(SETTLED_NS / 1e9 + 0.2)  # a wait for the rule to apply, not a timing assert
    assert "CO loads loads\n" in _apply(tmp_path, compiler=False)
    (entry,) = [p for p in (tmp_path / "cache" / "npatch" / "keys").iterdir() if not p.name.endswith(".notes")]
    lines = entry.read_text().splitlines()
    assert f"via {tmp_path / 'inc.toml'}" in lines
    assert all(line.split(" ")[3] != "-" for line in lines if line.startswith("source "))
    _relink(tmp_path / "inc.toml", "b.toml")
    assert "CO load loads\n" in _apply(tmp_path)


def test_entry_paths_named_round_trip():
    source = (3, "0" * 64, "/d/a.toml", ("/d/inc link.toml", "/d/conf/inc.toml"))
    text = Entry("1" * 64, "-", "2" * 64, [source, (4, "3" * 64, "/d/m.toml", ())]).dumps()
    assert Entry.loads(text).sources == [source, (4, "3" * 64, "/d/m.toml", ())]
    misplaced = text.replace("source 3 ", "via /d/x.toml\nsource 3 ", 1)
    assert Entry.loads(misplaced) is None


def test_retargeted_top_level_link(tmp_path):
    _inner(tmp_path / "a.toml", "loads")
    _inner(tmp_path / "b.toml", "load")
    os.symlink("a.toml", tmp_path / "link.toml")
    assert "CO loads loads\n" in _apply(tmp_path, "link.toml")
    _relink(tmp_path / "link.toml", "b.toml")
    assert "CO load loads\n" in _apply(tmp_path, "link.toml")
    _relink(tmp_path / "link.toml", "a.toml")
    assert "CO loads loads\n" in _apply(tmp_path, "link.toml")


def test_retargeted_directory_link_in_an_include_path(tmp_path):
    _outer(tmp_path / "m.toml", "conf/inc.toml")
    for folder, by in (("confA", "loads"), ("confB", "load")):
        (tmp_path / folder).mkdir()
        _inner(tmp_path / folder / "inc.toml", by)
    os.symlink("confA", tmp_path / "conf")
    assert "CO loads loads\n" in _apply(tmp_path)
    _relink(tmp_path / "conf", "confB")
    assert "CO load loads\n" in _apply(tmp_path)


def test_retargeted_middle_link_of_a_chain(tmp_path):
    _outer(tmp_path / "m.toml", "inc.toml")
    _inner(tmp_path / "a.toml", "loads")
    _inner(tmp_path / "b.toml", "load")
    os.symlink("mid.toml", tmp_path / "inc.toml")
    os.symlink("a.toml", tmp_path / "mid.toml")
    assert "CO loads loads\n" in _apply(tmp_path)
    _relink(tmp_path / "mid.toml", "b.toml")
    assert "CO load loads\n" in _apply(tmp_path)


def test_a_link_retargeted_to_the_same_content_runs_the_same_plan(tmp_path):
    _outer(tmp_path / "m.toml", "inc.toml")
    _inner(tmp_path / "a.toml", "loads")
    _inner(tmp_path / "copy.toml", "loads")
    os.symlink("a.toml", tmp_path / "inc.toml")
    assert "CO loads loads\n" in _apply(tmp_path)
    _relink(tmp_path / "inc.toml", "copy.toml")
    assert "CO loads loads\n" in _apply(tmp_path)


def test_a_file_replaced_by_a_link_to_the_same_content_elsewhere(tmp_path):
    """Same bytes, another folder: its own include now names another file."""
    _outer(tmp_path / "m.toml", "inc.toml")
    (tmp_path / "sub").mkdir()
    for folder, by in ((tmp_path, "loads"), (tmp_path / "sub", "load")):
        _outer(folder / "inc.toml", "leaf.toml")
        (folder / "inc.toml").write_text((folder / "inc.toml").read_text().replace('"outer"', '"middle"'))
        _inner(folder / "leaf.toml", by)
    assert "CO loads loads\n" in _apply(tmp_path)
    _relink(tmp_path / "inc.toml", "sub/inc.toml")
    assert "CO load loads\n" in _apply(tmp_path)


def test_a_file_included_twice_once_through_a_link_that_moves(tmp_path):
    _outer(tmp_path / "m.toml", "inc.toml", "a.toml")
    _inner(tmp_path / "a.toml", "loads")
    _inner(tmp_path / "b.toml", "load", name="b", target="loads")
    os.symlink("a.toml", tmp_path / "inc.toml")  # a.toml reached twice: read once
    assert "CO loads loads\n" in _apply(tmp_path)
    _relink(tmp_path / "inc.toml", "b.toml")
    retargeted = _apply(tmp_path)
    assert retargeted == _apply(tmp_path, cache="fresh")
    assert "CO loads loads\n" not in retargeted


def test_an_include_by_built_in_name_still_hits(tmp_path):
    _outer(tmp_path / "m.toml", "numpy-compat", "inc.toml")
    _inner(tmp_path / "a.toml", "loads")
    os.symlink("a.toml", tmp_path / "inc.toml")
    assert "CO loads loads\n" in _apply(tmp_path)
    assert "CO loads loads\n" in _apply(tmp_path, compiler=False)
    assert "CO dumps loads\n" in _apply(tmp_path, "numpy-compat")
    assert "CO dumps loads\n" in _apply(tmp_path, "numpy-compat", compiler=False)
