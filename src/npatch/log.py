"""Logging for every layer: ``logging.getLogger("npatch")``, switched on by ``NPATCH_LOG``.

Why a module of its own: ``import logging`` costs about 3.5 ms here, more
than the whole budget of loading a plan in a child process.  So nothing on
the start-up path imports it unless someone will read the output:

* ``NPATCH_LOG=debug`` (or ``info``, ``warning``, ``error``) makes
  :func:`configure` attach one stderr handler to the ``npatch`` logger, in
  every process that calls it: the CLI, the bootstrap ``sitecustomize`` of
  each child (the variable is inherited), and the pytest plugin.
* Without it, :func:`debug` / :func:`info` are a flag test and a dictionary
  lookup, and log through :mod:`logging` only when the program has imported
  it already, so a program that configures ``logging.getLogger("npatch")``
  itself still gets the records.

Problems that users must see are warnings (:class:`npatch.errors.NpatchWarning`
through :mod:`warnings`), never log records: logging is for tracing.
"""
from __future__ import annotations

import os
import sys
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~7 ms: not on the start-up path of every child
    from typing import Any

ENV = "NPATCH_LOG"
LOGGER = "npatch"
LEVELS = ("debug", "info", "warning", "error")
FORMAT = "npatch[%(process)d] %(levelname)s %(name)s: %(message)s"

#: level number from ``NPATCH_LOG`` once :func:`configure` ran, else None
_level: int | None = None
_configured = False
_handler: Any = None


def configure(environ: Any = None) -> bool:
    """Attach a stderr handler to the ``npatch`` logger when ``NPATCH_LOG`` asks for one.

    Idempotent and cheap when the variable is unset (no :mod:`logging`
    import).  An unknown value is reported once on stderr and ignored.
    Returns whether logging is on.
    """
    global _configured, _level, _handler
    if _configured:
        return _level is not None
    _configured = True
    value = (os.environ if environ is None else environ).get(ENV, "").strip().lower()
    if not value:
        return False
    if value not in LEVELS:
        print(f"npatch: warning: {ENV}={value!r} is not one of {', '.join(LEVELS)}; ignored", file=sys.stderr)
        return False
    import logging

    _level = getattr(logging, value.upper())
    logger = logging.getLogger(LOGGER)
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(_handler)
    logger.setLevel(_level)
    return True


def reset() -> None:
    """Undo :func:`configure` (for tests and for the pytest plugin's unconfigure)."""
    global _configured, _level, _handler
    if _handler is not None:
        import logging

        logger = logging.getLogger(LOGGER)
        logger.removeHandler(_handler)
        logger.setLevel(logging.NOTSET)
    _configured, _level, _handler = False, None, None


def _log(level: int, name: str, msg: str, args: tuple[Any, ...]) -> None:
    if _level is None and "logging" not in sys.modules:
        return
    import logging

    logger = logging.getLogger(f"{LOGGER}.{name}" if name else LOGGER)
    if logger.isEnabledFor(level):
        logger.log(level, msg, *args, stacklevel=3)


def debug(name: str, msg: str, *args: Any) -> None:
    """Log ``msg % args`` at DEBUG on ``npatch.NAME``; free when nobody listens."""
    _log(10, name, msg, args)


def info(name: str, msg: str, *args: Any) -> None:
    """Log ``msg % args`` at INFO on ``npatch.NAME``; free when nobody listens."""
    _log(20, name, msg, args)


__all__ = ["ENV", "LEVELS", "configure", "reset", "debug", "info"]
