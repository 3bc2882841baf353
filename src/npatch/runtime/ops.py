"""The op-kind registry: one apply/restore pair per kind of patch.

A kind is registered with :func:`op_kind` on its apply function::

    @op_kind("value")
    def apply_value(ctx: ApplyContext, op: Op, target: Target, module) -> Undo:
        ...

``apply`` runs when ``target.module`` has finished executing (or at once if
it already had) and receives that module.  It returns an *undo record*, an
object with a ``restore()`` method that puts back exactly what ``apply``
changed; the kind's ``restore(undo)`` (default: ``undo.restore()``) is what
the session calls, in reverse order of application.  ``apply`` raises
:class:`~npatch.runtime.resolve.TargetMissing` when the attribute path does
not exist (the op's ``on-missing`` decides what that means),
:class:`~npatch.runtime.resolve.Skipped` to do nothing on purpose, and any
other exception to fail with that cause.

Kinds that act on ``sys.modules`` names rather than on loaded modules
(``alias``, ``stub``) also register ``substitute``: the import hook calls it
when the name is first imported, with the spec the other finders found (or
None), and it returns the spec to use instead, or None to let the real
module load.  Their ``apply`` handles a name that is already imported.

The built-in kinds live in :mod:`npatch.runtime.kinds_attr` (replace, wrap,
value, delete) and :mod:`npatch.runtime.kinds_module` (call, register,
alias, stub); each lists its kinds in a ``KINDS`` dict, which this module
registers (they do not import it).  What the other layers know about each
built-in kind is its entry in :data:`npatch.opkinds.BUILTIN_OP_KINDS`.
"""
from __future__ import annotations

from npatch.extensions import OPS_GROUP, Registry, unusable
from npatch.runtime.resolve import import_object

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds in every patched child process
    from collections.abc import Callable
    from typing import Any

    from npatch.plan import Op, Target
    from npatch.runtime.protocols import ApplyHost

    Apply = Callable[["ApplyContext", Op, Target, Any], Any]
    Substitute = Callable[["ApplyContext", Op, Target, Any], Any]


class OpKind:
    """A registered kind: ``apply``, ``restore`` and, for module kinds, ``substitute``
    (``tree``: also asked for every name under the target, once it applied)."""

    __slots__ = ("name", "apply", "restore", "substitute", "tree", "module_level")

    def __init__(self, name: str, apply: Apply, restore: Callable[[Any], None],
                 substitute: Substitute | None, tree: bool = False) -> None:
        self.name = name
        self.apply = apply
        self.restore = restore
        self.substitute = substitute
        self.tree = tree
        #: True for kinds that replace whole modules (alias, stub)
        self.module_level = substitute is not None

    def __repr__(self) -> str:
        return f"OpKind({self.name!r})"


def adopt_op_kind(registry: Any, name: str, obj: Any, ep: Any) -> None:
    """Register an ``npatch.ops`` entry point's object as op kind ``name``."""
    if isinstance(obj, OpKind):
        registry[name] = obj if obj.name == name else OpKind(name, obj.apply, obj.restore, obj.substitute, obj.tree)
    elif callable(obj) and not isinstance(obj, type):
        op_kind(name)(obj)
    else:
        raise unusable(ep, OPS_GROUP, obj, f"an apply function, an OpKind, or a module that registers @op_kind({name!r})")



def _builtin(name: str, kind: Any) -> bool:
    from npatch.opkinds import BUILTIN_OP_KINDS  # only `npatch list --ops` asks: not in every child

    return name in BUILTIN_OP_KINDS


#: Every op kind by name (filled by :func:`op_kind`; a name not registered here is
#: looked up among the ``npatch.ops`` entry points of installed packages, see
#: :mod:`npatch.extensions`).
OP_KINDS: dict[str, OpKind] = Registry(OPS_GROUP, adopt_op_kind, _builtin)


def _restore_undo(undo: Any) -> None:
    undo.restore()


def op_kind(name: str, *, restore: Callable[[Any], None] = _restore_undo,
            substitute: Substitute | None = None, tree: bool = False) -> Callable[[Apply], Apply]:
    """Register the decorated function as the ``apply`` of kind ``name``."""

    def register(apply: Apply) -> Apply:
        OP_KINDS[name] = OpKind(name, apply, restore, substitute, tree)
        return apply

    return register


class ApplyContext:
    """What an apply function may ask of the session applying it (which it
    reaches through the public methods of
    :class:`~npatch.runtime.protocols.ApplyHost`).

    ``immediate`` is true when the target module was already imported when the
    session started: only then can other modules hold ``from x import f``
    copies of the original (see :mod:`npatch.runtime.rebind`).
    """

    __slots__ = ("session", "slot", "immediate")

    def __init__(self, session: ApplyHost, slot: Any, immediate: bool) -> None:
        self.session = session
        self.slot = slot
        self.immediate = immediate

    @property
    def options(self) -> dict[str, Any]:
        """The plan's options (``[options]`` and ``--set``)."""
        return self.session.options

    def resolve(self, ref: str) -> Any:
        """Load a ``module:qualname`` reference (replacement, wrapper, guard...);
        a module not found on ``sys.path`` is looked for beside the op's manifest too."""
        origin = self.slot.state.op.origin
        return import_object(ref, beside=origin.file if origin is not None else None)

    def replaced(self, parent: Any, name: str, old: Any, new: Any) -> None:
        """Tell the session that ``parent.name`` went from ``old`` to ``new``,
        so copies of ``old`` held elsewhere can be found (rebind)."""
        if self.immediate:
            self.session.note_replaced(self.slot, parent, name, old, new)

    def changing(self, undo: Any) -> None:
        """Record ``undo`` before making the change it undoes, so that an
        interrupt (KeyboardInterrupt) between the change and the end of
        ``apply`` still leaves it for ``stop()`` to restore."""
        self.session.push_undo(self.slot, undo)

    def served(self, undo: Any) -> None:
        """A substitute module was created: record how to take it away again."""
        self.session.served(self.slot, undo)

    def serve_failed(self, exc: BaseException) -> None:
        """Creating a substitute module failed: the slot fails with ``exc``."""
        self.session.serve_failed(self.slot, exc)


# the built-in kinds: each module lists its own (it does not import this one)
from npatch.runtime import kinds_attr, kinds_module  # noqa: E402


def _register_builtins() -> None:
    for module in (kinds_attr, kinds_module):
        for name, (apply, substitute, tree) in module.KINDS.items():
            op_kind(name, substitute=substitute, tree=tree)(apply)


_register_builtins()

__all__ = ["OP_KINDS", "OpKind", "op_kind", "ApplyContext"]
