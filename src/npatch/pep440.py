"""PEP 440 versions and specifiers, as :mod:`packaging.specifiers` reads them,
without importing ``packaging`` (this runs in every patched child that
evaluates a version condition; only :mod:`re` is imported, when first used).

:func:`contains` answers ``SpecifierSet(op + literal, prereleases=True).contains(version)``
for the operators ``== != < <= > >= ~=`` (``==``/``!=`` also take ``2.*``):

* ``<=`` / ``>=`` compare the candidate without its local label, so
  ``2.13.0+cpu <= 2.13.0`` holds;
* ``>`` excludes local builds and post-releases of the literal itself
  (``2.13.0+cpu > 2.13.0`` is false), ``<`` its pre-releases unless the
  literal is one (packaging 26's reading of PEP 440);
* ``==`` ignores the candidate's local label when the literal has none;
* ``~=2.1`` is ``>=2.1, ==2.*``.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_PATTERN = r"""
    v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?P<pre>[-_\.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_\.]?(?P<pre_n>[0-9]+)?)?
    (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_\.]?(?P<post_l>post|rev|r)[-_\.]?(?P<post_n2>[0-9]+)?))?
    (?P<dev>[-_\.]?(?P<dev_l>dev)[-_\.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_\.][a-z0-9]+)*))?
"""
_PRE = {"alpha": "a", "a": "a", "beta": "b", "b": "b", "c": "rc", "pre": "rc", "preview": "rc", "rc": "rc"}
_regex: Any = None


class Version:
    """A parsed version; ``key`` orders versions as PEP 440 does."""

    __slots__ = ("epoch", "release", "pre", "post", "dev", "local", "key")

    def __init__(self, epoch: int, release: tuple, pre: Any, post: Any, dev: Any, local: Any) -> None:
        self.epoch, self.release, self.pre, self.post, self.dev, self.local = epoch, release, pre, post, dev, local
        trimmed = list(release)
        while len(trimmed) > 1 and trimmed[-1] == 0:
            trimmed.pop()
        if pre is None and post is None and dev is not None:
            pre_key: tuple = (-1,)  # 1.0.dev0 sorts before 1.0a0
        else:
            pre_key = (1,) if pre is None else (0, *pre)
        local_key = (0, ()) if local is None else (1, tuple((1, p, "") if isinstance(p, int) else (0, 0, p)
                                                            for p in local))
        self.key = (epoch, tuple(trimmed), pre_key, (-1,) if post is None else (0, post),
                    (1,) if dev is None else (0, dev), local_key)

    @property
    def public(self) -> "Version":
        return self.replace(local=None)

    def replace(self, **fields: Any) -> "Version":
        values = {name: getattr(self, name) for name in ("epoch", "release", "pre", "post", "dev", "local")}
        values.update(fields)
        return Version(**values)

    @property
    def is_prerelease(self) -> bool:
        return self.pre is not None or self.dev is not None


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _canonical(text: str) -> Version | None:
    """``text`` in the normalized spelling most versions have ('2.13.0',
    '2.0.0rc0', '2.6.0a0.post1.dev2+git1234'), parsed without the regular
    expression (compiling it costs a process ~1.5 ms); None for anything
    else, which :func:`parse` hands to the expression."""
    public, plus, local_text = text.partition("+")
    local = None
    if plus:
        parts = local_text.split(".")
        if not all(part.isascii() and part.isalnum() for part in parts):
            return None
        local = tuple(int(part) if part.isdigit() else part.lower() for part in parts)
    public, mark, number = public.partition(".dev")
    if mark and not _digits(number):
        return None
    dev = int(number) if mark else None
    public, mark, number = public.partition(".post")
    if mark and not _digits(number):
        return None
    post = int(number) if mark else None
    pre = None
    for label in ("rc", "a", "b"):
        head, mark, number = public.partition(label)
        if mark:
            if not _digits(number):
                return None
            public, pre = head, (label, int(number))
            break
    release = public.split(".")
    if not all(_digits(part) for part in release):
        return None
    return Version(0, tuple(int(part) for part in release), pre, post, dev, local)


def parse(text: str) -> Version | None:
    """The version ``text`` names, or None when it is not a PEP 440 version."""
    found = _canonical(text)
    if found is not None:
        return found
    global _regex
    if _regex is None:
        import re

        _regex = re.compile(r"^\s*" + _PATTERN + r"\s*$", re.VERBOSE | re.IGNORECASE)
    match = _regex.match(text)
    if match is None:
        return None
    g = match.group
    pre = (_PRE[g("pre_l").lower()], int(g("pre_n") or 0)) if g("pre_l") else None
    post = int(g("post_n1") or g("post_n2") or 0) if g("post") else None
    dev = int(g("dev_n") or 0) if g("dev") else None
    local = None
    if g("local"):
        local = tuple(int(p) if p.isdigit() else p.lower() for p in g("local").replace("-", ".").replace("_", ".").split("."))
    return Version(int(g("epoch") or 0), tuple(int(p) for p in g("release").split(".")), pre, post, dev, local)


def check(op: str, literal: str) -> str | None:
    """Why ``op literal`` is not a valid PEP 440 specifier, or None when it is."""
    text = literal.strip()
    if op in ("==", "!=") and text.endswith(".*"):
        found = parse(text[:-2])
        if found is None or found.pre or found.post is not None or found.dev is not None or found.local:
            return "a prefix match is a release followed by .* ('2.*', '1!2.1.*')"
        return None
    found = parse(text)
    if found is None:
        return "not a valid version"
    if found.local is not None and op not in ("==", "!="):
        return f"a local label (+{'.'.join(map(str, found.local))}) is only compared by == and !="
    if op == "~=" and len(found.release) < 2:
        return "~= needs at least two release numbers ('2.1')"
    return None


def contains(op: str, literal: str, version: Version) -> bool:
    """``version`` satisfies ``op literal`` (a valid specifier, see :func:`check`)."""
    if op == "!=":
        return not contains("==", literal, version)
    text = literal.strip()
    if op == "==" and text.endswith(".*"):
        spec = parse(text[:-2])
        width = len(spec.release)
        padded = (version.release + (0,) * width)[:width]
        return version.epoch == spec.epoch and padded == spec.release
    spec = parse(text)
    if op == "==":
        return (version if spec.local is not None else version.public).key == spec.key
    if op == "<=":
        return version.public.key <= spec.key
    if op == ">=":
        return version.public.key >= spec.key
    if op == "<":  # not a pre-release of the literal (from its .dev0 on) unless it is one
        if not version.key < spec.key:
            return False
        return spec.is_prerelease or not version.is_prerelease or version.key < spec.replace(dev=0).key
    if op == ">":  # not a post-release or a local build of the literal itself
        if not version.key > spec.key:
            return False
        if spec.post is None and version.post is not None and \
                version.replace(post=None, dev=None, local=None).key == spec.key:
            return False
        return version.local is None or version.public.key != spec.key
    if op == "~=":
        prefix = ".".join(map(str, spec.release[:-1])) + ".*"
        if spec.epoch:
            prefix = f"{spec.epoch}!{prefix}"
        return contains(">=", literal, version) and contains("==", prefix, version)
    raise ValueError(f"unknown version operator {op!r}")


__all__ = ["Version", "parse", "check", "contains"]
