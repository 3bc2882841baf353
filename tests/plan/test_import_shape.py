"""The shape of the package: which area may import which, and no circles.

docs/design.md draws the layers: the dsl and the compiler build plans, the
runtime and the rewriter consume them, and the plan is the only bridge.  As
*imports*, every area depends on the plan layer and the plan layer on nothing
above it.  This test reads every ``import`` in ``src/npatch`` with ``ast`` -
at module level and inside functions alike, leaving out only those under
``if TYPE_CHECKING:`` (annotations, never executed) - and fails on an import
against :data:`ALLOWED` or on a circle between modules.
"""
from __future__ import annotations

import ast
from pathlib import Path

import npatch

ROOT = Path(npatch.__file__).parent

#: area of each module, by the longest matching prefix of its dotted name
AREAS = {
    # utilities every layer may use
    "npatch": "base",                   # the package body: __version__, logging set-up
    "npatch.errors": "base",
    "npatch.log": "base",
    "npatch.pep440": "base",
    "npatch.distributions": "base",
    "npatch.outfiles": "base",
    "npatch.extensions": "base",        # entry-point lookup; knows no registry
    # the plan layer: the IR and the contracts every side reads
    "npatch.plan": "plan",              # the records
    "npatch.opkinds": "plan",           # the op-kind table
    "npatch.planfile": "base",          # the saved forms of a plan, indexed by module (plain data)
    "npatch.planwrite": "base",         # writing them and building their index (never in a child)
    "npatch.conditions": "plan",        # what a plan's `when` nodes mean, evaluated without the grammar
    "npatch.rewrite_kinds": "plan",     # which keys each rewrite kind takes
    # building plans
    "npatch.dsl": "dsl",
    "npatch.compiler": "compiler",
    # consuming plans
    "npatch.runtime": "runtime",
    "npatch.rewrite": "rewrite",
    "npatch.library": "library",        # replacement code patched into programs
    "npatch.scan": "scan",
    # on top: entry points and the services that join both halves
    "npatch[api]": "top",               # npatch.load() and the lazy compat names
    "npatch.plancache": "top",          # request -> plan: the cache, compiling on a miss
    "npatch.shipping": "top",           # NPATCH_PLAN_DATA, the side that compiles
    "npatch.cli": "top",
    "npatch.__main__": "top",
    "npatch.compat": "top",
    "npatch.docs": "top",
    "npatch.pytest_plugin": "top",
    "npatch.pytest_session": "top",     # what the plugin imports once a test applies a plan
    "npatch.integrations": "top",
}

#: area -> areas it may import (its own included)
ALLOWED = {
    "base": {"base"},
    "plan": {"base", "plan"},
    "dsl": {"base", "plan", "dsl"},
    "compiler": {"base", "plan", "dsl", "compiler"},
    "runtime": {"base", "plan", "runtime"},
    "rewrite": {"base", "plan", "rewrite"},
    "library": {"base", "plan", "runtime", "library"},
    "scan": {"base", "plan", "dsl", "compiler", "rewrite", "scan"},
    "top": {"base", "plan", "dsl", "compiler", "runtime", "rewrite", "library", "scan", "top"},
}

#: The documented upward calls, (importer, function, imported): each is a lazy
#: import inside that one function, and is left out of the checks.
UPWARD = {
    ("npatch.plan", "Plan.apply", "npatch.runtime"):
        "the public `npatch.load(...).apply()`: a thin delegate to npatch.runtime.apply_plan (the compiler's --resolve import goes through it too)",
    ("npatch.runtime.shipped", "_recompiled_plan", "npatch.shipping"):
        "NPATCH_PLAN_DATA's reference route: the receiving process compiles the sender's "
        "manifests through its own cache (docs/design.md, `npatch env`)",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def area(module: str) -> str:
    best = max((prefix for prefix in AREAS if module == prefix or module.startswith(prefix + ".")), key=len)
    return AREAS[best]


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imports_of(module: str) -> list[tuple[str, str, str, int]]:
    """``(importer, function, imported, line)`` for every npatch import of ``module``;
    ``function`` is the dotted name of the enclosing def ("" at module level)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, str, str, int]] = []

    def target(name: str) -> str:
        while name not in MODULES and "." in name:
            name = name.rpartition(".")[0]
        return name

    def visit(node: ast.AST, scope: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                for orelse in child.orelse:
                    visit(orelse, scope)
                continue
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(child, scope + [child.name])
                continue
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(parts + ([child.module] if child.module else []))
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in child.names]
            for name in names:
                if name == "npatch" or name.startswith("npatch."):
                    importer = module
                    in_function = any(s for s in scope)
                    if module == "npatch" and in_function:
                        importer = "npatch[api]"
                    found.append((importer, ".".join(scope), target(name), child.lineno))
            visit(child, scope)

    visit(ast.parse(path.read_text(encoding="utf-8")), [])
    return found


def graph() -> list[tuple[str, str, str, int]]:
    edges = []
    for module in sorted(MODULES):
        for importer, function, imported, line in imports_of(module):
            if imported == importer:
                continue
            if (importer, function, imported) in UPWARD:
                continue
            edges.append((importer, function, imported, line))
    return edges


def test_every_module_has_an_area():
    assert all(area(m) in ALLOWED for m in MODULES)


def test_no_import_against_the_layers():
    bad = [f"{MODULES[importer.replace('[api]', '')].relative_to(ROOT.parent)}:{line}: {importer} ({area(importer)}) "
           f"imports {imported} ({area(imported)})"
           for importer, _function, imported, line in graph() if area(imported) not in ALLOWED[area(importer)]]
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_no_import_circles():
    succ: dict[str, set[str]] = {}
    for importer, _function, imported, _line in graph():
        succ.setdefault(importer.replace("[api]", ""), set()).add(imported)
    # Tarjan's strongly connected components
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(MODULES):
        if module not in index:
            connect(module)
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


def test_the_documented_upward_calls_exist():
    """Each whitelisted upward call is still there (a stale entry would hide a new one)."""
    found = {(i, f, m) for module in MODULES for i, f, m, _ in imports_of(module)}
    assert set(UPWARD) <= found, set(UPWARD) - found
