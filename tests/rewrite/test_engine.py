"""The engine's shortcuts never change output; bytes outside edits are kept."""
from __future__ import annotations

import textwrap

import pytest

from npatch.rewrite.engine import Engine, unified_diff
from npatch.rewrite.prefilter import glob_match
from npatch.rewrite.rules import build_rules
from npatch.rewrite.scan import prune, scan
from rewrite_helpers import rewrite_text, rw

CUDA = rw("cuda", "rename", from_="torch.cuda", to="torch.npu")
SYNC = rw("sync", "rename", from_="torch.cuda.synchronize", to="torch.npu.synchronize")
NVTX = rw("nvtx", "unsupported", names=["torch.cuda.nvtx"])
DEVICE = rw("dev", "argument", callables=["torch.device", "*.to"], positions=[0], values={"cuda": "npu"})
METHOD = rw("m", "method", from_="cuda", to="npu")
ALL = (CUDA, SYNC, NVTX, DEVICE, METHOD)

SCOPES = [
    # a module-level name bound by `global` inside a function
    """
    def setup():
        global torch
        import torch

    def use():
        torch.cuda.synchronize()
    """,
    # class scope is not visible from methods
    """
    import torch
    class A:
        torch = None
        x = torch.cuda
        def f(self):
            return torch.cuda.current_device()
        @torch.cuda.amp.autocast()
        def g(self, d=torch.device('cuda')):
            def inner():
                return torch.cuda.synchronize()
            return [torch.cuda.Stream() for torch in range(3)]
    """,
    # local imports, lambdas, shadowing parameters
    """
    def a():
        import torch as T
        return lambda: T.cuda.synchronize()
    def b(torch):
        return torch.cuda.synchronize()
    def c():
        from torch.cuda import nvtx
        nvtx.range_push('x')
    def d():
        nvtx = None
        nvtx.range_push('y')
    async def e():
        import torch
        await torch.cuda.synchronize()
    """,
    # try/except alternatives and conditional imports
    """
    try:
        from torch import cuda
    except ImportError:
        cuda = None
    if cuda:
        cuda.synchronize()
    def f():
        return cuda.is_available()
    """,
    # a head no import binds is never asked of the scope; star and relative imports,
    # a class attribute and a parameter named like the module, a use before the import
    """
    from torch.cuda import *
    from . import cuda
    nvtx.range_push('before')
    import torch.cuda.nvtx as nvtx
    import torch.cuda as tc
    class Config:
        cuda = tc
        torch: "torch.cuda.Stream" = None
        def f(self, cuda=cuda):
            return cuda.synchronize(), tc.synchronize(), self.cuda.synchronize(), nvtx.mark('x')
    def shadow(nvtx):
        tc = object()
        return tc.synchronize(), nvtx.range_pop()
    """,
    # signatures of functions without a reference, and class annotations, leave the
    # metadata copy; a `:=` in a signature keeps it
    """
    import torch
    @register(torch.float32)
    def unused(x: torch.Tensor = torch.zeros(1), *, y=(z := torch.cuda)) -> torch.Tensor:
        return x
    @register(torch.cuda)
    def decorated(x: torch.Tensor) -> None:
        return x
    def annotated(s: torch.cuda.Stream = None):
        pass
    class C:
        dtype: torch.dtype = torch.float32
        stream: torch.cuda.Stream
        def m(self) -> torch.cuda.Event:
            return z.synchronize()
    """,
]


@pytest.mark.parametrize("source", SCOPES)
def test_shortcuts_give_the_same_output_as_the_plain_codemod(source):
    source = textwrap.dedent(source)
    fast = Engine(build_rules(list(ALL)), use_globs=False, positions=True).transform_text(source)
    slow = Engine(build_rules(list(ALL)), use_globs=False, positions=True, optimize=False).transform_text(source)
    assert fast == slow
    compile(fast[0], "x.py", "exec")


def test_scan_finds_nothing_when_no_import_reaches_the_target():
    text = "import numpy as np\nx.cuda.synchronize()\ncuda = 1\n"
    assert not scan(text, {"torch.cuda"}).found
    assert scan("import torch\ny = torch.cuda\n", {"torch.cuda"}).found
    assert scan("from torch import cuda as c\n", {"torch.cuda"}).found
    assert scan("this is not python(", {"torch.cuda"}).found        # unknown: assume yes


def test_prune_keeps_functions_with_references_and_shares_their_nodes():
    import libcst as cst

    text = textwrap.dedent("""
        import torch
        def keep():
            torch.cuda.synchronize()
        def drop():
            x = 1
            return x
        class C:
            def drop_too(self):
                return 2
            def keep_too(self):
                return torch.cuda.current_device()
    """)
    module = cst.parse_module(text)
    pruned = prune(module, scan(text, {"torch.cuda"}))
    code = pruned.code
    assert "x = 1" not in code and "return 2" not in code
    assert "torch.cuda.synchronize()" in code and "current_device" in code
    assert pruned.body[1] is module.body[1]            # the kept function is the same object


def test_files_no_rule_can_change_are_not_parsed():
    engine = Engine(build_rules(list(ALL)))
    for text in (b"import os\nprint('hello')\n",                 # no needle
                 b"# cuda in a comment only\nimport os\n",       # needle, but ast says no rule applies
                 b"import numpy as torch\nx = torch.cuda\n"):    # no import reaches torch.cuda
        outcome = engine.process("a.py", "a.py", text)
        assert not outcome.parsed and not outcome.changed
    outcome = engine.process("b.py", "b.py", b"x.to(y, 'cuda')\n")   # may apply: parsed, then no change
    assert outcome.parsed and not outcome.changed and not outcome.metadata


@pytest.mark.parametrize("data", [
    b"import torch\r\nx = torch.cuda.current_device()\r\n# end\r\n",               # CRLF
    b"import torch\nx = torch.cuda.current_device()",                              # no final newline
    b"import torch\n\x0c\ndef f():\n\treturn torch.cuda.current_device()  # tab\n",  # form feed, tab
    b"# -*- coding: latin-1 -*-\nimport torch\ns = '\xe9t\xe9'\nx = torch.cuda.Stream()\n",
    b"\xef\xbb\xbfimport torch\nx = torch.cuda.Stream()\n",                       # BOM
])
def test_bytes_outside_the_edit_are_kept(data):
    outcome = Engine(build_rules([CUDA])).process("f.py", "f.py", data)
    assert outcome.error is None
    assert outcome.new_data == data.replace(b"torch.cuda", b"torch.npu")


def test_parse_and_decode_errors_are_reported_not_raised():
    engine = Engine(build_rules([CUDA]))
    bad = engine.process("bad.py", "bad.py", b"import torch\ntorch.cuda.x(\n")
    assert bad.error and bad.error.startswith("cannot parse")
    undecodable = engine.process("u.py", "u.py", b"# -*- coding: utf-8 -*-\nx = '\xff' # cuda\n")
    assert undecodable.error and undecodable.error.startswith("cannot decode")


def test_rule_globs_select_files():
    rule = rw("m", "method", from_="cuda", to="npu", include=["tools/**"], exclude=["**/legacy_*.py"])
    engine = Engine(build_rules([rule]))
    data = b"x.cuda()\n"
    assert engine.process("tools/a.py", "tools/a.py", data).changed
    assert engine.process("tools/sub/b.py", "tools/sub/b.py", data).changed
    assert not engine.process("src/a.py", "src/a.py", data).changed
    assert not engine.process("tools/legacy_a.py", "tools/legacy_a.py", data).changed


@pytest.mark.parametrize("path, pattern, expected", [
    ("a/b/c.py", "*.py", True),
    ("a/b/c.py", "a/*.py", False),
    ("a/b/c.py", "a/**/*.py", True),
    ("a/c.py", "a/**/*.py", True),
    ("a/b/c.py", "b/", True),
    ("a/b/c.py", "c/", False),
    ("a/b/c.py", "a/b/", True),
    ("a/b/test_x.py", "test_?.py", True),
    ("a/b/c.py", "[ab]/**", True),
    ("a/b/c.py", "[!a]/**", False),
])
def test_glob_semantics(path, pattern, expected):
    assert glob_match(path, [pattern]) is expected


def test_multiple_rules_compose_on_one_node():
    got = rewrite_text("import torch\nd = torch.device('cuda', torch.cuda.current_device())\n", CUDA,
                       rw("d", "argument", callables=["torch.device"], positions=[0], values={"cuda": "npu"}))
    assert got == "import torch\nd = torch.device('npu', torch.npu.current_device())\n"


def test_unified_diff_marks_a_missing_final_newline():
    diff = unified_diff("a\nb", "a\nc", "x.py")
    assert diff.splitlines()[:2] == ["--- a/x.py", "+++ b/x.py"]
    assert diff.endswith("-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n")


def test_prune_drops_values_and_literal_parts_but_keeps_bindings():
    """Right-hand sides and literal elements without a reference go from the
    metadata copy; the names they bind stay, so a local `torch` still shadows."""
    import libcst as cst

    text = textwrap.dedent("""
        import torch
        def f():
            torch = make_fake(
                1)
            return torch.cuda.current_device()
        def g(x):
            y = helper(x)
            return torch.cuda.current_device(), y
        TABLE = [torch.cuda.current_device(),
                 other(1,
                       2)]
    """)
    pruned = prune(cst.parse_module(text), scan(text, {"torch.cuda"})).code
    assert "make_fake" not in pruned and "helper" not in pruned and "other" not in pruned
    assert "torch = ..." in pruned and "y = ..." in pruned
    fast = Engine(build_rules(list(ALL)), use_globs=False, positions=True).transform_text(text)
    slow = Engine(build_rules(list(ALL)), use_globs=False, positions=True, optimize=False).transform_text(text)
    assert fast == slow
    assert "    return torch.cuda.current_device()\n" in fast[0]          # f: the local torch
    assert "    return torch.npu.current_device(), y\n" in fast[0]        # g: the module
    assert "TABLE = [torch.npu.current_device()," in fast[0]


def test_prune_drops_signatures_and_annotations_without_references():
    """A function with no reference in it keeps only its name in the metadata
    copy (decorators, defaults and annotations only read names); a class
    annotation without one becomes ``...``; a ``:=`` keeps a signature."""
    import libcst as cst

    text = textwrap.dedent("""
        import torch
        @register(torch.float32)
        def drop(x: torch.Tensor = torch.zeros(1)) -> torch.Tensor:
            return x
        def walrus(a=(n := 1)):
            return a
        class C:
            dtype: torch.dtype = torch.float32
            stream: torch.cuda.Stream = None
    """)
    pruned = prune(cst.parse_module(text), scan(text, {"torch.cuda"})).code
    assert "register" not in pruned and "torch.Tensor" not in pruned and "def drop():" in pruned
    assert "n := 1" in pruned
    assert "dtype: ... = ..." in pruned and "stream: torch.cuda.Stream" in pruned


def test_the_scan_walks_every_node_in_ast_walks_order():
    import ast

    from npatch.rewrite import scan as scan_module

    source = textwrap.dedent("\n".join(SCOPES)) + "match x:\n    case [a, *b] if a: pass\nf = lambda *a, k=1, **kw: (y := a)\n"
    tree = ast.parse(source)
    walked, nodes = list(ast.walk(tree)), scan_module._nodes(tree)
    assert len(walked) == len(nodes) and all(a is b for a, b in zip(walked, nodes))
