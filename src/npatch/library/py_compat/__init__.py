"""Standard-library names that Python 3.10-3.13 removed, as they were.

The ``py-compat`` manifest points its ops here.  Each op is gated on the
Python version that removed the name (``when = "python_version >= '3.12'"``)
and creates the name only where it is absent (``on-missing = "create"``);
restoring deletes it again.  Names whose old meaning is a name that still
exists (``collections.Mapping`` is ``collections.abc.Mapping``) point at it
directly; the functions below are the ones that had behaviour of their own,
written after the last CPython release that had them (3.9-3.12's ``Lib/``),
without their deprecation warnings.  ``imp`` is :mod:`.imp`.
"""
from __future__ import annotations

import collections
from typing import Any, Callable

ArgSpec = collections.namedtuple("ArgSpec", "args varargs keywords defaults")


# -- inspect (removed in 3.11) ---------------------------------------------------
def getargspec(func: Callable[..., Any]) -> ArgSpec:
    """``inspect.getargspec``: names and defaults of a function's parameters."""
    import inspect

    args, varargs, varkw, defaults, kwonlyargs, _kwonlydefaults, annotations = inspect.getfullargspec(func)
    if kwonlyargs or annotations:
        raise ValueError("Function has keyword-only parameters or annotations, use inspect.signature() API which can support them")
    return ArgSpec(args, varargs, varkw, defaults)


def formatargspec(args: list[str], varargs: str | None = None, varkw: str | None = None, defaults: tuple | None = None,
                  kwonlyargs: tuple = (), kwonlydefaults: dict | None = None, annotations: dict | None = None,
                  formatarg: Callable[[Any], str] = str,
                  formatvarargs: Callable[[str], str] = lambda name: "*" + name,
                  formatvarkw: Callable[[str], str] = lambda name: "**" + name,
                  formatvalue: Callable[[Any], str] = lambda value: "=" + repr(value),
                  formatreturns: Callable[[str], str] = lambda text: " -> " + text,
                  formatannotation: Callable[[Any], str] | None = None) -> str:
    """``inspect.formatargspec``: ``(a, b=1, *args, c, **kw) -> int`` from getfullargspec's parts."""
    import inspect

    annotations = annotations or {}
    formatannotation = formatannotation or inspect.formatannotation

    def with_annotation(arg: str) -> str:
        result = formatarg(arg)
        if arg in annotations:
            result += ": " + formatannotation(annotations[arg])
        return result

    specs = []
    first_default = len(args) - len(defaults) if defaults else len(args)
    for i, arg in enumerate(args):
        spec = with_annotation(arg)
        if i >= first_default:
            spec += formatvalue(defaults[i - first_default])
        specs.append(spec)
    if varargs is not None:
        specs.append(formatvarargs(with_annotation(varargs)))
    elif kwonlyargs:
        specs.append("*")
    for arg in kwonlyargs or ():
        spec = with_annotation(arg)
        if kwonlydefaults and arg in kwonlydefaults:
            spec += formatvalue(kwonlydefaults[arg])
        specs.append(spec)
    if varkw is not None:
        specs.append(formatvarkw(with_annotation(varkw)))
    result = "(" + ", ".join(specs) + ")"
    if "return" in annotations:
        result += formatreturns(formatannotation(annotations["return"]))
    return result


# -- asyncio (removed in 3.11) ---------------------------------------------------
def coroutine(func: Callable[..., Any]) -> Callable[..., Any]:
    """``asyncio.coroutine``: a generator function becomes a generator-based coroutine."""
    import functools
    import inspect
    import types

    if inspect.iscoroutinefunction(func):
        return func
    if inspect.isgeneratorfunction(func):
        return types.coroutine(func)

    @functools.wraps(func)
    @types.coroutine
    def coro(*args: Any, **kwargs: Any) -> Any:
        result = func(*args, **kwargs)
        if inspect.isgenerator(result) or inspect.isawaitable(result):
            result = yield from (result if inspect.isgenerator(result) else result.__await__())
        return result

    return coro


# -- unittest (TestCase aliases removed in 3.12, module functions in 3.13) -------
def _loader(prefix: str, sort_using: Callable[[Any, Any], int] | None, suite_class: type | None = None,
            test_name_patterns: list[str] | None = None) -> Any:
    import unittest
    from unittest import util

    loader = unittest.TestLoader()
    loader.sortTestMethodsUsing = sort_using or util.three_way_cmp
    loader.testMethodPrefix = prefix
    loader.testNamePatterns = test_name_patterns
    if suite_class:
        loader.suiteClass = suite_class
    return loader


def makeSuite(testCaseClass: type, prefix: str = "test", sortUsing: Callable[[Any, Any], int] | None = None,
              suiteClass: type | None = None) -> Any:
    """``unittest.makeSuite``: the suite of one TestCase class's test methods."""
    return _loader(prefix, sortUsing, suiteClass).loadTestsFromTestCase(testCaseClass)


def findTestCases(module: Any, prefix: str = "test", sortUsing: Callable[[Any, Any], int] | None = None,
                  suiteClass: type | None = None) -> Any:
    """``unittest.findTestCases``: the suite of a module's tests."""
    return _loader(prefix, sortUsing, suiteClass).loadTestsFromModule(module)


def getTestCaseNames(testCaseClass: type, prefix: str, sortUsing: Callable[[Any, Any], int] | None = None,
                     testNamePatterns: list[str] | None = None) -> list[str]:
    """``unittest.getTestCaseNames``: the sorted test method names of a class."""
    return _loader(prefix, sortUsing, test_name_patterns=testNamePatterns).getTestCaseNames(testCaseClass)


def _calls(name: str) -> Callable[..., Any]:
    def alias(*args: Any, **kwargs: Any) -> Any:
        self, *rest = args
        return getattr(self, name)(*rest, **kwargs)

    alias.__name__ = alias.__qualname__ = f"alias of {name}"
    return alias


#: the TestCase method aliases 3.12 removed, each calling the method it stood for
assertEquals = failUnlessEqual = _calls("assertEqual")
assertNotEquals = failIfEqual = _calls("assertNotEqual")
assertAlmostEquals = failUnlessAlmostEqual = _calls("assertAlmostEqual")
assertNotAlmostEquals = failIfAlmostEqual = _calls("assertNotAlmostEqual")
assert_ = failUnless = _calls("assertTrue")
failIf = _calls("assertFalse")
failUnlessRaises = _calls("assertRaises")
assertRaisesRegexp = _calls("assertRaisesRegex")
assertRegexpMatches = _calls("assertRegex")
assertNotRegexpMatches = _calls("assertNotRegex")


def assertDictContainsSubset(self: Any, subset: dict, dictionary: dict, msg: str | None = None) -> None:
    """``TestCase.assertDictContainsSubset``: every key of ``subset`` is in ``dictionary`` with that value."""
    from unittest.util import safe_repr

    missing, mismatched = [], []
    for key, value in subset.items():
        if key not in dictionary:
            missing.append(key)
        elif value != dictionary[key]:
            mismatched.append(f"{safe_repr(key)}, expected: {safe_repr(value)}, actual: {safe_repr(dictionary[key])}")
    if not (missing or mismatched):
        return
    standard = ""
    if missing:
        standard = "Missing: %s" % ",".join(safe_repr(m) for m in missing)
    if mismatched:
        standard = (standard + "; " if standard else "") + "Mismatched values: %s" % ",".join(mismatched)
    self.fail(self._formatMessage(msg, standard))


# -- configparser (removed in 3.12) ----------------------------------------------
def readfp(self: Any, fp: Any, filename: str | None = None) -> None:
    """``RawConfigParser.readfp``: ``read_file`` under its old name."""
    self.read_file(fp, source=filename)


# -- locale (format removed in 3.12, resetlocale in 3.13) ------------------------
def locale_format(percent: str, value: Any, grouping: bool = False, monetary: bool = False, *additional: Any) -> str:
    """``locale.format``: ``format_string`` for exactly one ``%`` specifier."""
    import locale
    import re

    match = re.match(r"%(?:\((?P<key>.*?)\))?(?P<modifiers>[-#0-9 +*.hlL]*?)[eEfFgGdiouxXcrs%]", percent)
    if not match or len(match.group()) != len(percent):
        raise ValueError("format() must be given exactly one %%char format specifier, %s not valid" % repr(percent))
    return locale._format(percent, value, grouping, monetary, *additional)  # what format_string runs per specifier


def resetlocale(category: int | None = None) -> None:
    """``locale.resetlocale``: set ``category`` (LC_ALL) to the default locale."""
    import locale
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # getdefaultlocale is what 3.12's resetlocale used
        default = locale.getdefaultlocale()
    locale.setlocale(locale.LC_ALL if category is None else category, locale._build_localename(default))


__all__ = ["ArgSpec", "getargspec", "formatargspec", "coroutine", "makeSuite", "findTestCases", "getTestCaseNames",
           "assertEquals", "failUnlessEqual", "assertNotEquals", "failIfEqual", "assertAlmostEquals",
           "failUnlessAlmostEqual", "assertNotAlmostEquals", "failIfAlmostEqual", "assert_", "failUnless", "failIf",
           "failUnlessRaises", "assertRaisesRegexp", "assertRegexpMatches", "assertNotRegexpMatches",
           "assertDictContainsSubset", "readfp", "locale_format", "resetlocale"]
