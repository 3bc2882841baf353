"""Import statements: find, insert, rename.

Written by hand instead of libcst's ``AddImportsVisitor`` because that one has
put imports above a module docstring or a ``from __future__`` import (libcst
#343, #841).  Here a new top-level import goes after the docstring, the
``__future__`` imports and the leading block of imports; a shebang and the
comments at the top of a file stay in ``Module.header``, above everything.

Only statements are walked (never expressions), so finding the first import
of a module is cheap even in a large file.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import libcst as cst
from libcst.helpers import get_full_name_for_node

SmallStatement = cst.BaseSmallStatement


def dotted(node: cst.CSTNode | None) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, None for anything else."""
    return get_full_name_for_node(node) if node is not None else None


def dotted_node(name: str) -> cst.Name | cst.Attribute:
    """Build the expression ``a.b.c``."""
    parts = name.split(".")
    node: cst.Name | cst.Attribute = cst.Name(parts[0])
    for part in parts[1:]:
        node = cst.Attribute(value=node, attr=cst.Name(part))
    return node


def under(name: str, prefix: str) -> bool:
    """``name`` is ``prefix`` or something inside it (``torch.cuda.amp`` under ``torch.cuda``)."""
    return name == prefix or name.startswith(prefix + ".")


def move(name: str, old: str, new: str) -> str | None:
    """``name`` with its ``old`` prefix replaced by ``new``; None when it is not under ``old``."""
    return new + name[len(old):] if under(name, old) else None


def imported_modules(stmt: cst.CSTNode) -> list[str]:
    """Modules an import statement names (absolute imports only)."""
    if isinstance(stmt, cst.Import):
        return [n for n in (dotted(a.name) for a in stmt.names) if n]
    if isinstance(stmt, cst.ImportFrom) and not stmt.relative and stmt.module is not None:
        module = dotted(stmt.module)
        return [module] if module else []
    return []


def imports(stmt: cst.CSTNode, module: str) -> bool:
    return any(under(name, module) for name in imported_modules(stmt))


# -- walking statements ----------------------------------------------------------
def iter_small_statements(block: cst.CSTNode, enter_defs: bool = True) -> Iterator[SmallStatement]:
    """Every small statement (``import x``, ``x = 1``...) in document order, at any depth."""
    for stmt in _statements(block):
        if isinstance(stmt, cst.SimpleStatementLine):
            yield from stmt.body
        elif isinstance(stmt, cst.BaseSmallStatement):     # in a one-line suite
            yield stmt
        elif isinstance(stmt, cst.BaseCompoundStatement):
            if not enter_defs and isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                continue
            for suite in _suites(stmt):
                yield from iter_small_statements(suite, enter_defs)


def _statements(block: cst.CSTNode) -> Sequence[cst.CSTNode]:
    return block.body if isinstance(block, (cst.Module, cst.BaseSuite)) else ()


def _suites(node: cst.CSTNode) -> Iterator[cst.BaseSuite]:
    """The suites directly inside a compound statement, found generically (a
    ``match`` has them in ``cases``, a ``try`` in handlers, ``else`` and
    ``finally``; a future statement may have them elsewhere)."""
    for child in node.children:
        if isinstance(child, cst.BaseSuite):
            yield child
        elif not isinstance(child, (cst.BaseExpression, cst.BaseSmallStatement)):
            yield from _suites(child)


def insert_after_first(
    block: cst.Module | cst.BaseSuite, pred: Callable[[SmallStatement], bool],
    line: cst.SimpleStatementLine, enter_defs: bool = True,
) -> cst.Module | cst.BaseSuite | None:
    """Insert ``line`` right after the first statement line holding a small
    statement that satisfies ``pred``; None when there is none."""
    body = list(block.body)
    for i, stmt in enumerate(body):
        if isinstance(stmt, cst.SimpleStatementLine) and any(pred(s) for s in stmt.body):
            return block.with_changes(body=[*body[:i + 1], line, *body[i + 1:]])
        if isinstance(stmt, cst.BaseSmallStatement) and pred(stmt):   # a one-line suite
            return block.with_changes(body=[*body[:i + 1], *line.body, *body[i + 1:]])
        if isinstance(stmt, cst.BaseCompoundStatement):
            if not enter_defs and isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                continue
            new = _insert_in_compound(stmt, pred, line, enter_defs)
            if new is not None:
                body[i] = new
                return block.with_changes(body=body)
    return None


def _insert_in_compound(stmt, pred, line, enter_defs):
    for suite in _suites(stmt):
        new = insert_after_first(suite, pred, line, enter_defs)
        if new is not None:
            return stmt.deep_replace(suite, new)
    return None


def _is_docstring(stmt: cst.CSTNode) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _is_import_line(stmt: cst.CSTNode, future: bool) -> bool:
    if not isinstance(stmt, cst.SimpleStatementLine):
        return False
    for small in stmt.body:
        is_future = (isinstance(small, cst.ImportFrom) and not small.relative
                     and dotted(small.module) == "__future__")
        if future != is_future or not isinstance(small, (cst.Import, cst.ImportFrom)):
            return False
    return True


def insert_at_top(module: cst.Module, line: cst.SimpleStatementLine) -> cst.Module:
    """Insert ``line`` after the docstring, ``__future__`` imports and leading imports."""
    body = list(module.body)
    i = 1 if body and _is_docstring(body[0]) else 0
    while i < len(body) and _is_import_line(body[i], future=True):
        i += 1
    while i < len(body) and _is_import_line(body[i], future=False):
        i += 1
    return module.with_changes(body=[*body[:i], line, *body[i:]])


def import_line(module: str, name: str | None = None) -> cst.SimpleStatementLine:
    code = f"from {module} import {name}\n" if name else f"import {module}\n"
    return cst.parse_statement(code)  # type: ignore[return-value]


def has_top_level_import(module: cst.Module, name: str) -> bool:
    """``import name`` already at module level (not inside a def/class)."""
    return any(isinstance(s, cst.Import) and any(dotted(a.name) == name and a.asname is None
                                                  for a in s.names)
               for s in iter_small_statements(module, enter_defs=False))


# -- renaming modules inside import statements -------------------------------------
def rename_in_import(node: cst.Import, old: str, new: str) -> cst.Import | None:
    """``import old.x [as y]`` -> ``import new.x [as y]`` keeping what the statement binds.

    ``import old`` becomes ``import new as old``; a dotted import without
    ``as`` keeps its statement when the new name binds another top-level
    name (its uses are rewritten where they are).  None when nothing changes.
    """
    names, changed = [], False
    for alias in node.names:
        full = dotted(alias.name) or ""
        target = move(full, old, new)
        if target is None:
            names.append(alias)
            continue
        if alias.asname is not None or full.split(".")[0] == target.split(".")[0]:
            names.append(alias.with_changes(name=dotted_node(target)))
        elif "." not in full:
            names.append(alias.with_changes(name=dotted_node(target),
                                            asname=cst.AsName(name=cst.Name(full))))
        else:
            names.append(alias)
            continue
        changed = True
    return node.with_changes(names=drop_trailing_comma(names, node)) if changed else None


def rename_in_import_from(node: cst.ImportFrom, old: str, new: str) -> list[SmallStatement] | None:
    """Rewrite ``from m import a`` where ``m`` or ``m.a`` is under ``old``.

    Returns the statements that replace ``node`` (the bindings stay the same:
    ``from torch import cuda`` -> ``from torch import npu as cuda``), or None
    when nothing changes.  Relative and star imports of other modules are
    left alone.
    """
    if node.relative or node.module is None:
        return None
    module = dotted(node.module) or ""
    moved = move(module, old, new)
    if moved is not None:
        return [node.with_changes(module=dotted_node(moved))]
    if isinstance(node.names, cst.ImportStar):
        return None
    keep: list[cst.ImportAlias] = []
    moves: dict[str, list[cst.ImportAlias]] = {}
    plain: list[cst.ImportAlias] = []      # moved to a top-level module: `import new as a`
    for alias in node.names:
        name = dotted(alias.name) or ""
        target = move(f"{module}.{name}", old, new)
        if target is None:
            keep.append(alias)
            continue
        binding = alias.asname.name.value if alias.asname is not None else name  # type: ignore[union-attr]
        new_module, _, new_name = target.rpartition(".")
        as_name = None if new_name == binding else cst.AsName(name=cst.Name(binding))
        if not new_module:
            plain.append(cst.ImportAlias(name=cst.Name(new_name), asname=as_name))
        else:
            moves.setdefault(new_module, []).append(alias.with_changes(name=cst.Name(new_name), asname=as_name))
    if not moves and not plain:
        return None
    out: list[SmallStatement] = []
    if keep:
        out.append(node.with_changes(names=drop_trailing_comma(keep, node)))
    for new_module, aliases in moves.items():
        if not keep and not plain and len(moves) == 1:
            out.append(node.with_changes(module=dotted_node(new_module), names=drop_trailing_comma(aliases, node)))
        else:
            out.append(cst.ImportFrom(module=dotted_node(new_module), names=_bare(aliases)))
    if plain:
        out.append(cst.Import(names=_bare(plain)))
    return out


def drop_trailing_comma(aliases: list[cst.ImportAlias], stmt: cst.CSTNode) -> list[cst.ImportAlias]:
    """Without parentheses the last alias must not keep a trailing comma."""
    if getattr(stmt, "lpar", None) or not aliases:
        return aliases
    return [*aliases[:-1], aliases[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)]


def _bare(aliases: list[cst.ImportAlias]) -> list[cst.ImportAlias]:
    return [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in aliases]


def rename_in_line(line: cst.SimpleStatementLine, old: str, new: str) -> list[cst.SimpleStatementLine] | None:
    """Apply the import renames to one statement line; extra statements go on new lines after it."""
    first: list[SmallStatement] = []
    extra: list[SmallStatement] = []
    changed = False
    for small in line.body:
        if isinstance(small, cst.Import):
            new_stmt = rename_in_import(small, old, new)
            replaced = [new_stmt] if new_stmt is not None else None
        elif isinstance(small, cst.ImportFrom):
            replaced = rename_in_import_from(small, old, new)
        else:
            replaced = None
        if replaced is None:
            first.append(small)
            continue
        changed = True
        first.append(replaced[0])
        extra.extend(replaced[1:])
    if not changed:
        return None
    if first:
        first[-1] = first[-1].with_changes(semicolon=line.body[-1].semicolon)
    lines = [line.with_changes(body=first)]
    lines += [cst.SimpleStatementLine(body=[stmt.with_changes(semicolon=cst.MaybeSentinel.DEFAULT)])
              for stmt in extra]
    return lines


def rename_import_line(rule: Any, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine,
                       old: str, new: str) -> Any:
    """A rule's ``leave_SimpleStatementLine`` for import renames: the renamed
    line(s), recorded as one change of ``rule``, or ``updated`` untouched."""
    lines = rename_in_line(updated, old, new)
    if lines is None:
        return updated
    rule.ctx.change(rule, original, "\n".join(cst.Module([]).code_for_node(line).rstrip("\n") for line in lines))
    return cst.FlattenSentinel(lines) if len(lines) > 1 else lines[0]


__all__ = ["SmallStatement", "dotted", "dotted_node", "under", "move", "imported_modules", "imports",
           "iter_small_statements", "insert_after_first", "insert_at_top", "import_line", "has_top_level_import",
           "rename_in_import", "rename_in_import_from", "drop_trailing_comma", "rename_in_line", "rename_import_line"]
