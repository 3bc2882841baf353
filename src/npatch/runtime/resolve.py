"""Finding things: replacement objects, target attributes, raw class-dict entries.

Two rules shape this module:

* Errors name the real cause.  ``pkgutil.resolve_name`` turns an ImportError
  raised inside ``pkg/sub.py`` into "module 'pkg' has no attribute 'sub'";
  here the module part of ``module:qualname`` is imported with
  :func:`importlib.import_module` and an exception raised while it executes
  is reported as that exception (:class:`SourceError` carries it).
* Restore is exact.  What is saved is the *raw* entry of the object's own
  ``__dict__`` (a ``staticmethod``, ``classmethod`` or ``property`` object,
  not what attribute access returns) or the fact that there was none, so that
  an attribute inherited from a base class is deleted again on restore rather
  than frozen into the subclass (PITFALLS 1 and 2).
"""
from __future__ import annotations

import importlib
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds in every patched child process
    from typing import Any

#: marks "no such entry" (``None`` is a legitimate attribute value)
MISSING: Any = object()


class TargetMissing(LookupError):
    """The target module is loaded but the attribute path does not exist in it."""


class Skipped(Exception):
    """An op decided, on purpose, to do nothing (a real module wins, an entry exists)."""


class SourceError(Exception):
    """A replacement, wrapper, guard or call function could not be loaded."""


def _import_module(name: str, beside: str | None = None) -> Any:
    """:func:`importlib.import_module`; a module not found on ``sys.path`` is
    then looked for where the program will find its own modules but Python
    has not put them yet (at interpreter start-up, a target imported before
    the program: ``STARTUP_PATH`` of :mod:`npatch.runtime.launcher`, looked up
    without importing it), then in the folder of the file ``beside`` (the
    manifest that names it, where ``npatch compile`` found it).  A folder that
    held it stays on ``sys.path``, last: what the module imports later (a
    sibling, at call time) and pickles of its objects load from there too.

    A module already imported (and done executing) is taken from
    ``sys.modules`` as ``importlib`` would, without its Python-level import
    path: each of a plan's ops loads its source this way (numpy-compat's 101
    ops all name one function)."""
    module = sys.modules.get(name)
    if module is not None and not getattr(getattr(module, "__spec__", None), "_initializing", False):
        return module
    top = name.partition(".")[0]
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != top:
            raise
        missing = exc
    launcher = sys.modules.get("npatch.runtime.launcher")
    startup = getattr(launcher, "STARTUP_PATH", None)
    if startup is not None and startup not in sys.path:
        sys.path.insert(0, startup)  # where Python puts it right after start-up
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != top:
                raise
        finally:
            if startup in sys.path:
                sys.path.remove(startup)
    near = None if beside is None else os.path.dirname(beside)
    if near is None or near in sys.path:
        raise missing
    sys.path.append(near)
    try:
        return importlib.import_module(name)
    except BaseException as exc:
        if near in sys.path:
            sys.path.remove(near)
        if isinstance(exc, ModuleNotFoundError) and exc.name == top:
            raise missing from None
        raise


def import_object(ref: str, beside: str | None = None) -> Any:
    """Load ``module:qual.name`` (or, without a colon, ``module.attr``);
    ``beside``: a file whose folder is looked in when the module is not found elsewhere.

    Raises :class:`SourceError` whose message says whether the module failed
    to import (with the exception raised inside it) or lacks the attribute.
    """
    module_name, sep, qualname = ref.partition(":")
    if not sep:
        module_name, _, qualname = ref.rpartition(".")
        if not module_name:
            raise SourceError(f"{ref!r} is not a 'module:name' reference")
    try:
        obj = _import_module(module_name, beside)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise SourceError(f"module {module_name!r} (from {ref!r}) is not installed") from exc
        raise SourceError(f"importing {module_name!r} (from {ref!r}) failed: {describe(exc)}") from exc
    except Exception as exc:
        raise SourceError(f"importing {module_name!r} (from {ref!r}) failed: {describe(exc)}") from exc
    if not qualname:
        return obj
    parts = qualname.split(".")
    for number, part in enumerate(parts):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            done = ".".join([module_name, *parts[:number]])
            raise SourceError(f"{done!r} has no attribute {part!r} (from {ref!r})") from exc
    return obj


def locate(module: Any, qualname: str) -> tuple[Any, str]:
    """Return ``(parent, name)`` for ``qualname`` inside ``module``.

    The parent is what the path names (``Leaf`` for ``Leaf.f`` even when ``f``
    is inherited): an op on ``Leaf.f`` must not change ``Base``.
    """
    parts = qualname.split(".")
    if not all(parts):  # "" (a target written `json:`) or `a..b` in a plan not made by the compiler
        raise TargetMissing(f"{qualname!r} names no attribute of {getattr(module, '__name__', '?')!r}")
    obj = module
    for i, part in enumerate(parts[:-1]):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            where = getattr(module, "__name__", "?")
            raise TargetMissing(f"{where!r} has no attribute {'.'.join(parts[: i + 1])!r}") from None
    return obj, parts[-1]


def own_dict(obj: Any) -> Any:
    """The object's own ``__dict__`` (a mappingproxy for classes), or None."""
    try:
        return object.__getattribute__(obj, "__dict__")
    except (AttributeError, TypeError):
        return None


def raw_lookup(parent: Any, name: str) -> tuple[Any, Any]:
    """Return ``(owner, raw)``: who really holds ``name`` and its raw entry.

    For a class the MRO is walked with the class dicts, never ``getattr``
    (which would turn a staticmethod into a function and a classmethod into a
    bound method).  ``(None, MISSING)`` when nothing holds it.
    """
    if isinstance(parent, type):
        for klass in parent.__mro__:
            entries = klass.__dict__
            if name in entries:
                return klass, entries[name]
        return None, MISSING
    entries = own_dict(parent)
    if entries is not None and name in entries:
        return parent, entries[name]
    try:
        return type(parent), getattr(parent, name)
    except AttributeError:
        return None, MISSING


class AttrUndo:
    """The raw own entry of ``parent.name`` before an op, or its absence; the
    value, where the parent's class keeps it elsewhere (see :func:`_set_elsewhere`)."""

    __slots__ = ("parent", "name", "through", "old")

    def __init__(self, parent: Any, name: str) -> None:
        self.parent = parent
        self.name = name
        self.through = not isinstance(parent, type) and _set_elsewhere(parent, name)
        self.old = self.current()

    def current(self) -> Any:
        """The entry as :meth:`__init__` would record it now."""
        entries = None if self.through else own_dict(self.parent)
        if entries is not None and (isinstance(self.parent, type) or isinstance(entries, dict)):
            return entries.get(self.name, MISSING)
        return getattr(self.parent, self.name, MISSING)

    def restore(self) -> None:
        if self.current() is self.old:  # never changed: the op's own setattr was refused (an Enum
            return                       # member, a C type), and this one would be refused too
        if self.old is MISSING:
            try:
                delattr(self.parent, self.name)
            except AttributeError:
                pass
        else:
            setattr(self.parent, self.name, self.old)


def _set_elsewhere(obj: Any, name: str) -> bool:
    """Whether setting ``obj.name`` stores somewhere else than ``obj.__dict__``:
    through a data descriptor of its class (a property with a setter:
    ``torch.backends.cudnn.enabled``), or through the class's own
    ``__setattr__`` for a name not in the dict (``torch.backends.cuda.matmul``
    sets a C flag for ``allow_tf32``)."""
    cls = type(obj)
    for klass in cls.__mro__:
        entries = vars(klass)
        if name in entries:
            if hasattr(type(entries[name]), "__set__"):
                return True
            break
    own = own_dict(obj)
    plain = cls.__setattr__ in (object.__setattr__, type(sys).__setattr__)  # object's, a module's
    return not plain and not (isinstance(own, dict) and name in own)


def describe(exc: BaseException) -> str:
    """``Type: message``, the way warnings and reports show a cause."""
    return f"{type(exc).__name__}: {exc}"


__all__ = [
    "MISSING", "TargetMissing", "Skipped", "SourceError", "import_object", "locate",
    "own_dict", "raw_lookup", "AttrUndo", "describe",
]
