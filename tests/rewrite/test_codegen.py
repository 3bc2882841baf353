"""ModuleCode (npatch.rewrite.codegen): the code of a module from parts generated
once, and node positions from the statements that hold them, give what libcst's
``Module.code`` and ``PositionProvider`` give, on awkward layouts and real files."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from npatch.rewrite import codegen
from npatch.rewrite.codegen import ModuleCode

SOURCES = {
    "plain": "import torch\n\nx = torch.cuda.current_device()\n",
    "crlf": "import torch\r\n\r\ndef f():\r\n    return x.cuda()  # c\r\n\r\ny = 1\r\n",
    "old mac": "import torch\rx = 1\rdef f():\r    return 2\r",
    "carriage return in a string": "a = 1\nb = '''x\r\ny'''\nc = 3\n",
    "tabs": "class A:\n\tdef f(self):\n\t\treturn [1,\n\t\t\t2]\n\n\n# trailing comment\n",
    "no final newline": "import torch\nx = torch.cuda.is_available()",
    "only comments": "# one\n\n# two\n",
    "empty": "",
    "form feed": "x = 1\n\x0c\ndef f():\n    pass\n",
    "decorators": "@a.b(\n    c)\n@d\ndef f(x,\n      y):\n    '''doc\n    string'''\n    return x.cuda()\n",
    "latin-1": "# -*- coding: latin-1 -*-\ns = 'caf\xe9'\nt = x.cuda()\n",
}


def _all_starts(module: cst.Module) -> dict[cst.CSTNode, cst.metadata.CodePosition]:
    ranges = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    return {node: where.start for node, where in ranges.items()}


def _nodes_with_tops(module: cst.Module) -> list[tuple[cst.CSTNode, int | None]]:
    """Every node of the module with the index of its top-level statement (what the pass records)."""
    class Collect(cst.CSTVisitor):
        def __init__(self) -> None:
            self.found: list[cst.CSTNode] = []

        def on_visit(self, node: cst.CSTNode) -> bool:
            self.found.append(node)
            return True

    out: list[tuple[cst.CSTNode, int | None]] = [(module, None)]
    for i, stmt in enumerate(module.body):
        collect = Collect()
        stmt.visit(collect)
        out += [(node, i) for node in collect.found]
    return out


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_code_is_the_modules_code(name):
    module = cst.parse_module(SOURCES[name])
    code = ModuleCode(module)
    assert code.code() == module.code
    renamed = module.visit(_RenameCuda())
    assert renamed is not module
    assert code.code(renamed) == renamed.code


class _RenameCuda(cst.CSTTransformer):
    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        return updated.with_changes(value="npu") if updated.value == "cuda" else updated


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_starts_are_position_providers(name):
    module = cst.parse_module(SOURCES[name])
    wanted = _nodes_with_tops(module)
    expected = _all_starts(module)
    got = ModuleCode(module).starts(wanted)
    assert got == {node: expected[node] for node, _ in wanted}
    # a few nodes of later statements (where the text has no `\r`, only those statements are generated)
    some = wanted[len(wanted) // 2::7]
    got = ModuleCode(module).starts(some)
    assert {node: got[node] for node, _ in some} == {node: expected[node] for node, _ in some}


def test_a_wrong_or_missing_statement_index_falls_back_to_the_provider():
    module = cst.parse_module(SOURCES["decorators"] + SOURCES["plain"])
    expected = _all_starts(module)
    last = module.body[-1]
    small = module.body[-1].body[0]         # a small statement of a top-level line: found without the index
    assert isinstance(small, cst.Assign)
    for nodes in ([(last, 0)], [(module.body[0].body, None)], [(small, None)], [(small, 0)]):
        got = ModuleCode(module).starts(nodes)
        assert {node: got[node] for node, _ in nodes} == {node: expected[node] for node, _ in nodes}


def test_without_libcsts_internal_state_the_provider_answers(monkeypatch):
    """The per-statement positions use libcst's PositionProvidingCodegenState: when a
    libcst version lacks it (or it takes other arguments), PositionProvider answers."""
    module = cst.parse_module(SOURCES["crlf"] + SOURCES["tabs"].replace("\n", "\r\n"))
    wanted = _nodes_with_tops(module)
    expected = _all_starts(module)
    monkeypatch.setattr(codegen, "_State", None)
    assert ModuleCode(module).starts(wanted) == expected
    monkeypatch.setattr(codegen, "_State", lambda *args, **kwargs: (_ for _ in ()).throw(TypeError("changed")))
    assert ModuleCode(module).starts(wanted) == expected
    monkeypatch.setattr(codegen, "_State", lambda **kwargs: object())     # no `tokens`, no `_codegen` support
    assert ModuleCode(module).starts(wanted) == expected


def test_real_files():
    torch = Path(importlib.util.find_spec("torch").submodule_search_locations[0])
    for path in [*sorted((torch / "cuda").glob("*.py"))][:12]:
        module = cst.parse_module(path.read_text(encoding="utf-8"))
        code = ModuleCode(module)
        assert code.code() == module.code, path
        wanted = _nodes_with_tops(module)[::50]
        expected = _all_starts(module)
        got = code.starts(wanted)
        assert {node: got[node] for node, _ in wanted} == {node: expected[node] for node, _ in wanted}, path
