"""Let mmengine (and mmcv 1.x) load the checkpoints they wrote, under torch >= 2.6.

torch 2.6 made ``torch.load(..., weights_only=True)`` the default, and that
unpickler refuses every global it does not know.  A checkpoint written by an
mmengine ``Runner`` holds its ``MessageHub`` state: ``HistoryBuffer`` objects
with NumPy arrays and scalars, and the buffer's statistics methods, which
pickle as ``getattr(HistoryBuffer, 'min')``.  So ``--resume``,
``tools/test.py`` and ``init_detector(cfg, checkpoint)`` fail with
``Unsupported global: GLOBAL mmengine.logging.history_buffer.HistoryBuffer``.

:func:`allow_saved_globals` wraps mmengine's ``_load_checkpoint`` (the one
function every load path goes through): while it runs, exactly those globals
are allow-listed with ``torch.serialization.safe_globals``, and nothing else;
``weights_only`` stays on, so a checkpoint with any other global still fails
with torch's own error.  ``builtins.getattr`` is allow-listed only as
:func:`_statistics_method`, which answers for a ``HistoryBuffer`` class and a
public function of it, and refuses anything else.  Globals a user allow-listed
before are left as they were.
"""
from __future__ import annotations

import functools
from typing import Any, Callable


def _statistics_method(obj: Any, name: str) -> Any:
    """``getattr`` as a ``HistoryBuffer`` checkpoint uses it: a public function of the class."""
    import inspect
    import pickle

    from mmengine.logging.history_buffer import HistoryBuffer

    if isinstance(obj, type) and issubclass(obj, HistoryBuffer) and not name.startswith("_"):
        value = inspect.getattr_static(obj, name, None)
        if inspect.isfunction(value):
            return value
    raise pickle.UnpicklingError(
        f"npatch: getattr({getattr(obj, '__qualname__', type(obj).__name__)}, {name!r}) is not something mmengine "
        "saves in a checkpoint; only HistoryBuffer's statistics methods are allowed")


def saved_globals() -> list[Any]:
    """The globals mmengine's checkpoints hold, as ``safe_globals`` entries."""
    import numpy as np

    try:
        from numpy._core import multiarray
    except ImportError:  # NumPy 1.x
        from numpy.core import multiarray
    entries: list[Any] = [np.ndarray, np.dtype, (_statistics_method, "builtins.getattr")]
    for name in ("_reconstruct", "scalar"):
        function = getattr(multiarray, name)
        # a checkpoint names the module of the NumPy that wrote it
        entries += [(function, f"numpy.core.multiarray.{name}"), (function, f"numpy._core.multiarray.{name}")]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        entries += [cls for cls in vars(dtypes).values() if isinstance(cls, type) and issubclass(cls, np.dtype)]
    try:
        from mmengine.logging.history_buffer import HistoryBuffer
    except ImportError:  # mmcv 1.x without mmengine
        pass
    else:
        entries.append(HistoryBuffer)
    return entries


def allow_saved_globals(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """``wrap`` factory: run ``original`` with :func:`saved_globals` allow-listed, and only then."""

    @functools.wraps(original)
    def load(*args: Any, **kwargs: Any) -> Any:
        import torch.serialization

        present = torch.serialization.get_safe_globals()
        added = [entry for entry in saved_globals() if entry not in present]
        with torch.serialization.safe_globals(added):
            return original(*args, **kwargs)

    return load


__all__ = ["saved_globals", "allow_saved_globals"]
