"""``rename``: a qualified name becomes another, however the file spells it.

Matching is by what a name refers to (``QualifiedNameProvider``), at the node
whose qualified name is exactly ``from``: with ``from = "torch.cuda"``,
``T.cuda.synchronize()`` (``import torch as T``) has the node ``T.cuda``.

* The head of the spelling is kept when the new name is reachable from it:
  ``T.cuda`` -> ``T.npu``.
* Otherwise the new name is spelled out and its import added when the name
  is not bound there: ``from torch import cuda; cuda.synchronize()`` with a
  rename of ``torch.cuda.synchronize`` gives ``torch.npu.synchronize()`` and
  ``import torch``.  If the first component is bound to something else at
  that point, the use is left alone and recorded as skipped.
* Import statements of the old name are rewritten keeping their bindings
  (``from torch.cuda import synchronize as s`` -> ``from torch.npu import
  synchronize as s``), so bare uses (``s()``) need no change.
* ``except`` lists names under ``from`` (``CUDAGraph``, ``memory.list_gpu_processes``)
  that the new module lacks: their uses, and import statements that import
  them, are left alone and recorded as skipped, never renamed to a name that
  does not exist.  A file that reaches one through a binding of ``from``
  itself (``from torch import cuda; cuda.CUDAGraph()``) keeps that import.
"""
from __future__ import annotations

from typing import Any

import libcst as cst

from npatch.rewrite.importutil import dotted, dotted_node, rename_import_line, under
from npatch.rewrite.rules.base import Rule, rule


@rule("rename")
class RenameRule(Rule):
    def setup(self, params: dict[str, Any]) -> None:
        self.old: str = params["from"]
        self.new: str = params["to"]
        self.module_to_import: str = params.get("import") or self.new.split(".", 1)[0]
        self.kept: tuple[str, ...] = tuple(params.get("except", ()))
        self._kept_last = {name.rsplit(".", 1)[-1] for name in self.kept}
        self._kept_heads: dict[int, str] = {}
        self._binding_kept = False

    def begin(self, ctx) -> None:
        super().begin(ctx)
        self._kept_heads = {}         # id of the `from` node of a use of a kept name -> that name
        self._binding_kept = False    # a kept name is reached through a binding of `from` itself

    def describe(self) -> str:
        return f"{self.old} -> {self.new}"

    def needles(self) -> tuple[str, ...]:
        return (self.old.rsplit(".", 1)[-1],)

    def targets(self) -> tuple[str, ...]:
        return (self.old,)

    def word_groups(self) -> tuple[tuple[str, ...], ...]:
        # a reference to `from` spells every part after the first: in the chain or in an import
        return (tuple(self.old.split(".")[1:]),)

    def watched(self) -> tuple[str, ...]:
        return tuple(sorted(self._kept_last))

    def spelled(self) -> tuple[str, ...]:
        return (self.new.split(".", 1)[0],)

    def may_change(self, facts, others: bool) -> bool:
        return self.old in facts.hits

    # -- names kept by `except` ----------------------------------------------------------
    def visit_Module(self, node: cst.Module) -> None:
        if self.kept and self.ctx.has_metadata and self._may_reach_kept():
            node.visit(_KeptUses(self))

    def _may_reach_kept(self) -> bool:
        """Could some attribute chain of the file name a kept name?  The scan
        resolves every chain ending in a kept name's last part through every
        import binding, scopes ignored: a superset of what the provider finds."""
        facts = self.ctx.facts
        if facts is None or facts.tree is None:
            return True
        return any(self.kept_name(name) for name in facts.resolved)

    def kept_name(self, qualified: str) -> str | None:
        """The ``except`` entry ``qualified`` (a name under ``from``) falls under, if any."""
        if not qualified.startswith(self.old + "."):
            return None
        rest = qualified[len(self.old) + 1:]
        return next((k for k in self.kept if rest == k or rest.startswith(k + ".")), None)

    def _keeps_import(self, line: cst.SimpleStatementLine) -> str | None:
        for small in line.body:
            if isinstance(small, cst.ImportFrom) and not small.relative and small.module is not None:
                module = dotted(small.module) or ""
                names = [] if isinstance(small.names, cst.ImportStar) else [a.evaluated_name for a in small.names]
                imported, binds_old = [module] + [f"{module}.{n}" for n in names], self.old in [f"{module}.{n}" for n in names]
            elif isinstance(small, cst.Import):
                imported = [a.evaluated_name for a in small.names]
                binds_old = self.old in imported
            else:
                continue
            if binds_old and self._binding_kept:
                return f"{self.old} is used here for a name that {self.new} lacks"
            found = next((k for k in map(self.kept_name, imported) if k), None)
            if found:
                return f"{self.old}.{found} has no counterpart under {self.new}"
        return None

    # -- import statements: syntactic, no metadata needed ---------------------------
    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine,
                                  updated: cst.SimpleStatementLine):
        if self.kept:
            why = self._keeps_import(original)
            if why:
                self.ctx.skipped(self, original, why)
                return updated
        return rename_import_line(self, original, updated, self.old, self.new)

    # -- uses --------------------------------------------------------------------------
    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
        return self._use(original, updated)

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        return self._use(original, updated)

    def _use(self, original, updated):
        if self.old not in self.ctx.qualified_names(original):
            return updated
        kept = self._kept_heads.get(id(original))
        if kept is not None:
            self.ctx.skipped(self, original, f"{self.old}.{kept} has no counterpart under {self.new}")
            return updated
        written = dotted(original)
        if written is None or "." not in written:
            return updated          # a bare name bound by an import: the import is rewritten
        head, _, rest = written.partition(".")
        if not self.old.endswith("." + rest):
            return updated
        base = self.old[: -len(rest) - 1]          # what `head` refers to
        if under(self.new, base):
            new_text = head + self.new[len(base):]
        else:
            top = self.new.split(".", 1)[0]
            bound = self.ctx.binding_of(original, top)
            if bound is not None and bound != {top}:
                self.ctx.skipped(self, original, f"cannot spell out {self.new}: `{top}` is "
                                 f"bound to {', '.join(sorted(bound))} here")
                return updated
            if bound is None:
                self.ctx.need_import(self.module_to_import, self)
            new_text = self.new
        replacement = _respell(updated, written, new_text)
        self.ctx.change(self, original, new_text)
        return replacement


def _respell(node: cst.BaseExpression, old_text: str, new_text: str) -> cst.BaseExpression:
    """``new_text`` as an expression; keeps the node's own spacing when only names change."""
    old_parts, new_parts = old_text.split("."), new_text.split(".")
    if len(old_parts) == len(new_parts):
        return _rename_parts(node, new_parts)
    return dotted_node(new_text).with_changes(lpar=node.lpar, rpar=node.rpar)


def _rename_parts(node: cst.BaseExpression, parts: list[str]) -> cst.BaseExpression:
    if isinstance(node, cst.Attribute):
        value = _rename_parts(node.value, parts[:-1])
        return node.with_changes(value=value, attr=node.attr.with_changes(value=parts[-1]))
    return node.with_changes(value=parts[0])


class _KeptUses(cst.CSTVisitor):
    """Before a file is changed: mark the ``from`` node of every use of a kept name."""

    def __init__(self, rule: RenameRule) -> None:
        self.rule = rule

    def on_visit(self, node: cst.CSTNode) -> bool:
        return super().on_visit(node) and id(node) not in self.rule.ctx.skip

    def visit_Import(self, node: cst.Import) -> bool:
        return False        # names inside an import statement have no scope, so no qualified names

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_Attribute(self, node: cst.Attribute) -> None:
        rule = self.rule
        if node.attr.value not in rule._kept_last:
            return
        for qualified in rule.ctx.qualified_names(node):
            kept = rule.kept_name(qualified)
            if not kept:
                continue
            head: cst.BaseExpression = node
            for _ in kept.split("."):
                head = head.value if isinstance(head, cst.Attribute) else head
            rule._kept_heads[id(head)] = kept
            if isinstance(head, cst.Name):
                rule._binding_kept = True   # `cuda.CUDAGraph` after `from torch import cuda`


__all__ = ["RenameRule"]
