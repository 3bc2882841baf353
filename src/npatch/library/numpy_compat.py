"""Put back the names NumPy removed, as what they were, so old code runs on NumPy 2.

The ``numpy-compat`` manifest has one ``call`` op per name, each pointing at
:func:`restore` with ``options = { name = "int", object = "builtins:int" }``.
``restore`` sets the name in ``numpy``'s module dict (which wins over
``numpy.__getattr__``, the function that raises the "was removed"
errors) only when NumPy really lacks it: NumPy 2 brought ``np.bool`` and
``np.long`` back with new meanings (``np.bool_`` and the C ``long``), and
those are never overridden; on a NumPy where a name still exists the op is
reported as skipped.  The undo deletes the name again.

A ``call`` op is used rather than ``replace``: a ``replace`` target must
exist, and a ``value`` can only be a TOML value, not ``builtins.int``.

What the names were (NumPy 1.x release notes: 1.20 deprecated the builtin
aliases and 1.24 removed them; 2.0 removed the rest, NEP 52; 2.4 removed
``in1d`` and ``trapz``) is spelled out in the manifest; the few that were
functions with behaviour of their own are reimplemented here.
"""
from __future__ import annotations

import importlib
import warnings
from typing import Any

PZERO = 0.0
NZERO = -0.0
NINF = float("-inf")


def _absent(module: Any, name: str) -> bool:
    """True when ``module.name`` raises AttributeError (warnings of the probe suppressed)."""
    if name in vars(module):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            getattr(module, name)
        except AttributeError:
            return True
    return False


def _load(ref: str) -> Any:
    """``module:qualname`` (or a bare module name) to the object."""
    module_name, _, qualname = ref.partition(":")
    obj = importlib.import_module(module_name)
    for part in qualname.split(".") if qualname else ():
        obj = getattr(obj, part)
    return obj


def restore(module: Any, options: dict[str, Any]) -> Any:
    """``call`` op: set ``module.<options.name>`` to ``options.object`` if it is missing.

    Returns the undo (a callable) or raises ``Skipped`` when the name exists.
    """
    from npatch.runtime.resolve import Skipped

    name = options["name"]
    if not _absent(module, name):
        version = getattr(module, "__version__", "?")
        raise Skipped(f"{module.__name__} {version} has {name!r} already")
    obj = _load(options["object"])
    setattr(module, name, obj)

    def undo() -> None:
        if vars(module).get(name, None) is obj:
            delattr(module, name)

    return undo


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
    """``sctypes`` is built on first use, so importing this module never imports numpy."""
    if name == "sctypes":
        return _sctypes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
