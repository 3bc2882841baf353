"""npatch: a declarative patch DSL for Python.

Manifests (TOML) are compiled into a :class:`~npatch.plan.Plan`; the runtime
applies a plan lazily and reversibly; the rewrite layer turns rewrite rules
into source diffs.  This module keeps imports lazy: ``import npatch`` costs
almost nothing, so the bootstrap of every child process stays cheap.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

# NPATCH_LOG=debug turns on logging in every process that imports npatch (the
# CLI, each child's bootstrap, the pytest plugin); unset, this costs a lookup
# (not even the import of npatch.log: every process of a job pays it).
import os as _os  # noqa: E402 - loaded already by every interpreter

if _os.environ.get("NPATCH_LOG", "").strip():
    from npatch import log as _log

    _log.configure()


def load(*manifests: str, **kwargs: Any):
    """Compile manifests (paths, built-in names, entry-point names, or a saved
    ``plan.json``) and return the :class:`~npatch.plan.Plan`.

    ``with npatch.load("m.toml").apply(): main()`` applies it for a block.
    Keyword arguments go to :func:`npatch.compiler.compile_manifests`.
    """
    from npatch.compiler import load_plan

    return load_plan(list(manifests), **kwargs)


def __getattr__(name: str) -> Any:
    # The compat API (Patch, Patcher, ...) and warnings are imported on first use.
    if name in {"Patch", "Patcher", "PatcherBuilder", "inject_module_alias", "inject_module_aliases_batch"}:
        from npatch import compat

        return getattr(compat, name)
    if name == "NpatchWarning":
        from npatch.errors import NpatchWarning

        return NpatchWarning
    raise AttributeError(f"module 'npatch' has no attribute {name!r}")
