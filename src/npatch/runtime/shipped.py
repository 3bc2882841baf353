"""Plans that travel in the environment: ``npatch env`` and ``NPATCH_PLAN_DATA``.

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
:data:`INLINE_LIMIT` travels inline.  ``reference``: the payload holds the
manifest names (absolute paths for files), ``--set`` and ``--disable``; the
receiving process compiles them with its own npatch (through its own cache,
so once per node) and uses the result only if its hash is ``<plan hash>``.

Decoding imports only ``binascii``, ``zlib`` and ``marshal`` (built in or
already loaded): no ``json``, no compiler unless the reference route needs
it, and nothing at all before one of the plan's modules is imported.
Every mismatch (another npatch version, a damaged value, a plan that does
not reproduce) is a :class:`~npatch.errors.PlanLoadError` whose message names
the cause and the remedy; the launcher turns it into one warning line, or
exit status 1 under ``NPATCH_STRICT``.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

from npatch.runtime.launcher import ENV_DATA  # noqa: E402 - loaded already in a booting child

FORMAT = "npatch1"
ROUTES = ("inline", "reference")
#: the largest value sent inline by ``--ship auto`` (Linux caps one variable at 128 KiB)
INLINE_LIMIT = 32 * 1024
#: Linux's MAX_ARG_STRLEN: exec fails (E2BIG) on a longer ``NAME=value``
MAX_VARIABLE = 128 * 1024


# -- sending side (encode and portable_environ, which compile, are in npatch.plancache) ---
def inline_value(plan_hash: str, modules: tuple[str, ...] | None, marshalled: bytes) -> str | None:
    """The inline ``NPATCH_PLAN_DATA`` value of a plan held in memory, or
    None when it is too long for one environment variable."""
    value = value_for(plan_hash, "inline", (modules, marshalled))
    return value if fits(value) else None


def value_for(plan_hash: str, route: str, body: Any) -> str:
    import binascii
    import marshal
    import zlib

    from npatch import __version__

    payload = binascii.b2a_base64(zlib.compress(marshal.dumps(body), 9), newline=False).decode("ascii")
    return f"{FORMAT}:{__version__}:{plan_hash}:{route}:{payload}"


def fits(value: str) -> bool:
    return len(ENV_DATA) + 1 + len(value) < MAX_VARIABLE


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


def decode(value: str) -> Shipped:
    """Parse ``NPATCH_PLAN_DATA``; raises PlanLoadError with cause and remedy."""
    import npatch
    from npatch.errors import PlanLoadError

    parts = value.split(":", 4)
    if len(parts) != 5 or parts[0] != FORMAT or parts[3] not in ROUTES:
        raise PlanLoadError(f"{ENV_DATA} is not a plan this npatch ({npatch.__version__}) can read "
                            f"(expected {FORMAT}:...): set it from `npatch env` of the same npatch version")
    _, version, plan_hash, route, payload = parts
    if version != npatch.__version__:
        raise PlanLoadError(f"{ENV_DATA} was made by npatch {version}, this process has npatch "
                            f"{npatch.__version__} ({os.path.dirname(npatch.__file__)}): install npatch "
                            f"{version} here, or run `npatch env` with the npatch installed here")
    try:
        import binascii
        import marshal
        import zlib

        body = marshal.loads(zlib.decompress(binascii.a2b_base64(payload)))
        modules = None if body[0] is None else frozenset(body[0])
    except (ValueError, TypeError, EOFError, IndexError, zlib.error) as exc:
        raise PlanLoadError(f"{ENV_DATA} is damaged ({type(exc).__name__}: {exc}; {len(value)} characters, "
                            "cut short by a launcher's size limit?): pass it unchanged, or use "
                            "`npatch env --ship reference`") from None
    label = f"{ENV_DATA}:{plan_hash[:12]}"
    if route == "inline":
        return Shipped(label, plan_hash, modules, lambda: _inline_plan(body[1]))
    return Shipped(label, plan_hash, modules, lambda: _recompiled_plan(plan_hash, *body[1:]))


def _inline_plan(data: bytes) -> Any:
    from npatch.errors import PlanLoadError
    from npatch.plan import Plan, PlanError

    try:
        return Plan.from_marshal(data)
    except PlanError as exc:
        raise PlanLoadError(f"{ENV_DATA}: {exc}") from None


def _recompiled_plan(plan_hash: str, specs: tuple[str, ...], sets: tuple[tuple[str, str], ...],
                     disable: tuple[str, ...]) -> Any:
    """The plan compiled here from the same request, if it is the same plan."""
    from npatch.errors import NpatchError, PlanLoadError
    from npatch.plancache import compiled_plan
    from npatch.runtime.launcher import read_plan

    what = " ".join(specs)
    try:
        cached = compiled_plan(list(specs), dict(sets), list(disable))
    except NpatchError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PlanLoadError(f"{ENV_DATA}: cannot compile {what} on this node ({first}): install the same "
                            "manifests at the same paths, or send the plan inline (`npatch env --ship inline`)"
                            ) from None
    got = os.path.basename(cached.path)[: -len(".json")]
    if got != plan_hash:
        raise PlanLoadError(f"{ENV_DATA}: {what} compiles to another plan on this node ({got[:12]}, expected "
                            f"{plan_hash[:12]}: its manifests differ from the sender's): install the same "
                            "manifests, or send the plan inline (`npatch env --ship inline`)")
    return read_plan(cached.path)
