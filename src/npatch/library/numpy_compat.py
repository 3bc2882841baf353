"""Put back the names NumPy removed, as what they were, so old code runs on NumPy 2.

The ``numpy-compat`` manifest has one ``call`` op per name, each pointing at
:func:`restore` with ``options = { name = "int", object = "builtins:int" }``.
``restore`` sets the name in ``numpy``'s module dict (which wins over
``numpy.__getattr__``, the function that raises the "was removed"
errors) only when NumPy really lacks it: NumPy 2 brought ``np.bool`` and
``np.long`` back with new meanings (``np.bool_`` and the C ``long``), and
those are never overridden; on a NumPy where a name still exists the op is
reported as skipped (by the run and by ``npatch explain``: :func:`present` is
its declared skip check).  The undo deletes the name again.

A ``call`` op is used rather than ``replace``: a ``replace`` target must
exist, and a ``value`` can only be a TOML value, not ``builtins.int``.

What the names were (NumPy 1.x release notes: 1.20 deprecated the builtin
aliases and 1.24 removed them; 2.0 removed the rest, NEP 52; 2.4 removed
``in1d`` and ``trapz``) is spelled out in the manifest; the few that were
functions with behaviour of their own are reimplemented here.
"""
from __future__ import annotations

import warnings
from typing import Any

from npatch.runtime.kinds_module import skips_when
from npatch.runtime.resolve import import_object

#: names of NumPy 1.26's public namespace (tests/manifests/numpy1_namespace.py reads it from
#: the wheel) that NumPy 2 lacks and this manifest deliberately leaves out, with the reason
NOT_RESTORED = {
    **dict.fromkeys(("msg", "kernel_version", "use_hugepages"),
                    "a variable of NumPy 1.x's start-up code that was left in its namespace"),
    **dict.fromkeys(("numarray", "oldnumeric"), "the string 'removed': a placeholder for packages NumPy dropped in 1.9"),
    **dict.fromkeys(("float80", "float96", "float256", "complex160", "complex192", "complex512",
                     "int128", "int256", "uint128", "uint256"),
                    "named in NumPy 1.x's type stub only; no NumPy 1.x had them at run time on x86-64 or aarch64"),
    "compat": "numpy.compat: Python 2/3 shims for NumPy's own code",
    "deprecate": "NumPy's decorator for its own deprecations (warnings.warn / warnings.deprecated are the tools)",
    "deprecate_with_doc": "NumPy's decorator for its own deprecations (warnings.warn / warnings.deprecated are the tools)",
    "get_array_wrap": "an internal helper of NumPy 1.x's own functions",
    "geterrobj": "the error-state object it read no longer exists in NumPy 2 (np.geterr / np.errstate)",
    "seterrobj": "the error-state object it set no longer exists in NumPy 2 (np.seterr / np.errstate)",
    "set_numeric_ops": "the table of array operators it changed no longer exists in NumPy 2",
    "set_string_function": "NumPy 2 has no hook for the global repr/str of arrays (np.set_printoptions(formatter=...))",
    "lookfor": "an interactive docstring search; no program depends on its output",
    "source": "an interactive helper printing a function's source (inspect.getsource)",
    "who": "an interactive helper listing the arrays in a namespace",
}

PZERO = 0.0
NZERO = -0.0
NINF = float("-inf")


#: the filter ``warnings.simplefilter("ignore")`` adds
_IGNORE = ("ignore", None, Warning, None, 0)


#: NumPy 2's tables of removed names, in its namespace: its ``__getattr__`` raises
#: AttributeError for every name in them (after its lazily imported submodules,
#: none of which is in them)
_REMOVED_TABLES = ("__former_attrs__", "__expired_attributes__")


def _absent(module: Any, name: str) -> bool:
    """True when ``module.name`` raises AttributeError (warnings of the probe suppressed).

    A name in one of NumPy 2's removed-name tables (:data:`_REMOVED_TABLES`)
    is absent without asking: most of numpy-compat's names are, and the probe
    (a ``catch_warnings`` block and the "was removed" error NumPy formats)
    was most of what an op cost at every import of numpy.  Any other name is
    probed (:func:`_probe`)."""
    names = vars(module)
    if name in names:
        return False
    for table in _REMOVED_TABLES:
        removed = names.get(table)
        if type(removed) is dict and name in removed:
            return True
    return _probe(module, name)


def _probe(module: Any, name: str) -> bool:
    """True when ``getattr(module, name)`` raises AttributeError, its warnings suppressed.

    The ignore filter goes first in the list ``catch_warnings`` has just
    copied (and marked as changed), as ``simplefilter`` would put it, without
    ``simplefilter``'s search for a duplicate in a list that has none."""
    with warnings.catch_warnings():
        warnings.filters.insert(0, _IGNORE)
        try:
            getattr(module, name)
        except AttributeError:
            return True
    return False


def _load(ref: str) -> Any:
    """``module:qualname`` (or a bare module name) to the object."""
    return import_object(ref if ":" in ref else ref + ":")


def present(module: Any, options: dict[str, Any]) -> str:
    """The skip check of :func:`restore`: why ``module.<options.name>`` is left
    alone (the module has it), or ``""``."""
    name = options["name"]
    if _absent(module, name):
        return ""
    return f"{module.__name__} {getattr(module, '__version__', '?')} has {name!r} already"


@skips_when(present)
def restore(module: Any, options: dict[str, Any]) -> Any:
    """``call`` op: set ``module.<options.name>`` to ``options.object`` (a reference)
    or ``options.value`` (a constant).

    The run calls it only where :func:`present` finds the name missing (and
    ``npatch explain`` asks :func:`present` too).  Returns the undo (a callable).
    """
    name = options["name"]
    obj = options["value"] if "value" in options else _load(options["object"])
    setattr(module, name, obj)
    return _Undo(module, name, obj)


class _Undo:
    """Deletes ``module.<name>`` again, if it still is ``obj``: one object per
    op (a closure is a function and three cells, each seen by every garbage
    collection of the process)."""

    __slots__ = ("module", "name", "obj")

    def __init__(self, module: Any, name: str, obj: Any) -> None:
        self.module, self.name, self.obj = module, name, obj

    def __call__(self) -> None:
        if vars(self.module).get(self.name, None) is self.obj:
            delattr(self.module, self.name)


# -- removed functions, with the behaviour they had -------------------------------
def asfarray(a: Any, dtype: Any = None) -> Any:
    """``np.asfarray``: an array of floating type (float64 unless ``dtype`` is inexact)."""
    import numpy as np

    if dtype is None or not np.issubdtype(dtype, np.inexact):
        dtype = np.float64
    return np.asarray(a, dtype=dtype)


def msort(a: Any) -> Any:
    """``np.msort``: sort along the first axis."""
    import numpy as np

    return np.sort(a, axis=0)


def in1d(ar1: Any, ar2: Any, assume_unique: bool = False, invert: bool = False, *, kind: Any = None) -> Any:
    """``np.in1d``: ``np.isin`` on the flattened first argument."""
    import numpy as np

    return np.isin(np.asarray(ar1).ravel(), ar2, assume_unique=assume_unique, invert=invert, kind=kind)


def issubclass_(arg1: Any, arg2: Any) -> bool:
    """``np.issubclass_``: ``issubclass`` that answers False instead of raising TypeError."""
    try:
        return issubclass(arg1, arg2)
    except TypeError:
        return False


def obj2sctype(rep: Any, default: Any = None) -> Any:
    """``np.obj2sctype``: the scalar type of a type, array or dtype-like (``default`` if none)."""
    import numpy as np

    if isinstance(rep, type) and issubclass(rep, np.generic):
        return rep
    if isinstance(rep, np.ndarray):
        return rep.dtype.type
    try:
        res = np.dtype(rep)
    except Exception:
        return default
    return res.type


def issctype(rep: Any) -> bool:
    """``np.issctype``: whether ``rep`` is a scalar data type other than ``object_``."""
    import numpy as np

    if not isinstance(rep, (type, np.dtype)):
        return False
    try:
        res = obj2sctype(rep)
        return bool(res and res != np.object_)
    except Exception:
        return False


def issubsctype(arg1: Any, arg2: Any) -> bool:
    """``np.issubsctype``: whether the scalar type of ``arg1`` is a subclass of ``arg2``'s."""
    return issubclass(obj2sctype(arg1), obj2sctype(arg2))


def _concrete_types() -> set[type]:
    import numpy as np

    return {np.dtype(code).type for code in np.typecodes["All"]}


def sctype2char(sctype: Any) -> str:
    """``np.sctype2char``: the type character of a scalar type."""
    import numpy as np

    sctype = obj2sctype(sctype)
    if sctype is None:
        raise ValueError("unrecognized type")
    if sctype not in _concrete_types():
        raise KeyError(sctype)
    return np.dtype(sctype).char


def maximum_sctype(t: Any) -> Any:
    """``np.maximum_sctype``: the highest-precision scalar type of the same kind."""
    import numpy as np
    from numpy._core._dtype import _kind_name

    g = obj2sctype(t)
    if g is None:
        return t
    base = _kind_name(np.dtype(g))
    table = _sctypes()
    return table[base][-1] if base in table else g


class _TypeDict(dict):
    """A dict keyed by scalar type that also accepts anything ``obj2sctype`` understands."""

    def __getitem__(self, obj: Any) -> Any:
        return dict.__getitem__(self, obj2sctype(obj))


def _cast() -> _TypeDict:
    import numpy as np

    return _TypeDict({key: (lambda x, k=key: np.asarray(x).astype(k)) for key in _concrete_types()})


def _nbytes() -> _TypeDict:
    import numpy as np

    return _TypeDict({key: np.dtype(key).itemsize for key in _concrete_types()})


def fastCopyAndTranspose(a: Any) -> Any:
    """``np.fastCopyAndTranspose``: a C-contiguous copy of the transpose."""
    import numpy as np

    return np.asarray(a).T.copy()


def disp(mesg: Any, device: Any = None, linefeed: bool = True) -> None:
    """``np.disp``: write ``mesg`` to ``device`` (stdout), with a newline unless ``linefeed`` is false."""
    import sys

    device = sys.stdout if device is None else device
    device.write(f"{mesg}\n" if linefeed else f"{mesg}")
    device.flush()


def _as_records(output: Any, usemask: bool) -> Any:
    import numpy as np

    if usemask:
        from numpy.ma.mrecords import MaskedRecords

        return output.view(MaskedRecords)
    return output.view(np.recarray)


def recfromtxt(fname: Any, **kwargs: Any) -> Any:
    """``np.recfromtxt``: ``genfromtxt`` with ``dtype=None``, as a record array."""
    import numpy as np

    kwargs.setdefault("dtype", None)
    return _as_records(np.genfromtxt(fname, **kwargs), kwargs.get("usemask", False))


def recfromcsv(fname: Any, **kwargs: Any) -> Any:
    """``np.recfromcsv``: ``recfromtxt`` for comma-separated files with a header, names lower-cased."""
    import numpy as np

    kwargs.setdefault("case_sensitive", "lower")
    kwargs.setdefault("names", True)
    kwargs.setdefault("delimiter", ",")
    kwargs.setdefault("dtype", None)
    return _as_records(np.genfromtxt(fname, **kwargs), kwargs.get("usemask", False))


def _sctypes() -> dict[str, list[type]]:
    import numpy as np

    def sized(kind: str, sizes: tuple[int, ...]) -> list[type]:
        return [np.dtype(f"{kind}{size}").type for size in sizes]

    return {
        "int": sized("i", (1, 2, 4, 8)),
        "uint": sized("u", (1, 2, 4, 8)),
        "float": [np.float16, np.float32, np.float64, np.longdouble],
        "complex": [np.complex64, np.complex128, np.clongdouble],
        "others": [bool, object, bytes, str, np.void],
    }


def __getattr__(name: str) -> Any:
    """``sctypes``, ``cast`` and ``nbytes`` are built on first use, so importing this module never imports numpy."""
    built = {"sctypes": _sctypes, "cast": _cast, "nbytes": _nbytes}.get(name)
    if built is not None:
        return built()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["NOT_RESTORED", "PZERO", "NZERO", "NINF", "restore", "asfarray", "msort", "in1d", "issubclass_",
           "obj2sctype", "issctype", "issubsctype", "sctype2char", "maximum_sctype", "fastCopyAndTranspose", "disp",
           "recfromtxt", "recfromcsv"]
