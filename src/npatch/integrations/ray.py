"""A Ray ``runtime_env`` whose workers run under a plan.

::

    import ray
    from npatch.integrations.ray import runtime_env

    ray.init(address="auto", runtime_env=runtime_env("cuda-to-cpu", base={"env_vars": {"A": "1"}}))

Ray starts each worker process with the job's ``env_vars``: the plan in
``NPATCH_PLAN_DATA`` (see ``npatch env``; the ``npatch.pth`` of the npatch
installed on each node boots it) puts every task and actor under the plan,
on every node of the cluster, whether the cluster was started inside
``npatch apply`` or not.
Workers are long-lived: the plan is applied when a worker starts and stays
applied for every task it runs; a worker is never restored in place.  A job
with another runtime_env gets other workers (Ray keys its worker pool by
runtime_env), so jobs with and without the plan do not share workers.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any


def runtime_env(*manifests: str, sets: Mapping[str, str] | None = None, disable: Iterable[str] = (),
                strict: bool = False, verbose: bool = False, ship: str = "auto",
                base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``base`` (a runtime_env dict or ``ray.runtime_env.RuntimeEnv``, left
    unchanged) with the plan's variables added to its ``env_vars``.

    The options are those of ``npatch env``; other fields of ``base`` are
    kept as they are.  A variable of ``base`` that npatch sets too is an
    error: one of the two would be lost silently.
    """
    from npatch.errors import UsageError
    from npatch.shipping import portable_environ

    if not manifests:
        raise UsageError("runtime_env() needs at least one manifest")
    ours = portable_environ(list(manifests), dict(sets or {}), list(disable), strict=strict, verbose=verbose,
                            ship=ship)
    merged = dict(base or {})
    env_vars = {str(k): str(v) for k, v in (merged.get("env_vars") or {}).items()}
    clash = sorted(k for k in ours if k in env_vars and env_vars[k] != ours[k])
    if clash:
        raise UsageError(f"runtime_env: base env_vars already set {', '.join(clash)}; leave them to npatch")
    env_vars.update(ours)
    merged["env_vars"] = env_vars
    return merged


__all__ = ["runtime_env"]
