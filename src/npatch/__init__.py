"""npatch: a declarative patch DSL for Python.

Manifests (TOML) are compiled into a :class:`~npatch.plan.Plan`; the runtime
applies a plan lazily and reversibly; the rewrite layer turns rewrite rules
into source diffs.  This module keeps imports lazy: ``import npatch`` costs
almost nothing, so the bootstrap of every child process stays cheap.
"""
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from npatch.plan import Plan
    from npatch.runtime.session import Session

__version__ = "0.1.0"

# NPATCH_LOG=debug turns on logging in every process that imports npatch (the
# CLI, each child's bootstrap, the pytest plugin); unset, this costs a lookup
# (not even the import of npatch.log: every process of a job pays it).
import os as _os  # noqa: E402 - loaded already by every interpreter

if _os.environ.get("NPATCH_LOG", "").strip():
    from npatch import log as _log

    _log.configure()


def load(*manifests: "str | list[str]", resolve: str = "none", sets: "dict[str, Any] | None" = None,
         disable: "str | list[str] | tuple[str, ...]" = (), paths: "list[str] | None" = None,
         strict: bool = False) -> "Plan":
    """Compile ``manifests`` into a :class:`~npatch.plan.Plan`.

    Each manifest is a ``.toml`` path, a built-in name (``npatch list``), a
    name an installed package provides through the ``npatch.manifests``
    entry-point group, or one saved ``plan.json``.

    ``resolve``   check target paths: ``"none"`` (default), ``"static"`` or
                  ``"import"``, as ``npatch compile --resolve``
    ``sets``      manifest options, as ``--set key=value`` (``{"key": "value"}``;
                  ``True`` is ``"true"``)
    ``disable``   op names to switch off, as ``--disable`` (one name or several)
    ``paths``     extra directories for ``resolve`` to search
    ``strict``    a target in a package not installed here is an error

    Raises :class:`~npatch.errors.ManifestErrors` (each with file:line:col)
    for an invalid manifest.  ``with npatch.load("m.toml").apply(): main()``
    applies the plan for a block.
    """
    from npatch.compiler import load_plan
    from npatch.errors import UsageError

    if sets is not None and not isinstance(sets, dict):
        raise UsageError(f"sets= takes a dict of option names to values, not {type(sets).__name__} {sets!r}")
    texts = {key: ("true" if value else "false") if isinstance(value, bool) else str(value)
             for key, value in (sets or {}).items()}
    specs = [str(m) for group in manifests for m in (group if isinstance(group, (list, tuple)) else (group,))]
    names = [disable] if isinstance(disable, str) else list(disable)
    return load_plan(specs, resolve=resolve, sets=texts, disable=names, paths=paths, strict=strict)


def apply(*manifests: "str | list[str]", sets: "dict[str, Any] | None" = None,
          disable: "str | list[str] | tuple[str, ...]" = (), strict: bool = False, rebind: bool = False,
          label: "str | None" = None) -> "Session":
    """Compile ``manifests`` and apply the plan in this process, lazily; returns
    the started :class:`~npatch.runtime.session.Session`, a context manager
    (``with npatch.apply("cuda-to-cpu"): main()``; ``session.stop()``
    restores everything, in reverse).

    ``sets`` and ``disable`` are as for :func:`load`.  ``strict``: an op that
    fails raises :class:`~npatch.errors.PatchError` instead of warning.
    ``rebind``: every patch also replaces ``from x import f`` copies made
    before it applied.  ``label`` names the session in warnings and reports.
    """
    return load(*manifests, sets=sets, disable=disable).apply(strict=strict, rebind=rebind, label=label)


def __getattr__(name: str) -> "Any":
    # The compat API (Patch, Patcher, ...) and warnings are imported on first use.
    if name in {"Patch", "Patcher", "PatcherBuilder", "inject_module_alias", "inject_module_aliases_batch"}:
        from npatch import compat

        return getattr(compat, name)
    if name == "NpatchWarning":
        from npatch.errors import NpatchWarning

        return NpatchWarning
    if name == "Plan":
        from npatch.plan import Plan

        return Plan
    raise AttributeError(f"module 'npatch' has no attribute {name!r}")


__all__ = ["NpatchWarning", "Patch", "Patcher", "PatcherBuilder", "Plan", "__version__", "apply",
           "inject_module_alias", "inject_module_aliases_batch", "load"]


def __dir__() -> list[str]:
    # submodules imported so far and the helpers above are not the API
    return sorted(__all__)
