"""Per-file state shared by the rules of one pass, and the records they leave.

Rules record what they did on a :class:`FileContext` with libcst nodes; the
engine turns those into plain, picklable :class:`Record` objects (with line
numbers only when a report asks for them) before results cross a process
boundary.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import libcst as cst
from libcst.metadata import QualifiedNameSource, ScopeProvider


@dataclass(frozen=True)
class Record:
    """One change, one unsupported-API use, or one skipped match, in one file.

    ``type`` is ``change``, ``unsupported`` or ``skipped``; ``line``/``column``
    (1-based) are 0 unless positions were requested.
    """

    type: str
    file: str
    rule: str
    kind: str
    message: str
    before: str
    after: str = ""
    line: int = 0
    column: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Event:
    """A record still attached to its (original-tree) node, inside a worker."""

    type: str
    rule: str
    kind: str
    message: str
    node: cst.CSTNode
    before: str
    after: str = ""
    #: index of the top-level statement the pass was in (None: before the first one)
    top: int | None = None


@dataclass
class FileContext:
    """What the rules of one pass over one file share.

    ``transformer`` is the running pipeline.  With ``has_metadata``,
    :meth:`qualified_names` and :meth:`binding_of` answer from ``imports``
    or (when it is None, or when checking) from libcst's ``ScopeProvider``
    through the pipeline's ``MetadataWrapper``; without, "nothing known".
    """

    path: str
    module: cst.Module
    text: str = ""
    transformer: Any = None
    has_metadata: bool = False
    events: list[Event] = field(default_factory=list)
    #: the :class:`~npatch.rewrite.hollow.Hollowed` text ``module`` was parsed from
    hollowed: Any = None
    #: the :class:`~npatch.rewrite.scan.ScanResult` of the text, None when not scanned
    facts: Any = None
    #: (module, rule): ``import module`` is needed at the top of the file, in order
    needed_imports: list[tuple[str, Any]] = field(default_factory=list)
    #: the :class:`~npatch.rewrite.importscope.ImportScope` answering instead of
    #: libcst's scope (None: libcst's ``ScopeProvider`` answers)
    imports: Any = None
    #: a :class:`~npatch.rewrite.importscope.ScopeCheck`: libcst answers, and
    #: ``imports`` (when there is one) is compared with it
    check: Any = None
    #: the qualified names the file's rules look for (what ``check`` compares)
    targets: tuple[str, ...] = ()
    #: ids of statements no rule changes or reports anything in: the pass does not enter them
    #: (:func:`~npatch.rewrite.hollow.untouched`)
    skip: frozenset[int] = frozenset()
    #: index of the top-level statement of ``module`` the pass is in (what events remember)
    top: int | None = None
    #: the :class:`~npatch.rewrite.codegen.ModuleCode` of ``module`` (after the pass)
    generated: Any = None
    #: where the events' nodes start, when a record needs it (None: not asked)
    starts: Any = None
    #: id of a node (alive for the pass) -> its import-sourced qualified names
    _names: dict[int, frozenset[str]] = field(default_factory=dict, repr=False)

    def qualified_names(self, node: cst.CSTNode) -> frozenset[str]:
        """Qualified names of ``node`` that come from imports (locals never match),
        as far as the rules can tell: those at or under a target, and maybe more.

        What ``QualifiedNameProvider`` would give, asked only for the nodes the
        rules look at, once per node.  The provider builds every such name
        from the head of the node's dotted name (as ``get_full_name_for_node``
        spells it), so a head that no import statement of the file binds to a
        name comparable with a target
        (:attr:`~npatch.rewrite.scan.ScanResult.target_heads`) has none at or
        under a target: the scope is not asked.  With ``imports`` (and no
        ``check``) the module's import table answers instead of the scope."""
        if not self.has_metadata:
            return set()
        key = id(node)
        names = self._names.get(key)
        if names is None:
            heads = self.facts.target_heads if self.facts is not None and self.facts.tree is not None else None
            head = _head(node) if heads is not None else None
            if heads is not None and head not in heads:
                names = frozenset()
                if self.check is not None and head in self.facts.import_heads:
                    self.check.outside(self.path, node, self._scope_names(node), self.targets)
            elif self.imports is not None and self.check is None:
                names = self.imports.qualified_names(node)
            else:
                names = self._scope_names(node)
                if self.imports is not None and self.check is not None:
                    scoped = self.transformer.get_metadata(ScopeProvider, node, None) is not None
                    self.check.names(self.path, node, scoped, names, self.imports.qualified_names(node),
                                     self.targets)
            self._names[key] = names
        return names

    def _scope_names(self, node: cst.CSTNode) -> frozenset[str]:
        scope = self.transformer.get_metadata(ScopeProvider, node, None)
        found = scope.get_qualified_names_for(node) if scope is not None else ()
        return frozenset(q.name for q in found if q.source is QualifiedNameSource.IMPORT)

    def binding_of(self, node: cst.CSTNode, name: str) -> set[str] | None:
        """What ``name`` refers to where ``node`` is: qualified names, or None if unbound there."""
        if not self.has_metadata:
            return None
        if self.imports is not None and self.check is None:
            return self.imports.binding_of(name)
        scope = self.transformer.get_metadata(ScopeProvider, node, None)
        bound = None if scope is None or name not in scope else {
            q.name if q.source is QualifiedNameSource.IMPORT else f"<local {q.name}>"
            for q in scope.get_qualified_names_for(name)
        }
        if self.imports is not None and self.check is not None:
            self.check.binding(self.path, name, bound, self.imports.binding_of(name))
        return bound

    def need_import(self, module: str, rule: Any) -> None:
        if all(name != module for name, _ in self.needed_imports):
            self.needed_imports.append((module, rule))

    def code(self, node: cst.CSTNode) -> str:
        """Source text of a node of the original tree (or a new node)."""
        return self.module.code_for_node(node)

    def change(self, rule: Any, node: cst.CSTNode, new: cst.CSTNode | str, message: str = "",
               before: str | None = None) -> None:
        """Record a change at ``node`` (original tree); ``before=""`` for an insertion."""
        after = new if isinstance(new, str) else self.code(new)
        before = self.code(node) if before is None else before
        self.events.append(Event("change", rule.id, rule.kind, message or rule.message,
                                 node, before.strip(), after.strip(), self.top))

    def unsupported(self, rule: Any, node: cst.CSTNode, message: str = "") -> None:
        self.events.append(Event("unsupported", rule.id, rule.kind, message or rule.message,
                                 node, self.code(node).strip(), top=self.top))

    def skipped(self, rule: Any, node: cst.CSTNode, message: str) -> None:
        self.events.append(Event("skipped", rule.id, rule.kind, message, node, self.code(node).strip(),
                                 top=self.top))


def _head(node: cst.CSTNode) -> str | None:
    """The first name of ``get_full_name_for_node(node)`` (None when it has none)."""
    while True:
        if isinstance(node, cst.Attribute | cst.Subscript):
            node = node.value
        elif isinstance(node, cst.Call):
            node = node.func
        else:
            return node.value if isinstance(node, cst.Name) else None


__all__ = ["Record", "Event", "FileContext"]
