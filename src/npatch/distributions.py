"""Installed distributions, found the way :mod:`importlib.metadata` finds
them, without importing it.

``importlib.metadata`` costs a process ~25 ms to import (it pulls in
``email``, ``csv``, ``zipfile``, ``pathlib``...) and parses a whole
``METADATA`` file to read one header.  Conditions (``version('torch')``,
``installed('mmcv')``) run in every patched process, so this module answers
them with ``os.listdir`` and one header line:

* the search is ``importlib.metadata``'s: each ``sys.path`` entry in order,
  its ``*.dist-info`` / ``*.egg-info`` children whose name before the first
  ``-`` normalizes (PEP 503, dashes as underscores) to the requested name's,
  in directory order, then an ``.egg`` entry's ``EGG-INFO``;
* the version is the first ``Version:`` header of ``METADATA`` (else
  ``PKG-INFO``, else the ``.egg-info`` file itself), read line by line up to
  the end of the headers, with ``email``'s rules (leading blanks dropped,
  the line end stripped);
* anything unusual (a zip file on ``sys.path``, a folded or missing header,
  undecodable bytes) is handed to ``importlib.metadata`` itself, so the
  answer is always the one it gives.

Directory listings are cached per process by the entry's mtime (as
``importlib.metadata`` does), versions by metadata path.
"""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["normalize", "version", "version_at", "present", "metadata_dirs", "dist_info_dirs", "read_text"]

#: sys.path entry -> (mtime, {normalized name: [metadata paths]}, {legacy name: [EGG-INFO paths]})
_LISTINGS: dict[str, tuple[float, dict[str, list[str]], dict[str, list[str]]]] = {}
#: metadata path -> its Version header
_VERSIONS: dict[str, str] = {}


class _Unusual(Exception):
    """Something this reader does not mirror exactly: ask importlib.metadata."""


def normalize(name: str) -> str:
    """PEP 503 normalization with dashes as underscores (``Foo.Bar-baz`` -> ``foo_bar_baz``)."""
    if "-" not in name and "." not in name and "__" not in name:  # most names: nothing to collapse
        return name.lower()
    out = []
    run = False
    for char in name:
        if char in "-_.":
            if not run:
                out.append("_")
            run = True
        else:
            out.append(char)
            run = False
    return "".join(out).lower()


def _legacy(name: str) -> str:
    return name.lower().replace("-", "_")


def _listing(entry: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    root = entry or "."
    try:
        mtime = os.stat(root).st_mtime
    except OSError:
        _LISTINGS.pop(entry, None)
        return {}, {}
    cached = _LISTINGS.get(entry)
    if cached is not None and cached[0] == mtime:
        return cached[1], cached[2]
    try:
        children = os.listdir(root)
    except NotADirectoryError:
        raise _Unusual(f"{entry} is a file (a zip archive?)") from None
    except OSError:
        children = []
    infos: dict[str, list[str]] = {}
    eggs: dict[str, list[str]] = {}
    base = os.path.basename(entry).lower()
    if "-info" not in "/".join(children).lower():  # no metadata here (the standard library's folders): one test
        children = []
    prefix = os.path.join(entry, "")  # os.path.join(entry, child) for every child, without a call each
    for child in children:
        low = child.lower()
        if low.endswith((".dist-info", ".egg-info")):
            key = normalize(low.rpartition(".")[0].partition("-")[0])
            paths = infos.get(key)
            if paths is None:
                infos[key] = [prefix + child]
            else:
                paths.append(prefix + child)
        elif low == "egg-info" and base.endswith(".egg"):
            eggs.setdefault(_legacy(base.rpartition(".")[0].partition("-")[0]), []).append(
                os.path.join(entry, child))
    _LISTINGS[entry] = (mtime, infos, eggs)
    return infos, eggs


def metadata_dirs(name: str) -> Iterator[str]:
    """Metadata paths of the distributions called ``name``, in the order
    ``importlib.metadata`` finds them (raises :class:`_Unusual`)."""
    normalized, legacy = normalize(name), _legacy(name)
    for entry in list(sys.path):
        if not isinstance(entry, str):
            continue
        infos, eggs = _listing(entry)
        yield from infos.get(normalized, ())
        yield from eggs.get(legacy, ())


def dist_info_dirs(prefix: str) -> Iterator[str]:
    """The ``*.dist-info`` directories on ``sys.path`` whose lower-cased name
    starts with ``prefix``, in ``sys.path`` order (within a directory, by
    distribution name), from the listings :func:`metadata_dirs` caches (an
    entry that is no directory is passed over)."""
    for entry in list(sys.path):
        if not isinstance(entry, str):
            continue
        try:
            infos = _listing(entry)[0]
        except _Unusual:
            continue
        for key, paths in infos.items():
            if not key.startswith(prefix[:1]):  # a name starting with prefix is under a key starting as it does
                continue
            for path in paths:
                if path.endswith(".dist-info") and os.path.basename(path).lower().startswith(prefix):
                    yield path


def read_text(path: str, name: str) -> str | None:
    """A metadata file's text, None where ``importlib.metadata``'s ``read_text`` gives None."""
    try:
        with open(os.path.join(path, name), encoding="utf-8") as handle:
            return handle.read()
    except (FileNotFoundError, IsADirectoryError, KeyError, NotADirectoryError, PermissionError):
        return None


def _header_version(path: str) -> str:
    """The ``Version`` header of the metadata at ``path`` (raises :class:`_Unusual`)."""
    for name in ("METADATA", "PKG-INFO", ""):
        try:
            with open(os.path.join(path, name) if name else path, encoding="utf-8") as handle:
                found = _scan_headers(handle)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            continue
        except (UnicodeDecodeError, ValueError) as exc:
            raise _Unusual(str(exc)) from None
        if found is not None:
            return found
    raise _Unusual(f"no metadata with a Version in {path}")


def _scan_headers(handle: object) -> str | None:
    """The first ``Version:`` value of an RFC 822 header block, None for an
    empty file (``importlib.metadata`` then tries the next one).  The block
    ends where ``email``'s parser ends it: a blank line or a line that is no
    header (``email.feedparser.headerRE``)."""
    found: str | None = None
    empty = True
    for line in handle:  # type: ignore[attr-defined]
        empty = False
        folded = line[:1] in (" ", "\t")
        if found is not None:
            if folded:
                raise _Unusual("folded Version header")
            return found
        if folded:
            continue
        key, colon, value = line.partition(":")
        if not colon or not all("\x21" <= char <= "\x7e" for char in key):
            if line.startswith("From "):
                raise _Unusual("a From line among the headers")
            break
        if key.lower() == "version":
            found = value.lstrip(" \t").rstrip("\r\n")
    if found is not None:
        return found
    if empty:
        return None
    raise _Unusual("no Version header")


def _first(name: str) -> str | None:
    for path in metadata_dirs(name):
        return path
    return None


def version(name: str) -> str | None:
    """``importlib.metadata.version(name)``, None when it is not installed."""
    try:
        path = _first(name) if name else None
        return None if path is None else _cached_version(path)
    except _Unusual:
        return _slow(name, True)  # type: ignore[return-value]


def version_at(path: str) -> str | None:
    """The version recorded in the metadata directory ``path`` (``PathDistribution(path).version``)."""
    try:
        return _cached_version(path)
    except _Unusual:
        from importlib import metadata

        return metadata.PathDistribution(__import__("pathlib").Path(path)).version


def _cached_version(path: str) -> str:
    found = _VERSIONS.get(path)
    if found is None:
        found = _VERSIONS[path] = _header_version(path)
    return found


def present(name: str) -> bool:
    """A distribution called ``name`` is installed (``importlib.metadata`` finds it)."""
    try:
        return bool(name) and _first(name) is not None
    except _Unusual:
        return _slow(name, False) is not None


def _slow(name: str, want_version: bool) -> object:
    """The answer of ``importlib.metadata`` itself: the version, or the
    distribution (None: not installed)."""
    from importlib import metadata

    try:
        dist = metadata.distribution(name)
    except (metadata.PackageNotFoundError, ValueError):
        return None
    return dist.version if want_version else dist
