"""Plans that travel in the environment: ``NPATCH_PLAN_DATA``, the receiving side.

``npatch apply`` hands its children a plan *file*, which exists only on the
machine that compiled it.  A process on another node (a second ``torchrun``
node, a Slurm step, an ``mpirun`` rank, a pod, a Ray worker) gets the plan
from one variable instead, so it needs neither the sender's cache nor any
file or path of the sender's: npatch installed there, at any path, boots
the plan from its ``npatch.pth`` (see :func:`npatch.runtime.launcher.boot_from_site`)::

    NPATCH_PLAN_DATA = npatch1:<npatch version>:<plan hash>:<route>:<payload>

``route`` is ``inline``: the payload is ``base64(zlib(marshal((modules,
plan))))``, the plan in its marshal form (:meth:`Plan.to_marshal`) and the
module names that start it (:func:`npatch.plancache.trigger_modules`).
The built-in manifests take 1-14 KiB this way; anything up to
:data:`npatch.shipping.INLINE_LIMIT` travels inline.  ``reference``: the payload holds the
manifest names (absolute paths for files), ``--set`` and ``--disable``; the
receiving process compiles them with its own npatch (through its own cache,
so once per node) and uses the result only if its hash is ``<plan hash>``.

Decoding imports only ``binascii``, ``zlib`` and ``marshal`` (built in or
already loaded): no ``json``, no compiler unless the reference route needs
it, and nothing at all before one of the plan's modules is imported.
Every mismatch (another npatch version, a damaged value, a plan that does
not reproduce) is a :class:`~npatch.errors.PlanLoadError` whose message names
the cause and the remedy; the launcher turns it into one warning line, or
exit status 1 under ``NPATCH_STRICT``.  The sending side, and the compile
of a reference, are :mod:`npatch.shipping` (it compiles; this module runs in
every booting child).
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

FORMAT = "npatch1"
ROUTES = ("inline", "reference")


# -- receiving side --------------------------------------------------------------------
class Shipped:
    """A plan decoded from the environment: its label, the modules that
    start it (``None``: start at once) and how to load it."""

    __slots__ = ("label", "plan_hash", "modules", "load")

    def __init__(self, label: str, plan_hash: str, modules: frozenset[str] | None, load: Callable[[], Any]) -> None:
        self.label = label
        self.plan_hash = plan_hash
        self.modules = modules
        self.load = load


def decode(value: str, variable: str) -> Shipped:
    """Parse ``NPATCH_PLAN_DATA`` (``variable``: its name, for messages); raises
    PlanLoadError with cause and remedy."""
    import npatch
    from npatch.errors import PlanLoadError

    parts = value.split(":", 4)
    if len(parts) != 5 or parts[0] != FORMAT or parts[3] not in ROUTES:
        raise PlanLoadError(f"{variable} is not a plan this npatch ({npatch.__version__}) can read "
                            f"(expected {FORMAT}:...): set it from `npatch env` of the same npatch version")
    _, version, plan_hash, route, payload = parts
    if version != npatch.__version__:
        raise PlanLoadError(f"{variable} was made by npatch {version}, this process has npatch "
                            f"{npatch.__version__} ({os.path.dirname(npatch.__file__)}): install npatch "
                            f"{version} here, or run `npatch env` with the npatch installed here")
    try:
        import binascii
        import marshal
        import zlib

        body = marshal.loads(zlib.decompress(binascii.a2b_base64(payload)))
        modules = None if body[0] is None else frozenset(body[0])
    except (ValueError, TypeError, EOFError, IndexError, zlib.error) as exc:
        raise PlanLoadError(f"{variable} is damaged ({type(exc).__name__}: {exc}; {len(value)} characters, "
                            "cut short by a launcher's size limit?): pass it unchanged, or use "
                            "`npatch env --ship reference`") from None
    label = f"{variable}:{plan_hash[:12]}"
    if route == "inline":
        return Shipped(label, plan_hash, modules, lambda: _inline_plan(body[1], variable))
    return Shipped(label, plan_hash, modules, lambda: _recompiled_plan(plan_hash, *body[1:]))


def _inline_plan(data: bytes, variable: str) -> Any:
    from npatch.errors import PlanLoadError
    from npatch.plan import Plan, PlanError

    try:
        return Plan.from_marshal(data)
    except PlanError as exc:
        raise PlanLoadError(f"{variable}: {exc}") from None


def _recompiled_plan(plan_hash: str, specs: tuple[str, ...], sets: tuple[tuple[str, str], ...],
                     disable: tuple[str, ...]) -> Any:
    """The plan compiled here from the same request, if it is the same plan:
    the one call from the runtime up to the compiling side (the reference route
    compiles in the receiving process)."""
    from npatch.shipping import recompiled_plan

    return recompiled_plan(plan_hash, specs, sets, disable)


__all__ = ["FORMAT", "ROUTES", "Shipped", "decode"]
