"""The built-in ``py-compat`` manifest on this Python (3.11), and its library.

Names this Python already lacks (3.10's collections ABC aliases, 3.11's
``inspect.getargspec`` / ``formatargspec`` / ``asyncio.coroutine``) are
created for old code run under ``npatch apply py-compat`` and deleted again
when a session ends.  Names removed in 3.12 and 3.13 still exist here: their
ops are skipped by their ``when``, and their replacements are checked against
the 3.11 originals they stand for, and run in place of them when the version
gate is taken off.
"""
from __future__ import annotations

import configparser
import inspect
import io
import json
import locale
import re
import sys
import unittest
import warnings

import pytest

from npatch_testutil import clean_env, run_npatch, run_python
from npatch.library import py_compat
from npatch.library.py_compat import imp as compat_imp

MANIFEST = py_compat.__file__.replace("library/py_compat/__init__.py", "manifests/py-compat.toml")

pytestmark = pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the checks below compare with Python 3.11's originals")

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import imp as real_imp


@pytest.fixture
def env(tmp_path):
    return clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))


OLD_CODE = r'''
from collections import Mapping, Iterable, OrderedDict
import asyncio, collections, inspect, json

def f(a, b=1, *args, **kw):
    pass

@asyncio.coroutine
def old_style():
    yield from asyncio.sleep(0)
    return 7

spec = inspect.getargspec(f)
checks = {
    "mapping": isinstance({}, Mapping) and isinstance(OrderedDict(), collections.MutableMapping),
    "iterable": isinstance([], Iterable) and not isinstance(1, collections.Sequence),
    "getargspec": list(spec) == [["a", "b"], "args", "kw", (1,)] and spec.keywords == "kw",
    "formatargspec": inspect.formatargspec(*spec) == "(a, b=1, *args, **kw)",
    "coroutine": asyncio.run(old_style()) == 7,
}
print(json.dumps(checks))
'''


def test_old_code_runs_under_the_manifest(tmp_path, env):
    script = tmp_path / "old.py"
    script.write_text(OLD_CODE)
    proc = run_npatch("apply", "-v", "--strict", "py-compat", "--", sys.executable, str(script), env=env)
    assert proc.returncode == 0, proc.stderr
    checks = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [name for name, ok in checks.items() if not ok] == []
    skipped = [line for line in proc.stderr.splitlines() if "skipped" in line and "condition is false" in line]
    assert len(skipped) == 25  # the names 3.12 and 3.13 removed: this Python still has them


def test_old_code_fails_without_it(tmp_path, env):
    script = tmp_path / "old.py"
    script.write_text(OLD_CODE)
    proc = run_python(f"exec(open({str(script)!r}).read())", env=env)
    assert proc.returncode != 0 and "cannot import name 'Mapping' from 'collections'" in proc.stderr


def test_compiles_with_both_resolvers(env):
    for resolve in ("import", "static"):
        proc = run_npatch("compile", "--resolve", resolve, "py-compat", env=env)
        assert proc.returncode == 0, proc.stderr
        assert "54 ops" in proc.stdout and "0 errors" in proc.stdout


API = r'''
import collections, inspect, json
import npatch
with npatch.load("py-compat").apply():
    inside = [collections.Mapping is collections.abc.Mapping, callable(inspect.getargspec)]
after = [hasattr(collections, "Mapping"), hasattr(inspect, "getargspec"), hasattr(inspect, "getfullargspec")]
print(json.dumps([inside, after]))
'''


def test_restore_deletes_what_was_created(env):
    proc = run_python(API, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [[True, True], [False, False, True]]


# -- the 3.12 / 3.13 names, with the version gate taken off ----------------------
NEWER_CODE = r'''
import configparser, io, json, locale, unittest

class T(unittest.TestCase):
    def test_a(self):
        self.assertEquals(1, 1)
        self.failUnless(True)
        self.assertDictContainsSubset({"a": 1}, {"a": 1, "b": 2})
        with self.assertRaisesRegexp(ValueError, "x"):
            raise ValueError("x")

suite = unittest.makeSuite(T)
result = unittest.TextTestRunner(stream=io.StringIO()).run(suite)
parser = configparser.SafeConfigParser()
parser.readfp(io.StringIO("[s]\nk = v\n"))
checks = {
    "ours": unittest.makeSuite.__module__ == "npatch.library.py_compat" and locale.format.__module__ == "npatch.library.py_compat",
    "suite": result.testsRun == 1 and result.wasSuccessful(),
    "config": parser.get("s", "k") == "v",
    "locale": locale.format("%.2f", 3.14159) == "3.14",
}
print(json.dumps(checks))
'''


def test_newer_names_run_in_place_of_the_originals(tmp_path, env):
    """With the `when` lines removed, the 3.12/3.13 ops replace this Python's
    originals, and code written for them runs on the replacements."""
    text = "\n".join(line for line in open(MANIFEST).read().splitlines() if not line.startswith("when ="))
    manifest = tmp_path / "ungated.toml"
    manifest.write_text(text.replace('name = "py-compat"', 'name = "py-compat-ungated"'))
    script = tmp_path / "newer.py"
    script.write_text(NEWER_CODE)
    proc = run_npatch("apply", "--strict", "--disable", "imp", "--disable", "distutils", str(manifest), "--",
                      sys.executable, "-W", "error::DeprecationWarning", str(script), env=env)
    assert proc.returncode == 0, proc.stderr
    checks = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [name for name, ok in checks.items() if not ok] == []


# -- each replacement against the 3.11 original -----------------------------------
def sample(a, b=2, *rest, **options):
    pass


def annotated(a: int, *, b=1) -> str:
    return ""


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def test_formatargspec_matches_signature():
    for func in (sample, annotated, lambda: None, lambda x, *, y=3, **z: None):
        try:
            full = inspect.getfullargspec(func)
        except TypeError:
            continue
        assert py_compat.formatargspec(*full) == str(inspect.signature(func)), func


def test_getargspec_refuses_what_it_refused():
    assert py_compat.getargspec(sample) == (["a", "b"], "rest", "options", (2,))
    with pytest.raises(ValueError, match="keyword-only parameters or annotations"):
        py_compat.getargspec(annotated)


class Sample(unittest.TestCase):
    def test_b(self):
        pass

    def test_a(self):
        pass

    def check_c(self):
        pass


def ids(suite) -> list[str]:
    return [test.id() for test in suite] if not isinstance(suite, unittest.TestSuite) else [i for t in suite for i in ids(t)] if any(
        isinstance(t, unittest.TestSuite) for t in suite) else [t.id() for t in suite]


@pytest.mark.parametrize("name", ["makeSuite", "findTestCases", "getTestCaseNames"])
def test_unittest_functions_match(name):
    ours, real = getattr(py_compat, name), getattr(unittest, name)
    target = sys.modules[__name__] if name == "findTestCases" else Sample
    for prefix in ("test", "check"):
        args = (target, prefix)
        mine, theirs = ours(*args), real(*args)
        if name == "getTestCaseNames":
            assert mine == theirs
        else:
            assert ids(mine) == ids(theirs) != []


@pytest.mark.parametrize("alias", [n for n in dir(py_compat) if n.startswith(("assert", "fail")) and n != "assertDictContainsSubset"])
def test_testcase_aliases_behave_like_the_311_ones(alias):
    case = Sample("test_a")
    args = {"Equal": (1, 1), "NotEqual": (1, 2), "AlmostEqual": (1.0, 1.0 + 1e-9), "NotAlmostEqual": (1.0, 2.0),
            "True": (True,), "False": (False,), "Regex": ("abc", "b"), "NotRegex": ("abc", "z")}
    method = getattr(py_compat, alias)
    target = method.__name__.removeprefix("alias of ")
    if target in ("assertRaises", "assertRaisesRegex"):
        with getattr(py_compat, alias)(case, ValueError, *(("v",) if target.endswith("Regex") else ())):
            raise ValueError("v")
        return
    good = args[target.removeprefix("assert")]
    method(case, *good)
    getattr(case, alias)(*good)  # 3.11's alias accepts the same arguments
    assert getattr(Sample, target) is not None


def test_assert_dict_contains_subset_messages_match():
    case = Sample("test_a")
    for subset, whole in (({"a": 1}, {"a": 2}), ({"x": 1}, {}), ({"a": 1, "x": 2}, {"a": 3})):
        with pytest.raises(AssertionError) as mine:
            py_compat.assertDictContainsSubset(case, subset, whole)
        with pytest.raises(AssertionError) as theirs:
            case.assertDictContainsSubset(subset, whole)
        assert str(mine.value) == str(theirs.value)
    py_compat.assertDictContainsSubset(case, {"a": 1}, {"a": 1, "b": 2})


def test_configparser_names():
    ours, real = configparser.ConfigParser(), configparser.RawConfigParser()
    py_compat.readfp(ours, io.StringIO("[s]\nk = %(x)s\nx = 1\n"), "f.ini")
    real.readfp(io.StringIO("[s]\nk = %(x)s\nx = 1\n"), "f.ini")
    assert ours.get("s", "k") == "1" and real.get("s", "k") == "%(x)s"
    assert issubclass(configparser.SafeConfigParser, configparser.ConfigParser)


@pytest.mark.parametrize("case", [("%d", 1234567, True), ("%.3f", 1234.5678, False), ("%s", "x", False),
                                  ("%5.1f", -2.25, True), ("%d %d", 1, False), ("x%d", 1, False), ("%%", 1, False)])
def test_locale_format_matches(case):
    percent, value, grouping = case
    try:
        expected = locale.format(percent, value, grouping)
    except (ValueError, TypeError) as exc:
        with pytest.raises(type(exc), match=re.escape(str(exc))):
            py_compat.locale_format(percent, value, grouping)
    else:
        assert py_compat.locale_format(percent, value, grouping) == expected


# -- imp ---------------------------------------------------------------------------------
NOT_IN_COMPAT_IMP = {"create_dynamic", "get_frozen_object",  # internal C helpers in 3.11's imp
                     "importlib", "warnings"}  # modules 3.11's imp imported for itself


def test_imp_has_every_public_name_of_311s():
    public = {n for n in dir(real_imp) if not n.startswith("_")}
    assert public - set(dir(compat_imp)) == NOT_IN_COMPAT_IMP


def test_imp_functions_match(tmp_path):
    assert compat_imp.get_suffixes() == real_imp.get_suffixes()
    assert compat_imp.get_magic() == real_imp.get_magic() and compat_imp.get_tag() == real_imp.get_tag()
    for name in ("SEARCH_ERROR", "PY_SOURCE", "PY_COMPILED", "C_EXTENSION", "PKG_DIRECTORY", "C_BUILTIN", "PY_FROZEN", "IMP_HOOK"):
        assert getattr(compat_imp, name) == getattr(real_imp, name)
    (tmp_path / "plain_mod.py").write_text("VALUE = 41 + 1\n")
    (tmp_path / "pkg_dir").mkdir()
    (tmp_path / "pkg_dir" / "__init__.py").write_text("INNER = 'pkg'\n")
    for name in ("plain_mod", "pkg_dir", "no_such_mod_zz"):
        try:
            theirs = real_imp.find_module(name, [str(tmp_path)])
        except ImportError:
            with pytest.raises(ImportError):
                compat_imp.find_module(name, [str(tmp_path)])
            continue
        mine = compat_imp.find_module(name, [str(tmp_path)])
        assert mine[1:] == theirs[1:]
        for found in (mine, theirs):
            if found[0]:
                found[0].close()
    assert compat_imp.find_module("sys") == real_imp.find_module("sys")
    try:
        module = compat_imp.load_source("npatch_imp_probe", str(tmp_path / "plain_mod.py"))
        assert module.VALUE == 42 and sys.modules["npatch_imp_probe"] is module
        package = compat_imp.load_package("npatch_imp_pkg", str(tmp_path / "pkg_dir"))
        assert package.INNER == "pkg"
        file, path, details = compat_imp.find_module("plain_mod", [str(tmp_path)])
        with file:
            again = compat_imp.load_module("npatch_imp_probe2", file, path, details)
        assert again.VALUE == 42
    finally:
        for name in ("npatch_imp_probe", "npatch_imp_pkg", "npatch_imp_probe2"):
            sys.modules.pop(name, None)
    assert compat_imp.new_module("m").__name__ == "m" and compat_imp.reload(json) is json
