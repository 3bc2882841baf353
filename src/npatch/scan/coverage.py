"""The status of each use against compiled manifests.

In this order, the first that applies:

``runtime``      an op of the plan acts on what the use refers to: its target
                 or an ``also`` path is the used name, something the name is
                 under (a replaced module), or the ``__init__``/``__new__`` of
                 the used class or of one of its bases (a wrapped constructor);
                 a method on any receiver (``x.cuda()``) matches ops on
                 ``Class.cuda``; a value (a device string) is handled when the
                 plan has an op on every one of the entry's ``consumers``
``unsupported``  a manifest's ``unsupported`` rewrite rule names it
``rewrite``      a ``[[rewrite]]`` rule of the plan would change it
``unsupported``  the table says it has no counterpart off CUDA
``uncovered``    none of these

Names are compared where they are defined: ``torch.nn.parallel.
DistributedDataParallel`` and the op target ``torch.nn.parallel.distributed:
DistributedDataParallel.__init__`` meet in ``torch/nn/parallel/distributed.py``,
found statically through re-exports (:class:`npatch.compiler.static.StaticIndex`;
nothing is imported).  Op conditions (``when``) are not evaluated: they are
about the machine a program runs on; rewrite conditions are, as ``npatch diff``
evaluates them.
"""
from __future__ import annotations

import ast
from collections.abc import Callable
from functools import lru_cache

from npatch.compiler.static import StaticIndex, dotted_name
from npatch.plan import Op, Plan, Rewrite
from npatch.rewrite.importutil import under
from npatch.rewrite_kinds import map_string, values_map
from npatch.scan.finder import Use
from npatch.scan.table import Api

#: status key -> what reports call it, in the order summaries list them
STATUSES = {
    "runtime": "handled at run time",
    "rewrite": "rewritten statically",
    "unsupported": "known unsupported",
    "uncovered": "not covered",
}
_CONSTRUCTORS = ("__init__", "__new__")


class Names:
    """Where names are defined, found through re-exports and star imports."""

    def __init__(self, paths: list[str] | None = None) -> None:
        self.index = StaticIndex(paths)
        self.canonical = lru_cache(maxsize=None)(self._canonical)
        self.family = lru_cache(maxsize=None)(self._family)

    def _canonical(self, dotted: str) -> str:
        """``torch.load`` -> ``torch.serialization.load``; unknown names stay as they are."""
        seen = set()
        while dotted not in seen:
            seen.add(dotted)
            split = self.index.split(dotted)
            if split is None or not split[1]:
                return dotted
            module, qual = split
            head, _, rest = qual.partition(".")
            target = self._binding(module, head)
            if target is None:
                return dotted
            dotted = ".".join(p for p in (target, rest) if p)
        return dotted

    def _binding(self, module: str, name: str, depth: int = 0) -> str | None:
        """What ``name`` in ``module`` is imported from (through star imports)."""
        scope = self.index.scope(module)
        if scope is None or name in scope.defs or name in scope.assigned or depth > 8:
            return None
        if name in scope.imports:
            source, attr = scope.imports[name]
            return ".".join(p for p in (source, attr) if p)
        for star in scope.star:
            found = self._binding(star, name, depth + 1)
            star_scope = self.index.scope(star)
            if found is not None:
                return found
            if star_scope is not None and (name in star_scope.defs or name in star_scope.assigned):
                return f"{star}.{name}"
        return None

    def _family(self, dotted: str) -> tuple[str, ...]:
        """The canonical name, and when it is a class, its statically known bases'."""
        name = self.canonical(dotted)
        out = [name]
        node, module = self._class(name)
        if node is not None:
            for base in node.bases:
                written = dotted_name(base)
                if written is None:
                    continue
                head, _, rest = written.partition(".")
                bound = self._binding(module, head)
                full = ".".join(p for p in (bound or f"{module}.{head}", rest) if p)
                for member in self.family(full):
                    if member not in out:
                        out.append(member)
        return tuple(out)

    def _class(self, name: str) -> tuple[ast.ClassDef | None, str]:
        split = self.index.split(name)
        if split is None or not split[1] or "." in split[1]:
            return None, ""
        scope = self.index.scope(split[0])
        node = scope.defs.get(split[1]) if scope is not None else None
        return (node if isinstance(node, ast.ClassDef) else None), split[0]


class Coverage:
    """Answers, for each use, its status and what gives it."""

    def __init__(self, plan: Plan | None, apis: list[Api], paths: list[str] | None = None) -> None:
        self.names = Names(paths)
        self.apis = {a.id: a for a in apis}
        self.targets: list[tuple[str, str]] = []          # (canonical target, op name)
        self.members: dict[str, list[str]] = {}           # method name -> ops on Class.method
        rewrites: list[Rewrite] = []
        if plan is not None:
            from npatch.rewrite.runner import select_rewrites

            disabled = set(plan.disabled)
            for op in plan.ops:
                if op.name not in disabled:
                    self._index(op)
            rewrites = select_rewrites(plan.rewrites, plan.options_dict)[0]
        self.unsupported_rules = [r for r in rewrites if r.kind == "unsupported"]
        self.rewrite_rules = [r for r in rewrites if r.kind != "unsupported"]
        self.covered = lru_cache(maxsize=None)(self._covered)

    def _index(self, op: Op) -> None:
        for dotted in OP_TARGETS.get(op.kind, _targets)(op):
            self.targets.append((self.names.canonical(dotted), op.name))
        for target in op.targets:
            if "." in target.qualname:
                self.members.setdefault(target.qualname.rsplit(".", 1)[1], []).append(op.name)

    def _covered(self, dotted: str) -> tuple[str, ...]:
        """Names of the ops that act on ``dotted`` (see the module docstring)."""
        family = self.names.family(dotted)
        found: list[str] = []
        for target, op in self.targets:
            if under(family[0], target) or any(target == f"{m}.{c}" for m in family for c in _CONSTRUCTORS):
                found.append(op)
        return tuple(dict.fromkeys(found))

    # -- uses -------------------------------------------------------------------------
    def assess(self, uses: list[Use]) -> list[Use]:
        """The uses that count, each with its status."""
        return [self.classify(u) for u in uses if self.counts(u)]

    def counts(self, use: Use) -> bool:
        """False for a name whose entry has ``defined_importing`` when the module
        defining it can be read and imports none of those modules (a pure-Python
        helper in ``mmcv.ops`` is no kernel)."""
        markers = self.apis[use.api].defined_importing
        if not markers or use.kind != "names":
            return True
        split = self.names.index.split(self.names.canonical(use.name))
        scope = self.names.index.scope(split[0]) if split is not None else None
        head = split[1].partition(".")[0] if split is not None else ""
        if scope is None or head and head not in scope.defs and head not in scope.assigned:
            return True             # the definition is not in sight
        imported = {".".join(p for p in pair if p) for pair in scope.imports.values()}
        return any(under(name, marker) for name in imported for marker in markers)

    def classify(self, use: Use) -> Use:
        api = self.apis[use.api]
        for check in (self._runtime, self._unsupported_rule, self._rewrite):
            result = check(use, api)
            if result is not None:
                use.status, use.by = result
                return use
        if api.unsupported:
            use.status, use.by = "unsupported", api.unsupported
        else:
            use.status, use.by = "uncovered", ""
        return use

    def _runtime(self, use: Use, api: Api) -> tuple[str, str] | None:
        if use.kind == "names":
            ops = self.covered(use.name)
        elif use.callee:
            ops = tuple(op for name in use.callee for op in self.covered(name))
        else:
            ops = tuple(self.members.get(use.method, ())) if use.method else ()
        if not ops and api.consumers:
            per_consumer = [self.covered(c) for c in api.consumers]
            if all(per_consumer):
                ops = tuple(op for found in per_consumer for op in found)
        if not ops:
            return None
        ops = tuple(dict.fromkeys(ops))
        more = f" (+{len(ops) - 3})" if len(ops) > 3 else ""
        return "runtime", ", ".join(ops[:3]) + more

    def _unsupported_rule(self, use: Use, api: Api) -> tuple[str, str] | None:
        for rule in self.unsupported_rules:
            params = rule.params_dict
            if (use.kind in ("names",) and any(under(use.name, n) for n in params.get("names", ()))
                    or use.kind == "methods" and use.method in params.get("methods", ())):
                return "unsupported", f"{rule.id}: {rule.message or 'no replacement'}"
        return None

    def _rewrite(self, use: Use, api: Api) -> tuple[str, str] | None:
        for rule in self.rewrite_rules:
            if REWRITE_MATCHERS.get(rule.kind, _never)(rule.params_dict, use):
                return "rewrite", rule.id
        return None


# -- what an op acts on, per op kind ------------------------------------------------------
def _targets(op: Op) -> list[str]:
    return [f"{t.module}.{t.qualname}" if t.qualname else t.module for t in op.targets]


def _call_targets(op: Op) -> list[str]:
    """A ``call`` op acts on its module as a whole, which says nothing about
    any one name; one that sets a name says so in ``options.name``
    (``numpy-compat``: ``numpy.int``)."""
    name = op.options_dict.get("name")
    return [f"{t.module}.{name}" for t in op.targets] if isinstance(name, str) and name else []


OP_TARGETS: dict[str, Callable[[Op], list[str]]] = {"call": _call_targets}


# -- which uses a rewrite rule changes, per rewrite kind ---------------------------------------
REWRITE_MATCHERS: dict[str, Callable[[dict, Use], bool]] = {}


def rewrite_matcher(kind: str):
    def register(func: Callable[[dict, Use], bool]) -> Callable[[dict, Use], bool]:
        REWRITE_MATCHERS[kind] = func
        return func

    return register


def _never(params: dict, use: Use) -> bool:
    return False


@rewrite_matcher("rename")
def _rename(params: dict, use: Use) -> bool:
    return use.kind == "names" and under(use.name, params["from"])


@rewrite_matcher("method")
def _method(params: dict, use: Use) -> bool:
    return use.kind == "methods" and use.method == params["from"]


@rewrite_matcher("import")
def _import(params: dict, use: Use) -> bool:
    module = params.get("remove") or params.get("from")
    return bool(module) and use.kind == "names" and under(use.name, module)


@rewrite_matcher("argument")
def _argument(params: dict, use: Use) -> bool:
    if use.kind != "arguments" or not use.value:
        return False
    callables = params["callables"]
    if not ("*" in callables or f"*.{use.method}" in callables or not set(use.callee).isdisjoint(callables)):
        return False
    if use.keyword not in params.get("keywords", ()) and use.position not in params.get("positions", ()):
        return False
    return map_string(use.value, values_map(params["values"])) is not None


__all__ = ["STATUSES", "Names", "Coverage", "OP_TARGETS", "REWRITE_MATCHERS", "rewrite_matcher"]
