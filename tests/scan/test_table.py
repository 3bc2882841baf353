"""The API table is data: every entry loads, matches its own examples and none
of its valid snippets, and its removed-name lists agree with the installed
NumPy and Python (tested like the manifests)."""
from __future__ import annotations

import importlib.util
import re
import sys
import warnings

import numpy
import pytest

from npatch.scan.finder import Finder
from npatch.scan.patterns import hooks
from npatch.scan.table import BUILTIN_TABLE, load_table
from npatch_testutil import REPO, run_npatch

APIS = load_table()
FINDER = Finder(hooks(APIS))
CASES = [(a.id, "example", i, code) for a in APIS for i, code in enumerate(a.examples)]
CASES += [(a.id, "valid", i, code) for a in APIS for i, code in enumerate(a.valid)]


def test_the_builtin_table_ships_next_to_the_manifests_but_is_not_one():
    assert BUILTIN_TABLE.parent.parent.name == "manifests" and BUILTIN_TABLE.is_file()
    listed = run_npatch("list")
    assert listed.returncode == 0 and "device-apis" not in listed.stdout


def test_every_entry_has_examples_and_valid_snippets():
    assert len(APIS) >= 20
    for api in APIS:
        assert api.examples and api.valid, api.id


@pytest.mark.parametrize("api_id,case,index,code", CASES, ids=[f"{c[0]}-{c[1]}{c[2]}" for c in CASES])
def test_entry_matches_its_examples_and_not_its_valid_snippets(api_id, case, index, code):
    found = [u for u in FINDER.find(code, "<case>") if u.api == api_id]
    if case == "example":
        assert found, f"{api_id}: example {index} not matched: {code!r}"
        for use in found:     # the reported position is on a line that says it
            line = code.splitlines()[use.line - 1]
            word = use.value or use.keyword or use.method or use.name.rsplit(".", 1)[-1]
            assert word in line[use.col - 1:] or word in line, (use, line)
    else:
        assert not found, f"{api_id}: valid snippet {index} matched: {code!r} -> {found}"


def test_removed_numpy_names_are_absent_from_the_installed_numpy():
    names = next(a for a in APIS if a.id == "numpy-removed").params
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        present = [n for n in names if hasattr(numpy, n.split(".", 1)[1])]
    assert present == []


def test_every_name_numpy_compat_restores_is_in_the_table():
    names = set(next(a for a in APIS if a.id == "numpy-removed").params)
    text = (REPO / "src/npatch/manifests/numpy-compat.toml").read_text()
    restored = re.findall(r'^name = "(numpy\.\w+)"', text, re.M)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gone = [n for n in restored if not hasattr(numpy, n.split(".", 1)[1])]
    assert len(gone) >= 40 and set(gone) <= names, set(gone) - names


def _exists(dotted: str) -> bool:
    module, _, attr = dotted.partition(".")
    if importlib.util.find_spec(module) is None:
        return False
    if not attr:
        return True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mod = importlib.import_module(module)
    if hasattr(mod, attr):
        return True
    try:
        return importlib.util.find_spec(dotted) is not None
    except ModuleNotFoundError:         # `typing.io` asked of a module that is no package
        return False


def test_removed_standard_library_names_are_gone_in_the_python_that_removed_them():
    checked = 0
    for api in APIS:
        if not api.removed:
            continue
        removed = tuple(int(p) for p in api.removed.split("."))
        names = api.params
        if sys.version_info[:2] >= removed:
            assert [n for n in names if _exists(n)] == [], api.id
            checked += 1
        else:       # still there before: the entry names real things, not typos
            assert all(_exists(n) for n in names if n.split(".")[0] not in ("msilib", "nis", "spwd", "ossaudiodev", "crypt")), api.id
    assert checked >= 2


BAD_TABLES = [
    ("[[api]]\nid = 'x'\ncategory = 'c'\nwhy = 'w'\nnames = ['a']\nmethods = ['b']\n", 1, "exactly one pattern key"),
    ("[[api]]\nid = 'x'\ncategory = 'c'\nwhy = 'w'\nnames = ['a']\nwhy_not = 1\n", 6, "unknown key"),
    ("[[api]]\nid = 'x'\ncategory = 'c'\nwhy = 'w'\narguments = { callables = ['*'], values = 'cuda' }\n", 5, "arguments.values: must be a non-empty list of strings"),
    ("[[api]]\nid = 'x'\ncategory = 'c'\nwhy = 'w'\nrequires = { callables = ['f'], keyword = 'k', position = '1' }\n", 5, "must be an integer"),
    ("[[api]]\nid = 'x'\ncategory = 'c'\nwhy = 'w'\nnames = ['a']\n[[api]]\nid = 'x'\ncategory = 'c'\nwhy = 'w'\nnames = ['b']\n", 7, "duplicate id"),
    ("[[api]]\nid = 'x'\ncategory = 'c'\nwhy = 'w'\nnames = ['a'\n", 6, "invalid TOML"),
]


@pytest.mark.parametrize("text,line,message", BAD_TABLES)
def test_a_bad_table_is_a_located_error_not_a_traceback(tmp_path, text, line, message):
    (tmp_path / "t.toml").write_text(text)
    (tmp_path / "a.py").write_text("x = 1\n")
    out = run_npatch("scan", "a.py", "--table", "t.toml", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert re.search(rf"t\.toml:{line}:\d+: .*{re.escape(message)}", out.stderr), out.stderr
