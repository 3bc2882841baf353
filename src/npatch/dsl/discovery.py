"""Find manifests: a file path, a built-in name, or an installed package's.

Sources are tried in order, first match wins:

1. a path (anything ending in ``.toml`` or containing a path separator, or
   an existing file), relative to the including manifest's directory for
   ``include`` entries and to the working directory on the command line;
2. a built-in manifest: ``npatch/manifests/NAME.toml``;
3. an entry point ``NAME`` in the group ``npatch.manifests``.  Its object
   may be a path (str or ``os.PathLike``), a callable returning one, or a
   module or package, in whose directory ``NAME.toml`` is looked up.

An unknown name fails listing what exists, with a did-you-mean.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from npatch.errors import UsageError
from npatch.extensions import MANIFESTS_GROUP

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "manifests"


@dataclass(frozen=True)
class Available:
    """A manifest that can be named: where it comes from and where it lives."""

    name: str
    path: Path
    origin: str  # "built-in" or "entry point (DIST)"


def looks_like_path(spec: str) -> bool:
    """A file name rather than a manifest's name: ``.toml``, or ``.json`` (a
    saved plan, which :func:`find_manifest` refuses by name)."""
    return spec.endswith((".toml", ".json")) or os.sep in spec or "/" in spec or spec.startswith(".")


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:     # a name too long for the file system
        return False


def find_manifest(spec: str, base: Path | None = None) -> Path:
    """The file behind ``spec``; :class:`UsageError` when there is none."""
    return locate_manifest(spec, base)[1]


def locate_manifest(spec: str, base: Path | None = None) -> tuple[Path, Path]:
    """The path ``spec`` names (absolute, its links not followed) and the file
    behind it (:func:`find_manifest`): a plan cached for ``spec`` depends on
    both, as a link on the way may be pointed elsewhere."""
    if looks_like_path(spec) or (base is None and _is_file(Path(spec))):
        path = (base / spec) if base is not None and not Path(spec).is_absolute() else Path(spec)
        try:
            if path.is_dir():
                raise UsageError(f"manifest path is a directory: {path}")
            if not path.exists():
                raise UsageError(f"manifest file not found: {path}{_builtin_hint(spec)}")
            if path.suffix == ".json":      # only `apply`/`run`/`env` take one, and alone
                raise UsageError(f"{spec} is a saved plan, not a manifest: it runs alone (`npatch apply {spec} -- "
                                 "COMMAND`); to combine, include, show or explain it, name the manifests it was "
                                 "compiled from")
            return path.absolute(), path.resolve()
        except OSError as exc:      # a name too long, a loop of symlinks...
            raise UsageError(f"cannot use manifest path {str(path)[:200]}: {exc.strerror or exc}") from None
    builtin = BUILTIN_DIR / f"{spec}.toml"
    if _is_file(builtin):
        return builtin, builtin
    found = _entry_point_manifest(spec)
    if found is not None:
        return found.path.absolute(), found.path
    names = [a.name for a in list_manifests()]
    from npatch.errors import did_you_mean

    hint = did_you_mean(spec, names)
    listing = ", ".join(names) or "none"
    raise UsageError(f"unknown manifest {spec!r}{' (' + hint + ')' if hint else ''}; available: {listing}")


def _builtin_hint(spec: str) -> str:
    """`` (the built-in manifest is named `cuda-to-cpu`)`` for ``cuda-to-cpu.toml``."""
    stem = spec.removeprefix("./").removesuffix(".toml")
    if "/" in stem or os.sep in stem or not _is_file(BUILTIN_DIR / f"{stem}.toml"):
        return ""
    return f" (the built-in manifest is named `{stem}`, without a path or .toml)"


def list_manifests() -> list[Available]:
    """Every manifest that can be named: built-ins first, then entry points."""
    found = [Available(p.stem, p, "built-in") for p in sorted(BUILTIN_DIR.glob("*.toml"))]
    seen = {a.name for a in found}
    for available in _entry_point_manifests():
        if available.name not in seen:
            found.append(available)
            seen.add(available.name)
    return found


def _entry_point_manifests() -> list[Available]:
    """Every manifest entry point; a broken one is a warning and left out, so one
    bad package does not hide the others (``npatch list``, did-you-mean)."""
    import warnings
    from importlib.metadata import entry_points

    from npatch.errors import NpatchWarning

    found = []
    for ep in entry_points(group=MANIFESTS_GROUP):
        try:
            found.append(_load_entry_point(ep))
        except UsageError as exc:
            warnings.warn(str(exc), NpatchWarning, stacklevel=2)
    return found


def _entry_point_manifest(name: str) -> Available | None:
    """The entry point called ``name``; a broken one is an error naming its package."""
    from npatch.extensions import entry_points  # scanned once per process, first distribution wins

    ep = entry_points(MANIFESTS_GROUP).get(name)
    return None if ep is None else _load_entry_point(ep)


def _load_entry_point(ep: Any) -> Available:
    dist = ep.dist.name if ep.dist is not None else "?"
    try:
        path = _entry_point_path(ep.name, ep.load())
    except Exception as exc:  # a broken third-party package must not break npatch
        raise UsageError(f"entry point {ep.name!r} of {dist} ({ep.value}) cannot be loaded: {exc}") from None
    return Available(ep.name, path, f"entry point ({dist})")


def _entry_point_path(name: str, obj: Any) -> Path:
    if callable(obj) and not isinstance(obj, type) and not hasattr(obj, "__path__") and not hasattr(obj, "__file__"):
        obj = obj()
    if isinstance(obj, (str, os.PathLike)):
        return Path(obj).resolve()
    directory = None
    if hasattr(obj, "__path__"):
        directory = Path(list(obj.__path__)[0])
    elif getattr(obj, "__file__", None):
        directory = Path(obj.__file__).parent
    if directory is None:
        raise TypeError(f"expected a path, a callable returning a path, or a module; got {type(obj).__name__}")
    return (directory / f"{name}.toml").resolve()


__all__ = ["BUILTIN_DIR", "Available", "looks_like_path", "find_manifest", "locate_manifest", "list_manifests"]
