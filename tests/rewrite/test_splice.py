"""Splicing (ModuleCode.splice): the new text is the parsed text with only the
replaced top-level statements' spans swapped; whatever the layout, the output is
what generating and checking the whole module gave before (and what the plain
codemod gives), and a text libcst does not give back still takes the full path."""
from __future__ import annotations

import ast

import libcst as cst
import pytest

from npatch.rewrite import codegen
from npatch.rewrite.codegen import ModuleCode
from npatch.rewrite.engine import Engine
from npatch.rewrite.importutil import import_line, insert_at_top
from npatch.rewrite.rules import build_rules
from rewrite_helpers import BUILTIN, rewrites_from_toml

RULES = rewrites_from_toml(BUILTIN)

#: name -> (file bytes, whether the splice answers: False where the full path must)
FILES = {
    "plain": (b'"""doc"""\nimport torch\n\nx = torch.cuda.current_device()\ny = 1\n', True),
    "encoding cookie": (b"# -*- coding: latin-1 -*-\nimport torch\ns = '\xe9t\xe9'\n\n"
                        b"def f():\n    return torch.cuda.Stream()  # \xe9\n", True),
    "tabs": (b"import torch\nclass A:\n\tdef f(self):\n\t\treturn [1,\n\t\t\ttorch.cuda.Stream()]\n\n"
             b"\tdef g(self):\n\t\treturn 2\n\t# block footer\n# after the class\n\nz = 3\n", True),
    "imported at the bottom": (b"def use():\n    return cuda.synchronize(), x.cuda()\n\n\n"
                               b"y = [1,\n     2]\n\nfrom torch import cuda\n", True),
    "semicolons and comments": (b"# header\n\nimport torch; a = torch.cuda.Stream()\n# lead\nb = 1; c = 2\n"
                                b"@dec(\n    torch.cuda.Event)\n\n# between\nclass K: pass\n# footer\n\n", True),
    "device strings": (b"import torch\n\n\nm = torch.nn.Linear(2, 2)\nm.to('cuda')\n"
                       b"t = torch.ones(2, device='cuda')\nprint(t)\n", True),
    "backslash continuation in a statement": (b"import torch\nx = torch.cuda \\\n    .Stream()\ny = 2\n", True),
    "crlf": (b"import torch\r\n\r\ndef f():\r\n    return x.cuda()  # c\r\n\r\ny = torch.cuda.Stream()\r\n", False),
    "form feed": (b"import torch\n\x0c\ndef f():\n\treturn torch.cuda.current_device()  # tab\n", False),
    "a line of only a backslash": (b"import torch\nx = 1\n\\\ny = torch.cuda.Stream()\n", False),
    "no final newline": (b"import torch\nx = torch.cuda.current_device()", False),
}


def _outcome(data: bytes, optimize: bool = True):
    outcome = Engine(build_rules(RULES), optimize=optimize, positions=True).process("f.py", "f.py", data)
    return outcome.new_data, outcome.diff, outcome.records, outcome.error


@pytest.mark.parametrize("name", sorted(FILES))
def test_splicing_gives_what_the_whole_module_gave(name, monkeypatch):
    data, spliced = FILES[name]
    answers = []
    splice = ModuleCode.splice

    def spy(self, module, copies):
        answers.append(splice(self, module, copies))
        return answers[-1]

    monkeypatch.setattr(ModuleCode, "splice", spy)
    fast = _outcome(data)
    assert answers and (answers[-1] is not None) == spliced
    monkeypatch.setattr(ModuleCode, "splice", lambda self, module, copies: None)     # as before splicing
    assert _outcome(data) == fast
    assert _outcome(data, optimize=False) == fast
    if fast[3] is None:
        assert fast[0] is not None and fast[0] != data
        compile(fast[0], name, "exec")


def test_a_line_libcst_drops_is_still_refused():
    """libcst drops a line holding only a backslash continuation: that file is not rewritten,
    with or without splicing (splicing would keep the line; the check refuses as before)."""
    new, _, _, error = _outcome(FILES["a line of only a backslash"][0])
    assert new is None and error is not None and error.startswith("not rewritten")


SOURCE = ("# head\n\nimport torch\n\n@d(1,\n   2)\n\n# c\ndef f():\n    return torch.cuda.Stream()\n"
          "    # inner\n# outer\n\nx = 1; y = torch.cuda\nclass C:\n    pass\n# foot\n")


class _RenameCuda(cst.CSTTransformer):
    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        return updated.with_changes(value="npu") if updated.value == "cuda" else updated


def test_splice_replaces_inserts_and_keeps_statements():
    module = cst.parse_module(SOURCE)
    code = ModuleCode(module, SOURCE, ast.parse(SOURCE))
    renamed = module.visit(_RenameCuda())
    copies = {id(new): i for i, (old, new) in enumerate(zip(module.body, renamed.body))
              if old.deep_equals(new)}
    assert copies, "some statements are unchanged copies"
    assert code.splice(renamed, copies) == renamed.code
    assert code.splice(renamed, {}) == renamed.code                # copies only spare their code
    inserted = insert_at_top(renamed, import_line("torch_npu"))
    assert code.splice(inserted, copies) == inserted.code
    last = module.with_changes(body=[*module.body[:-1], cst.parse_statement("class D: pass\n")])
    assert code.splice(last, {}) == last.code
    assert code.splice(module.with_changes(header=()), {}) is None      # a changed header: the full path


def test_without_a_matching_ast_nothing_is_spliced():
    module = cst.parse_module(SOURCE)
    renamed = module.visit(_RenameCuda())
    assert ModuleCode(module).splice(renamed, {}) is None
    other = "x = 1\n" + SOURCE          # statements that do not pair up with the module's
    assert ModuleCode(module, SOURCE, ast.parse(other)).splice(renamed, {}) is None


def test_a_span_that_is_not_the_statements_code_falls_back():
    module = cst.parse_module(SOURCE)
    renamed = module.visit(_RenameCuda())
    wrong = SOURCE.replace("torch.cuda.Stream", "torch.cuda.Event")     # same lines, other text
    assert ModuleCode(module, wrong, ast.parse(SOURCE)).splice(renamed, {}) is None


def test_positions_from_first_lines_are_position_providers(monkeypatch):
    """With spans, the events' statements start at their first lines, no earlier code generated."""
    from libcst.metadata import MetadataWrapper, PositionProvider

    module = cst.parse_module(SOURCE)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    nodes = [(node, i) for i, stmt in enumerate(module.body) for node in (
        stmt, *(stmt.body if isinstance(stmt, cst.SimpleStatementLine) else ()))]
    code = ModuleCode(module, SOURCE, ast.parse(SOURCE))
    monkeypatch.setattr(ModuleCode, "part", lambda self, node: pytest.fail("earlier code generated"))
    got = code.starts(nodes)
    assert {node: got[node] for node, _ in nodes} == {node: expected[node].start for node, _ in nodes}
    monkeypatch.undo()
    monkeypatch.setattr(codegen, "_State", None)        # without libcst's internal state: the provider
    got = ModuleCode(module, SOURCE, ast.parse(SOURCE)).starts(nodes)
    assert {node: got[node] for node, _ in nodes} == {node: expected[node].start for node, _ in nodes}


def test_the_parents_words_are_used_only_for_utf8():
    """The runner hands the worker the needle words found in the UTF-8 reading of the
    bytes; a file in another encoding looks for them again in its own text."""
    engine = Engine(build_rules(RULES))
    utf8 = b"import torch\nx = torch.cuda.Stream()\n"
    assert engine.process("f.py", "f.py", utf8, set()).new_data is None      # no words: not even parsed
    assert engine.process("f.py", "f.py", utf8, None).new_data is not None
    latin = b"# -*- coding: latin-1 -*-\n" + utf8
    assert engine.process("f.py", "f.py", latin, set()).new_data is not None
