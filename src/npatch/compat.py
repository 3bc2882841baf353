"""The Python API of the patchers npatch replaces, on npatch's engine.

Programs written against DrivingSDK's patcher (``mx_driving.patcher``:
``Patch``, ``Patcher``, ``PatcherBuilder``) or verl-npu's module aliases
(``inject_module_alias``, ``inject_module_aliases_batch``) keep their code
and change one import::

    from npatch.compat import Patch, PatcherBuilder

    def msda(mmcvops, options):
        mmcvops.multi_scale_deform_attn.MultiScaleDeformableAttnFunction.forward = npu_forward

    with PatcherBuilder().add_module_patch("mmcv.ops", Patch(msda)).brake_at(1000).build():
        train()

The signatures are those of the originals; what differs is the engine:

* **Lazy.**  A patch function runs when its module has been imported (at
  once if it already was); building or applying a patcher imports nothing.
  The original imported every module in ``Patcher.__init__``.
* **Reversible.**  Leaving the ``with`` block (or :meth:`Patcher.restore`)
  undoes everything.  A patch function is a ``call`` op whose changes are
  recorded: the module and class dictionaries of its top-level package are
  compared before and after it runs, and restore puts back every entry it
  added, replaced or deleted there.  Not seen, and left in place: changes
  outside the function's own top-level package (a ``torch`` patch that
  edits ``numpy``), and changes to a module the function itself imports
  for the first time.  Module aliases are removed by
  :func:`restore_module_aliases`.
* **Reported.**  Failures are :class:`~npatch.errors.NpatchWarning` with the
  real cause (none with ``patch_failure_warning=False``: the op is then
  ``skipped`` with the reason); :meth:`Patcher.statuses` gives each op's status.
* ``brake_at`` and ``with_profiling`` become the same ``wrap`` ops as a
  manifest's ``[brake]`` and ``[profile]`` tables.
"""
from __future__ import annotations

import itertools
import sys
import types
import warnings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from npatch.plan import Op, Plan
    from npatch.runtime.session import Session

__all__ = ["Patch", "Patcher", "PatcherBuilder", "inject_module_alias", "inject_module_aliases_batch",
           "restore_module_aliases"]

#: live objects the plans of this module refer to: ``npatch.compat:_LIVE.<key>``
_LIVE = types.SimpleNamespace()
_KEYS = itertools.count()
_MANIFEST = "npatch.compat"


def _live(obj: Any) -> tuple[str, str]:
    """Make ``obj`` reachable by a plan's ``module:qualname`` reference."""
    key = f"f{next(_KEYS)}"
    setattr(_LIVE, key, obj)
    return key, f"{__name__}:_LIVE.{key}"


class Patch:
    """A call-style patch: ``func(module, options)`` runs once on the module
    it is added for.  ``name`` (the function's name) is what
    ``disable_patches`` matches; lower ``priority`` runs first."""

    def __init__(self, func: Callable[[Any, dict], Any], options: dict | None = None, priority: int = 0,
                 patch_failure_warning: bool = True) -> None:
        self.func = func
        self.name = func.__name__
        self.options = {} if options is None else options
        self.priority = priority
        self.patch_failure_warning = patch_failure_warning
        self.is_applied = False

    def __lt__(self, other: Patch) -> bool:
        return self.priority < other.priority

    def __repr__(self) -> str:
        return f"Patch({self.name}, priority={self.priority})"


# -- recording what a patch function changes ----------------------------------------
class _Changes:
    """The module and class dictionaries of one top-level package, before a
    patch function runs; :meth:`undo` puts back whatever differs afterwards."""

    def __init__(self, top: str) -> None:
        self.top = top
        self.modules = [(m, dict(vars(m))) for m in self._modules()]
        seen: set[int] = set()
        self.classes = []
        for module, entries in self.modules:
            for value in entries.values():
                if isinstance(value, type) and id(value) not in seen and self._ours(value):
                    seen.add(id(value))
                    self.classes.append((value, dict(value.__dict__)))

    def _modules(self) -> list[Any]:
        top, prefix = self.top, self.top + "."
        return [m for name, m in list(sys.modules.items())
                if (name == top or name.startswith(prefix)) and isinstance(m, types.ModuleType)]

    def _ours(self, cls: type) -> bool:
        module = getattr(cls, "__module__", None) or ""
        return isinstance(module, str) and (module == self.top or module.startswith(self.top + "."))

    def undo_steps(self) -> list[tuple[Any, str, Any]]:
        """(owner, name, old value or _ABSENT) for every entry that changed."""
        steps = []
        for module, before in self.modules:
            after = vars(module)
            for name in set(before) | set(after):
                old, new = before.get(name, _ABSENT), after.get(name, _ABSENT)
                if old is new or name == "__warningregistry__":
                    continue
                if old is _ABSENT and isinstance(new, types.ModuleType) and \
                        sys.modules.get(f"{module.__name__}.{name}") is new:
                    continue  # a submodule imported meanwhile binds itself to its package
                steps.append((module, name, old))
        for cls, before in self.classes:
            after = cls.__dict__
            for name in set(before) | set(after):
                old, new = before.get(name, _ABSENT), after.get(name, _ABSENT)
                if old is not new and name not in ("__dict__", "__weakref__", "__doc__"):
                    steps.append((cls, name, old))
        return steps

    @staticmethod
    def undo(steps: list[tuple[Any, str, Any]]) -> None:
        for owner, name, old in reversed(steps):
            try:
                if old is _ABSENT:
                    if name in vars(owner):
                        delattr(owner, name)
                else:
                    setattr(owner, name, old)
            except (AttributeError, TypeError):
                continue  # an extension type or read-only entry: the patch could not have changed it


_ABSENT = object()


def _tracked(patch: Patch, module_name: str) -> Callable[[Any, dict], Callable[[], None]]:
    """The ``call`` function of a compat op: runs ``patch.func`` and returns
    the undo of what it changed (the ``call`` kind keeps a callable result
    as the op's restore)."""

    def call(module: Any, _options: dict) -> Callable[[], None]:
        from npatch.runtime.resolve import Skipped

        changes = _Changes(module_name.partition(".")[0])
        try:
            patch.func(module, patch.options)
        except Exception as exc:
            _Changes.undo(changes.undo_steps())
            if not patch.patch_failure_warning:
                raise Skipped(f"{patch.name} failed and patch_failure_warning is off: "
                              f"{type(exc).__name__}: {exc}") from exc
            raise
        steps = changes.undo_steps()
        patch.is_applied = True

        def restore() -> None:
            _Changes.undo(steps)
            patch.is_applied = False

        return restore

    call.__name__ = call.__qualname__ = f"compat_{patch.name}"
    return call


# -- the patcher -----------------------------------------------------------------------
class Patcher:
    """Applies ``module_patches`` (module name -> [Patch]) except the names in
    ``blacklist``; ``apply()`` or a ``with`` block.  Leaving the block
    restores every change (the original patcher left them in place)."""

    def __init__(self, module_patches: dict[str, list[Patch]], blacklist: Iterable[str],
                 allow_internal_format: bool = False) -> None:
        self.module_patches = module_patches
        self.blacklist = set(blacklist)
        self.allow_internal_format = allow_internal_format
        self.session: Session | None = None
        self._step_hooks: list[tuple[str, dict]] = []  # (brake|profile, options), from PatcherBuilder
        self._keys: list[str] = []

    def plan(self) -> Plan:
        """The plan this patcher applies (call ops, then brake/profile wrap ops)."""
        from npatch.plan import ManifestInfo, Op, Plan, Target

        counts: dict[str, int] = {}
        for patches in self.module_patches.values():
            for patch in patches:
                counts[patch.name] = counts.get(patch.name, 0) + 1
        ops: list[Op] = []
        disabled = []
        for module_name, patches in self.module_patches.items():
            for patch in sorted(patches):  # stable: equal priorities keep their order
                name = patch.name if counts[patch.name] == 1 else f"{patch.name}@{module_name}"
                key, ref = _live(_tracked(patch, module_name))
                self._keys.append(key)
                ops.append(Op(kind="call", name=name, targets=(Target(module_name),), source=ref,
                              priority=patch.priority, manifest=_MANIFEST,
                              on_missing="warn" if patch.patch_failure_warning else "ignore"))
                if patch.name in self.blacklist:
                    disabled.append(name)
        for table, options in self._step_hooks:
            for op in _step_hook_ops(table, options):
                ops.append(op)
                if table in self.blacklist or op.name in self.blacklist:
                    disabled.append(op.name)
        return Plan(manifests=(ManifestInfo(_MANIFEST, "<npatch.compat>"),),
                    options=(("allow_internal_format", self.allow_internal_format),),
                    ops=tuple(ops), disabled=tuple(disabled))

    def apply(self) -> None:
        """Start applying (lazily); a second call does nothing."""
        if self.session is None or not self.session.active:
            from npatch.runtime.session import Session

            self.session = Session(self.plan(), label="npatch.compat.Patcher").start()

    def restore(self) -> None:
        """Undo everything this patcher changed."""
        if self.session is not None:
            self.session.stop()
            self.session = None
        for key in self._keys:
            if hasattr(_LIVE, key):
                delattr(_LIVE, key)
        self._keys.clear()

    def statuses(self) -> list:
        """Each op's :class:`~npatch.runtime.report.OpStatus` (empty before ``apply``)."""
        return self.session.statuses() if self.session is not None else []

    @property
    def is_applied(self) -> bool:
        return self.session is not None and self.session.active

    def __enter__(self) -> Patcher:
        self.apply()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.restore()


def _step_hook_ops(table: str, options: dict) -> list[Op]:
    """The ``wrap`` ops a manifest's ``[brake]``/``[profile]`` table compiles
    into, with the compiler's own hook list and wrapper factories."""
    from npatch.compiler.sugar import PRIORITIES, STEP_HOOKS, WRAPPERS
    from npatch.plan import Op, Target, freeze

    return [
        Op(kind="wrap", name=f"{table}:{suffix}", targets=(Target.parse(target),), source=WRAPPERS[table],
           options=tuple(sorted((k, freeze(v)) for k, v in {**options, "hook": suffix}.items())),
           on_missing=on_missing, priority=PRIORITIES[table], manifest=_MANIFEST)
        for suffix, target, on_missing in STEP_HOOKS
    ]


class PatcherBuilder:
    """Collects module patches, disabled names, profiling and a brake step;
    :meth:`build` makes the :class:`Patcher`."""

    def __init__(self) -> None:
        self.module_patches: dict[str, list[Patch]] = {}
        self.blacklist: set[str] = set()
        self._step_hooks: dict[str, dict] = {}

    def add_module_patch(self, module_name: str, *patches: Patch) -> PatcherBuilder:
        """Patches for ``module_name``, kept sorted by priority."""
        self.module_patches.setdefault(module_name, []).extend(patches)
        self.module_patches[module_name].sort()
        return self

    def disable_patches(self, *patch_names: str) -> PatcherBuilder:
        self.blacklist.update(patch_names)
        return self

    def with_profiling(self, path: str, level: int = 0) -> PatcherBuilder:
        """Profile training steps into ``path`` (level 0 device, 1 + CPU, 2 + stacks), as ``[profile]``."""
        self._step_hooks["profile"] = {"path": str(path), "level": int(level)}
        return self

    def brake_at(self, step: int) -> PatcherBuilder:
        """Stop training cleanly after step ``step``, as ``[brake]``."""
        self._step_hooks["brake"] = {"step": int(step)}
        return self

    def build(self, allow_internal_format: bool = False) -> Patcher:
        patcher = Patcher({k: list(v) for k, v in self.module_patches.items()}, set(self.blacklist),
                          allow_internal_format)
        patcher._step_hooks = list(self._step_hooks.items())
        return patcher


# -- module aliases ------------------------------------------------------------------
_ALIASES: list[Session] = []


def inject_module_alias(source_module_name: str, target_module_name: str) -> bool:
    """Make ``import target_module_name`` give the module ``source_module_name``
    (the live module, not a copy of its attributes).  For a package source,
    ``import target.sub`` gives the real ``source.sub``: one module object,
    executed once, under both names.

    True when the alias is in place or the target already exists (which is
    then left alone, as the original did); False, with a warning naming the
    cause, when the source cannot be imported or the target's package does
    not exist.  The source is imported now, like the original, so that a
    failure shows here; the target's package is not imported.
    """
    if target_module_name in sys.modules:
        return True
    import importlib

    from npatch.conditions import findable
    from npatch.errors import NpatchWarning
    from npatch.plan import ManifestInfo, Op, Plan, Target
    from npatch.runtime.session import Session

    try:
        importlib.import_module(source_module_name)
    except Exception as exc:  # noqa: BLE001 - the caller asked for a bool, the cause goes in the warning
        warnings.warn(f"npatch: cannot alias {target_module_name!r} to {source_module_name!r}: "
                      f"importing the source raised {type(exc).__name__}: {exc}", NpatchWarning, stacklevel=2)
        return False
    parent = target_module_name.rpartition(".")[0]
    if parent and parent not in sys.modules and not findable(parent):
        warnings.warn(f"npatch: cannot alias {target_module_name!r}: its package {parent!r} does not exist",
                      NpatchWarning, stacklevel=2)
        return False
    op = Op(kind="alias", name=f"alias:{target_module_name}", targets=(Target(target_module_name),),
            source=source_module_name, manifest=_MANIFEST)
    session = Session(Plan(manifests=(ManifestInfo(_MANIFEST, "<npatch.compat>"),), ops=(op,)),
                      label=f"npatch.compat alias {target_module_name}").start()
    if session.statuses()[0].status == "failed":
        session.stop()
        return False
    _ALIASES.append(session)
    return True


def inject_module_aliases_batch(module_pairs: Iterable[tuple[str, str]]) -> None:
    """:func:`inject_module_alias` for each ``(source, target)`` pair; the
    first failure raises RuntimeError naming that pair."""
    for source, target in module_pairs:
        if not inject_module_alias(source, target):
            raise RuntimeError(f"Failed to bootstrap module alias from '{source}' to '{target}'.")


def restore_module_aliases() -> None:
    """Remove every alias :func:`inject_module_alias` made, newest first."""
    while _ALIASES:
        _ALIASES.pop().stop()
