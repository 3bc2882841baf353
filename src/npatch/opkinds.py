"""The op-kind table: what every layer knows about each built-in op kind.

This is the plan layer's description of the ``kind`` field of
:class:`npatch.plan.Op`.  The dsl validates ``[[patch]]`` and ``[[op]]``
tables with it (:mod:`npatch.dsl.model` makes the ``[[patch]]`` action keys
from it), the compiler builds drafts and checks collisions with it, the
plan cache decides whether a plan can wait for an import
(:func:`npatch.plancache.trigger_modules`), and the runtime registers each
kind's apply/restore pair under the same name (:mod:`npatch.runtime.ops`;
``tests/plan/test_op_kind_table.py`` holds the two in step).  A child that
loads a saved plan reads its index and never imports this module.
"""
from __future__ import annotations

from collections import namedtuple  # loaded by every interpreter's site: a child pays nothing for it

#: What every layer knows about a built-in op kind: the dsl validates with
#: it, the compiler builds and checks ops with it, the plan cache decides a
#: deferred start with it, and the runtime registers the kind's apply/restore
#: pair under the same name (:mod:`npatch.runtime.ops`; a test holds the two
#: in step).  A named tuple, not a dataclass: a plan without a saved index (an
#: in-process plan, the cache's JSON fallback) imports this module to index its
#: ops, and ``dataclasses`` brings ``inspect`` (several ms).
#:
#: table       the manifest table that declares it; ``patch`` kinds are that
#:             table's action keys (``replace = "mod:f"``)
#: acts_on     ``attribute`` (of the target), ``module`` (the target module,
#:             once loaded) or ``import`` (what importing the target name finds;
#:             these kinds are installed before any other)
#: source      the op's ``source`` is an object to load (``module:qualname``)
#: value       the action key's value is the op's ``value``
#: overrides   it sets the target outright, so a later op on it overrides it
#: creates     ``on-missing = "create"`` may make an absent target
#: deferrable  its work waits for an import of its target modules, so a
#:             plan made of such ops starts at the first such import
#: keys        ``[[patch]]`` keys only this kind takes
#: action      ``patch`` kinds: (TOML type, form, doc) of the action key
#: summary     ``patch`` kinds: what it does, in a few words (for hints)
OpKindInfo = namedtuple(
    "OpKindInfo",
    ["name", "table", "acts_on", "source", "value", "overrides", "creates", "deferrable", "keys", "action",
     "summary"],
    defaults=(False, False, False, False, True, (), ("", "", ""), ""),
)


def _kinds(*infos: OpKindInfo) -> dict[str, OpKindInfo]:
    return {info.name: info for info in infos}


#: Every built-in op kind, in the order manifests list them.  A new built-in
#: kind is an entry here plus its apply/restore pair (docs/design.md).
#: Third-party kinds come from entry points and are not listed.
BUILTIN_OP_KINDS: dict[str, OpKindInfo] = _kinds(
    OpKindInfo("replace", "patch", "attribute", source=True, overrides=True, creates=True, keys=("guard",),
               action=("str", "object", "`module:qualname` of the object that replaces the target "
                                        "(installed as is: zero per-call cost)."),
               summary="swaps the object"),
    OpKindInfo("wrap", "patch", "attribute", source=True,
               action=("str", "object", "`module:qualname` of `make_wrapper(original, options) -> callable`."),
               summary="builds a wrapper around it"),
    OpKindInfo("value", "patch", "attribute", value=True, overrides=True, creates=True,
               action=("any", "", "A TOML value that replaces the target."), summary="sets a constant"),
    OpKindInfo("delete", "patch", "attribute", overrides=True,
               action=("bool", "", "`true`: remove the attribute (restored on exit)."), summary="removes it"),
    OpKindInfo("call", "patch", "module", source=True,
               action=("str", "object", "`module:qualname` of `func(module, options)`, run once when the target "
                                        "module is loaded."),
               summary="runs a function on the module"),
    OpKindInfo("register", "register", "attribute", source=True),
    OpKindInfo("alias", "alias", "import", source=True),
    OpKindInfo("stub", "stub", "import"),
)


#: kinds that act on a module once it has executed, not on what importing it
#: finds: a session prepares their ops at the module's first import; a saved
#: plan's index says which ops wait (:mod:`npatch.planfile`)
LAZY_KINDS = frozenset(name for name, info in BUILTIN_OP_KINDS.items() if info.acts_on != "import")

__all__ = ["BUILTIN_OP_KINDS", "LAZY_KINDS", "OpKindInfo"]
