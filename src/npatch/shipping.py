"""Plans that travel in the environment, the side that compiles them.

``npatch env`` (and :func:`npatch.integrations.ray.runtime_env`) put a plan in
``NPATCH_PLAN_DATA`` (:func:`portable_environ`), compiled through the plan
cache; a node that receives a *reference* compiles the same request through
its own cache (:func:`recompiled_plan`).  The value's format and the
receiving side, which runs in every booting child and compiles nothing, are
:mod:`npatch.runtime.shipped`.  This module sits above the compiler and the
runtime, beside :mod:`npatch.plancache`.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: the largest value sent inline by ``--ship auto`` (Linux caps one variable at 128 KiB)
INLINE_LIMIT = 32 * 1024


def encode(specs: list[str], sets: dict[str, str], disable: list[str], ship: str = "auto") -> str:
    """The ``NPATCH_PLAN_DATA`` value for a request (compiled through the cache)."""
    from npatch.plancache import MAX_VARIABLE, compiled_plan, fits, looks_like_path, unstamped, value_for

    cached = compiled_plan(specs, sets, disable)
    if cached.notes:
        import sys

        sys.stderr.write(cached.notes)
    stem = cached.path[: -len(".json")]
    plan_hash = os.path.basename(stem)
    modules = _read_text(stem + ".modules")
    modules = tuple(modules.split()) if modules is not None else None

    if ship != "reference":
        with open(stem + ".marshal", "rb") as handle:
            inline = value_for(plan_hash, "inline", (modules, unstamped(handle.read())))
        if len(inline) <= INLINE_LIMIT or ship == "inline" and fits(inline):
            return inline
        if ship == "inline":
            from npatch.errors import UsageError

            raise UsageError(f"the plan takes {len(inline)} characters inline, more than one environment variable "
                             f"can hold ({MAX_VARIABLE}); use --ship reference")
    portable = [os.path.abspath(s) if looks_like_path(s) else s for s in specs]
    return value_for(plan_hash, "reference", (modules, tuple(portable), tuple(sorted(sets.items())), tuple(disable)))


def portable_environ(specs: list[str], sets: dict[str, str], disable: list[str], *, strict: bool = False,
                     verbose: bool = False, ship: str = "auto") -> dict[str, str]:
    """The variables that put a Python process under the plan, on any node.

    No path of this machine is named: the receiving interpreter boots from
    the ``npatch.pth`` of its own npatch installation, wherever that is.
    """
    from npatch.runtime import ENV_DATA, ENV_STRICT, ENV_VERBOSE

    env = {ENV_DATA: encode(specs, sets, disable, ship)}
    if strict:
        env[ENV_STRICT] = "1"
    if verbose:
        env[ENV_VERBOSE] = "1"
    return env


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def recompiled_plan(plan_hash: str, specs: tuple[str, ...], sets: tuple[tuple[str, str], ...],
                     disable: tuple[str, ...]) -> Any:
    """The plan of an ``NPATCH_PLAN_DATA`` reference, compiled here from the
    same request, if it is the same plan (see :mod:`npatch.runtime.shipped`)."""
    from npatch.errors import NpatchError, PlanLoadError
    from npatch.plancache import compiled_plan
    from npatch.runtime.launcher import ENV_DATA, read_plan

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


__all__ = ["INLINE_LIMIT", "encode", "portable_environ", "recompiled_plan"]
