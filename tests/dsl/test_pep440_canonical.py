"""pep440.parse reads the normalized spelling most versions have without the
regular expression (compiling it cost every child that compares a version
~1.5 ms); whatever that shortcut accepts, it must read exactly as the
expression does, and what it refuses goes to the expression."""
from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from npatch import pep440

_FULL = re.compile(r"^\s*" + pep440._PATTERN + r"\s*$", re.VERBOSE | re.IGNORECASE)

#: pieces of real and broken versions: the shortcut's own tokens, their near misses,
#: and what only the expression reads (epochs, v, upper case, separators, blanks)
PIECES = ["0", "1", "2", "13", "007", ".", "..", "rc", "a", "b", "c", "alpha", "pre", ".post", "post", "-",
          ".dev", "dev", "_", "+", "cpu", "git1234", "CPU", "v", "1!", " ", "²", "٣", "r", "+.", ".+"]


def _by_expression(text: str) -> tuple | None:
    """What parse() answered before the shortcut: the expression's reading."""
    match = _FULL.match(text)
    if match is None:
        return None
    shortcut, pep440._canonical = pep440._canonical, lambda text: None
    try:
        found = pep440.parse(text)
    finally:
        pep440._canonical = shortcut
    return _fields(found)


def _fields(version: pep440.Version | None) -> tuple | None:
    if version is None:
        return None
    return version.epoch, version.release, version.pre, version.post, version.dev, version.local, version.key


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=8).map("".join))
def test_the_shortcut_reads_what_the_expression_reads(text):
    quick = pep440._canonical(text)
    if quick is not None:
        assert _fields(quick) == _by_expression(text), text
    assert _fields(pep440.parse(text)) == _by_expression(text), text


def test_the_usual_versions_take_the_shortcut_and_odd_ones_the_expression():
    for text in ("2.13.0", "2.13.0+cpu", "2.0.0rc0", "2.6.0a0+git1234", "1.0.post2.dev3", "1.26.4"):
        assert pep440._canonical(text) is not None, text
        assert _fields(pep440._canonical(text)) == _by_expression(text)
    for text in ("v1.0", "1!2.0", "1.0-1", "1.0.RC1", " 1.0", "1.0_dev", "1.0rc", "2.0.0-rc.1"):
        assert pep440._canonical(text) is None, text
        assert _fields(pep440.parse(text)) == _by_expression(text)
